import cv2
import numpy as np
import pytest

from faceclust.features import (
    CLOTH_DESCRIPTORS,
    FeatureParams,
    clothing_box,
    clothing_feature,
    face_embedding,
)
from faceclust.superres import SRParams


def test_clothing_box_scales_with_the_face_and_is_clipped():
    params = FeatureParams()
    box, visible = clothing_box((100, 140, 140, 100), (480, 640, 3), params)  # 40x40 face
    assert box == (150, 160, 210, 80) and visible == 1.0
    box, visible = clothing_box((380, 140, 440, 100), (480, 640, 3), params)  # near the bottom
    assert box is not None and box[2] == 480 and 0.25 <= visible < 0.5
    box, visible = clothing_box((400, 140, 470, 100), (480, 640, 3), params)  # chin at the edge
    assert box is None and visible == 0.0


@pytest.fixture(scope="module")
def lfw(data):
    """Two photos each of two people, BGR, with their face boxes (aligned 250x250 photos)."""
    people = sorted((data / "faces" / "lfw_deepfunneled_subset").iterdir())[:2]
    return [[cv2.imread(str(p)) for p in sorted(person.iterdir())[:2]] for person in people]


def test_face_embedding_puts_one_person_closer_than_two(lfw):
    box = (70, 180, 180, 70)
    params, sr = FeatureParams(), SRParams().resolved()
    (a1, a2), (b1, _) = [[face_embedding(im, box, params, sr) for im in person] for person in lfw]
    assert a1.shape == (128,) and a1.dtype == np.float32
    assert np.isclose(np.linalg.norm(a1), 1.0)
    assert np.linalg.norm(a1 - a2) < np.linalg.norm(a1 - b1)


def test_small_faces_are_super_resolved_before_encoding(lfw):
    image = lfw[0][0]
    sharp = face_embedding(image, (70, 180, 180, 70), FeatureParams(), SRParams(method="none"))
    tiny = cv2.resize(image, (75, 75), interpolation=cv2.INTER_AREA)  # face ~33 px
    box = (21, 54, 54, 21)
    plain = face_embedding(tiny, box, FeatureParams(), SRParams(method="none"))
    upscaled = face_embedding(tiny, box, FeatureParams(), SRParams(method="fsrcnn_x4"))
    assert np.linalg.norm(upscaled - sharp) < 0.45 and np.linalg.norm(plain - sharp) < 0.6


@pytest.mark.parametrize("name", list(CLOTH_DESCRIPTORS))
def test_clothing_feature_survives_lighting_but_not_a_colour_change(name):
    rng = np.random.default_rng(0)
    shirt = np.clip(rng.normal((40, 60, 160), 20, (64, 64, 3)), 0, 255).astype(np.uint8)  # red, BGR
    darker = (shirt * 0.7).astype(np.uint8)
    blue = shirt[:, :, ::-1].copy()
    params = FeatureParams(cloth_descriptor=name)
    box = (0, 64, 64, 0)
    red, dim, other = (clothing_feature(im, box, params) for im in (shirt, darker, blue))
    assert np.isclose(np.linalg.norm(red), 1.0)
    # bench/clothing.py measures the same on the labelled clips' real clothes.
    assert np.linalg.norm(red - dim) < 0.6 * np.linalg.norm(red - other)
