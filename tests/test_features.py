import numpy as np
import pytest

from faceclust.features import CLOTH_DESCRIPTORS, FeatureParams, clothing_box, clothing_feature


def test_clothing_box_scales_with_the_face_and_is_clipped():
    params = FeatureParams()
    box, visible = clothing_box((100, 140, 140, 100), (480, 640, 3), params)  # 40x40 face
    assert box == (150, 160, 210, 80) and visible == 1.0
    box, visible = clothing_box((380, 140, 440, 100), (480, 640, 3), params)  # near the bottom
    assert box is not None and box[2] == 480 and 0.25 <= visible < 0.5
    box, visible = clothing_box((400, 140, 470, 100), (480, 640, 3), params)  # chin at the edge
    assert box is None and visible == 0.0


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
