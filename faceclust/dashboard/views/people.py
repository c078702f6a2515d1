"""People: a card per person with screen time, a timeline of their appearances, their faces and
reel, scores and edits."""

from __future__ import annotations

import hashlib
from dataclasses import asdict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import faceclust as fc
from faceclust import library, ranges
from faceclust.dashboard import charts, login, session

#: What each file of a reel is, by the end of its name, for its download button.
REEL_FILES = {
    ".mp4": ("Reel mp4", "video/mp4"),
    "_vertical.mp4": ("9:16 mp4", "video/mp4"),
    ".otio": ("OTIO", "application/json"),
    ".edl": ("EDL", "text/plain"),
    ".xml": ("FCP XML", "application/xml"),
    ".csv": ("Segments CSV", "text/csv"),
}
#: Download buttons per row under a reel: labels this short fit whole in a card's third.
REEL_BUTTONS_PER_ROW = 3


def scores_ui(table: pd.DataFrame) -> None:
    """Metrics against the clip's labels file, when there is one."""
    path = st.session_state.get("labels_path")
    if path is None:
        return
    try:
        metrics = fc.evaluate(table, fc.read_labels(path))
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


def reel_settings_ui() -> fc.ReelParams:
    """How appearances become segments (the timeline and the reels); kept for the session."""
    chosen = st.session_state.get("reel_params", fc.ReelParams())
    with st.popover("Appearance settings", icon=":material/tune:"):
        gap = st.number_input("Join appearances closer than (s)", *ranges.GAP.slider, chosen.gap, 0.5)
        pad = st.number_input("Pad each appearance by (s)", *ranges.PAD.slider, chosen.pad, 0.25)
        min_length = st.number_input(
            "Drop appearances shorter than (s)", *ranges.MIN_LENGTH.slider, chosen.min_length, 0.5
        )
    st.session_state.reel_params = fc.ReelParams(gap, pad, min_length)
    return st.session_state.reel_params


def reel_people(
    extraction: fc.Extraction, table: pd.DataFrame, params: fc.ReelParams
) -> tuple[fc.Source, dict]:
    """The clip and each shown person's reel material (label -> ``fc.Person``), after edits."""
    source = fc.Source.of(extraction.meta, faces=extraction.faces.table)
    shown = table[table["cluster"] >= 0]
    people = {
        int(label): fc.person(own["person"].iloc[0], {source.name: own}, {source.name: source}, params)
        for label, own in shown.groupby("cluster", sort=True)
    }
    return source, people


def timeline_ui(people: dict[int, fc.Person], duration: float, source: fc.Source) -> None:
    """One row per person; each segment (what their reel cuts) is a bar across the clip. A click
    on a bar plays the clip from that appearance, below the chart."""
    if all(p.segments.empty for p in people.values()):
        return
    fig = go.Figure()
    for label, who in people.items():
        bars = who.segments
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=[who.name] * len(bars),
                base=bars["start"],
                x=bars["end"] - bars["start"],
                marker={"color": charts.colour(label)},
                customdata=[[label, k] for k in range(len(bars))],
                text=[
                    f"{who.name}: {a:.1f} to {b:.1f} s, {n} faces"
                    for a, b, n in bars[["start", "end", "faces"]].values
                ],
                hovertemplate="%{text}<extra></extra>",
                textposition="none",
            )
        )
    fig.update_layout(
        height=60 + 32 * len(people),
        barmode="overlay",
        showlegend=False,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        xaxis={"range": [0, duration], "title": "time (s)"},
        yaxis={"autorange": "reversed"},
    )
    # No toolbar: it lay over the first person's bar, and a timeline has nothing to zoom.
    event = st.plotly_chart(
        fig, key="timeline", on_select="rerun", selection_mode="points", config={"displayModeBar": False}
    )
    clicked = event.selection.get("points", []) if event else []
    if clicked and clicked[0].get("customdata"):
        label, k = clicked[0]["customdata"]
        play(
            people[int(label)].segments.iloc[int(k)], source, f"{people[int(label)].name}, appearance {k + 1}"
        )


