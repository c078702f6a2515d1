"""Compare: UMAP of the face embedding beside UMAP of the fused face + clothing vectors."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

import ui


def scatter(points: pd.DataFrame, title: str, key: str) -> list[int]:
    """A UMAP scatter coloured by person; returns the face ids selected with lasso or box."""
    figure = px.scatter(
        points,
        x="x",
        y="y",
        color="person",
        title=title,
        height=520,
        hover_data={"x": False, "y": False, "face_id": True, "t_sec": ":.1f", "person": True},
        custom_data=["face_id"],
    )
    figure.update_layout(dragmode="lasso", margin={"l": 0, "r": 0, "t": 40, "b": 0}, legend_title_text="")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    event = st.plotly_chart(
        figure, width="stretch", key=key, on_select="rerun", selection_mode=("lasso", "box")
    )
    # One trace per person: point indices are per trace, so the face id travels as customdata.
    points = event.selection.points if event and event.selection else []
    return [int(point["customdata"][0]) for point in points if point.get("customdata")]


def main() -> None:
    result = ui.current()
    if result is None:
        return
    extraction, table, edits = result
    st.title("Face only vs face + clothing")
    if len(table) < 4:
        st.info("Too few faces to project.")
        return
    faces = extraction.faces
    weight = st.session_state.clustering.weight
    with st.spinner("Projecting (the first time after the app starts compiles UMAP, about 30 s)..."):
        face_only = ui.projection(faces, None)
        fused = ui.projection(faces, weight)
    ui.prefetch_projections(faces, weight)
    shown = ~table["cluster"].isin(edits.hidden)
    left, right = st.columns(2)
    with left:
        picked = scatter(table.assign(x=face_only[:, 0], y=face_only[:, 1])[shown], "Face only", "face_only")
    with right:
        picked += scatter(
            table.assign(x=fused[:, 0], y=fused[:, 1])[shown],
            f"Face + clothing (weight {weight:.2f})",
            "fused",
        )
    st.caption("Colours are the current clusters. Select points with the lasso or box to see their faces.")
    if picked:
        chosen = table[table["face_id"].isin(picked)]
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
