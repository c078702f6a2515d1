"""The tuning sidebar: the clustering controls every page shares, returned as ``ClusterParams``,
and the trees of every clothing weight it offers, built ahead in the background."""

from __future__ import annotations

import threading
import weakref
from dataclasses import replace

import streamlit as st

import faceclust as fc
from faceclust import ranges
from faceclust.dashboard.job import in_background

DEFAULT_CLUSTERING = fc.ClusterParams()


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
            clusterer.prefit(ranges.WEIGHT.offered)

        _PREFITTING[clusterer] = thread = threading.Thread(target=prefit, daemon=True, name="prefit")
    thread.start()


#: The prefitting thread of each clusterer (forgotten with it).
_PREFITTING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PREFIT_LOCK = threading.Lock()


def tuning_sidebar(extraction: fc.Extraction | None) -> fc.ClusterParams:
    """Clustering controls in the sidebar; their values live in session state across pages.

    eps starts where the clip's own evidence puts it (``Extraction.resolve``; the Run page sets it
    for each new clip) until it is moved. Returns the parameters, eps fixed.
    """
    state = st.session_state
    low, high = eps_range(extraction)
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
        # Given for a page change, which drops a widget's state, and set through the state for
        # a new clip or algorithm, which wins then: both on purpose (SETTINGS silences
        # Streamlit's warning about it; None here would reset eps on every page change).
        chosen.eps,
        0.01,
        key="w_eps",
        help=f"{algorithm}: {fc.ALGORITHMS[algorithm].meaning} Lower splits people; higher merges "
        "look-alikes. "
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


def eps_range(extraction: fc.Extraction | None) -> tuple[float, float]:
    """The eps slider's range: the clip's embedder's scale; before any clip, dlib's stands in."""
    return (extraction.thresholds if extraction else fc.thresholds("dlib")).eps_range


def _starting_eps(extraction: fc.Extraction | None, algorithm: str) -> float:
    """eps a clip starts from with ``algorithm`` (before any clip: the default embedder's)."""
    if extraction is None:
        return fc.ALGORITHMS[algorithm].starting_eps(fc.thresholds("dlib").eps)
    return extraction.resolve(fc.ClusterParams(algorithm)).eps


def _algorithm_changed(extraction: fc.Extraction | None) -> None:
    """A new algorithm moves the eps slider to where that algorithm starts on this clip."""
    state = st.session_state
    state.w_eps = _starting_eps(extraction, state.w_algorithm)
