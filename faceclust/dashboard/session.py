"""The session's state shared by the dashboard's pages: the clip being extracted (its job and
progress) and the clip shown, clustered at the sidebar's settings with the user's edits.

Pages gather parameters and render; all computing is done by the faceclust library.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import faceclust as fc
from faceclust import library
from faceclust.dashboard import clips
from faceclust.dashboard.job import ExtractionJob
from faceclust.dashboard.sidebar import DEFAULT_CLUSTERING, eps_range, prefit_weights, tuning_sidebar

# The scikit-learn modules the library imports where it uses them, imported here once, before any
# background thread (UMAP's warm-up, an extraction's last stage) runs: two threads importing
# scikit-learn for the first time at once can fail ("partially initialized module").
for _module in ("sklearn.cluster", "sklearn.covariance", "sklearn.decomposition", "sklearn.metrics"):
    importlib.import_module(_module)

#: Super-resolution choices ordered by cost, cheapest first.
SR_BY_COST = ["none", "bicubic_x4", "fsrcnn-small_x4", "fsrcnn_x4", "espcn_x4", "lapsrn_x4", "edsr_x4"]
#: Where the router keeps the pages it serves (``serve``), by view name.
PAGES = "faceclust_pages"


def serve(pages: dict) -> None:
    """Note the pages (``st.Page`` by view name) the router serves, for ``link``: the scripts
    differ by what started it (``faceclust app``: the views; ``streamlit run app.py``: ``pages/``)."""
    st.session_state[PAGES] = pages


def link(name: str, label: str, icon: str, where: Any = st, address: dict[str, str] | None = None) -> None:
    """A link to the page of view ``name`` (``dashboard.VIEWS``) in ``where`` (``st`` or a
    container), with the ``address``'s query parameters (``CLIP_PARAM``: the clip it shows);
    none where no router has run in this session (it serves no other page then)."""
    page = st.session_state.get(PAGES, {}).get(name)
    if page is not None:
        where.page_link(page, label=label, icon=icon, query_params=address)


def embedder_caption(extraction: fc.Extraction) -> None:
    """Say which face embedder described the faces (distances mean different things per model),
    and warn where ``auto`` had to fall back to dlib."""
    name = extraction.embedder
    if name == "dlib" and st.session_state.get("embedder_asked") == "auto":
        st.warning(
            "Faces described by dlib: SFace's model could not be downloaded (offline?), and dlib "
            "tells East-Asian faces apart less well. Run `faceclust models fetch sface` once "
            "online, or choose an ONNX model of your own on the Run page, and run again.",
            icon=":material/warning:",
        )
        return
    st.caption(f"Faces described by {fc.embedder_title(name)}.")


def start_extraction(clip: Path, name: str, labels: Path | None, params: fc.ExtractParams) -> None:
    """Start extracting ``clip`` in the background for this session (``ExtractionJob``) and draw
    the page again (with the new clip, or with its progress). A clip already in the cache is
    usually back within a short wait, with no progress shown."""
    state = st.session_state
    clustering = state.get("clustering", DEFAULT_CLUSTERING)
    state.job, state.job_outcome = ExtractionJob(clip, name, labels, params, clustering), None
    state.job.wait(JOB_WAIT_S)
    st.rerun()


#: How long Run waits for its extraction before the page goes on with a progress panel (s).
JOB_WAIT_S = 1.0
#: How often the progress panel looks at the extraction (s).
JOB_POLL_S = 0.5


#: The address's parameters naming the session's clip: its cache entry (``Extraction.key``)
#: and what the user calls it (one upload's content may come under two names). A refresh, or a
#: page asked for by its address, starts a new Streamlit session, which shows that clip again.
CLIP_PARAM, NAME_PARAM = "clip", "name"


def adopt_finished_extraction() -> None:
    """Take a finished background extraction in as the session's clip (``job_outcome`` keeps
    (succeeded, what to say)); else a clip the address names (a new session's, or a link's to
    another clip: a search hit's) is shown. The address then names the session's clip. Called
    before any sidebar widget exists: the eps slider's value may be set only then."""
    state = st.session_state
    job: ExtractionJob | None = state.get("job")
    shown = state.extraction.key if state.get("extraction") is not None else None
    if job is not None and not job.running:
        del state.job
        _adopt(job)
    elif st.query_params.get(CLIP_PARAM, shown) != shown:  # an extraction may run on meanwhile
        _restore(st.query_params[CLIP_PARAM])
    if "extraction" in state:
        # Set again after every page change: Streamlit clears the address's parameters on one.
        for param, value in ((CLIP_PARAM, state.extraction.key), (NAME_PARAM, state.clip_name)):
            if st.query_params.get(param) != value:
                st.query_params[param] = value


def _adopt(job: ExtractionJob) -> None:
    """Take the finished ``job``'s clip in, or say why there is none."""
    if job.extraction is None:
        st.session_state.job_outcome = (
            False,
            "Extraction cancelled. Nothing of it was kept; Run starts it again."
            if job.cancelled
            else job.error,
        )
        return
    extraction, chosen = job.extraction, st.session_state.get("clustering", DEFAULT_CLUSTERING)
    # eps moved while it ran is the user's choice, where it was made on this clip's scale (a new
    # algorithm moves eps too: its clip's own eps then).
    moved = job.clustering.eps not in (None, chosen.eps) and chosen.algorithm == job.clustering.algorithm
    same_scale = eps_range(st.session_state.get("extraction")) == eps_range(extraction)
    _show(
        extraction,
        job.clip,
        job.name,
        job.labels,
        job.params.embed.embedder,
        chosen.eps if moved and same_scale else None,
    )
    how = "loaded from the cache" if extraction.cache_hit else f"in {time.perf_counter() - job.started:.0f} s"
    st.session_state.job_outcome = True, f"{job.name}: {len(extraction.faces.table)} faces, {how}"


def _restore(key: str) -> None:
    """Show the clip kept in the cache under ``key``, under the address's name for it (its
    labels where they lie beside it), with the edits it had in this session, if any."""
    extraction = fc.kept_extraction(key)
    if extraction is None:
        for param in (CLIP_PARAM, NAME_PARAM):
            st.query_params.pop(param, None)
        st.warning("The clip this address showed is no longer in the cache: bring it again on the Run page.")
        return
    clip = Path(extraction.meta["path"])
    # A file's name, no longer than a file system's (the address may be anyone's link).
    name = Path(st.query_params.get(NAME_PARAM, "")).name[:255] or extraction.meta["name"] or clip.name
    if not clip.is_file():  # an upload unused for a day, say
        st.info(
            f"{name} is no longer on this server: its people are, but Watch and reels need it brought again."
        )
    _show(extraction, clip, name, clips.labels_beside(clip), extraction.embedder)


def _show(
    extraction: fc.Extraction,
    clip: Path,
    name: str,
    labels: Path | None,
    asked: str,
    eps: float | None = None,
) -> None:
    """Make ``extraction`` (of ``clip``, called ``name``) the session's clip at ``eps``, or its
    own calibrated eps where None (on the slider too); ``asked``: the embedder asked for ("auto"
    may have fallen back to dlib). A clip the session edited before (the one shown until now
    too, run again) gets its edits and the settings they were made at back; any other starts
    with none (a rename was lost when another clip was run in between)."""
    state = st.session_state
    kept: dict[str, tuple[fc.ClusterParams, fc.Edits]] = state.setdefault("kept_edits", {})
    if state.get("extraction") is not None and len(state.get("edits", ())):
        kept[state.extraction.key] = state.clustering, state.edits
    state.extraction, state.clip_path, state.clip_name, state.labels_path = extraction, clip, name, labels
    state.embedder_asked = asked
    if extraction.key in kept:
        clustering, state.edits = kept.pop(extraction.key)
        state.w_algorithm, state.w_weight = clustering.algorithm, clustering.weight
        state.w_min_samples = clustering.min_samples
        st.toast(f"{name}: your {len(state.edits)} edit(s) and its settings are back.")
    else:
        state.edits = fc.Edits()
        chosen = state.get("clustering", DEFAULT_CLUSTERING)
        clustering = extraction.resolve(replace(chosen, eps=eps))
    state.clustering, state.w_eps = clustering, clustering.eps


@st.fragment(run_every=JOB_POLL_S)
def extraction_panel() -> None:
    """The running extraction's stage, frames done and time left, with its Cancel button; reruns
    the whole page when it ends (the page then shows the result). Drawn on every page."""
    job: ExtractionJob | None = st.session_state.get("job")
    if job is None:
        return
    if not job.running:
        st.rerun(scope="app")
    with st.container(border=True):
        st.progress(job.fraction, text=f"Finding faces in **{job.name}**: {job.describe()}")
        st.button("Cancel", key="cancel_extraction", icon=":material/stop:", on_click=job.cancel)


def extraction_progress() -> None:
    """The progress panel of the extraction running in the background, if one is."""
    if st.session_state.get("job") is not None:
        extraction_panel()


def current(on_run_page: bool = False) -> tuple[fc.Extraction, pd.DataFrame, fc.Edits] | None:
    """The session's extraction, its face table with the edited ``cluster`` and the ``person``
    (display name) of each face, and the edits; None (with a hint: on the Run page, to the form
    above it; elsewhere, a link to the Run page) before a run. Shows the progress of an
    extraction running in the background."""
    state = st.session_state
    adopt_finished_extraction()
    extraction = state.get("extraction")
    params = tuning_sidebar(extraction)
    extraction_progress()
    if extraction is None:
        if state.get("job") is None and on_run_page:
            st.info("No clip yet: choose a sample clip or upload one above, then press Run.")
        elif state.get("job") is None:
            st.info("No clip yet. Bring one on the Run page.")
            link("run", label="Go to Run", icon=":material/play_arrow:")
        return None
    prefit_weights(extraction)
    edits: fc.Edits = state.edits
    labels = edits.apply(clustered(extraction, params), extraction.faces.table["face_id"].to_numpy())
    table = extraction.faces.table.assign(cluster=labels)
    swallowed_warning(labels, params)
    return extraction, table.assign(person=edits.names_of(labels)), edits


def library_matches(extraction: fc.Extraction, table: pd.DataFrame) -> dict[int, library.Match]:
    """The library's names for the clip's people (label -> ``Match``; ``library.name_people``),
    {} where there is no library yet (none is made just to look)."""
    if not library.library_path().is_file():
        return {}
    try:
        with library.Library() as known:
            return library.name_people(
                known,
                extraction.faces.face_embedding,
                table["cluster"].to_numpy(),
                table["face_id"].to_numpy(),
                extraction.meta["params"]["embed"],
                extraction.meta["hash"],
            )
    except fc.BadInput as e:
        st.warning(f"The library cannot name anyone: {e}")
        return {}


def clustered(extraction: fc.Extraction, params: fc.ClusterParams) -> np.ndarray:
    """``fc.cluster``, kept for the session's last clip and parameters: a page change or a click
    that changes neither does not cluster again (seconds at 20,000 faces)."""
    key = (extraction.key, params)
    last = st.session_state.get("clustered")
    if last is None or last[0] != key:
        st.session_state.clustered = last = key, fc.cluster(extraction, params)
    return last[1]


#: A result is suspicious where one person holds more than this share of the faces while at
#: least ``LEFT_OUT_SHARE`` of them are unassigned: the others seen beside that "person" could not
#: join them (one face per frame) and found no one else: several people merged into one.
SWALLOWED_SHARE, LEFT_OUT_SHARE = 0.5, 0.3


def swallowed(labels: np.ndarray) -> tuple[int, int] | None:
    """(faces of the biggest person, faces unassigned) where one "person" has swallowed several
    (see ``SWALLOWED_SHARE``), else None."""
    assigned = labels[labels >= 0]
    if not len(assigned):
        return None
    biggest, left_out = int(np.bincount(assigned).max()), int((labels < 0).sum())
    if biggest > SWALLOWED_SHARE * len(labels) and left_out >= LEFT_OUT_SHARE * len(labels):
        return biggest, left_out
    return None


def swallowed_warning(labels: np.ndarray, params: fc.ClusterParams) -> None:
    """Say so on the page where one "person" has swallowed several (``swallowed``)."""
    found = swallowed(labels)
    if found is not None:
        st.warning(
            f"One person holds {found[0]} of {len(labels)} faces and {found[1]} more are unassigned: "
            f"several people are probably merged into one. Lower eps (eps means something else to "
            f"{params.algorithm} than to agglomerative), or choose agglomerative.",
            icon=":material/warning:",
        )
