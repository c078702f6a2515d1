"""Library: the people known by name (added from photos or from a clip's People page), and a
search by face across the cached clips and the batches."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

import faceclust as fc
from faceclust import folders, library
from faceclust.dashboard import clips, login, session
from faceclust.library import search

#: Exemplar faces shown per person, and their width (px).
SHOWN_FACES, FACE_PX = 8, 72


def uploaded(files, folder: Path) -> list[Path]:
    """Uploaded files written into ``folder`` (a temporary one: photos of faces are not kept)."""
    paths = []
    for k, upload in enumerate(files):
        path = folder / f"{k}{Path(upload.name).suffix.lower()}"
        path.write_bytes(upload.getbuffer())
        paths.append(path)
    return paths


def add_ui() -> None:
    with st.expander("Add a person from photos", icon=":material/person_add:"):
        with st.form("add", clear_on_submit=True):
            name = st.text_input("Name")
            notes = st.text_input("Notes")
            photos = st.file_uploader(
                "Photos (the largest face of each)",
                type=list(library.PHOTO_TYPES),
                accept_multiple_files=True,
            )
            if not st.form_submit_button("Add", type="primary"):
                return
        if not name.strip() or not photos:
            st.error("A name and at least one photo, please.")
            return
        with st.spinner("Finding and describing the faces..."), tempfile.TemporaryDirectory() as tmp:
            try:
                embed = fc.EmbedParams().resolved()
                faces, problems = library.photo_exemplars(uploaded(photos, Path(tmp)), [embed])
            except fc.BadInput as e:
                st.error(str(e))
                return
        for line in problems:
            st.warning(line.replace(tmp + "/", ""))
        if not faces:
            st.error(f"No face found in the photos of {name.strip()}; nothing added.")
            return
        with library.Library() as known:
            total = known.add(name, faces, notes or None)
        st.success(f"{name.strip()}: {len(faces)} faces added, {total} in the library.")


def people_ui(known: library.Library) -> None:
    people = known.people()
    if people.empty:
        st.info("No one yet. Add people from photos above, or from a clip's People page (Save to library).")
        return
    for person in people.itertuples():
        described = ", ".join(library.embedder_label(key) for key in person.embedders.split(",") if key)
        with st.container(border=True):
            st.markdown(
                f"**{person.name}** · {person.faces} faces · "
                f"described by {described or 'no embedder yet'}"
                + (f"  \n{person.notes}" if person.notes else "")
            )
            st.image(known.images(person.name)[:SHOWN_FACES], width=FACE_PX)
            edit, remove, _ = st.columns([1, 1, 4])
            with edit.popover("Edit", icon=":material/edit:"):
                new_name = st.text_input("Name", person.name, key=f"name-{person.name}")
                notes = st.text_area("Notes", person.notes, key=f"notes-{person.name}")
                if st.button("Save", key=f"edit-{person.name}"):
                    try:
                        known.set_notes(person.name, notes)
                        if new_name.strip() != person.name:
                            known.rename(person.name, new_name)
                    except fc.BadInput as e:
                        st.error(str(e))
                    else:
                        st.rerun()
            with remove.popover("Remove", icon=":material/delete:"):
                st.write(f"Delete {person.name} with their faces and embeddings? This cannot be undone.")
                if st.button("Delete", key=f"remove-{person.name}", type="primary"):
                    known.remove(person.name)
                    st.rerun()


def exported() -> bytes:
    """The library as one file (``Library.export``); made when the button is clicked, on a
    thread of its own (so with a connection of its own)."""
    with tempfile.TemporaryDirectory() as tmp, library.Library() as known:
        target = Path(tmp) / "library.faceclust"
        known.export(target)
        return target.read_bytes()


def move_ui(known: library.Library) -> None:
    with st.expander("Move the library to another machine", icon=":material/swap_horiz:"):
        st.download_button(
            "Export (one file)", exported, file_name="library.faceclust", mime="application/x-sqlite3"
        )
        upload = st.file_uploader("Import an exported library", key="import")
        if upload is not None and st.button("Import"):
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    added = known.import_(uploaded([upload], Path(tmp))[0])
                except fc.BadInput as e:
                    st.error(str(e).replace(tmp + "/", ""))
                    return
            st.success(f"{added} faces added.")


def search_places() -> list[tuple[str, Path]]:
    """What a search can look in: the extraction cache and each batch folder (``FACECLUST_BATCHES``)."""
    batches = folders.batches_under(clips.batches_dir())
    return [("Every clip in the cache", fc.cache_root()), *((f"Batch {p.name}", p) for p in batches)]


def search_ui(known: library.Library) -> None:
    st.subheader("Where does this face appear?")
    by = st.segmented_control(
        "Search for", ["A photo", "A library person"], default="A photo", key="search_by"
    )
    photo = person = None
    if by == "A library person":
        person = st.selectbox("Person", known.people()["name"].tolist(), index=None, key="search_person")
    else:
        photo = st.file_uploader("A photo of the face", type=list(library.PHOTO_TYPES), key="search_photo")
    offered = search_places()
    chosen = st.multiselect(
        "Look in", [title for title, _ in offered], default=[offered[0][0]], key="search_in"
    )
    if not st.button("Search", type="primary", disabled=not (photo or person) or not chosen):
        return
    paths = [path for title, path in offered if title in chosen]
    with st.spinner("Bringing the index up to date and searching..."), tempfile.TemporaryDirectory() as tmp:
        try:
            found = search.places([p for p in paths if p.exists()])
            for line in search.refresh(known, found, fc.entry_labels):
                st.warning(line)
            embeds = search.indexed_embedders(known, found)
            query = uploaded([photo], Path(tmp))[0] if photo else None
            queries, face = search.query_vectors(known, embeds, query, person) if embeds else ({}, None)
            results = search.search(known, queries, found)
        except fc.BadInput as e:
            st.error(str(e).replace(tmp + "/", ""))
            return
    if face is not None:
        picture, text = st.columns([1, 8], vertical_alignment="center")
        picture.image(face, width=FACE_PX)
        text.caption("Searched for this face: the photo's largest.")
    searched = len({p.source for p in found})
    if results.empty:
        st.info(f"Not found in {_count(searched, 'clip')} searched.")
        return
    likely = int((results["match"] == "likely").sum())
    st.caption(
        f"{len(results)} found in {_count(searched, 'clip')} searched, nearest first: {likely} likely "
        f"the same person, {len(results) - likely} possibly."
    )
    for row in results.itertuples():
        picture, text = st.columns([1, 8])
        picture.image(row.thumb, width=FACE_PX)
        known = f" (known as {row.known_as})" if row.known_as else ""
        place = Path(row.place)
        where = (
            "the extraction cache, its people at the default settings"
            if place.parent.name == "extract"
            else f"run folder {place}"
        )
        text.markdown(
            f"**{row.clip}** · {row.person}{known} · {row.match} · distance {row.distance:.2f} "
            f"({row.embedder}; {row.settings})  \n{row.appearances}  \nin {where}"
        )
        entry = Path(row.entry)
        if entry.is_dir():
            address = {session.CLIP_PARAM: entry.name, session.NAME_PARAM: row.clip}
            session.link("people", "Open in People", ":material/groups:", text, address)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def main() -> None:
    login.guard()  # also where this page runs without the router
    session.adopt_finished_extraction()  # a refresh keeps the session's clip
    session.extraction_progress()  # a clip being extracted on the Run page goes on meanwhile
    st.title("Library of known people")
    st.caption(
        f"Kept in `{library.library_path()}` (readable by you only). Names, faces and their "
        "embeddings are biometric data: remove a person and nothing of them stays."
    )
    add_ui()
    with library.Library() as known:
        people_ui(known)
        move_ui(known)
        search_ui(known)


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
