"""Streamlit helpers shared by the dashboard's pages: state, the tuning sidebar, cached views.

Pages gather parameters and render; all computing is done by the faceclust library.
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import importlib
import os
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import streamlit as st

import faceclust as fc
from faceclust import library, ranges
from faceclust.dashboard.job import EPISODE_FACES, ExtractionJob

# The scikit-learn modules the library imports where it uses them, imported here once, before any
# background thread (UMAP's warm-up, an extraction's last stage) runs: two threads importing
# scikit-learn for the first time at once can fail ("partially initialized module").
for _module in ("sklearn.cluster", "sklearn.covariance", "sklearn.decomposition", "sklearn.metrics"):
    importlib.import_module(_module)

#: Super-resolution choices ordered by cost, cheapest first.
SR_BY_COST = ["none", "bicubic_x4", "fsrcnn-small_x4", "fsrcnn_x4", "espcn_x4", "lapsrn_x4", "edsr_x4"]
DEFAULT_CLUSTERING = fc.ClusterParams()
#: The page scripts, by absolute path: the router serves them whichever script started it
#: (``faceclust app``'s ``faceclust/dashboard/app.py`` or ``streamlit run app.py`` at the top).
RUN, PEOPLE, COMPARE, DOWNLOAD, SERIES, LIBRARY = (
    str(Path(__file__).with_name("views") / name)
    for name in ("0_Run.py", "1_People.py", "2_Compare.py", "3_Download.py", "4_Series.py", "5_Library.py")
)


def samples_dir() -> Path:
    """Where sample clips are listed from (``FACECLUST_SAMPLES``)."""
    return Path(os.environ.get("FACECLUST_SAMPLES", "samples")).expanduser()


def batches_dir() -> Path:
    """Where the Series page looks for batches first (``FACECLUST_BATCHES``, default batches/)."""
    return Path(os.environ.get("FACECLUST_BATCHES", "batches")).expanduser()


def sample_clips() -> list[Path]:
    folder = samples_dir()
    return (
        sorted(p for p in folder.glob("*") if p.suffix.lower().lstrip(".") in fc.CLIP_TYPES)
        if folder.is_dir()
        else []
    )


def labels_beside(clip: Path) -> Path | None:
    """A labels file for a sample clip: ``CLIP.labels.csv`` beside it or in ``../labels/``."""
    for candidate in (
        clip.with_name(f"{clip.name}.labels.csv"),
        clip.parent.parent / "labels" / f"{clip.name}.labels.csv",
    ):
        if candidate.is_file():
            return candidate
    return None


#: Uploaded clips are deleted this long after their last use (s).
UPLOAD_KEEP_S = 24 * 3600


def save_upload(upload) -> Path:
    """Store an uploaded file under a name made of its content (never the user's path), so that
    one clip uploaded again, or by several sessions, is stored once.

    Uploads not used for ``UPLOAD_KEEP_S`` are deleted then, so the folder does not grow forever.
    """
    saved = st.session_state.setdefault("uploads", {})  # file id -> path: hashed once per session
    path = saved.get(upload.file_id)
    if path is not None and path.is_file():
        path.touch()  # in use
        return path
    folder = Path(tempfile.gettempdir()) / "faceclust-uploads"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        if time.time() - old.stat().st_mtime > UPLOAD_KEEP_S:
            old.unlink(missing_ok=True)
    content = upload.getbuffer()
    suffix = Path(upload.name).suffix.lower()
    name = hashlib.sha256(content).hexdigest()[:32] + (suffix if suffix.lstrip(".") in fc.CLIP_TYPES else "")
    path = folder / name
    if path.is_file() and path.stat().st_size == len(content):
        path.touch()  # in use
    else:
        partial = folder / f".{name}.{uuid.uuid4().hex}"  # never half-written under the final name
        partial.write_bytes(content)
        os.replace(partial, path)
    saved[upload.file_id] = path
    return path


#: Every weight the clothing-weight slider offers.
SLIDER_WEIGHTS = ranges.WEIGHT.offered


def prefit_weights(extraction: fc.Extraction) -> None:
    """Build the clustering trees of every weight the slider offers in a background thread, once
    per extraction in the server (a thread per session competed with the pages), so that moving
    the weight slider re-clusters in milliseconds."""
    clusterer = extraction.clusterer
    with _PREFIT_LOCK:
        if clusterer in _PREFITTING:
            return

        def prefit() -> None:
            in_background()
            clusterer.prefit(SLIDER_WEIGHTS)

        _PREFITTING[clusterer] = thread = threading.Thread(target=prefit, daemon=True, name="prefit")
    thread.start()


#: The prefitting thread of each clusterer (forgotten with it).
_PREFITTING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PREFIT_LOCK = threading.Lock()


def in_background() -> None:
    """Give the calling thread a lower CPU priority (Linux: threads have their own niceness), so
    that work done ahead of time yields to the pages people are waiting for."""
    if hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


@st.cache_resource
def umap_warmer() -> threading.Thread:
    """Compile UMAP once per server in the background, at a lower priority, so the first
    projection is quick."""

    def warm_up() -> None:
        in_background()
        fc.warm_up_projection()

    thread = threading.Thread(target=warm_up, daemon=True, name="umap-warm-up")
    thread.start()
    return thread


def tuning_sidebar(extraction: fc.Extraction | None) -> fc.ClusterParams:
    """Clustering controls in the sidebar; their values live in session state across pages.

    eps starts where the clip's own evidence puts it (``Extraction.resolve``; the Run page sets it
    for each new clip) until it is moved. Returns the parameters, eps fixed.
    """
    state = st.session_state
    # eps is on the embedder's scale; before any clip, dlib's stands in.
    scale = extraction.thresholds if extraction else fc.thresholds("dlib")
    low, high = scale.eps_range
    chosen = state.get("clustering", DEFAULT_CLUSTERING)
    chosen = replace(chosen, eps=chosen.eps or _starting_eps(extraction, chosen.algorithm))
    chosen = replace(chosen, eps=min(max(chosen.eps, low), high))
    state.clustering = chosen
    sidebar = st.sidebar
    sidebar.header("Tune")
    edits: fc.Edits = state.setdefault("edits", fc.Edits())
    if len(edits):
        sidebar.warning(
            f"You have {len(edits)} edit(s). Changing these settings re-clusters and discards them."
        )
    algorithms = list(fc.ALGORITHMS)
    algorithm = sidebar.selectbox(
        "Algorithm",
        algorithms,
        index=algorithms.index(chosen.algorithm),
        key="w_algorithm",
        on_change=_algorithm_changed,
        args=(extraction,),
        help="A new algorithm starts from its own eps: eps means something else to each.",
    )
    weight = sidebar.slider(
        "Clothing weight",
        *ranges.WEIGHT.slider,
        chosen.weight,
        ranges.WEIGHT.step,
        key="w_weight",
        help="0 is face only. Clothing helps within a scene; it misleads where people change clothes.",
    )
    eps = sidebar.slider(
        "eps (distance)",
        low,
        high,
        chosen.eps,
        0.01,
        key="w_eps",
        help=f"{algorithm}: {EPS_MEANING[algorithm]} Lower splits people; higher merges look-alikes. "
        "It starts where this clip's faces put it: by the distances between people seen together "
        "in one frame. Its range is the face embedder's.",
    )
    if extraction and extraction.calibrated_eps and eps == _starting_eps(extraction, algorithm):
        sidebar.caption(f"eps {eps:.2f} is calibrated on this clip for {algorithm}.")
    min_samples = sidebar.slider(
        "Min samples",
        *map(int, ranges.MIN_SAMPLES.slider),
        chosen.min_samples,
        key="w_min_samples",
        help="Smaller clusters become unassigned.",
    )
    params = fc.ClusterParams(algorithm, weight, eps, min_samples)
    if params != chosen:
        if len(edits):
            st.toast(f"Re-clustered: {len(edits)} edit(s) discarded.")
            state.edits = fc.Edits()
        state.clustering = params
    return params


#: What eps is to each clustering algorithm (the sidebar's eps help).
EPS_MEANING = {
    "agglomerative": "two groups of faces join while their faces are this far apart on average.",
    "dbscan": "faces this close are neighbours, and neighbours chain into one person, so it sits "
    "lower than agglomerative's.",
    "hdbscan": "people whose faces come this close are merged, so it sits lower than agglomerative's.",
    "chinese_whispers": "faces this close are linked and take their person from their links, so "
    "it sits lower than agglomerative's.",
}


def _starting_eps(extraction: fc.Extraction | None, algorithm: str) -> float:
    """eps a clip starts from with ``algorithm`` (before any clip: the default embedder's)."""
    if extraction is None:
        return round(fc.thresholds("dlib").eps * fc.EPS_SHARE[algorithm], 2)
    return extraction.resolve(fc.ClusterParams(algorithm)).eps


def _algorithm_changed(extraction: fc.Extraction | None) -> None:
    """A new algorithm moves the eps slider to where that algorithm starts on this clip."""
    state = st.session_state
    state.w_eps = _starting_eps(extraction, state.w_algorithm)


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
    shown = f"ONNX model {Path(name.removeprefix('onnx:')).name}" if name.startswith("onnx:") else name
    st.caption(f"Faces described by {shown}.")


def start_extraction(clip: Path, name: str, labels: Path | None, params: fc.ExtractParams) -> None:
    """Start extracting ``clip`` in the background for this session (``ExtractionJob``) and draw
    the page again (with the new clip, or with its progress). A clip already in the cache is
    usually back within a short wait, with no progress shown."""
    state = st.session_state
    clustering = replace(state.get("clustering", DEFAULT_CLUSTERING), eps=None)  # as adopted
    state.job, state.job_outcome = ExtractionJob(clip, name, labels, params, clustering), None
    state.job.wait(JOB_WAIT_S)
    st.rerun()


#: How long Run waits for its extraction before the page goes on with a progress panel (s).
JOB_WAIT_S = 1.0
#: How often the progress panel looks at the extraction (s).
JOB_POLL_S = 0.5


def adopt_finished_extraction() -> None:
    """Take a finished background extraction in as the session's clip (a new clip starts from its
    own calibrated eps, on the slider too); ``job_outcome`` keeps (succeeded, what to say).
    Called before any sidebar widget exists: the eps slider's value may be set only then."""
    state = st.session_state
    job: ExtractionJob | None = state.get("job")
    if job is None or job.running:
        return
    del state.job
    if job.extraction is None:
        state.job_outcome = (
            False,
            "Extraction cancelled. Nothing of it was kept; Run starts it again."
            if job.cancelled
            else job.error,
        )
        return
    extraction = job.extraction
    state.extraction, state.clip_path, state.clip_name, state.labels_path = (
        extraction,
        job.clip,
        job.name,
        job.labels,
    )
    state.embedder_asked = job.params.embed.embedder  # "auto" may have fallen back to dlib
    state.edits = fc.Edits()
    chosen = state.get("clustering", DEFAULT_CLUSTERING)
    clustering = extraction.resolve(replace(chosen, eps=None))
    state.clustering, state.w_eps = clustering, clustering.eps
    how = "loaded from the cache" if extraction.cache_hit else f"in {time.perf_counter() - job.started:.0f} s"
    state.job_outcome = True, f"{job.name}: {len(extraction.faces.table)} faces, {how}"


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
            st.page_link(RUN, label="Go to Run", icon=":material/play_arrow:")
        return None
    prefit_weights(extraction)
    edits: fc.Edits = state.edits
    labels = edits.apply(clustered(extraction, params), extraction.faces.table["face_id"].to_numpy())
    table = extraction.faces.table.assign(cluster=labels)
    swallowed_warning(labels, params)
    return extraction, table.assign(person=[edits.name(label) for label in labels]), edits


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
    key = (extraction.faces.folder.name, params)
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


#: Colours of people: a qualitative palette (Tableau 20 without its greys), then hues a golden
#: angle apart; unassigned faces are always grey.
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5",
]  # fmt: skip
UNASSIGNED_GREY = "#9e9e9e"