def play(segment: pd.Series, source: fc.Source, what: str) -> None:
    """Play the clip from a segment's start to its end (a browser-playable copy where needed)."""
    try:
        with st.spinner("Making a copy of the clip that browsers play (once per clip)..."):
            playable, offset = fc.preview(source)
    except fc.BadInput as e:
        st.error(f"The clip cannot be played here: {e}")
        return
    st.caption(f"{what}: {segment.start:.1f} to {segment.end:.1f} s")
    st.video(str(playable), start_time=float(segment.start + offset), end_time=float(segment.end + offset))


def person_key(who: fc.Person, source: fc.Source) -> str:
    """Who a card shows, whatever their number: the clip and the person's faces (times and
    boxes). A reel asked for or an appearance being watched is kept under it, so another clip's
    or another clustering's person of the same number starts afresh."""
    faces = who.faces[["t_sec", "top", "right", "bottom", "left"]].to_numpy(float)
    return hashlib.sha1(source.hash.encode() + faces.tobytes()).hexdigest()[:16]


def reel_ui(label: int, who: fc.Person, source: fc.Source) -> None:
    """A "Make reel" button for one person; once made (and while its settings and edits stay), the reel
    plays here with downloads of its files."""
    made = st.session_state.setdefault("reels_made", set())
    if who.segments.empty:
        st.caption("No appearance long enough for a reel (see Appearance settings).")
        return
    key = person_key(who, source)
    if st.button("Make reel", key=f"reel-{label}", icon=":material/movie:"):
        made.add(key)
    if key not in made:
        return
    bar = st.progress(0.0, text="Rendering the reel...")

    def progress(stage: str, done: int, total: int) -> None:
        bar.progress(done / total if total else 0.0, text=f"Rendering {stage}: segment {done} of {total}")

    try:
        files = fc.cached_reel(who, {source.name: source}, progress)
    except fc.BadInput as e:
        bar.empty()
        st.error(f"No reel: {e}")
        return
    bar.empty()
    st.video(str(files[0]))
    cols = [
        col for _ in range(0, len(files), REEL_BUTTONS_PER_ROW) for col in st.columns(REEL_BUTTONS_PER_ROW)
    ]
    stem = fc.safe_name(who.name)
    for col, path in zip(cols, files, strict=False):
        title, mime = REEL_FILES[path.name.removeprefix(stem)]
        col.download_button(
            title, path.read_bytes, file_name=path.name, mime=mime, key=f"{path.name}-{label}"
        )


def appearances_ui(label: int, who: fc.Person, source: fc.Source) -> None:
    """Play the clip from one of the person's appearances (their segments), and step through
    them: first, previous, next."""
    segments = who.segments
    if segments.empty:
        return
    key = f"appearance-{person_key(who, source)}"

    def go(to: int) -> None:  # before the rerun, so that the buttons below see where it went
        st.session_state[key] = to

    first, previous, following = st.columns(3)
    first.button(
        "Watch from the first appearance",
        key=f"first-{label}",
        icon=":material/play_arrow:",
        on_click=go,
        args=(0,),
    )
    at = st.session_state.get(key)
    if at is None:
        return
    at = min(at, len(segments) - 1)
    previous.button("Previous", key=f"previous-{label}", disabled=at == 0, on_click=go, args=(at - 1,))
    following.button(
        "Next", key=f"next-{label}", disabled=at == len(segments) - 1, on_click=go, args=(at + 1,)
    )
    play(segments.iloc[at], source, f"Appearance {at + 1} of {len(segments)}")


