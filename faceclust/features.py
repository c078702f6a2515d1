"""Describe the clothing below a face (face embedders are in ``embed``).

Images are BGR uint8 (H, W, 3); boxes are (top, right, bottom, left) in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import BadInput
from .table import Box


@dataclass(frozen=True)
class FeatureParams:
    """How clothing is described.

    cloth_descriptor: name in ``CLOTH_DESCRIPTORS``.
    cloth_below / cloth_height / cloth_half_width: clothing box geometry in face heights (below
        the chin, height) and face widths (each side of the face centre).
    min_cloth_visible: clothing boxes with less of their area inside the frame are not used.
    """

    cloth_descriptor: str = "lab_hist"
    cloth_below: float = 0.25
    cloth_height: float = 1.5
    cloth_half_width: float = 1.0
    min_cloth_visible: float = 0.25

    def validate(self) -> None:
        if self.cloth_descriptor not in CLOTH_DESCRIPTORS:
            raise BadInput(
                f"unknown clothing descriptor '{self.cloth_descriptor}'; "
                f"choose one of: {', '.join(CLOTH_DESCRIPTORS)}"
            )


def clothing_box(box: Box, frame_shape: tuple[int, ...], params: FeatureParams) -> tuple[Box | None, float]:
    """The clothing region below a face, clipped to the frame, and its visible fraction 0..1.

    The region scales with the face box. Returns (None, visible) where too little of it is in
    the frame to describe.
    """
    top, right, bottom, left = box
    height, width = frame_shape[:2]
    face_h, face_w = bottom - top, right - left
    centre = (left + right) / 2
    c_top = bottom + params.cloth_below * face_h
    c_bottom = c_top + params.cloth_height * face_h
    c_left = centre - params.cloth_half_width * face_w
    c_right = centre + params.cloth_half_width * face_w
    area = (c_bottom - c_top) * (c_right - c_left)
    clipped = (
        round(max(0, c_top)),
        round(min(width, c_right)),
        round(min(height, c_bottom)),
        round(max(0, c_left)),
    )
    inside = max(0, clipped[2] - clipped[0]) * max(0, clipped[1] - clipped[3])
    visible = inside / area if area > 0 else 0.0
    if visible < params.min_cloth_visible or min(clipped[2] - clipped[0], clipped[1] - clipped[3]) < 8:
        return None, visible
    return clipped, visible


def _hellinger(hist: np.ndarray) -> np.ndarray:
    """Square root of a normalised histogram: Euclidean distance then tracks Hellinger's."""
    hist = hist.ravel().astype(np.float32)
    return np.sqrt(hist / max(hist.sum(), 1e-9))


def _lab_hist(region: np.ndarray) -> np.ndarray:
    """Colour in CIELAB: an 8x8 a*b* (chroma) histogram and a 4-bin lightness histogram.

    Chroma carries the colour of clothes and moves little with lighting; lightness gets few
    bins and half the weight, so a shadow changes the feature little.
    """
    lab = cv2.cvtColor(region, cv2.COLOR_BGR2LAB)
    chroma = cv2.calcHist([lab], [1, 2], None, [8, 8], [64, 192, 64, 192])
    lightness = cv2.calcHist([lab], [0], None, [4], [0, 256])
    return np.concatenate([_hellinger(chroma), 0.5 * _hellinger(lightness)])


def _hsv_hist(region: np.ndarray) -> np.ndarray:
    """Colour in HSV: an 18x4 hue-saturation histogram and a 4-bin value histogram."""
    hsv = cv2.cvtColor(region, cv2.COLOR_BGR2HSV)
    hue_sat = cv2.calcHist([hsv], [0, 1], None, [18, 4], [0, 180, 0, 256])
    value = cv2.calcHist([hsv], [2], None, [4], [0, 256])
    return np.concatenate([_hellinger(hue_sat), 0.5 * _hellinger(value)])


def _lab_hist_texture(region: np.ndarray) -> np.ndarray:
    """``lab_hist`` plus a texture histogram: gradient orientation (8 bins) weighted by strength.

    Tells a plain shirt from a patterned one of the same colour (argyle, stripes, checks).
    """
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude, angle = cv2.cartToPolar(gx, gy)
    bins = (angle.ravel() % np.pi / np.pi * 8).astype(int) % 8
    texture = np.bincount(bins, magnitude.ravel(), minlength=8)
    strength = magnitude.mean() / 64.0  # 0 for flat cloth, ~1 for strong pattern
    texture = _hellinger(texture) * min(1.0, strength)
    return np.concatenate([_lab_hist(region), 0.5 * texture])


#: Clothing descriptors by name: BGR uint8 region -> 1-d float32 feature (not yet normalised).
CLOTH_DESCRIPTORS = {
    "lab_hist": _lab_hist,
    "hsv_hist": _hsv_hist,
    "lab_texture": _lab_hist_texture,
}


def cloth_dim(params: FeatureParams) -> int:
    """Length K of the clothing feature under ``params``."""
    return len(CLOTH_DESCRIPTORS[params.cloth_descriptor](np.zeros((8, 8, 3), np.uint8)))


def clothing_feature(image: np.ndarray, box: Box, params: FeatureParams) -> np.ndarray:
    """The L2-normalised clothing descriptor of the region ``box``, float32 (K,)."""
    top, right, bottom, left = box
    region = image[top:bottom, left:right]
    region = cv2.resize(region, (64, 64), interpolation=cv2.INTER_AREA)
    feature = CLOTH_DESCRIPTORS[params.cloth_descriptor](region).astype(np.float32)
    return feature / max(float(np.linalg.norm(feature)), 1e-9)
