"""Speed against the floor and against the naive pipeline, in one run on this machine.

For multi_face.avi and a longer clip (multi_face.avi four times over, 94 s), at --step 15, each
stage in a fresh process: decoding alone, decoding + detection (the floor), the naive pipeline
(one process calling face_recognition's HOG detector and encoder on every sampled frame), and
`faceclust run` with a cold and a warm cache. Then the cost of each part of extraction, the
re-clustering time and the UMAP time at 1k to 20k faces (synthetic embeddings).

    .venv/bin/python bench/speed.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import faceclust as fc

from common import DATA, TEST_MODEL, concatenated, table

STEP = 15


def _peak_mb() -> float:
    """Peak resident memory of this process and of its largest child (MB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def stage(name: str, clip: str, out: str, embedder: str = "auto") -> dict:
    """Run one stage on ``clip``; returns seconds, frames, faces (run in a fresh process)."""
    from faceclust.detect import DetectParams, detect_faces
    from faceclust.video import iter_frames

    started = time.perf_counter()
    frames = faces = 0
    if name == "decode":
        frames = sum(1 for _ in iter_frames(clip, STEP))
    elif name == "decode + detect":
        params = DetectParams().resolved()
        for frame in iter_frames(clip, STEP):
            frames += 1
            faces += len(detect_faces(frame.image, params))
    elif name == "naive (HOG + encode, 1 process)":
        from faceclust.dlib_models import encoding, face_locations

        for frame in iter_frames(clip, STEP):  # face_recognition's pipeline: its dlib models
            rgb = np.ascontiguousarray(frame.image[:, :, ::-1])
            faces += sum(1 for box in face_locations(rgb, 1, "hog") if len(encoding(rgb, box, 1)))
            frames += 1
    else:  # faceclust run, cold or warm: the cache folder decides
        params = fc.ExtractParams(fc.SamplingParams(step=STEP), embed=fc.EmbedParams(embedder))
        extraction, labels, _ = fc.run(clip, out, params)
        frames, faces = len(extraction.faces.table["frame_index"].unique()), len(labels)
    return {"seconds": time.perf_counter() - started, "frames": frames, "faces": faces, "peak_mb": _peak_mb()}


def run_stage(name: str, clip: Path, cache: Path, out: Path, embedder: str = "auto") -> dict:
    """``stage`` in a fresh process with its own cache folder."""
    env = {**os.environ, "FACECLUST_CACHE": str(cache)}
    result = subprocess.run(
        [sys.executable, __file__, "--stage", name, str(clip), str(out), embedder],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def pipeline_table(clips: list[Path], tmp: Path) -> list[dict]:
    rows = []
    for clip in clips:
        cache = tmp / f"cache-{clip.stem}"
        results = {}
        for name in (
            "decode",
            "decode + detect",
            "naive (HOG + encode, 1 process)",
            "faceclust run, cold cache",
            "faceclust run, warm cache",
        ):
            results[name] = run_stage(name, clip, cache, tmp / "out")
        naive = results["naive (HOG + encode, 1 process)"]["seconds"]
        floor = results["decode + detect"]["seconds"]
        for name, r in results.items():
            rows.append(
                {
                    "clip": clip.name,
                    "stage": name,
                    "seconds": f"{r['seconds']:.1f}",
                    "frames/s": f"{r['frames'] / r['seconds']:.1f}",
                    "faces/s": f"{r['faces'] / r['seconds']:.1f}" if r["faces"] else "",
                    "peak MB": f"{r['peak_mb']:.0f}",
                    "x naive": f"{r['seconds'] / naive:.2f}",
                    "x floor": f"{r['seconds'] / floor:.1f}",
                }
            )
    return rows


def breakdown(clip: Path) -> list[dict]:
    """Mean cost of each part of extraction per face or frame, one core, on a real clip."""
    from faceclust.detect import DetectParams, detect_faces
    from faceclust.embed import embedder, face_crop
    from faceclust.features import FeatureParams, clothing_box, clothing_feature
    from faceclust.video import iter_frames

    params = fc.ExtractParams().resolved(30.0)
    costs: dict[str, list[float]] = {
        "decode (frame)": [],
        "detect (frame)": [],
        "encode (face)": [],
        "encode, SR face < 80 px (face)": [],
        "clothing (face)": [],
    }
    features, encoder = FeatureParams(), embedder(params.embed)
    clock = time.perf_counter()
    for frame in iter_frames(clip, STEP):
        costs["decode (frame)"].append(time.perf_counter() - clock)
        t = time.perf_counter()
        found = detect_faces(frame.image, DetectParams(detector=params.detect.detector))
        costs["detect (frame)"].append(time.perf_counter() - t)
        for box, _, landmarks in found:
            t = time.perf_counter()
            encoder.embed([face_crop(frame.image, box, landmarks)], params.sr)
            small = min(box[2] - box[0], box[1] - box[3]) < params.sr.face_below_px
            costs["encode, SR face < 80 px (face)" if small else "encode (face)"].append(
                time.perf_counter() - t
            )
            t = time.perf_counter()
            cloth, _ = clothing_box(box, frame.image.shape, features)
            if cloth is not None:
                clothing_feature(frame.image, cloth, features)
            costs["clothing (face)"].append(time.perf_counter() - t)
        clock = time.perf_counter()
    return [{"part": k, "mean ms": f"{1000 * np.mean(v):.1f}", "count": len(v)} for k, v in costs.items()]


def runtime_table(repeats: int = 20) -> list[dict]:
    """Milliseconds per call on one thread of each ONNX network faceclust runs: ONNX Runtime (as
    faceclust runs it) against OpenCV's dnn module (as faceclust ran it before): YuNet with its
    decoding and suppression on a 720p frame of mudo_variety.mp4, the test embedder on one batch
    of chips."""
    import cv2

    from faceclust.detect import DetectParams, detect_faces
    from faceclust.embed import _input_layout
    from faceclust.inference import network, run
    from faceclust.video import iter_frames

    cv2.setNumThreads(1)
    frame = next(iter_frames(DATA / "clips" / "mudo_variety.mp4", STEP)).image
    yunet_path = DATA / "models" / "face_detection_yunet_2026may.onnx"
    yunet = cv2.FaceDetectorYN.create(str(yunet_path), "", frame.shape[1::-1], 0.6, 0.3, 5000)
    model = Path(TEST_MODEL.removeprefix("onnx:"))
    layout, batch = _input_layout(model)
    chips = np.zeros((batch or 1, 112, 112, 3) if layout == "NHWC" else (batch or 1, 3, 112, 112), np.float32)
    opencv_net, session = cv2.dnn.readNetFromONNX(str(model)), network(model)
    calls = {
        "YuNet, 1280x720 frame": (
            lambda: detect_faces(frame, DetectParams(detector="yunet", min_score=0.6)),
            lambda: yunet.detect(frame),
        ),
        f"test embedder, batch of {len(chips)}": (
            lambda: run(session, chips),
            lambda: (opencv_net.setInput(chips), opencv_net.forward()),
        ),
    }
    rows = []
    for name, (onnx_runtime, opencv) in calls.items():
        ms = {}
        for title, call in (("ONNX Runtime", onnx_runtime), ("OpenCV dnn", opencv)):
            call()
            started = time.perf_counter()
            for _ in range(repeats):
                call()
            ms[title] = 1000 * (time.perf_counter() - started) / repeats
        rows.append({"network": name, **{f"{k} ms": f"{v:.1f}" for k, v in ms.items()}})
        rows[-1]["OpenCV / ONNX Runtime"] = f"{ms['OpenCV dnn'] / ms['ONNX Runtime']:.2f}"
    return rows


def synthetic(n: int, rng: np.random.Generator) -> tuple:
    """n faces of n/20 people (L2-normalised, 128-d), clothing, and about 3 faces per frame."""
    people = max(2, n // 20)
    centres = rng.normal(size=(people, 128))
    who = rng.integers(0, people, n)
    face = centres[who] / np.linalg.norm(centres[who], axis=1, keepdims=True) + rng.normal(
        scale=0.02, size=(n, 128)
    )
    face = (face / np.linalg.norm(face, axis=1, keepdims=True)).astype(np.float32)
    cloth = rng.random((n, 68)).astype(np.float32)
    cloth /= np.linalg.norm(cloth, axis=1, keepdims=True)
    return face, cloth, np.ones(n, bool), np.sort(rng.integers(0, n // 3, n))


def recluster_table() -> list[dict]:
    from faceclust.cluster import Clusterer

    rng = np.random.default_rng(0)
    rows = []
    for n in (1000, 5000, 20000):
        clusterer = Clusterer(*synthetic(n, rng), None, np.arange(n) // 4)  # tracks of 4 faces
        timings = {}
        for title, params in (
            ("new weight (fit)", fc.ClusterParams(weight=0.2, eps=0.5)),
            ("new eps", fc.ClusterParams(weight=0.2, eps=0.45)),
            ("new min samples", fc.ClusterParams(weight=0.2, eps=0.45, min_samples=3)),
        ):
            t = time.perf_counter()
            clusterer.labels(params)
            timings[title] = f"{1000 * (time.perf_counter() - t):.0f}"
        t = time.perf_counter()
        clusterer.prefit([0.25])  # what the dashboard does in the background
        timings["prefit one weight"] = f"{1000 * (time.perf_counter() - t):.0f}"
        t = time.perf_counter()
        clusterer.labels(fc.ClusterParams(weight=0.25, eps=0.45))
        timings["new weight, prefitted"] = f"{1000 * (time.perf_counter() - t):.0f}"
        rows.append({"faces": n, **{f"{k} ms": v for k, v in timings.items()}})
    return rows


def umap_table() -> list[dict]:
    """faceclust.project (PCA to 32-d, then UMAP to 2-D) in one process: JIT paid once."""
    t = time.perf_counter()
    from faceclust.project import fused_vectors, project, warm_up_projection

    warm_up_projection(exact=True)
    warm_up_projection(exact=False)
    rows = [
        {"faces": "import + warm-up (JIT)", "face only s": f"{time.perf_counter() - t:.1f}", "fused s": ""}
    ]
    rng = np.random.default_rng(0)
    for n in (1000, 2000, 5000, 20000):
        face, cloth, has, _ = synthetic(n, rng)
        t = time.perf_counter()
        project(face)
        alone = time.perf_counter() - t
        t = time.perf_counter()
        project(fused_vectors(face, cloth, has, 0.2))
        rows.append({"faces": n, "face only s": f"{alone:.1f}", "fused s": f"{time.perf_counter() - t:.1f}"})
    return rows


def slider_fill_seconds(n: int = 2000) -> float:
    """Seconds the dashboard's background filler needs for the layouts of all 21 slider weights."""
    from faceclust.project import fused_vectors, project

    face, cloth, has, _ = synthetic(n, np.random.default_rng(1))
    t = time.perf_counter()
    for i in range(21):
        project(fused_vectors(face, cloth, has, i / 20))
    return time.perf_counter() - t


def main() -> None:
    print(f"machine: {os.cpu_count()} cores; faceclust uses all of them (--workers default)\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = DATA / "clips" / "multi_face.avi"
        long = concatenated(source, 4, tmp / "multi_face_x4.avi")
        print(table(pipeline_table([source, long], tmp)))
    print("\nParts of extraction, one core, multi_face.avi:\n")
    print(table(breakdown(source)))
    print("\nEach ONNX network on one thread (what a worker gets):\n")
    print(table(runtime_table()))
    print("\nRe-clustering (agglomerative), synthetic faces:\n")
    print(table(recluster_table()))
    print("\nUMAP to 2-D, synthetic faces:\n")
    print(table(umap_table()))
    print(f"\nAll 21 slider weights, 2,000 faces (background fill): {slider_fill_seconds():.0f} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stage"]:
        print(json.dumps(stage(*sys.argv[2:6])))
    else:
        main()
