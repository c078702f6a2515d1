import cv2
import numpy as np
import pytest

from faceclust.errors import BadInput
from faceclust.superres import SR_METHODS, as_bgr8, sr_scale, upscale

MODEL_NAMES = [
    n for n in SR_METHODS if SR_METHODS[n][0] not in ("none", "bicubic") and not n.startswith("edsr")
]


@pytest.fixture(scope="module")
def face_crop(data):
    """A real 40x40 face (downscaled from an LFW photo) and the sharp original, BGR uint8."""
    person = sorted((data / "faces" / "lfw_deepfunneled_subset").iterdir())[0]
    image = cv2.imread(str(sorted(person.iterdir())[0]))
    face = image[65:185, 65:185]  # (120, 120, 3) centred head
    return cv2.resize(face, (40, 40), interpolation=cv2.INTER_AREA), face


def test_twelve_models_are_registered_beside_edsr():
    assert len(MODEL_NAMES) == 12
    assert {"edsr_x2", "edsr_x3", "edsr_x4", "none", "bicubic_x4"} <= set(SR_METHODS)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_each_model_upscales_a_face_without_artefacts(face_crop, name):
    small, sharp = face_crop
    scale = sr_scale(name)
    out = upscale(small, name)
    assert out.shape == (40 * scale, 40 * scale, 3) and out.dtype == np.uint8
    bicubic = upscale(small, f"bicubic_x{scale}")
    # Same picture as a bicubic upscale: no colour swap, no offset, no tiling seams or noise.
    assert cv2.PSNR(out, bicubic) > 26
    assert np.abs(out.mean(axis=(0, 1)) - bicubic.mean(axis=(0, 1))).max() < 4
    # And at least as close to the sharp original as bicubic is, give or take.
    reference = cv2.resize(sharp, out.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert cv2.PSNR(out, reference) > cv2.PSNR(bicubic, reference) - 1.5


def test_large_images_are_tiled_without_seams(face_crop):
    _, sharp = face_crop
    big = cv2.resize(sharp, (500, 430))  # several tiles, ragged edges
    out = upscale(big, "fsrcnn_x2")
    assert out.shape == (860, 1000, 3)
    assert cv2.PSNR(out, upscale(big, "bicubic_x2")) > 30


@pytest.mark.parametrize(
    "convert",
    [
        lambda im: im.astype(np.float32) / 255.0,  # float in [0, 1]
        lambda im: im.astype(np.uint16) * 257,  # 16-bit
        lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA),
    ],
)
def test_odd_inputs_become_8bit_bgr(face_crop, convert):
    small, _ = face_crop
    assert np.abs(as_bgr8(convert(small)).astype(int) - small).max() <= 1
    assert upscale(convert(small), "espcn_x2").shape == (80, 80, 3)


def test_grey_input_becomes_three_channels(face_crop):
    grey = cv2.cvtColor(face_crop[0], cv2.COLOR_BGR2GRAY)
    assert upscale(grey, "fsrcnn-small_x3").shape == (120, 120, 3)


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(BadInput, match="fsrcnn_x2"):
        sr_scale("fsrcnn_x5")


def test_missing_model_offline_is_a_clear_error(no_models, face_crop):
    with pytest.raises(BadInput, match="could not be downloaded"):
        upscale(face_crop[0], "lapsrn_x2")


def test_auto_uses_the_measured_model_or_falls_back_with_a_notice(caplog, no_models):
    import logging

    from faceclust.superres import FALLBACK_SR, SRParams

    with caplog.at_level(logging.WARNING):
        assert SRParams().resolved().method == FALLBACK_SR
    assert "cannot be downloaded" in caplog.text


def test_auto_resolves_to_the_model_when_present():
    from faceclust.superres import AUTO_SR, SRParams

    assert SRParams().resolved().method == AUTO_SR
