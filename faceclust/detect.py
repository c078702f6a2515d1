"""Face detectors by name, run on a downscaled copy of large frames, and the face filters.

Boxes are ``(top, right, bottom, left)`` in original-frame pixels, face_recognition's order,
everywhere in faceclust.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, partial
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import inference
from .dlib_models import face_locations
from .errors import BadInput
from .models import available, fetch_model, find_model
from .table import Box

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

#: YuNet's confidence threshold where none is set (``DetectParams.min_score``).
DEFAULT_MIN_SCORE = 0.8
#: A found face: its box, the detector's confidence (0..1), and five landmarks (5, 2) x, y in
#: pixels (eyes, nose tip, mouth corners, each pair image-left first) or None where the
#: detector gives none.
Detection = tuple[Box, float, "np.ndarray | None"]


@dataclass(frozen=True)
class DetectParams:
    """How faces are found and which are kept.

    detector: ``auto`` (YuNet where its model is present or can be fetched, else HOG with a
        notice), ``yunet``
        (a small CNN: finds small and profile faces, ~38 ms per 1280x720 frame on one core),
        ``hog``
        (face_recognition HOG: frontal faces only, ~140 ms) or ``cnn`` (dlib's CNN: ~10 s).
    upsample: for hog/cnn, times to upsample the frame; higher finds smaller faces, slower.
    min_score: YuNet's confidence threshold; lower finds more faces and more false ones. None:
        the embedder's (``embed.THRESHOLDS``, set by ``ExtractParams.resolved``: an embedder that
        tells half-hidden and turned faces apart can take more of them), else
        ``DEFAULT_MIN_SCORE``.
    max_side: frames whose longer side exceeds this (pixels) are detected on a downscaled copy.
    min_face_px: faces whose shorter box side is below this are dropped (pixels of the frame
        detected on, i.e. after frame super-resolution; see ``SRParams.frame_below_px``).
    min_sharpness: faces whose sharpness (see ``sharpness``) is below this are dropped.
    """

    detector: str = "auto"
    upsample: int = 1
    min_score: float | None = None
    max_side: int = 1280
    min_face_px: int = 28
    min_sharpness: float = 5.0

    def validate(self) -> None:
        if self.detector not in DETECTORS and self.detector != "auto":
            raise BadInput(f"unknown detector '{self.detector}'; choose one of: auto, {', '.join(DETECTORS)}")
        if not 0 <= self.upsample <= 3:
            raise BadInput(f"upsample must be 0..3, got {self.upsample}")
        if self.min_score is not None and not 0 < self.min_score < 1:
            raise BadInput(f"min_score must be in (0, 1), got {self.min_score}")
        if self.max_side < 64:
            raise BadInput(f"max_side must be at least 64 pixels, got {self.max_side}")

    def resolved(self) -> DetectParams:
        """These parameters with ``auto`` replaced by the detector that will really run."""
        if self.detector != "auto":
            return self
        if available("yunet") or find_model("yunet_2023mar"):
            return replace(self, detector="yunet")
        log.warning(
            "YuNet's model file is not in the models folder (FACECLUST_MODELS) and cannot be "
            "downloaded; falling back to HOG, which misses small and profile faces. "
            "Run 'faceclust models fetch yunet' when online."
        )
        return replace(self, detector="hog")


#: YuNet's feature strides (px) and the multiple its input is padded to (px).
YUNET_STRIDES = (8, 16, 32)
#: Overlap (IoU) above which the weaker of two boxes is dropped, and how many boxes are kept.
NMS_IOU, TOP_K = 0.3, 5000
#: What YuNet gives for an image: one row per face, x, y, width, height of its box, five
#: landmarks (x, y each) and its score, in the image's pixels: (N, 15) float32.
YunetRows = np.ndarray


@cache
def _yunet() -> Callable[[np.ndarray, float], YunetRows]:
    """YuNet, loaded once per process: the 2026 export (frames of any size) run by ONNX Runtime
    and decoded here; where a models folder holds only the 2023 export (fixed at 640 x 640 and
    nothing can be fetched), that file through OpenCV's ``FaceDetectorYN``, which reshapes it."""
    found = available("yunet")
    if found is not None:
        return partial(_yunet_onnx_runtime, inference.network(found))
    older = find_model("yunet_2023mar") or fetch_model("yunet")  # fetch_model says why it cannot
    return partial(_yunet_opencv, cv2.FaceDetectorYN.create(str(older), "", (320, 320), 0.5, NMS_IOU, TOP_K))


