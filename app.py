"""faceclust dashboard (placeholder until the dashboard lands): run a sample clip, see people."""

import os
import tempfile
from pathlib import Path

import streamlit as st

import faceclust as fc


def main() -> None:
    st.set_page_config(page_title="faceclust", layout="wide")
    st.title("faceclust")
    st.caption("Who appears in this video clip, and when?")
    samples = Path(os.environ.get("FACECLUST_SAMPLES", "."))
    clips = sorted(
        p for p in samples.glob("*") if p.suffix.lower() in {".mp4", ".avi", ".mov", ".mkv", ".webm"}
    )
    if not clips:
        st.info(f"No sample clips in {samples} (set FACECLUST_SAMPLES).")
        return
    clip = st.selectbox("Clip", clips, format_func=lambda p: p.name)
    if not st.button("Run", type="primary"):
        return
    with st.status("Finding people...") as status:
        try:
            extraction, labels, clusters = fc.run(clip, tempfile.mkdtemp(prefix="faceclust-"), workers=1)
        except fc.BadInput as e:
            status.update(label="Cannot use this clip", state="error")
            st.error(str(e))
            return
        status.update(label=f"{len(clusters)} people in {len(labels)} faces", state="complete")
    for row in clusters.itertuples():
        st.subheader(f"{row.name}: {row.size} faces, {row.screen_time_s:.1f} s on screen")
        members = extraction.faces.table["face_id"][labels == row.cluster]
        st.image([str(extraction.faces.thumb_path(i)) for i in members[:12]], width=80)


main()
