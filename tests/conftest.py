"""Shared fixtures: the real data in ../shared/data, an isolated cache and models path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from faceclust import dashboard

from corpus import ffmpeg

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIPS = DATA / "clips"
LABELS = DATA / "labels"
MODELS = DATA / "models"
SR_MODELS = DATA / "sr_models"
EPISODE_FRAMES = 240  # a multiple of the labels' step (15), so labelled frames stay sampled
#: The project's top: ``streamlit run app.py`` starts its ``app.py``, which serves ``pages/``.
TOP = Path(__file__).resolve().parents[1]
#: The dashboard's two entries, by how one starts them: the entry script, and each view's page
#: script as that entry serves it, relative to the script (as AppTest's ``switch_page`` asks).
DASHBOARD_ENTRIES = {
    "faceclust app": (str(dashboard.APP), lambda view: f"views/{view.name}.py"),
    "streamlit run app.py": (
        str(TOP / "app.py"),
        lambda view: f"pages/{view.top_script(TOP / 'pages').name}",
    ),
}


def pytest_sessionstart(session: pytest.Session) -> None:
    if not CLIPS.is_dir() and os.environ.get("CI") == "true":
        raise pytest.UsageError(f"test data missing: {DATA} (CI needs ../shared/data)")


@pytest.fixture(scope="session")
def data() -> Path:
    """../shared/data; tests that need it skip without it (CI fails instead, at start)."""
    if not CLIPS.is_dir():
        pytest.skip(f"test data missing: {DATA}")
    return DATA


@pytest.fixture(scope="session")
def test_model(data: Path) -> str:
    """The ArcFace-style MobileFaceNet kept for tests (never shipped, never downloaded)."""
    return f"onnx:{data / 'models' / 'mobilefacenet_test.onnx'}"


@pytest.fixture(scope="session")
def extractions(data: Path):
    """The default extraction of each labelled clip at step 15, made once per session."""
    import faceclust as fc

    return {
        name: fc.extract(data / "clips" / name, workers=2)
        for name in ("multi_face.avi", "short_hamilton_clip.mp4")
    }


@pytest.fixture(autouse=True, scope="session")
def _isolated_env(tmp_path_factory: pytest.TempPathFactory):
    """One cache for the whole session (real clips are extracted once), a models path that
    downloads into a temporary folder and reads the shared models, and no user's library."""
    root = tmp_path_factory.mktemp("faceclust")
    saved = {k: os.environ.get(k) for k in ("FACECLUST_CACHE", "FACECLUST_MODELS", "FACECLUST_LIBRARY")}
    os.environ["FACECLUST_CACHE"] = str(root / "cache")
    os.environ["FACECLUST_LIBRARY"] = str(root / "library" / "library.sqlite")  # none until a test adds
    os.environ["FACECLUST_MODELS"] = os.pathsep.join(map(str, [root / "models", MODELS, SR_MODELS]))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models path whose downloads fail at once (as offline)."""
    import faceclust.models as models

    monkeypatch.setenv("FACECLUST_MODELS", str(tmp_path / "models"))
    offline = {
        name: models.ModelFile(spec.filename, "http://127.0.0.1:9/" + spec.filename, spec.sha256)
        for name, spec in models.MODEL_FILES.items()
    }
    monkeypatch.setattr(models, "MODEL_FILES", offline)
    for cached in ("faceclust.detect", "faceclust.superres"):
        module = __import__(cached, fromlist=["_"])
        for fn in ("_yunet", "_net"):
            if hasattr(module, fn):
                getattr(module, fn).cache_clear()
    return tmp_path / "models"


@pytest.fixture(scope="session")
def episodes(data, tmp_path_factory) -> Path:
    """multi_face.avi cut into three 8 s "episodes" (each with all three men) and a corrupt one."""
    folder = tmp_path_factory.mktemp("episodes")
    for k in range(3):
        first, last = k * EPISODE_FRAMES, (k + 1) * EPISODE_FRAMES - 1
        ffmpeg(
            "-i", data / "clips" / "multi_face.avi",
            "-vf", f"select=between(n\\,{first}\\,{last}),setpts=N/FRAME_RATE/TB",
            "-c:v", "libx264", "-preset", "ultrafast", folder / f"episode_{k + 1}.mp4",
        )  # fmt: skip
    # Fixed random bytes: now and then a fresh draw reads to FFmpeg as an audio stream, which is
    # reported as "no video frame can be decoded" rather than "not a readable video".
    (folder / "episode_4.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    return folder
