"""Download: a zip per person, one with everyone, and the faces table."""

from __future__ import annotations

import io

import streamlit as st

import faceclust as fc
from faceclust.dashboard import session


@st.cache_data(max_entries=64, show_spinner=False)
def zip_bytes(
    key: str, clusters: tuple[int, ...], names: tuple[tuple[int, str], ...], _extraction, _table
) -> bytes:
    """A zip of ``clusters`` (all in ``_table`` when empty), cached by what decides its content."""
    buffer = io.BytesIO()
    table = _table[_table["cluster"].isin(clusters)] if clusters else _table
    fc.write_zip(buffer, _extraction.faces, table, dict(names), index=not clusters)
    return buffer.getvalue()


def main() -> None:
    result = session.current()
    if result is None:
        return
    extraction, table, edits = result
    visible = table[~table["cluster"].isin(edits.hidden)]
    st.title("Download")
    if visible.empty:
        st.info("Nothing to download: no faces are shown.")
        return
    key = f"{extraction.faces.folder.name}:{hash(tuple(table['cluster']))}"
    names = tuple(sorted((int(c), edits.name(int(c))) for c in visible["cluster"].unique()))
    stem = fc.safe_name(st.session_state.clip_name.rsplit(".", 1)[0])
    st.download_button(
        "All people (zip)",
        zip_bytes(key, (), names, extraction, visible),
        file_name=f"{stem}_all_people.zip",
        mime="application/zip",
        type="primary",
    )
    st.download_button(
        "Faces table (CSV)",
        visible.to_csv(index=False).encode(),
        file_name=f"{stem}_faces.csv",
        mime="text/csv",
    )
    st.subheader("One person at a time")
    for cluster, name in names:
        if cluster < 0:
            continue
        count = int((visible["cluster"] == cluster).sum())
        st.download_button(
            f"{name} ({count} faces)",
            zip_bytes(key, (cluster,), names, extraction, visible),
            file_name=f"{fc.safe_name(name)}.zip",
            mime="application/zip",
            key=f"zip-{cluster}",
        )


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
