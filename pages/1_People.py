"""People: a card per person with screen time and a timeline, their faces, scores and edits."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import faceclust as fc
import ui
from faceclust.edits import Edits
from faceclust.evaluate import LABEL_COLUMNS, read_table
from faceclust.export import cluster_summary


def scores_ui(table: pd.DataFrame) -> None:
    """Metrics against the clip's labels file, when there is one."""
    path = st.session_state.get("labels_path")
    if path is None:
        return
    try:
        metrics = fc.evaluate(table, read_table(path, LABEL_COLUMNS, "labels file"))
    except fc.BadInput as e:
        st.warning(f"Scores unavailable: {e}")
        return
    cols = st.columns(5)
    for col, key, title in zip(
        cols,
        ["bcubed_f", "pairwise_f", "nmi", "coverage", "same_frame_violations"],
        ["BCubed F", "Pairwise F", "NMI", "Coverage", "Same-frame pairs"],
        strict=True,
    ):
        value = metrics[key]
        col.metric(title, f"{value:.3f}" if isinstance(value, float) else value)


def timeline_ui(table: pd.DataFrame, duration: float, seconds_per_frame: float) -> None:
    """One row per person; each track (one continuous appearance) is a bar across the clip."""
    shown = table[table["cluster"] >= 0]
    if shown.empty:
        return
    bars = (
        shown.groupby(["person", "track_id"])
        .agg(start=("t_sec", "min"), end=("t_sec", "max"), faces=("face_id", "size"))
        .reset_index()
        .assign(end=lambda bars: bars["end"] + seconds_per_frame)
    )
    chart = (
        alt.Chart(bars, height=40 + 32 * bars["person"].nunique())
        .mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("start", title="time (s)", scale=alt.Scale(domain=[0, duration])),
            x2="end",
            y=alt.Y("person", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.Color("person", legend=None),
            tooltip=[
                "person",
                alt.Tooltip("start", title="from (s)", format=".1f"),
                alt.Tooltip("end", title="to (s)", format=".1f"),
                "faces",
            ],
        )
    )
    st.altair_chart(chart, width="stretch")


def cards_ui(extraction: fc.Extraction, table: pd.DataFrame, edits: Edits) -> None:
    faces = extraction.faces
    summary = cluster_summary(faces, table["cluster"].to_numpy(), extraction.seconds_per_frame)
    for row in summary.itertuples():
        if row.cluster in edits.hidden:
            continue
        with st.container(border=True):
            picture, text = st.columns([1, 6])
            picture.image(str(faces.thumb_path(row.representative_face_id)), width=96)
            text.markdown(
                f"**{edits.name(row.cluster)}** · {row.size} faces · "
                f"{row.screen_time_s:.1f} s on screen · {row.first_t_sec:.1f} to {row.last_t_sec:.1f} s"
            )
            members = table[table["cluster"] == row.cluster]
            with text.expander("Faces"):
                grid(faces, members)
    unassigned = table[table["cluster"] < 0]
    if len(unassigned):
        with st.expander(f"Unassigned faces ({len(unassigned)})"):
            grid(faces, unassigned)


def grid(faces: fc.FaceTable, members: pd.DataFrame, limit: int = 120) -> None:
    """Thumbnails with face id and time, at most ``limit`` of them."""
    shown = members.head(limit)
    st.image(
        [str(faces.thumb_path(i)) for i in shown["face_id"]],
        width=72,
        caption=[f"#{i} · {t:.1f}s" for i, t in zip(shown["face_id"], shown["t_sec"], strict=True)],
    )
    if len(members) > limit:
        st.caption(f"... and {len(members) - limit} more")


def edits_ui(table: pd.DataFrame, edits: Edits) -> None:
    clusters = sorted(int(c) for c in table["cluster"].unique() if c >= 0)
    if not clusters:
        return
    with st.expander("Edit: rename, merge, hide, move a face"):
        rename, merge, hide, move = st.tabs(["Rename", "Merge", "Hide", "Move a face"])
        with rename.form("rename"):
            which = st.selectbox("Person", clusters, format_func=edits.name)
            name = st.text_input("New name")
            if st.form_submit_button("Rename") and name.strip():
                edits.names[which] = name.strip()
                st.rerun()
        with merge.form("merge"):
            sources = st.multiselect("Merge these", clusters, format_func=edits.name)
            into = st.selectbox("into", clusters, format_func=edits.name)
            if st.form_submit_button("Merge") and sources:
                edits.merge(sources, into)
                st.rerun()
        with hide.form("hide"):
            hidden = st.multiselect(
                "Hidden people",
                clusters,
                default=[c for c in clusters if c in edits.hidden],
                format_func=edits.name,
            )
            if st.form_submit_button("Apply"):
                edits.hidden = set(hidden)
                st.rerun()
        with move.form("move"):
            face_id = st.selectbox("Face (#id)", table["face_id"].tolist())
            to = st.selectbox("to", [*clusters, -1], format_func=edits.name)
            if st.form_submit_button("Move"):
                edits.moved[int(face_id)] = int(to)
                st.rerun()
        if len(edits) and st.button("Undo all edits"):
            st.session_state.edits = Edits()
            st.rerun()


def main() -> None:
    result = ui.current()
    if result is None:
        return
    extraction, table, edits = result
    st.title(f"People in {st.session_state.clip_name}")
    ui.embedder_caption(extraction)
    if table.empty:
        st.info("No faces were found in this clip.")
        return
    scores_ui(table)
    timeline_ui(
        table[~table["cluster"].isin(edits.hidden)], extraction.duration_s, extraction.seconds_per_frame
    )
    if not (table["cluster"] >= 0).any():
        st.info("No one was grouped: every face is unassigned. Raise eps or lower min samples.")
    cards_ui(extraction, table, edits)
    edits_ui(table, edits)


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
