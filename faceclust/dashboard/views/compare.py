"""Compare: UMAP of the face embedding beside UMAP of the fused face + clothing vectors (plotly),
each person's face drawn on both, and a selection (click, box, lasso) you can act on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import faceclust as fc
from faceclust.dashboard import charts, login, session

#: Places drawn per chart at most (a random sample above it, the same on both charts); a box or
#: lasso still selects every face inside it, drawn or not.
DRAWN_AT_MOST = 5000
#: Above this many places a chart draws with WebGL (SVG makes an element per point).
WEBGL_ABOVE = 2000
#: Width of a person's face drawn on the chart, as a share of the chart's x range.
FACE_SHARE = 0.09


def places(faces: pd.DataFrame) -> pd.DataFrame:
    """``faces`` (face_id, cluster, person, t_sec and each chart's position: fx, fy face only,
    ux, uy fused) with a ``place`` column: faces at one position on both charts and of one
    person (a track part's, whose vectors are equal) share a place, drawn as one point."""
    return faces.assign(place=faces.groupby(["fx", "fy", "ux", "uy", "cluster"], sort=False).ngroup())


def figure(
    points: pd.DataFrame, drawn: np.ndarray, colours: dict[str, str], faces: fc.FaceTable
) -> go.Figure:
    """A scatter of ``points`` (one row per place: place, x, y, person, cluster, t_sec and
    face_id of its first face, ``count`` faces) where ``drawn``, coloured by person, a place of
    more faces drawn larger, people in their order in the legend (unassigned last), a face of
    each person drawn where their points are dense and no other face is (``face_spots``)."""
    shown = points[drawn]
    scatter = go.Scattergl if len(shown) > WEBGL_ABOVE else go.Scatter
    fig = go.Figure()
    order = sorted(shown["cluster"].unique(), key=lambda label: (label < 0, label))
    for label in order:
        own = shown[shown["cluster"] == label]
        name = own["person"].iloc[0]
        fig.add_trace(
            scatter(
                x=own["x"],
                y=own["y"],
                mode="markers",
                name=name,
                marker={
                    "color": colours[name],
                    "size": 6 if label < 0 else np.minimum(8 + 2 * np.log2(own["count"]), 16),
                    "opacity": 0.8,
                },
                customdata=own["place"],
                text=[
                    f"{name} · {t:.1f} s · #{i}" + (f" · {n} faces" if n > 1 else "")
                    for t, i, n in zip(own["t_sec"], own["face_id"], own["count"], strict=True)
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    size = (float(np.ptp(points["x"])) or 1.0) * FACE_SHARE
    for face_id, x, y in face_spots(points, size):
        fig.add_layout_image(
            source=charts.thumbnail_uri(str(faces.thumb_path(face_id))),
            x=x,
            y=y,
            xref="x",
            yref="y",
            sizex=size,
            sizey=size,
            xanchor="center",
            yanchor="bottom",  # just above the point: the points stay visible
            layer="above",
        )
    low, high = float(points["y"].min()), float(points["y"].max())
    fig.update_layout(
        height=520,
        margin={"l": 0, "r": 0, "t": 36, "b": 0},  # plotly's toolbar sits above the plot, not on a face
        dragmode="lasso",
        legend={"orientation": "h", "y": -0.02, "yanchor": "top", "traceorder": "normal"},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x", "range": [low - size / 4, high + 1.1 * size]},
    )
    return fig


def face_spots(points: pd.DataFrame, size: float, at_most: int = 400) -> list[tuple[int, float, float]]:
    """Where to draw one face of each person (``cluster`` >= 0), the largest first: (face id, x,
    y of the bottom centre) at the densest of their points (of an even sample of at most
    ``at_most``: the most of their points within ``size``) whose ``size`` x ``size`` square
    above it overlaps no face drawn already; a person with no such point gets none (the legend
    names them)."""
    spots: list[tuple[int, float, float]] = []
    people = points[points["cluster"] >= 0].groupby("cluster")
    for _, own in sorted(people, key=lambda group: -len(group[1])):
        xy = own[["x", "y"]].to_numpy()
        sample = np.linspace(0, len(xy) - 1, min(len(xy), at_most)).astype(int)
        near = ((xy[sample, None, :] - xy[None, sample, :]) ** 2).sum(axis=2) <= size**2
        for row in sample[np.argsort(-near.sum(axis=1), kind="stable")]:
            x, y = xy[row]
            if all(abs(x - x0) >= size or abs(y - y0) >= size for _, x0, y0 in spots):
                spots.append((int(own["face_id"].iloc[row]), float(x), float(y)))
                break
    return spots


def inside_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Whether each point (x, y) lies inside the polygon (px, py), by ray casting: (N,) bool."""
    inside = np.zeros(len(x), bool)
    for k in range(len(px)):
        x0, y0, x1, y1 = px[k - 1], py[k - 1], px[k], py[k]
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def selected(points: pd.DataFrame, selection: dict) -> np.ndarray:
    """Faces of ``points`` (place, x, y) in a chart's selection (clicked places, boxes, lassos):
    (N,) bool."""
    clicked = [p.get("customdata") for p in selection.get("points", [])]
    chosen = points["place"].isin(clicked).to_numpy().copy()
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    for box in selection.get("box", []):
        (x0, x1), (y0, y1) = sorted(box["x"]), sorted(box["y"])
        chosen |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    for lasso in selection.get("lasso", []):
        chosen |= inside_polygon(x, y, np.asarray(lasso["x"], float), np.asarray(lasso["y"], float))
    return chosen


def chart(
    located: pd.DataFrame,
    one_per_place: pd.DataFrame,
    at: tuple[str, str],
    drawn: np.ndarray,
    colours,
    faces,
    title: str,
    key: str,
) -> np.ndarray:
    """One chart of ``located`` (``places``; ``one_per_place``: its first face per place, with
    ``count``) at its columns ``at`` (x, y); returns the faces the user selected on it."""
    st.markdown(f"**{title}**")
    xy = dict(zip(at, ("x", "y"), strict=True))
    event = st.plotly_chart(
        figure(one_per_place.rename(columns=xy), drawn, colours, faces),
        key=key,
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
    )
    return selected(located.rename(columns=xy), event.selection if event else {})


def actions_ui(chosen: pd.DataFrame, table: pd.DataFrame, edits: fc.Edits) -> None:
    """Move the selected faces to a person, make them a new person, or unassign them (edits)."""
    people = sorted(int(c) for c in table["cluster"].unique() if c >= 0)
    move, new, unassign = st.columns([3, 2, 2], vertical_alignment="bottom")
    to = move.selectbox("Move them to", people, format_func=edits.name, key="move_to") if people else None
    ids = chosen["face_id"].astype(int).tolist()
    if to is not None and move.button("Move", key="move_selected"):
        edits.moved.update(dict.fromkeys(ids, int(to)))
        st.rerun()
    if new.button("Make them a new person", key="new_person"):
        edits.new_person(ids, table["cluster"].to_numpy())
        st.rerun()
    if unassign.button("Unassign them", key="unassign_selected"):
        edits.moved.update(dict.fromkeys(ids, -1))
        st.rerun()


def main() -> None:
    login.guard()  # also where this page runs without the router
    result = session.current()
    if result is None:
        return
    extraction, table, edits = result
    st.title("Face only vs face + clothing")
    session.embedder_caption(extraction)
    if len(table) < 4:
        st.info("Too few faces to project.")
        return
    faces = extraction.faces
    weight = st.session_state.clustering.weight
    with st.spinner("Projecting (the first time after the app starts compiles UMAP, about 30 s)..."):
        face_only = charts.projections().get(extraction, None)
        fused = charts.projections().get(extraction, weight)
    charts.projections().fill_around(extraction, weight)
    shown = ~table["cluster"].isin(edits.hidden).to_numpy()
    located = places(
        table[["face_id", "cluster", "person", "t_sec"]]
        .assign(fx=face_only[:, 0], fy=face_only[:, 1], ux=fused[:, 0], uy=fused[:, 1])
        .loc[shown]
    )
    by_place = located.groupby("place", sort=True)
    one_per_place = by_place.first().assign(count=by_place.size()).reset_index()
    count = len(one_per_place)
    drawn = np.zeros(count, bool)
    drawn[np.random.default_rng(0).permutation(count)[:DRAWN_AT_MOST]] = True
    colours = {
        name: charts.colour(label) for label, name in table[["cluster", "person"]].drop_duplicates().values
    }
    left, right = st.columns(2)
    with left:
        picked = chart(located, one_per_place, ("fx", "fy"), drawn, colours, faces, "Face only", "face_only")
    with right:
        title = f"Face + clothing (weight {weight:.2f})"
        picked |= chart(located, one_per_place, ("ux", "uy"), drawn, colours, faces, title, "fused")
    if count > DRAWN_AT_MOST:
        st.caption(
            f"{DRAWN_AT_MOST:,} of {count:,} places drawn ({len(located):,} faces); "
            "a box or lasso selects all inside it."
        )
    st.caption(
        "A point is the faces of one stretch of a track (larger: more faces); each person's face "
        "sits just above where their points are dense and no other face is. Click, drag a box or "
        "a lasso to select."
    )
    chosen = table[shown][picked]
    if len(chosen):
        st.subheader(f"{len(chosen)} selected faces")
        st.image(
            [str(faces.thumb_path(i)) for i in chosen["face_id"][:120]],
            width=72,
            caption=[
                f"#{i} · {p} · {t:.1f}s"
                for i, p, t in zip(
                    chosen["face_id"][:120], chosen["person"][:120], chosen["t_sec"][:120], strict=True
                )
            ],
        )
        actions_ui(chosen, table, edits)


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
