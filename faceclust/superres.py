"""Super-resolution of images through ``cv2.dnn_superres``, made hard to misuse.

Why super-resolution "keeps breaking the image" for people who call OpenCV directly, and what
this module does about each cause:

- colour order: the models run on BGR (they convert to YCrCb inside); RGB input shifts colours.
  ``upscale`` takes BGR only and says so; callers in faceclust never hold RGB across this call.
- value range and type: float images in [0, 1], 16-bit frames or grey/BGRA frames give garbage.
  ``upscale`` converts any of these to 8-bit, 3-channel BGR first.
- wrong scale for a model file: ``setModel("fsrcnn", 3)`` on ``FSRCNN_x2.pb`` silently gives a
  wrong-size, artefacted image. Here the scale comes from the registry entry, never from the
  caller, and the output size is checked.
- large frames: a whole-frame pass of a heavy model needs gigabytes and minutes; here images
  are upscaled in overlapping tiles whose seams are cropped away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np

from .errors import BadInput
from .models import available, fetch_model

log = logging.getLogger(__name__)

#: What ``auto`` means: the model measured best on the labelled clips (bench/superres.py), and
#: the fallback used, with a notice, where that model's file cannot be had.
AUTO_SR, FALLBACK_SR = "fsrcnn-small_x4", "bicubic_x4"

# Tile size (input pixels) and overlap for models; big enough that seams are rare and cropped.
_TILE = 192
_OVERLAP = 12

# name -> (cv2 algorithm, scale); models are named by file stem in lower case.
_MODEL_SCALES = {
    "edsr": (2, 3, 4),
    "espcn": (2, 3, 4),
    "fsrcnn": (2, 3, 4),
    "fsrcnn-small": (2, 3, 4),
    "lapsrn": (2, 4, 8),
}
#: Every super-resolution choice, by name, ordered by cost within each family.
SR_METHODS: dict[str, tuple[str, int]] = (
    {"none": ("none", 1)}
    | {f"bicubic_x{s}": ("bicubic", s) for s in (2, 3, 4, 8)}
    | {
        f"{family}_x{s}": (family.replace("-small", ""), s)
        for family, scales in _MODEL_SCALES.items()
        for s in scales
    }
)


@dataclass(frozen=True)
class SRParams:
    """Where super-resolution is used: to find faces in small frames and to encode small faces.

    method: ``auto`` (FSRCNN-small x4 where its model is present or can be fetched, else
        bicubic x4 with a notice) or a name in ``SR_METHODS``; models cost more from left to
        right: none, bicubic, fsrcnn-small, fsrcnn, espcn, lapsrn, edsr.
    face_below_px: faces whose shorter side is below this (pixels) are upscaled before encoding;
        None: the embedder's (``embed.THRESHOLDS``): dlib aligns every face to 150x150 and
        small faces align badly unless upscaled; ArcFace-style models take 112x112 chips.
    frame_below_px: frames whose shorter side is below this (pixels) are upscaled whole before
        detection, so that faces a few pixels tall are found.
    """

    method: str = "auto"
    face_below_px: int | None = None
    frame_below_px: int = 300

    def validate(self) -> None:
        if self.method != "auto":
            sr_scale(self.method)
        if (self.face_below_px or 0) < 0 or self.frame_below_px < 0:
            raise BadInput("super-resolution size thresholds must not be negative")

    def resolved(self) -> SRParams:
        """These parameters with ``auto`` replaced by the method that will really run."""
        if self.method != "auto":
            return self
        if available(AUTO_SR):
            return replace(self, method=AUTO_SR)
        log.warning(
            "super-resolution model %s is not in the models folder (FACECLUST_MODELS) and cannot "
            "be downloaded; using %s for small faces. Run 'faceclust models fetch %s' when online.",
            AUTO_SR,
            FALLBACK_SR,
            AUTO_SR,
        )
        return replace(self, method=FALLBACK_SR)


def sr_scale(name: str) -> int:
    """The upscaling factor of super-resolution method ``name`` (1 for ``none``)."""
    return _method(name)[1]


def _method(name: str) -> tuple[str, int]:
    try:
        return SR_METHODS[name]
    except KeyError:
        raise BadInput(f"unknown super-resolution '{name}'; choose one of: {', '.join(SR_METHODS)}") from None


def as_bgr8(image: np.ndarray) -> np.ndarray:
    """Any grey, BGR or BGRA image of uint8, uint16 or float in [0, 1] as uint8 BGR (H, W, 3)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(np.asarray(image, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


@cache
def _net(name: str):
    algo, scale = _method(name)
    net = cv2.dnn_superres.DnnSuperResImpl_create()
    net.readModel(str(fetch_model(name)))
    net.setModel(algo, scale)
    return net


def upscale(image: np.ndarray, name: str) -> np.ndarray:
    """Upscale a BGR image by method ``name``; returns uint8 BGR (H*s, W*s, 3), s = sr_scale(name).

    Models load lazily on first use, once per process, and are fetched when missing.
    """
    algo, scale = _method(name)
    image = as_bgr8(image)
    if algo == "none":
        return image
    height, width = image.shape[:2]
    if algo == "bicubic":
        return cv2.resize(image, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
    net = _net(name)
    out = np.empty((height * scale, width * scale, 3), np.uint8)
    for y0 in range(0, height, _TILE):
        for x0 in range(0, width, _TILE):
            # Pad each tile by the overlap, upscale, then keep only its own part.
            ya, xa = max(0, y0 - _OVERLAP), max(0, x0 - _OVERLAP)
            yb, xb = min(height, y0 + _TILE + _OVERLAP), min(width, x0 + _TILE + _OVERLAP)
            tile = net.upsample(np.ascontiguousarray(image[ya:yb, xa:xb]))
            if tile.shape[:2] != ((yb - ya) * scale, (xb - xa) * scale):
                raise RuntimeError(f"{name} returned {tile.shape[:2]} for a {scale}x upscale")
            y1, x1 = min(height, y0 + _TILE), min(width, x0 + _TILE)
            out[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = tile[
                (y0 - ya) * scale : (y1 - ya) * scale, (x0 - xa) * scale : (x1 - xa) * scale
            ]
    return out
