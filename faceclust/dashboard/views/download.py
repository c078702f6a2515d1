"""Download: a zip per person (beside their face and name), one with everyone, the faces table.

Zips are built when their button is clicked (Streamlit calls the function then), never on a
visit: a page of 20 people costs nothing until a download is asked for.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd
import streamlit as st

import faceclust as fc
from faceclust.dashboard import login, session


def zip_of(extraction: fc.Extraction, table: pd.DataFrame, names: dict[int, str], everyone: bool) -> Callable:
    """A function that builds the zip of ``table``'s people when called (at the click)."""

    def build() -> bytes:
        buffer = io.BytesIO()
        fc.write_zip(buffer, extraction.faces, table, names, index=everyone)
        return buffer.getvalue()

    return build


def main() -> None:
    login.guard()  # also where this page runs without the router
    result = session.current()
    if result is None:
        return
    extraction, table, edits = result
    visible = table[~table["cluster"].isin(edits.hidden)]
    st.title(f"Download the people of {st.session_state.clip_name}")
    if visible.empty:
        st.info("Nothing to download: no faces are shown.")
        return
    names = {int(c): edits.name(int(c)) for c in visible["cluster"].unique()}
    stem = fc.safe_name(st.session_state.clip_name.rsplit(".", 1)[0])
    st.download_button(
        "All people (zip)",
        zip_of(extraction, visible, names, everyone=True),
        file_name=f"{stem}_all_people.zip",
        mime="application/zip",
        type="primary",
        on_click="ignore",
    )
    st.download_button(
        "Faces table (CSV)",
        lambda: visible.to_csv(index=False).encode(),  # at the click: an episode's 40,000 rows
        file_name=f"{stem}_faces.csv",
        mime="text/csv",
        on_click="ignore",
    )
    st.subheader("One person at a time")
    summary = fc.cluster_summary(
        extraction.faces, visible["cluster"].to_numpy(), extraction.seconds_per_frame
    )
    for row in summary.itertuples():
        face, text, button = st.columns([1, 4, 2], vertical_alignment="center")
        face.image(str(extraction.faces.thumb_path(row.representative_face_id)), width=64)
        text.markdown(f"**{names[row.cluster]}** · {row.size} faces · {row.screen_time_s:.1f} s on screen")
        file_name = f"{fc.safe_name(names[row.cluster])}.zip"
        button.download_button(
            file_name,
            zip_of(extraction, visible[visible["cluster"] == row.cluster], names, everyone=False),
            file_name=file_name,
            mime="application/zip",
            key=f"zip-{row.cluster}",
            icon=":material/download:",
            on_click="ignore",
        )


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
