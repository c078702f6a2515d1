"""Face embedders by name: a face -> an L2-normalised vector, and the distances that depend on it.

- ``dlib``: face_recognition's 128-d ResNet (dlib aligns the face from its own 68 landmarks);
  ~100-210 ms a face on one core (dlib-bin), so only a few faces of each track are encoded.
- ``sface``: OpenCV Zoo's SFace (Apache-2.0), an ArcFace-style 128-d network, downloaded into
  the models folder on first use and verified by sha256; runs through the ``onnx:`` code.
- ``onnx:PATH``: any ArcFace-style model a user brings: a face chip aligned from five landmarks
  onto the ArcFace 112 x 112 template in, one D-dim vector out. Layout (NCHW or NHWC) and a
  fixed batch size are read from the model; the pixel normalisation (default ArcFace's
  (x - 127.5) / 128, RGB) from a sidecar ``PATH.json`` such as
  ``{"mean": 0, "scale": 1, "rgb": true}``.
- ``auto``: ``sface`` where its file is present or can be fetched, otherwise ``dlib``.

Distances between L2-normalised vectors run 0..2 whatever the model, but where same and
different people fall on that scale depends on it (``THRESHOLDS``). Embeddings of two
embedders are never compared.

Images are BGR uint8 (H, W, 3); boxes are (top, right, bottom, left) and landmarks (5, 2) x, y
in the image's pixels: the eye, nose tip and mouth corner on the image's left, then right
(YuNet's order: eyes, nose, mouth corners).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from . import inference
from .detect import DEFAULT_MIN_SCORE
from .dlib_models import encoding, landmarks68
from .errors import BadInput
from .models import available, file_sha256, find_model
from .superres import SRParams, sr_scale, upscale
from .table import Box

log = logging.getLogger(__name__)

#: Where ArcFace-style models want the five landmarks of a 112 x 112 chip (x, y).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float32,
)
CHIP_PX = 112
#: A face cut out for an embedder is scaled down to at most this side (px): dlib aligns faces to
#: 150 px and ArcFace-style models to 112, and smaller cut-outs keep the faces waiting in a
#: track's batch light.
CROP_PX = 300


@dataclass(frozen=True)
class Thresholds:
    """The settings that depend on an embedder: distances on its scale (L2-normalised vectors:
    0..2) and what it needs of a face.

    eps: clustering eps where a clip gives no evidence to calibrate it on.
    eps_margin, eps_bounds: calibrated eps = 5th percentile of the clip's different-person
        distances (faces sharing a frame) + eps_margin, clamped to eps_bounds.
    eps_range: the range the dashboard's eps slider offers.
    split_distance: a track is cut where the means of its faces before and after lie farther
        apart than this (``track.split_disagreeing``).
    learned_metric: whether a clip-specific metric is learned from its tracks.
    min_score: the detector's confidence threshold (``DetectParams.min_score``).
    sr_face_below_px: faces smaller than this are super-resolved before they are embedded
        (``SRParams.face_below_px``): about half the side of the chip the model aligns faces to.
    attach_margin: a face left unassigned joins the person it is nearest to (mean distance)
        where that person is at least this fraction nearer than the next one and nearer than
        the clip's median different-person distance (``Clusterer``); None: never.
    name_distance: a clip's person (their mean face) or a photo is named after the library's
        person whose prototype lies within this distance (``library``): the largest distance at
        which at most 1 % of the shared photo sets' photos get a wrong name, whether or not
        their own person is in the library (``bench/library.py``).
    search_distance: a search by face lists the people within this distance of it, those beyond
        ``name_distance`` as "possible": where at most 10 % of the photo sets' photos get a
        wrong name (``bench/library.py``).
    source: where these figures come from.
    """

    eps: float
    eps_margin: float
    eps_bounds: tuple[float, float]
    eps_range: tuple[float, float]
    split_distance: float
    learned_metric: bool
    min_score: float
    sr_face_below_px: int
    attach_margin: float | None
    name_distance: float
    search_distance: float
    source: str


#: Thresholds per embedder family. dlib's were fit on the two labelled Western clips; the
#: ArcFace-style ones on the test MobileFaceNet (``bench/embedders.py``), as SFace cannot be
#: downloaded where faceclust is developed.
THRESHOLDS = {
    "dlib": Thresholds(
        eps=0.5,
        eps_margin=0.1,
        eps_bounds=(0.35, 0.65),
        eps_range=(0.2, 1.0),
        split_distance=0.4,
        learned_metric=True,
        min_score=DEFAULT_MIN_SCORE,
        sr_face_below_px=80,
        attach_margin=None,
        name_distance=0.2,
        search_distance=0.22,
        source="dlib: fit on multi_face.avi and short_hamilton_clip.mp4 (README, Quality)",
    ),
    "arcface": Thresholds(
        eps=1.05,
        eps_margin=0.1,
        eps_bounds=(1.0, 1.15),
        eps_range=(0.5, 1.4),
        split_distance=1.0,
        learned_metric=False,
        min_score=0.6,
        sr_face_below_px=56,
        attach_margin=0.05,
        name_distance=0.64,
        search_distance=0.74,
        source="ArcFace-style: fit on the test MobileFaceNet (bench/embedders.py)",
    ),
}


@dataclass(frozen=True)
class EmbedderKind:
    """One kind of face embedder: what a person calls it and the ``Thresholds`` it needs."""

    title: str
    thresholds: Thresholds


#: The kinds of face embedder, by a resolved embedder name's prefix (``dlib``, ``sface``,
#: ``onnx:PATH``): SFace and the ONNX models users bring are ArcFace-style.
EMBEDDER_KINDS = {
    "dlib": EmbedderKind("dlib", THRESHOLDS["dlib"]),
    "sface": EmbedderKind("SFace", THRESHOLDS["arcface"]),
    "onnx": EmbedderKind("ONNX model", THRESHOLDS["arcface"]),
}


@dataclass(frozen=True)
class EmbedParams:
    """Which face embedder describes the faces.

    embedder: ``auto``, ``dlib``, ``sface`` or ``onnx:PATH`` (see the module's docstring).
    num_jitters: dlib's re-sampling count; higher is slightly more robust, N x slower.
    model_sha256, model_spec: the resolved model file's sha256 and how it wants its chips
        (``OnnxSpec`` as JSON), set by ``resolved``: part of the cache key, so a changed file or
        sidecar at the same path is a new extraction, and what worker processes load the model
        by without reading it again.
    """

    embedder: str = "auto"
    num_jitters: int = 1
    model_sha256: str | None = None
    model_spec: str | None = None

    def validate(self) -> None:
        if self.embedder not in ("auto", "dlib", "sface") and not self.embedder.startswith("onnx:"):
            raise BadInput(f"unknown embedder '{self.embedder}'; choose one of: auto, dlib, sface, onnx:PATH")
        if not 1 <= self.num_jitters <= 100:
            raise BadInput(f"num_jitters must be 1..100, got {self.num_jitters}")

    def resolved(self) -> EmbedParams:
        """These parameters with ``auto`` replaced by the embedder that will really run, an
        ``onnx:`` path made absolute, and the model file's sha256; BadInput where the model
        cannot be had or does not fit."""
        if self.embedder == "auto":
            if find_model("sface") or available("sface"):
                return replace(self, embedder="sface").resolved()
            log.warning(
                "SFace's model file is not in the models folder (FACECLUST_MODELS) and cannot be "
                "downloaded; using dlib's embedder, which tells East-Asian faces apart less well. "
                "Run 'faceclust models fetch sface' when online."
            )
            return replace(self, embedder="dlib")
        if self.embedder == "dlib":
            return self
        path = _model_path(self.embedder)
        normalisation = SFACE_NORMALISATION if self.embedder == "sface" else {}
        sidecar = path.with_name(path.name + ".json")
        if sidecar.is_file():
            try:
                normalisation = json.loads(sidecar.read_text())
            except (OSError, ValueError) as e:
                raise BadInput(f"sidecar {sidecar} is not readable JSON ({e})") from None
        try:
            spec = OnnxSpec(*_input_layout(path), **normalisation)
        except TypeError as e:
            raise BadInput(f"sidecar {sidecar}: {e}") from None
        resolved = replace(
            self,
            embedder=self.embedder if self.embedder == "sface" else f"onnx:{path}",
            model_sha256=file_sha256(path),
            model_spec=json.dumps(asdict(spec), sort_keys=True),
        )
        embedder(resolved)  # fails here, with one line, on a model that does not fit
        return resolved


def _model_path(embedder: str) -> Path:
    """The model file of ``sface`` or ``onnx:PATH`` (absolute); BadInput where it is missing."""
    if embedder == "sface":
        path = find_model("sface")
        if path is None:
            raise BadInput(
                "SFace's model file is not in the models folder (FACECLUST_MODELS); "
                "run 'faceclust models fetch sface' (needs the internet) or use --embedder dlib"
            )
        return path
    path = Path(embedder.removeprefix("onnx:")).expanduser().resolve()
    if not path.is_file():
        raise BadInput(f"embedder model {path} does not exist")
    return path


def _kind(embedder: str) -> EmbedderKind:
    """The kind of a resolved embedder name (``dlib``, ``sface``, ``onnx:PATH``)."""
    kind = EMBEDDER_KINDS.get(embedder.partition(":")[0])
    if kind is None:
        raise ValueError(f"'{embedder}' is no resolved embedder name: EmbedParams(...).resolved() gives one")
    return kind


def thresholds(embedder: str) -> Thresholds:
    """The thresholds of a resolved embedder name (``dlib``, ``sface``, ``onnx:PATH``)."""
    return _kind(embedder).thresholds


def embedder_title(embedder: str) -> str:
    """A resolved embedder name as a person reads it: ``dlib``, ``SFace``, ``ONNX model FILE``."""
    path = embedder.partition(":")[2]
    title = _kind(embedder).title
    return f"{title} {Path(path).name}" if path else title


def face_crop(
    image: np.ndarray, box: Box, landmarks: np.ndarray | None
) -> tuple[np.ndarray, Box, np.ndarray | None]:
    """The face in ``box`` cut out with half a face of margin, the face's side at most
    ``CROP_PX``: (crop, box and landmarks in crop pixels), what an embedder needs, small enough
    to keep or send to a worker."""
    top, right, bottom, left = box
    pad = round(0.5 * max(bottom - top, right - left))
    height, width = image.shape[:2]
    y0, x0 = max(0, top - pad), max(0, left - pad)
    y1, x1 = min(height, bottom + pad), min(width, right + pad)
    crop, factor = image[y0:y1, x0:x1], 1.0
    size = max(bottom - top, right - left)
    if size > CROP_PX:
        factor = CROP_PX / size
        crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    inner = tuple(round(v * factor) for v in (top - y0, right - x0, bottom - y0, left - x0))
    if landmarks is not None:
        landmarks = ((landmarks - [x0, y0]) * factor).astype(np.float32)
    return np.ascontiguousarray(crop), inner, landmarks


FaceInput = tuple[np.ndarray, Box, "np.ndarray | None"]  # what ``face_crop`` returns


def _upscaled(face: FaceInput, sr: SRParams, embedder: str) -> FaceInput:
    """The face upscaled by ``sr`` when its box is under ``sr.face_below_px`` (None: the
    ``embedder``'s), else as it is."""
    crop, box, landmarks = face
    scale = sr_scale(sr.method)
    below = thresholds(embedder).sr_face_below_px if sr.face_below_px is None else sr.face_below_px
    if min(box[2] - box[0], box[1] - box[3]) >= below or scale <= 1:
        return face
    box = tuple(v * scale for v in box)
    return upscale(crop, sr.method), box, None if landmarks is None else landmarks * scale


def similarity(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity transform (rotation, uniform scale, shift) taking ``points`` (K, 2)
    closest to ``target`` (K, 2) in least squares."""
    x, y = points[:, 0], points[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(design, np.concatenate([target[:, 0], target[:, 1]]), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]], np.float32)


def align(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The CHIP_PX x CHIP_PX chip of the face whose five ``landmarks`` are given, warped onto
    ``ARCFACE_TEMPLATE``: BGR uint8 (112, 112, 3)."""
    matrix = similarity(landmarks.astype(np.float64), ARCFACE_TEMPLATE.astype(np.float64))
    return cv2.warpAffine(image, matrix, (CHIP_PX, CHIP_PX), flags=cv2.INTER_LINEAR, borderValue=0)


def dlib_landmarks(image: np.ndarray, box: Box) -> np.ndarray:
    """Five landmarks (5, 2) of the face in ``box`` from dlib's 68-point model, for detectors
    that give none (HOG, CNN): eye centres, nose tip, mouth corners."""
    points = landmarks68(np.ascontiguousarray(image[:, :, ::-1]), box)
    return np.array(
        [points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]],
        np.float32,
    )


class Embedder:
    """Turns faces into L2-normalised vectors.

    name: the resolved embedder name; dim: the vectors' length D; every_face: whether it is
    cheap enough to embed every face (else a few faces of each track).
    """

    name: str
    dim: int
    every_face: bool

    def embed(self, faces: list[FaceInput], sr: SRParams) -> np.ndarray:
        """Vectors (len(faces), D) float32 of faces cut out by ``face_crop``; small faces are
        upscaled first (``SRParams.face_below_px``)."""
        raise NotImplementedError


class DlibEmbedder(Embedder):
    name, dim, every_face = "dlib", 128, False

    def __init__(self, num_jitters: int):
        self.num_jitters = num_jitters

    def embed(self, faces: list[FaceInput], sr: SRParams) -> np.ndarray:
        vectors = np.zeros((len(faces), self.dim), np.float32)
        for i, face in enumerate(faces):
            crop, box, _ = _upscaled(face, sr, self.name)
            vector = encoding(np.ascontiguousarray(crop[:, :, ::-1]), box, self.num_jitters)
            vectors[i] = vector / max(np.linalg.norm(vector), 1e-9)
        return vectors


@dataclass(frozen=True)
class OnnxSpec:
    """How a model wants its chips: layout ``NCHW`` or ``NHWC``, ``batch`` (0: any), channel
    order (``rgb``) and normalisation ((pixel - mean) * scale)."""

    layout: str
    batch: int
    rgb: bool = True
    mean: float = 127.5
    scale: float = 1 / 128


#: SFace wants raw RGB pixels (OpenCV's FaceRecognizerSF feeds it blobFromImage(chip, 1, swapRB));
#: other models get ``OnnxSpec``'s defaults (ArcFace's) unless a sidecar says otherwise.
SFACE_NORMALISATION = {"mean": 0.0, "scale": 1.0, "rgb": True}


def _input_layout(path: Path) -> tuple[str, int]:
    """The layout (``NCHW`` or ``NHWC``) and fixed batch size (0: any) of an ONNX face embedder's
    input, read from the model; BadInput where it is no model or does not take 112 x 112 chips."""
    try:
        model = inference.network(path)
    except BadInput as e:
        raise BadInput(f"embedder {e}") from None
    # A named or unknown dimension (ONNX Runtime gives its name or None) shows as 0.
    shape = [dim if isinstance(dim, int) else 0 for dim in model.get_inputs()[0].shape]
    if len(shape) == 4 and shape[1:] == [3, CHIP_PX, CHIP_PX]:
        return "NCHW", shape[0]
    if len(shape) == 4 and shape[1:] == [CHIP_PX, CHIP_PX, 3]:
        return "NHWC", shape[0]
    raise BadInput(
        f"embedder model {path} takes input of shape {shape}; faceclust feeds aligned "
        f"{CHIP_PX}x{CHIP_PX} RGB chips (NCHW or NHWC)"
    )


class OnnxEmbedder(Embedder):
    """An ArcFace-style ONNX model run by ONNX Runtime (``inference``)."""

    every_face = True

    def __init__(self, name: str, path: Path, spec: OnnxSpec):
        self.session = inference.network(path)
        self.output = self.session.get_outputs()[0].name  # the embedding: the model's first output
        self.name, self.spec = name, spec
        try:
            self.dim = self._run([np.zeros((CHIP_PX, CHIP_PX, 3), np.uint8)] * 2).shape[1]
        except BadInput as e:
            raise BadInput(f"embedder model {path} does not run on face chips: {e}") from None

    def _run(self, chips: list[np.ndarray]) -> np.ndarray:
        """Raw outputs (len(chips), D) for BGR uint8 chips, in batches of the model's size."""
        spec = self.spec
        size = spec.batch or len(chips)
        outputs = []
        for start in range(0, len(chips), size):
            batch = np.stack(chips[start : start + size]).astype(np.float32)
            count = len(batch)
            if count < size:  # a fixed batch: pad with copies of the last chip
                batch = np.concatenate([batch, np.repeat(batch[-1:], size - count, axis=0)])
            if spec.rgb:
                batch = batch[..., ::-1]
            batch = (batch - spec.mean) * spec.scale
            if spec.layout == "NCHW":
                batch = batch.transpose(0, 3, 1, 2)
            output = inference.run(self.session, batch, [self.output])[self.output]
            outputs.append(output.reshape(size, -1)[:count])
        return np.concatenate(outputs)

    def embed(self, faces: list[FaceInput], sr: SRParams) -> np.ndarray:
        chips = []
        for face in faces:
            crop, box, landmarks = _upscaled(face, sr, self.name)
            chips.append(align(crop, dlib_landmarks(crop, box) if landmarks is None else landmarks))
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._run(chips)
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)).astype(np.float32)


@cache
def embedder(params: EmbedParams) -> Embedder:
    """The embedder of resolved ``params``, loaded once per process."""
    if params.embedder == "dlib":
        return DlibEmbedder(params.num_jitters)
    spec = OnnxSpec(**json.loads(params.model_spec))
    return OnnxEmbedder(params.embedder, _model_path(params.embedder), spec)