def cards_ui(
    extraction: fc.Extraction,
    table: pd.DataFrame,
    edits: fc.Edits,
    source: fc.Source,
    people: dict[int, fc.Person],
) -> None:
    faces = extraction.faces
    labels = table["cluster"].to_numpy()
    summary = fc.cluster_summary(faces, labels, extraction.seconds_per_frame)
    matches = session.library_matches(extraction, table)
    size = st.segmented_control("Face size", list(FACE_SIZES), default="Small", key="face_size")
    width = FACE_SIZES[size or "Small"]
    shown = summary[~summary["cluster"].isin(edits.hidden)]
    for row in paged(shown, PEOPLE_PER_PAGE, "People", "people_page").itertuples():
        members = np.flatnonzero(labels == row.cluster)
        with st.container(border=True):
            picture, text = st.columns([1, 6])
            picture.image(str(faces.thumb_path(row.representative_face_id)), width=96)
            # Until the end of the time their last sampled face stands for, as screen time counts it.
            until = min(row.last_t_sec + extraction.seconds_per_frame, extraction.duration_s)
            text.markdown(
                f"**{edits.name(row.cluster)}** · {row.size} faces · "
                f"{row.screen_time_s:.1f} s on screen · {row.first_t_sec:.1f} to {until:.1f} s"
            )
            with text:
                known_ui(extraction, table, edits, row.cluster, members, matches.get(row.cluster))
                if row.size >= 2:
                    split_ui(extraction, table, edits, row.cluster, members)
                key = f"faces-{row.cluster}"
                # Keyed: stays open through re-clustering; the faces are drawn only while it is open.
                with st.expander(f"Faces ({row.size})", key=key, on_change="rerun"):
                    if st.session_state.get(key):
                        grid(faces, table.iloc[members], width, f"faces-page-{row.cluster}")
                appearances_ui(row.cluster, people[row.cluster], source)
                reel_ui(row.cluster, people[row.cluster], source)
    unassigned = table[table["cluster"] < 0]
    if len(unassigned):
        with st.expander(f"Unassigned faces ({len(unassigned)})", key="faces-unassigned", on_change="rerun"):
            if st.session_state.get("faces-unassigned"):
                grid(faces, unassigned, width, "unassigned-page")


#: Widths of the faces in a person's grid (px), by the name the user picks.
FACE_SIZES = {"Small": 72, "Medium": 128, "Large": 200}


def split_ui(
    extraction: fc.Extraction,
    table: pd.DataFrame,
    edits: fc.Edits,
    label: int,
    members: np.ndarray,
) -> None:
    """ "Split this person" (``members``: the rows of their faces): their faces clustered again
    alone, tighter, into people of their own. No card is flagged as "several people": on the
    labelled clips no measure of how far apart a person's faces lie told mixed people from pure
    ones (``bench/quality.py``'s flags table)."""
    if st.button("Split this person", key=f"split-{label}", icon=":material/call_split:"):
        parts = extraction.split(members, st.session_state.clustering)
        if parts.max() < 1:
            st.toast("Their faces do not fall into separate people, even at the lowest eps.")
            return
        face_ids = table["face_id"].to_numpy()[members]
        for part in range(1, parts.max() + 1):  # the largest part keeps the person
            edits.new_person(face_ids[parts == part], table["cluster"].to_numpy())
        st.rerun()


def known_ui(
    extraction: fc.Extraction,
    table: pd.DataFrame,
    edits: fc.Edits,
    label: int,
    members: np.ndarray,
    match: library.Match | None,
) -> None:
    """The library's name for this person, to accept or reject (a reject is remembered for this
    clip), and "Save to library" (their best faces, not all of them)."""
    face_ids = table["face_id"].to_numpy()[members]
    if match is not None and edits.names.get(label) != match.name:
        within = extraction.thresholds.name_distance
        st.info(
            f"Known as **{match.name}**? Their faces lie {match.distance:.2f} from the library's "
            f"(named within {within:.2f}).",
            icon=":material/badge:",
        )
        accept, reject, _ = st.columns([1, 1, 4])
        if accept.button("Accept", key=f"accept-{label}", icon=":material/check:"):
            edits.names[label] = match.name
            st.rerun()
        if reject.button("Reject", key=f"reject-{label}", icon=":material/close:"):
            with library.Library() as known:
                known.reject(extraction.meta["hash"], match.name, face_ids)
            st.rerun()
    with st.popover("Save to library", icon=":material/person_add:"):
        name = st.text_input("Name", value=edits.names.get(label, ""), key=f"save-name-{label}")
        notes = st.text_input("Notes", key=f"save-notes-{label}")
        if st.button("Save their best faces", key=f"save-{label}", disabled=not name.strip()):
            chosen = library.best_faces(table.iloc[members])
            faces = library.clip_exemplars(
                extraction.faces, extraction.meta["params"]["embed"], chosen, st.session_state.clip_name
            )
            with library.Library() as known:
                total = known.add(name, faces, notes or None)
            edits.names[label] = name.strip()
            st.toast(f"Saved {len(chosen)} faces of {name.strip()}; {total} in the library.")
            st.rerun()


