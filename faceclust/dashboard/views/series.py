"""Series: the people of a batch (``faceclust batch``), linked across its clips."""

from __future__ import annotations

import zipfile
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

import faceclust as fc
from faceclust import folders
from faceclust.dashboard import clips, login, session


def face_image(batch: Path, clip: str, person: str) -> bytes | None:
    """The representative face of one clip's person, from that clip's person zip."""
    clusters = pd.read_csv(batch / folders.CLIPS_DIR / clip / folders.CLUSTERS_FILE)
    face_id = clusters.loc[clusters["name"] == person, "representative_face_id"]
    try:
        with zipfile.ZipFile(batch / folders.CLIPS_DIR / clip / f"{person}.zip") as archive:
            return archive.read(f"{person}/faces/{int(face_id.iloc[0])}.jpg")
    except (OSError, KeyError, IndexError, zipfile.BadZipFile):
        return None


def presence_chart(series: pd.DataFrame) -> alt.Chart:
    """Identity x clip, coloured by screen time."""
    return (
        alt.Chart(series)
        .mark_rect()
        .encode(
            x=alt.X("clip:N", title="clip", sort=None),
            y=alt.Y("name:N", title="identity"),
            color=alt.Color("screen_time_s:Q", title="screen time (s)", scale=alt.Scale(domainMin=0)),
            tooltip=["name", "clip", "person", "faces", "screen_time_s", "first_t_sec", "last_t_sec"],
        )
    )


def main() -> None:
    login.guard()  # also where this page runs without the router
    st.title("Series")
    session.adopt_finished_extraction()  # a clip being extracted on the Run page goes on meanwhile
    session.extraction_progress()
    root = st.text_input(
        "Batch folder (the --out of `faceclust batch`), or a folder of batches", str(clips.batches_dir())
    )
    batches = folders.batches_under(Path(root).expanduser())
    if not batches:
        st.info(
            "No complete batch here. Make one with "
            "`.venv/bin/faceclust batch EPISODES_FOLDER --out batches/NAME`."
        )
        return
    batch = st.selectbox("Batch", batches, format_func=lambda p: p.name) if len(batches) > 1 else batches[0]
    try:
        info, series = folders.read_batch(batch)
    except fc.BadInput as e:
        st.error(str(e))
        return
    batch_clips = info["clips"]
    st.caption(
        f"{info['identities']} identities across {sum(c['error'] is None for c in batch_clips)} clips "
        f"({info['engine']}, people linked at eps {info['link_eps']:.2f})"
    )
    for clip in batch_clips:
        if clip["error"]:
            st.warning(f"{clip['folder']}: {clip['error']}")
    st.altair_chart(presence_chart(series), width="stretch")
    for name, rows in series.groupby("name", sort=True):
        st.subheader(f"{name}: {len(rows)} clips, {rows['screen_time_s'].sum():.1f} s on screen")
        columns = st.columns(8)
        for i, row in enumerate(rows.itertuples(index=False)):
            caption = f"{row.clip} · {row.person} · {row.screen_time_s:.1f} s"
            image = face_image(batch, row.clip, row.person)
            if image:
                columns[i % 8].image(image, caption=caption)
            else:
                columns[i % 8].caption(caption)
        st.download_button(
            f"{name} (zip)",
            (batch / "series" / f"{name}.zip").read_bytes,  # read when clicked: zips can be large
            file_name=f"{batch.name}_{name}.zip",
            mime="application/zip",
            key=f"zip-{name}",
        )


# Guarded like the other pages: spawned worker processes re-import the running script.
if __name__ == "__main__":
    main()
