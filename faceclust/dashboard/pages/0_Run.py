"""Run: bring a clip (sample or upload), choose the extraction parameters, run with progress."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import streamlit as st

import faceclust as fc
from faceclust import ranges
from faceclust.dashboard import session


def clip_ui() -> tuple[Path, str, Path | None] | None:
    """Pick a sample clip or upload one; returns (clip, its name to show, labels file or None).

    The choice shows the clip loaded now, so that coming back to this page and pressing Run runs
    that clip again rather than the first sample."""
    state = st.session_state
    samples = session.sample_clips()
    loaded = state.get("clip_path")
    uploaded = loaded is not None and loaded not in samples
    if loaded is not None:
        st.info(f"Loaded: **{state.clip_name}**. Choose another clip below and press Run to replace it.")
    # Widgets' own state is dropped when the user goes to another page: start them again from the
    # loaded clip (not from a changing default, which would make a new widget and lose a choice).
    state.setdefault("clip_source", "Upload" if uploaded or not samples else "Sample clip")
    if loaded in samples:
        state.setdefault("sample_clip", loaded)
    source = st.radio(
        "Clip", ["Sample clip", "Upload"], horizontal=True, key="clip_source", label_visibility="collapsed"
    )
    if source == "Sample clip":
        if not samples:
            st.info(f"No sample clips in {session.samples_dir()} (set FACECLUST_SAMPLES).")
            return None
        clip = st.selectbox("Sample clip", samples, key="sample_clip", format_func=lambda p: p.name)
        return clip, clip.name, session.labels_beside(clip)
    upload = st.file_uploader("Upload a clip", type=fc.CLIP_TYPES)
    labels = st.file_uploader("Labels file (optional, for scores)", type=["csv"])
    if upload is None:
        return (loaded, state.clip_name, state.get("labels_path")) if uploaded else None
    st.caption(f"{upload.name} ({upload.size / 1e6:.1f} MB) is ready to run.")
    labels_path = session.save_upload(labels) if labels is not None else None
    return session.save_upload(upload), upload.name, labels_path


def extraction_ui() -> tuple[fc.ExtractParams, bool]:
    """The extraction form; returns its parameters and whether Run was pressed."""
    defaults = fc.ExtractParams()
    with st.form("extract"):
        left, middle, right = st.columns(3)
        step = left.number_input(
            "Every Nth frame",
            *map(int, ranges.STEP.slider),
            defaults.sampling.step,
            help="15 is 2 frames a second at 30 fps. Smaller finds more, slower.",
        )
        detectors = ["auto", *fc.DETECTORS]
        detector = middle.selectbox(
            "Detector", detectors, help="auto: YuNet (finds small and profile faces)."
        )
        sr = right.select_slider(
            "Super-resolution (by cost)",
            session.SR_BY_COST,
            value="fsrcnn-small_x4",
            help="Upscales faces under 80 px before they are described.",
        )
        left, right = st.columns([1, 2])
        embedder = left.selectbox(
            "Face embedder",
            ["auto", "sface", "dlib", "ONNX model"],
            help="auto: SFace (tells East-Asian faces apart better than dlib, and is faster), "
            "downloaded once; dlib where it cannot be had. ONNX model: an ArcFace-style model of "
            "your own, by its path on the server.",
        )
        model = right.text_input("ONNX model path (for ONNX model)", placeholder="/models/arcface.onnx")
        run = st.form_submit_button("Run", type="primary")
    params = fc.ExtractParams(
        sampling=fc.SamplingParams(step=int(step)),
        detect=fc.DetectParams(detector=detector),
        sr=fc.SRParams(method=sr),
        embed=fc.EmbedParams(f"onnx:{model.strip()}" if embedder == "ONNX model" else embedder),
    )
    return params, run


#: Frames to see come back before saying how long the rest will take.
EXTRAPOLATE_AFTER = 4


def run_extraction(clip: Path, params: fc.ExtractParams) -> fc.Extraction | None:
    started = time.perf_counter()
    with st.status("Finding faces...", expanded=True) as status:
        bar = st.progress(0.0, text="Reading the clip")
        # Any click reruns the page, which stops this run at its next progress update; the
        # cache keeps nothing of a stopped extraction.
        st.button("Cancel", key="cancel_extraction", icon=":material/stop:")

        first: list[tuple[float, int]] = []  # when frames first came back, and how many then

        def progress(stage: str, done: int, total: int) -> None:
            if stage != "extract" or not total:
                return
            now = time.perf_counter()
            if done and not first:
                first.append((now, done))
            left = ""
            # The rate since the first frames came back: start-up (workers, models) is not a rate.
            if first and done - first[0][1] >= EXTRAPOLATE_AFTER:
                rate = (now - first[0][0]) / (done - first[0][1])
                left = f", about {rate * (total - done):.0f} s left"
            bar.progress(min(1.0, done / total), text=f"Frame {done} of {total}{left}")

        try:
            extraction = fc.extract(clip, params, progress=progress)
        except fc.BadInput as e:
            status.update(label="This clip cannot be used", state="error")
            st.error(str(e))
            return None
        source = (
            "loaded from the cache" if extraction.cache_hit else f"in {time.perf_counter() - started:.0f} s"
        )
        status.update(
            label=f"{len(extraction.faces.table)} faces, {source}", state="complete", expanded=False
        )
    return extraction


def main() -> None:
    st.title("faceclust")
    st.caption("Who appears in this video clip, and when?")
    chosen = clip_ui()
    params, run = extraction_ui()
    state = st.session_state
    if state.get("cancel_extraction"):
        st.warning("Extraction cancelled. Nothing of it was kept; Run starts it again.")
    if run and chosen is not None:
        extraction = run_extraction(chosen[0], params)
        if extraction is not None:
            state.extraction, state.clip_path, state.clip_name, state.labels_path = extraction, *chosen
            state.edits = fc.Edits()
            # A new clip starts from its own calibrated eps, on the slider too.
            chosen = state.get("clustering", session.DEFAULT_CLUSTERING)
            clustering = extraction.resolve(replace(chosen, eps=None))
            state.clustering, state.w_eps = clustering, clustering.eps
    elif run:
        st.warning("Choose or upload a clip first.")
    result = session.current()
    if result is None:
        return
    _, table, _ = result
    labels = table["cluster"].to_numpy()
    faces = len(labels)
    people = len(set(labels[labels >= 0]))
    st.subheader(state.clip_name)
    params = state.clustering
    st.caption(
        f"Clustered by {params.algorithm}: clothing weight {params.weight:.2f}, eps {params.eps:.2f}, "
        f"min samples {params.min_samples}"
    )
    a, b, c = st.columns(3)
    a.metric("Faces", faces)
    b.metric("People", people)
    c.metric("Unassigned", int((labels < 0).sum()))
    if faces == 0:
        st.info("No faces were found. Try a smaller frame step or another detector.")
    elif people <= 1:
        st.info("Everyone here looks like one person at these settings. Lower eps to split them.")
    left, middle, right = st.columns(3)
    left.page_link(session.PEOPLE, label="See the people", icon=":material/group:")
    middle.page_link(session.COMPARE, label="Compare projections", icon=":material/scatter_plot:")
    right.page_link(session.DOWNLOAD, label="Download", icon=":material/download:")


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