#: People's cards on one page of People, and faces in one page of a person's grid.
PEOPLE_PER_PAGE, FACES_PER_PAGE = 20, 120


def paged(rows: pd.DataFrame, per_page: int, what: str, key: str) -> pd.DataFrame:
    """The rows of the page chosen (a choice of pages shown only where there are several): an
    episode's hundred people or a person's thousand faces are not all sent at once."""
    if len(rows) <= per_page:
        return rows
    pages = range(0, len(rows), per_page)
    start = st.selectbox(
        what,
        pages,
        format_func=lambda at: f"{at + 1}-{min(at + per_page, len(rows))} of {len(rows)}",
        key=key,
    )
    return rows.iloc[start : start + per_page]


def grid(faces: fc.FaceTable, members: pd.DataFrame, width: int, key: str) -> None:
    """Thumbnails ``width`` px wide with face id and time, ``FACES_PER_PAGE`` at a time."""
    shown = paged(members, FACES_PER_PAGE, "Faces", key)
    st.image(
        [str(faces.thumb_path(i)) for i in shown["face_id"]],
        width=width,
        caption=[f"#{i} · {t:.1f}s" for i, t in zip(shown["face_id"], shown["t_sec"], strict=True)],
    )


def edits_ui(extraction: fc.Extraction, table: pd.DataFrame, edits: fc.Edits) -> None:
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
            # A number, not a list of every face: an episode has tens of thousands.
            face_id = st.number_input("Face (#id)", 0, int(table["face_id"].max()), step=1)
            to = st.selectbox("to", [*clusters, -1], format_func=edits.name)
            if st.form_submit_button("Move"):
                edits.moved[int(face_id)] = int(to)
                st.rerun()
        if len(edits):
            made_for = {
                "clip_hash": extraction.meta["hash"],
                "extract_params": extraction.meta["params"],
                "cluster_params": asdict(st.session_state.clustering),
            }
            st.download_button(
                "Download edits (JSON)",
                fc.dump_edits(edits, made_for),
                file_name=fc.EDITS_FILE,
                mime="application/json",
                help="Put it beside run.json in a `faceclust run` folder of this clip run with these "
                "settings: `faceclust reel` then names and hides people as here.",
            )
        if len(edits) and st.button("Undo all edits"):
            st.session_state.edits = fc.Edits()
            st.rerun()


def main() -> None:
    login.guard()  # also where this page runs without the router
    result = session.current()
    if result is None:
        return
    extraction, table, edits = result
    st.title(f"People in {st.session_state.clip_name}")
    session.embedder_caption(extraction)
    if table.empty:
        st.info("No faces were found in this clip.")
        return
    scores_ui(table)
    params = reel_settings_ui()
    source, people = reel_people(extraction, table, params)
    timeline_ui({k: p for k, p in people.items() if k not in edits.hidden}, extraction.duration_s, source)
    if not (table["cluster"] >= 0).any():
        st.info("No one was grouped: every face is unassigned. Raise eps or lower min samples.")
    cards_ui(extraction, table, edits, source, people)
    edits_ui(extraction, table, edits)


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
