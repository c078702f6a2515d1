"""Model files: a registry of known files, a search path, verified downloads.

Model files are looked up in the folders of ``FACECLUST_MODELS`` (``os.pathsep``-separated,
default ``~/.cache/faceclust/models``), first match wins. Downloads go to the first folder.
Every file is checked before it is used: by sha256 where the registry knows it, otherwise by
loading it with OpenCV (EDSR's upstream files have no published hash).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput
from .progress import Progress, no_progress

log = logging.getLogger(__name__)

_SR_SOURCES = {
    "EDSR": "https://github.com/Saafke/EDSR_Tensorflow/raw/master/models",
    "ESPCN": "https://github.com/fannymonori/TF-ESPCN/raw/master/export",
    "FSRCNN": "https://github.com/Saafke/FSRCNN_Tensorflow/raw/master/models",
    "FSRCNN-small": "https://github.com/Saafke/FSRCNN_Tensorflow/raw/master/models",
    "LapSRN": "https://github.com/fannymonori/TF-LapSRN/raw/master/export",
}


@dataclass(frozen=True)
class ModelFile:
    """One downloadable model file.

    ``sha256`` is the hash of the file the url serves, None where no trusted hash is known: such
    a file is accepted when OpenCV can load it. ``other_sha256``: other published versions of
    the file, accepted as well (a folder may hold the one most projects pin).
    """

    filename: str
    url: str
    sha256: str | None
    other_sha256: tuple[str, ...] = ()


def _sr(family: str, scale: int, sha256: str | None) -> ModelFile:
    filename = f"{family}_x{scale}.pb"
    return ModelFile(filename, f"{_SR_SOURCES[family]}/{filename}", sha256)


_ZOO_URL = "https://github.com/opencv/opencv_zoo/raw/main/models"
_YUNET_URL = f"{_ZOO_URL}/face_detection_yunet"

#: Every model file faceclust knows, by the name users type (file stem in lower case).
MODEL_FILES: dict[str, ModelFile] = {
    # YuNet: the 2026 export takes frames of any size (ONNX Runtime needs that); the 2023 one,
    # fixed at 640 x 640, is still used where a models folder holds it and not the 2026 one.
    "yunet": ModelFile(
        "face_detection_yunet_2026may.onnx",
        f"{_YUNET_URL}/face_detection_yunet_2026may.onnx",
        "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
    ),
    "yunet_2023mar": ModelFile(
        "face_detection_yunet_2023mar.onnx",
        f"{_YUNET_URL}/face_detection_yunet_2023mar.onnx",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    ),
    # OpenCV Zoo's SFace face embedder (Apache-2.0): the current file (24,227,283 bytes, per
    # opencv_zoo's Git LFS pointer) and the earlier one most projects pin.
    "sface": ModelFile(
        "face_recognition_sface_2021dec.onnx",
        f"{_ZOO_URL}/face_recognition_sface/face_recognition_sface_2021dec.onnx",
        "f6abbfff9575e3041db692c1e29d782e995191888477fd59ebc81202d99fc63b",
        ("0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",),
    ),
    "edsr_x2": _sr("EDSR", 2, None),
    "edsr_x3": _sr("EDSR", 3, None),
    "edsr_x4": _sr("EDSR", 4, None),
    "espcn_x2": _sr("ESPCN", 2, "59f77351e1d7c0057bf6fe088b4a8a07e42c468c8c8aebb674a6b4ea1823221d"),
    "espcn_x3": _sr("ESPCN", 3, "0e667db7a431d14c32568ed79bf21701a64df8b1d162e48ca1f8800affe2c2b3"),
    "espcn_x4": _sr("ESPCN", 4, "e403f06309229cf36009cd8fb0da032ba7643fae9f15cf94fe562e8edf8fef47"),
    "fsrcnn_x2": _sr("FSRCNN", 2, "366b33f0084c7b3f2bf6724f0a2c77bca94fcec9d7b6d72389d330073b380d5c"),
    "fsrcnn_x3": _sr("FSRCNN", 3, "efd38655a815908c6c8954db6052f128e76a735f1de657894c477d0dc0b64481"),
    "fsrcnn_x4": _sr("FSRCNN", 4, "5c68d18db561aed8ead4ffedf1b897ea615baaf60ebf6c35f8e641f8fa4a21bf"),
    "fsrcnn-small_x2": _sr(
        "FSRCNN-small", 2, "429e4793d049c1ae16ddbbc322fd11c3c08831c0c20137390b4d098976a2b0d9"
    ),
    "fsrcnn-small_x3": _sr(
        "FSRCNN-small", 3, "58e72d0c4231b8e754180e787d7348f45ae6230ee3c5af7dc12b558467f593f7"
    ),
    "fsrcnn-small_x4": _sr(
        "FSRCNN-small", 4, "92a9f57c28494813b4dc073b51a300cb909401454d77541bcdc96b4d55901d02"
    ),
    "lapsrn_x2": _sr("LapSRN", 2, "f59c86e6835bbca646dbd81588f07820dfe3bd09e3702976ae2d90b5fc0f0b21"),
    "lapsrn_x4": _sr("LapSRN", 4, "d3e95c93cafae5ce5a8ed57ce9abf07f2de58da8c5d6d656b766774969835ee2"),
    "lapsrn_x8": _sr("LapSRN", 8, "a00211938b2b4c7d23691525a9267d9d0bbb345cdb9f38a7fc917414a5a1884f"),
}

_DOWNLOAD_TIMEOUT_S = 30


def model_dirs() -> list[Path]:
    """The folders searched for model files, in order (``FACECLUST_MODELS``)."""
    value = os.environ.get("FACECLUST_MODELS", "")
    dirs = [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    return dirs or [Path("~/.cache/faceclust/models").expanduser()]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


_FRAMEWORKS = {".pb": "TensorFlow", ".onnx": "ONNX"}


def _loads(path: Path, filename: str) -> bool:
    """Whether OpenCV's dnn module reads the file as a network of ``filename``'s kind (and not,
    say, an HTML error page)."""
    import cv2

    try:
        return not cv2.dnn.readNet(str(path), "", _FRAMEWORKS[Path(filename).suffix]).empty()
    except cv2.error:
        return False


def _checked(name: str, path: Path) -> bool:
    """A file is good when its sha256 is a known one, or, where none is known, when it loads."""
    spec = MODEL_FILES[name]
    if (
        (file_sha256(path) in {spec.sha256, *spec.other_sha256})
        if spec.sha256
        else _loads(path, spec.filename)
    ):
        return True
    log.warning("model file %s is not a valid %s; ignoring it", path, MODEL_FILES[name].filename)
    return False


def find_model(name: str) -> Path | None:
    """The verified local file of model ``name``, or None where no folder holds it."""
    spec = _spec(name)
    for folder in model_dirs():
        path = folder / spec.filename
        if path.is_file() and _checked(name, path):
            return path
    return None


def fetch_model(name: str, progress: Progress = no_progress) -> Path:
    """Download model ``name`` into the first models folder (unless present) and verify it.

    progress: told of the bytes received (stage ``download <file name>``). Raises BadInput with
    a clear message when the file cannot be fetched (offline, say).
    """
    found = find_model(name)
    if found is not None:
        return found
    spec = _spec(name)
    folder = model_dirs()[0]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
        os.close(fd)
    except OSError as e:
        raise BadInput(f"cannot write model folder {folder}: {e.strerror}") from None
    tmp_path = Path(tmp)
    log.info("downloading %s from %s", spec.filename, spec.url)
    try:
        with (
            urllib.request.urlopen(spec.url, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            open(tmp_path, "wb") as f,
        ):
            size, done = int(response.headers.get("Content-Length") or 0), 0
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
                done += len(block)
                progress(f"download {spec.filename}", done, max(size, done))
        if not _checked(name, tmp_path):
            raise BadInput(f"downloaded {spec.filename} from {spec.url} is not a valid model file")
        path = folder / spec.filename
        os.replace(tmp_path, path)
        return path
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise BadInput(
            f"model '{name}' is not in {os.pathsep.join(map(str, model_dirs()))} and could not "
            f"be downloaded from {spec.url} ({reason}); put {spec.filename} into one of "
            "those folders (FACECLUST_MODELS)"
        ) from None
    finally:
        tmp_path.unlink(missing_ok=True)


def available(name: str) -> Path | None:
    """Model ``name``'s verified file, fetched if need be; None (with the reason logged) where it
    cannot be had. For defaults that fall back to something else."""
    try:
        return fetch_model(name)
    except BadInput as e:
        log.info("%s", e)
        return None


def _spec(name: str) -> ModelFile:
    try:
        return MODEL_FILES[name]
    except KeyError:
        raise BadInput(f"unknown model '{name}'; known models: {', '.join(sorted(MODEL_FILES))}") from None