def _yunet_onnx_runtime(net: InferenceSession, image: np.ndarray, min_score: float) -> YunetRows:
    """YuNet's rows for ``image`` padded with black to a multiple of 32 px, decoded from its
    outputs (cls, obj, bbox, kps per stride) as OpenCV's ``FaceDetectorYN`` decodes them."""
    height, width = image.shape[:2]
    pad = YUNET_STRIDES[-1]
    rows, cols = -(-height // pad) * pad, -(-width // pad) * pad
    padded = cv2.copyMakeBorder(image, 0, rows - height, 0, cols - width, cv2.BORDER_CONSTANT, value=0)
    out = inference.run(net, padded.transpose(2, 0, 1)[None])
    found = []
    for stride in YUNET_STRIDES:
        cls, obj = (np.clip(out[f"{name}_{stride}"][0, :, 0], 0, 1) for name in ("cls", "obj"))
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= min_score)
        cell = np.stack([keep % (cols // stride), keep // (cols // stride)], axis=1)  # x, y of each cell
        bbox, kps = out[f"bbox_{stride}"][0, keep], out[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
        size = np.exp(bbox[:, 2:]) * stride
        corner = (cell + bbox[:, :2]) * stride - size / 2
        points = ((kps + cell[:, None]) * stride).reshape(-1, 10)
        found.append(np.concatenate([corner, size, points, score[keep, None]], axis=1))
    found = np.concatenate(found).astype(np.float32)
    boxes = found[:, :4].astype(int).tolist()  # whole pixels, as OpenCV suppresses them
    kept = cv2.dnn.NMSBoxes(boxes, found[:, 14].tolist(), min_score, NMS_IOU, top_k=TOP_K)
    return found[np.asarray(kept, int).ravel()]


def _yunet_opencv(net: cv2.FaceDetectorYN, image: np.ndarray, min_score: float) -> YunetRows:
    """YuNet's rows for ``image`` from OpenCV's ``FaceDetectorYN`` (the 2023 export's path)."""
    net.setInputSize(image.shape[1::-1])
    net.setScoreThreshold(min_score)
    _, faces = net.detect(image)
    return np.zeros((0, 15), np.float32) if faces is None else faces


def _detect_yunet(image: np.ndarray, params: DetectParams) -> list[Detection]:
    min_score = DEFAULT_MIN_SCORE if params.min_score is None else params.min_score
    found = []
    for x, y, w, h, *points, score in _yunet()(image, min_score):
        box = (round(y), round(x + w), round(y + h), round(x))
        found.append((box, float(score), np.array(points, np.float32).reshape(5, 2)))
    return found


def _detect_dlib(model: str):
    def detect(image: np.ndarray, params: DetectParams) -> list[Detection]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        boxes = face_locations(rgb, params.upsample, model)
        return [(tuple(map(int, b)), 1.0, None) for b in boxes]

    return detect


#: Detectors by name: each maps (BGR uint8 image, params) to [Detection].
DETECTORS = {"yunet": _detect_yunet, "hog": _detect_dlib("hog"), "cnn": _detect_dlib("cnn")}


def detect_faces(image: np.ndarray, params: DetectParams) -> list[Detection]:
    """Find faces in a BGR uint8 image; boxes clipped to the image, boxes and landmarks in its
    pixels.

    Images whose longer side exceeds ``params.max_side`` are detected on a downscaled copy and
    the boxes mapped back.
    """
    height, width = image.shape[:2]
    factor = min(1.0, params.max_side / max(height, width))
    small = image
    if factor < 1.0:
        size = (round(width * factor), round(height * factor))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    found = []
    for (top, right, bottom, left), score, landmarks in DETECTORS[params.detector](small, params):
        box = (
            max(0, round(top / factor)),
            min(width, round(right / factor)),
            min(height, round(bottom / factor)),
            max(0, round(left / factor)),
        )
        if box[2] > box[0] and box[1] > box[3]:
            found.append((box, score, None if landmarks is None else landmarks / factor))
    return found


def sharpness(image: np.ndarray, box: Box) -> float:
    """Focus measure of a face: variance of the Laplacian of its grey crop resized to 64x64.

    Resizing makes it comparable across face sizes. Sharp faces score in the hundreds, heavy
    motion blur below ~10.
    """
    top, right, bottom, left = box
    grey = cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