def colour(label: int) -> str:
    """The colour of person ``label`` on every chart (the same on every page, whatever else is
    shown; no two people share one); unassigned faces (-1) are grey."""
    if label < 0:
        return UNASSIGNED_GREY
    return PALETTE[label] if label < len(PALETTE) else _hue(label)


def _hue(k: int) -> str:
    """The k-th colour beyond the palette: hues 137.5 degrees apart, medium light and strong."""
    red, green, blue = colorsys.hls_to_rgb((k * 0.381966) % 1.0, 0.5, 0.65)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


#: Side of the face pictures drawn on charts, in pixels.
CHART_FACE_PX = 48


@st.cache_data(max_entries=4096, show_spinner=False)
def thumbnail_uri(path: str) -> str:
    """The face picture at ``path`` as a small square JPEG data URI, for drawing on a chart."""
    thumb = cv2.resize(cv2.imread(path), (CHART_FACE_PX, CHART_FACE_PX), interpolation=cv2.INTER_AREA)
    jpeg = cv2.imencode(".jpg", thumb, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()


class Projections:
    """UMAP layouts shared by the server's sessions, keyed by (extraction, weight or None); each
    is read from the clip's cache entry where an earlier server kept it (``Extraction.layout``).

    A layout is computed once: a request for one being computed waits for it, while layouts
    already made are served at once (the lock is held only to look them up). A background thread
    fills in every weight the slider offers, nearest to the weight last looked at first, once
    Compare is visited (not before: a UMAP fit holds Python's lock for seconds and would slow
    every page), at a lower CPU priority than the pages, so that after a short while any slider
    move shows both views at once.
    """

    def __init__(self) -> None:
        self._layouts: dict[tuple[str, float | None], np.ndarray] = {}
        self._computing: dict[tuple[str, float | None], threading.Event] = {}
        self._lock = threading.Lock()
        self._looked_at: dict[str, tuple[fc.Extraction, float]] = {}
        self._filler: threading.Thread | None = None

    def get(self, extraction: fc.Extraction, weight: float | None) -> np.ndarray:
        """The (N, 2) layout of one extraction's faces (``weight`` None: the face vectors)."""
        key = (extraction.faces.folder.name, None if weight is None else round(weight, 2))
        with self._lock:
            if key in self._layouts:
                return self._layouts[key]
            done = self._computing.get(key)
            mine = done is None
            if mine:
                done = self._computing[key] = threading.Event()
        if not mine:
            done.wait()
            return self.get(extraction, weight)  # made by the other request (or failed there)
        try:
            layout = extraction.layout(key[1])
            with self._lock:
                self._layouts[key] = layout
            return layout
        finally:
            with self._lock:
                del self._computing[key]
            done.set()

    def fill_around(self, extraction: fc.Extraction, weight: float) -> None:
        """Compute the other slider weights' layouts in the background, nearest first; not for
        an episode (``job.EPISODE_FACES``): there each fit holds Python's lock for tens of
        seconds, and twenty of them would slow every page for minutes (a weight asked for is
        fitted then)."""
        if len(extraction.faces.table) >= EPISODE_FACES:
            return
        self._looked_at[extraction.faces.folder.name] = (extraction, weight)
        if self._filler is None or not self._filler.is_alive():
            self._filler = threading.Thread(target=self._fill, daemon=True, name="umap-fill")
            self._filler.start()

    def _next_missing(self) -> tuple[fc.Extraction, float] | None:
        for name, (extraction, weight) in list(self._looked_at.items()):
            missing = [w for w in SLIDER_WEIGHTS if (name, w) not in self._layouts]
            if missing:
                return extraction, min(missing, key=lambda w: abs(w - weight))
            del self._looked_at[name]
        return None

    def _fill(self) -> None:
        in_background()
        while (todo := self._next_missing()) is not None:
            self.get(*todo)


@st.cache_resource
def projections() -> Projections:
    """The server's one store of UMAP layouts."""
    return Projections()
