import logging
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest

from faceclust.detect import DetectParams, detect_faces, sharpness
from faceclust.errors import BadInput
from faceclust.table import iou
from faceclust.video import iter_frames


@pytest.fixture(scope="module")
def first_frame(data):
    return next(iter_frames(data / "clips" / "multi_face.avi", 15)).image


def test_yunet_finds_the_three_labelled_faces(first_frame):
    params = DetectParams().resolved()
    assert params.detector == "yunet"
    boxes = np.array([b for b, _, _ in detect_faces(first_frame, params)], float)
    labelled = np.array([[85, 228, 125, 189], [172, 413, 290, 295], [43, 568, 112, 500]], float)
    assert len(boxes) == 3
    assert (iou(labelled, boxes).max(axis=1) > 0.5).all()


@pytest.mark.parametrize("clip", ["multi_face.avi", "mudo_variety.mp4", "song_kbs_interview.mp4"])
def test_yunet_run_by_onnx_runtime_finds_what_opencv_s_face_detector_finds(data, clip):
    """YuNet is run by ONNX Runtime and decoded here; OpenCV's FaceDetectorYN is the reference,
    on whole frames and on crops whose sides are no multiple of 32. On a 10 x 10 corner OpenCV
    returns a face of score 1.0 at 1e28 px; ours finds nothing."""
    model = data / "models" / "face_detection_yunet_2026may.onnx"
    found = 0
    for frame in list(iter_frames(data / "clips" / clip, 15))[:6]:
        assert detect_faces(frame.image[:10, :10], DetectParams(detector="yunet", min_score=0.6)) == []
        for image in (frame.image, frame.image[5:-7, 3:-11]):
            opencv = cv2.FaceDetectorYN.create(str(model), "", image.shape[1::-1], 0.6, 0.3, 5000)
            reference = opencv.detect(image)[1]
            reference = [] if reference is None else sorted(reference, key=lambda face: -face[-1])
            ours = detect_faces(image, DetectParams(detector="yunet", min_score=0.6))
            assert len(ours) == len(reference)
            for (box, score, landmarks), face in zip(ours, reference, strict=True):
                x, y, w, h = face[:4]
                top, right, bottom, left = round(y), round(x + w), round(y + h), round(x)
                height, width = image.shape[:2]  # boxes are clipped to the image
                assert box == (max(0, top), min(width, right), min(height, bottom), max(0, left))
                assert score == pytest.approx(face[-1], abs=1e-3)
                assert np.abs(landmarks - face[4:14].reshape(5, 2)).max() < 0.05
            found += len(ours)
    assert found >= 12


def test_a_yunet_file_onnx_runtime_cannot_take_runs_through_opencv(data, tmp_path, monkeypatch, first_frame):
    """Where a models folder holds only the 2023 export of YuNet (fixed at 640 x 640: ONNX
    Runtime refuses other frame sizes) and the 2026 one cannot be fetched, OpenCV's
    FaceDetectorYN runs it, with the same faces. The 2026 file stands in for the older one."""
    import faceclust.detect as detect
    import faceclust.models as models

    expected = detect_faces(first_frame, DetectParams(detector="yunet"))
    folder = tmp_path / "models"
    folder.mkdir()
    current = models.MODEL_FILES["yunet"]
    shutil.copy(data / "models" / current.filename, folder / "older.onnx")
    monkeypatch.setenv("FACECLUST_MODELS", str(folder))
    offline = models.ModelFile(current.filename, f"http://127.0.0.1:9/{current.filename}", current.sha256)
    monkeypatch.setitem(models.MODEL_FILES, "yunet", offline)
    monkeypatch.setitem(models.MODEL_FILES, "yunet_2023mar", replace(offline, filename="older.onnx"))
    detect._yunet.cache_clear()
    try:
        assert DetectParams().resolved().detector == "yunet"
        assert detect._yunet().func is detect._yunet_opencv
        found = detect_faces(first_frame, DetectParams(detector="yunet"))
    finally:
        detect._yunet.cache_clear()
    assert [box for box, _, _ in found] == [box for box, _, _ in expected]


def test_large_frames_are_detected_downscaled_and_boxes_mapped_back(first_frame):
    big = cv2.resize(first_frame, (2560, 1920))  # 4x: detected on a 1280-px copy
    params = DetectParams(detector="yunet")
    small_boxes = np.array([b for b, _, _ in detect_faces(first_frame, params)], float)
    big_boxes = np.array([b for b, _, _ in detect_faces(big, params)], float)
    assert len(big_boxes) == len(small_boxes) == 3
    assert (iou(small_boxes * 4, big_boxes).max(axis=1) > 0.8).all()


def test_hog_is_available_by_name(first_frame):
    found = detect_faces(first_frame, DetectParams(detector="hog"))
    assert 1 <= len(found) <= 3


def test_auto_falls_back_to_hog_with_a_notice(no_models, caplog):
    with caplog.at_level(logging.WARNING):
        assert DetectParams().resolved().detector == "hog"
    assert "falling back to HOG" in caplog.text


def test_named_yunet_without_its_model_is_a_clear_error(no_models, first_frame):
    with pytest.raises(BadInput, match="could not be downloaded"):
        detect_faces(first_frame, DetectParams(detector="yunet"))


def test_unknown_detector_lists_the_valid_ones():
    with pytest.raises(BadInput, match="yunet, hog, cnn"):
        DetectParams(detector="mtcnn").validate()


def test_sharpness_drops_with_blur(first_frame):
    box = (172, 413, 290, 295)
    blurred = cv2.GaussianBlur(first_frame, (0, 0), 4)
    assert sharpness(first_frame, box) > 5 * sharpness(blurred, box)


def test_dlib_cnn_is_available_by_name(first_frame):
    # ~2 s per 640x480 frame here: fine for a test, too slow for a default.
    found = detect_faces(first_frame, DetectParams(detector="cnn", upsample=0))
    labelled = np.array([[172, 413, 290, 295]], float)
    assert iou(labelled, np.array([b for b, _, _ in found], float)).max() > 0.5
