"""Run: bring a clip (sample or upload), choose the extraction parameters, run with progress."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import faceclust as fc
from faceclust import ranges
from faceclust.dashboard import clips, login, session


def clip_ui() -> tuple[Path, str, Path | None] | None:
    """Pick a sample clip or upload one; returns (clip, its name to show, labels file or None).

    The choice shows the clip loaded now, so that coming back to this page and pressing Run runs
    that clip again rather than the first sample."""
    state = st.session_state
    samples = clips.sample_clips()
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
            st.info(f"No sample clips in {clips.samples_dir()} (set FACECLUST_SAMPLES).")
            return None
        clip = st.selectbox("Sample clip", samples, key="sample_clip", format_func=lambda p: p.name)
        return clip, clip.name, clips.labels_beside(clip)
    upload = st.file_uploader("Upload a clip", type=fc.CLIP_TYPES)
    labels = st.file_uploader("Labels file (optional, for scores)", type=["csv"])
    if upload is None:
        return (loaded, state.clip_name, state.get("labels_path")) if uploaded else None
    st.caption(f"{upload.name} ({upload.size / 1e6:.1f} MB) is ready to run.")
    labels_path = clips.save_upload(labels) if labels is not None else None
    return clips.save_upload(upload), upload.name, labels_path


def form_start() -> dict:
    """Where the form's choices start: from what made the loaded clip's faces (else the
    defaults), so that coming back to this page and pressing Run runs the same embedder and
    settings again. Given to the widgets as their values, not written into their state: a
    widget's state is dropped when the user goes to another page, and one written before a run
    that a click interrupted was dropped too (the form then showed every Nth frame 1 and no
    super-resolution, 15 times the work)."""
    state, extraction = st.session_state, st.session_state.get("extraction")
    params = fc.ExtractParams().to_dict() if extraction is None else extraction.meta["params"]
    embedder = params["embed"]["embedder"]
    if embedder == "dlib" and state.get("embedder_asked") == "auto":
        embedder = "auto"  # fell back offline: Run tries SFace again
    detector = params["detect"]["detector"]
    if detector == "yunet":
        detector = "auto"  # what auto ran, its model being there: the form keeps saying auto
    low, high = map(int, ranges.STEP.slider)
    sr = params["sr"]["method"]
    return {
        "step": min(max(int(params["sampling"]["step"]), low), high),
        "detector": detector,
        "sr": sr if extraction and sr in session.SR_BY_COST else "fsrcnn-small_x4",
        "embedder": "ONNX model" if embedder.startswith("onnx:") else embedder,
        "model": embedder.removeprefix("onnx:") if embedder.startswith("onnx:") else "",
        "frames": params["sampling"].get("frames", "exact"),
    }


def extraction_ui() -> tuple[fc.ExtractParams, bool]:
    """The extraction form; returns its parameters and whether Run was pressed."""
    start = form_start()
    with st.form("extract", enter_to_submit=False):  # Enter in a box must not start minutes of work
        left, middle, right = st.columns(3)
        step = left.number_input(
            "Every Nth frame",
            *map(int, ranges.STEP.slider),
            start["step"],
            key="run_step",
            help="15 is 2 frames a second at 30 fps. Smaller finds more, slower.",
        )
        detectors = ["auto", *fc.DETECTORS]
        detector = middle.selectbox(
            "Detector",
            detectors,
            detectors.index(start["detector"]),
            key="run_detector",
            help="auto: YuNet (finds small and profile faces).",
        )
        sr = right.select_slider(
            "Super-resolution (by cost)",
            session.SR_BY_COST,
            start["sr"],
            key="run_sr",
            help="Upscales faces under 80 px before they are described.",
        )
        left, right = st.columns([1, 2])
        embedders = ["auto", "sface", "dlib", "ONNX model"]
        embedder = left.selectbox(
            "Face embedder",
            embedders,
            embedders.index(start["embedder"]),
            key="run_embedder",
            help="auto: SFace (tells East-Asian faces apart better than dlib, and is faster), "
            "downloaded once; dlib where it cannot be had. ONNX model: an ArcFace-style model of "
            "your own, by its path on the server.",
        )
        model = right.text_input(
            "ONNX model path (for ONNX model)",
            start["model"],
            key="run_model",
            placeholder="/models/arcface.onnx",
        )
        frames = st.radio(
            "Frames",
            fc.FRAME_MODES,
            fc.FRAME_MODES.index(start["frames"]),
            key="run_frames",
            horizontal=True,
            help="exact: every Nth frame. cheap: the frame nearest to each of those times among the "
            "frames cheap to decode (no B-frames): less decoding on broadcast H.264/HEVC.",
        )
        busy = st.session_state.get("job") is not None
        run = st.form_submit_button(
            "Run",
            type="primary",
            disabled=busy,
            help="An extraction is running: wait or cancel it." if busy else None,
        )
    params = fc.ExtractParams(
        sampling=fc.SamplingParams(step=int(step), frames=frames),
        detect=fc.DetectParams(detector=detector),
        sr=fc.SRParams(method=sr),
        embed=fc.EmbedParams(f"onnx:{model.strip()}" if embedder == "ONNX model" else embedder),
    )
    return params, run


def main() -> None:
    login.guard()  # also where this page runs without the router
    st.title("faceclust")
    st.caption("Who appears in this video clip, and when?")
    session.adopt_finished_extraction()  # before the clip choice, which shows the loaded clip
    chosen = clip_ui()
    params, run = extraction_ui()
    state = st.session_state
    if run and chosen is not None:
        session.start_extraction(*chosen, params)
    elif run:
        st.warning("Choose or upload a clip first.")
    result = session.current(on_run_page=True)
    outcome = state.get("job_outcome")
    if outcome is not None:
        # Kept until the next Run, in full: the user's file name and why it could not be used.
        ok, text = outcome
        (st.success if ok else st.error)(text)
    if result is None:
        return
    _, table, edits = result
    labels = table["cluster"].to_numpy()
    faces = len(labels)
    people = len(set(labels[labels >= 0]) - edits.hidden)  # hidden people are not counted
    st.subheader(state.clip_name)
    session.embedder_caption(state.extraction)
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
    session.link("people", "See the people", ":material/group:", left)
    session.link("compare", "Compare projections", ":material/scatter_plot:", middle)
    session.link("download", "Download", ":material/download:", right)


# Guarded: extraction's worker processes are spawned and re-import the running script, which
# Streamlit registers as __main__; in them __name__ is "__mp_main__" and the page must not run.
if __name__ == "__main__":
    main()
