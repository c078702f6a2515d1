"""Compare: UMAP of the face embedding beside UMAP of the fused face + clothing vectors."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from faceclust.dashboard import session


def scatter(points: pd.DataFrame, title: str, key: str, colours: alt.Scale) -> pd.Series:
    """A UMAP scatter coloured by person, hover showing the face, its person and time.

    Returns a mask over ``points``: the faces inside the box the user dragged (all False before).
    """
    # The title is markdown, not the chart's: a Vega title swallows box drags (Streamlit 1.67).
    st.markdown(f"**{title}**")
    box = alt.selection_interval(name="box")
    chart = (
        alt.Chart(points, height=520)
        .mark_circle(size=48, opacity=0.8)
        .encode(
            x=alt.X("x", axis=None),
            y=alt.Y("y", axis=None),
            color=alt.Color(
                "person", scale=colours, legend=alt.Legend(title=None, orient="bottom", columns=6)
            ),
            # The tooltip renders a field named "image" holding a data URI as the picture.
            tooltip=["image", "person", alt.Tooltip("t_sec", title="time (s)", format=".1f"), "face_id"],
        )
        .add_params(box)
    )
    event = st.altair_chart(chart, width="stretch", key=key, on_select="rerun", selection_mode="box")
    ranges = event.selection.get("box", {}) if event else {}
    if not ranges:
        return pd.Series(False, index=points.index)
    (x_lo, x_hi), (y_lo, y_hi) = ranges["x"], ranges["y"]
    return points["x"].between(x_lo, x_hi) & points["y"].between(y_lo, y_hi)


def main() -> None:
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
        face_only = session.projections().get(extraction, None)
        fused = session.projections().get(extraction, weight)
    session.projections().fill_around(extraction, weight)
    table = table.assign(image=session.thumbnail_uris(faces))
    shown = ~table["cluster"].isin(edits.hidden)
    order = table[shown].sort_values("cluster", key=lambda c: c.where(c >= 0, 10**9))["person"].unique()
    colours = session.person_colours(list(order))
    left, right = st.columns(2)
    with left:
        points = table.assign(x=face_only[:, 0], y=face_only[:, 1])[shown]
        picked = scatter(points, "Face only", "face_only", colours)
    with right:
        points = table.assign(x=fused[:, 0], y=fused[:, 1])[shown]
        picked |= scatter(points, f"Face + clothing (weight {weight:.2f})", "fused", colours)
    st.caption("Colours are the current clusters. Hover a point to see its face; drag a box to see many.")
    chosen = table[shown][picked]
    if len(chosen):
        st.subheader(f"{len(chosen)} selected faces")
        st.image(
            [str(faces.thumb_path(i)) for i in chosen["face_id"]],
            width=72,
            caption=[f"{p} · {t:.1f}s" for p, t in zip(chosen["person"], chosen["t_sec"], strict=True)],
        )


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
