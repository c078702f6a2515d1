"""dlib's face models (the ones face_recognition wraps), called directly.

face_recognition pins source ``dlib``, which has no Linux wheel and compiles for 10+ minutes; the
prebuilt ``dlib-bin`` is the same library, so faceclust calls it as face_recognition 1.3.0 does
(same models from ``face_recognition_models``, same calls, same results) and depends on neither.
Each model loads on first use. Images are RGB uint8 (H, W, 3), C-contiguous; boxes are
``(top, right, bottom, left)`` in pixels.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .table import Box


@cache
def _frontal_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def _cnn_detector():
    import dlib
    import face_recognition_models

    return dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())


@cache
def _shape_predictor():
    import dlib
    import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


@cache
def _encoder():
    import dlib
    import face_recognition_models

    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


def face_locations(rgb: np.ndarray, upsample: int, model: str) -> list[Box]:
    """Face boxes found by dlib's HOG (``hog``) or CNN (``cnn``) detector, clipped to the image;
    ``upsample``: times the image is doubled first (finds smaller faces, 4x slower each)."""
    if model == "cnn":
        rects = [found.rect for found in _cnn_detector()(rgb, upsample)]
    else:
        rects = _frontal_detector()(rgb, upsample)
    height, width = rgb.shape[:2]
    return [
        (max(r.top(), 0), min(r.right(), width), min(r.bottom(), height), max(r.left(), 0)) for r in rects
    ]


def _shape(rgb: np.ndarray, box: Box):
    import dlib

    top, right, bottom, left = box
    return _shape_predictor()(rgb, dlib.rectangle(left, top, right, bottom))


def landmarks68(rgb: np.ndarray, box: Box) -> np.ndarray:
    """dlib's 68 landmarks (68, 2) x, y of the face in ``box`` (iBUG 300-W order: jaw 0-16,
    eyes 36-41 and 42-47, nose 27-35, mouth 48-67)."""
    return np.array([(p.x, p.y) for p in _shape(rgb, box).parts()], np.float32)


def encoding(rgb: np.ndarray, box: Box, num_jitters: int) -> np.ndarray:
    """dlib's 128-d face descriptor (float64, not normalised) of the face in ``box``, aligned by
    its 68 landmarks; ``num_jitters`` re-samples averaged (slower, slightly steadier)."""
    return np.array(_encoder().compute_face_descriptor(rgb, _shape(rgb, box), num_jitters))
