"""What the charts draw with: each person's colour, faces as small pictures, and the UMAP
layouts shared by the server's sessions (fitted in the background where that helps)."""

from __future__ import annotations

import base64
import colorsys
import threading

import cv2
import numpy as np
import streamlit as st

import faceclust as fc
from faceclust import ranges
from faceclust.dashboard.job import EPISODE_FACES, in_background


@st.cache_resource
def umap_warmer(exact: bool) -> threading.Thread:
    """Compile UMAP's neighbour search (``exact`` or NN-descent, ``warm_up_projection``) once
    per server in the background, at a lower priority, so that the first projection on it is
    quick."""

    def warm_up() -> None:
        in_background()
        fc.warm_up_projection(exact)

    thread = threading.Thread(target=warm_up, daemon=True, name="umap-warm-up")
    thread.start()
    return thread


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
        key = (extraction.key, None if weight is None else round(weight, 2))
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
        self._looked_at[extraction.key] = (extraction, weight)
        if self._filler is None or not self._filler.is_alive():
            self._filler = threading.Thread(target=self._fill, daemon=True, name="umap-fill")
            self._filler.start()

    def _next_missing(self) -> tuple[fc.Extraction, float] | None:
        for name, (extraction, weight) in list(self._looked_at.items()):
            missing = [w for w in ranges.WEIGHT.offered if (name, w) not in self._layouts]
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
