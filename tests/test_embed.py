import json
import logging
import os
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

import faceclust as fc
import faceclust.models as models
from faceclust.cache import entry_key
from faceclust.detect import DetectParams, detect_faces
from faceclust.embed import (
    ARCFACE_TEMPLATE,
    EmbedParams,
    align,
    embedder,
    face_crop,
    similarity,
    thresholds,
)
from faceclust.errors import BadInput
from faceclust.superres import SRParams


@pytest.fixture(scope="module")
def lfw(data):
    """Two photos each of two people (BGR, aligned 250x250 photos)."""
    people = sorted((data / "faces" / "lfw_deepfunneled_subset").iterdir())[:2]
    return [[cv2.imread(str(p)) for p in sorted(person.iterdir())[:2]] for person in people]


def _embed(params: EmbedParams, image: np.ndarray, sr: SRParams | None = None) -> np.ndarray:
    """The embedding of the largest face YuNet finds in ``image``."""
    box, _, landmarks = max(
        detect_faces(image, DetectParams(detector="yunet")), key=lambda d: d[0][2] - d[0][0]
    )
    return embedder(params.resolved()).embed([face_crop(image, box, landmarks)], sr or SRParams().resolved())[
        0
    ]


def test_similarity_recovers_a_rotation_scale_and_shift():
    angle, scale, shift = 0.3, 1.7, np.array([40.0, -12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = ARCFACE_TEMPLATE @ rotation.T + shift
    matrix = similarity(points, ARCFACE_TEMPLATE)
    assert np.allclose(points @ matrix[:, :2].T + matrix[:, 2], ARCFACE_TEMPLATE, atol=1e-3)


def test_a_chip_puts_the_eyes_on_the_template_and_undoes_a_tilt(lfw):
    photo = cv2.copyMakeBorder(lfw[0][0], 60, 60, 60, 60, cv2.BORDER_REPLICATE)
    tilted = cv2.warpAffine(photo, cv2.getRotationMatrix2D((185, 185), 20, 1.0), (370, 370))
    chips = []
    for image in (photo, tilted, cv2.copyMakeBorder(lfw[1][0], 60, 60, 60, 60, cv2.BORDER_REPLICATE)):
        ((_, _, landmarks),) = detect_faces(image, DetectParams(detector="yunet"))
        matrix = similarity(landmarks, ARCFACE_TEMPLATE)
        eyes = landmarks[:2] @ matrix[:, :2].T + matrix[:, 2]
        assert np.abs(eyes - ARCFACE_TEMPLATE[:2]).max() < 5.0  # pixels of the 112-px chip
        chips.append(align(image, landmarks).astype(np.float32))
    assert chips[0].shape == (112, 112, 3)
    # The tilted photo's chip is the upright one's; another person's is not.
    assert np.abs(chips[0] - chips[1]).mean() < 0.5 * np.abs(chips[0] - chips[2]).mean()


@pytest.mark.parametrize("name", ["dlib", "onnx"])
def test_an_embedder_puts_one_person_closer_than_two(lfw, test_model, name):
    params = EmbedParams(test_model if name == "onnx" else name)
    (a1, a2), (b1, _) = [[_embed(params, image) for image in person] for person in lfw]
    assert a1.dtype == np.float32 and np.isclose(np.linalg.norm(a1), 1.0)
    assert a1.shape == ((192,) if name == "onnx" else (128,))
    assert np.linalg.norm(a1 - a2) < np.linalg.norm(a1 - b1)


@pytest.mark.parametrize("name", ["dlib", "onnx"])
def test_a_small_face_is_super_resolved_and_still_tells_the_person(lfw, test_model, name):
    model = embedder(EmbedParams(test_model if name == "onnx" else name).resolved())
    image, other = lfw[0][0], lfw[1][0]
    ((box, _, landmarks),) = detect_faces(image, DetectParams(detector="yunet"))
    sharp = model.embed([face_crop(image, box, landmarks)], SRParams(method="none"))[0]
    apart = np.linalg.norm(sharp - _embed(EmbedParams(model.name), other))
    tiny = cv2.resize(image, (75, 75), interpolation=cv2.INTER_AREA)  # the face ~30 px
    small = face_crop(tiny, tuple(round(v * 0.3) for v in box), landmarks * 0.3)
    upscaled = model.embed([small], SRParams(method="fsrcnn_x4"))[0]
    assert np.linalg.norm(upscaled - sharp) < 0.5 * apart


def test_embedder_names_and_their_errors(tmp_path, data):
    with pytest.raises(BadInput, match="auto, dlib, sface, onnx:PATH"):
        EmbedParams("arcface").validate()
    with pytest.raises(BadInput, match="does not exist"):
        EmbedParams(f"onnx:{tmp_path / 'missing.onnx'}").resolved()
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not a model" * 50)
    with pytest.raises(BadInput, match=r"embedder model .* cannot be loaded by ONNX Runtime") as error:
        EmbedParams(f"onnx:{garbage}").resolved()
    assert "\n" not in str(error.value)
    # A real network of the wrong kind: YuNet, the face detector, takes whole frames.
    detector = data / "models" / "face_detection_yunet_2026may.onnx"
    with pytest.raises(BadInput, match=r"input of shape \[1, 3, 0, 0\]"):
        EmbedParams(f"onnx:{detector}").resolved()


def test_sface_offline_names_the_fetch_command_and_auto_falls_back_to_dlib(no_models, caplog):
    with pytest.raises(BadInput, match="faceclust models fetch sface"):
        EmbedParams("sface").resolved()
    with caplog.at_level(logging.WARNING):
        assert EmbedParams().resolved().embedder == "dlib"
    assert "faceclust models fetch sface" in caplog.text


def test_sface_is_downloaded_verified_and_run_through_the_onnx_code(tmp_path, monkeypatch, data, lfw):
    """A local server stands in for OpenCV Zoo, the test model for SFace's file."""
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    spec = models.MODEL_FILES["sface"]
    shutil.copy(data / "models" / "mobilefacenet_test.onnx", root / spec.filename)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        served = models.ModelFile(
            spec.filename,
            f"http://127.0.0.1:{httpd.server_port}/{spec.filename}",
            models.file_sha256(root / spec.filename),
        )
        monkeypatch.setitem(models.MODEL_FILES, "sface", served)
        monkeypatch.setenv(
            "FACECLUST_MODELS", os.pathsep.join([str(tmp_path / "models"), str(data / "models")])
        )
        resolved = EmbedParams().resolved()  # auto: fetched, so sface
    finally:
        httpd.shutdown()
    assert resolved.embedder == "sface" and (tmp_path / "models" / spec.filename).is_file()
    sface = embedder(resolved)
    assert sface.every_face and sface.spec.layout == "NHWC" and sface.spec.batch == 2
    assert (sface.spec.mean, sface.spec.scale) == (0.0, 1.0)  # SFace's own normalisation
    assert _embed(resolved, lfw[0][0]).shape == (192,)


def test_a_sidecar_states_the_normalisation(tmp_path, data):
    model = tmp_path / "model.onnx"
    shutil.copy(data / "models" / "mobilefacenet_test.onnx", model)
    (tmp_path / "model.onnx.json").write_text(json.dumps({"mean": 127.5, "scale": 0.5, "rgb": False}))
    spec = embedder(EmbedParams(f"onnx:{model}").resolved()).spec
    assert (spec.mean, spec.scale, spec.rgb) == (127.5, 0.5, False)
    (tmp_path / "model.onnx.json").write_text(json.dumps({"offset": 1}))
    with pytest.raises(BadInput, match="sidecar"):
        EmbedParams(f"onnx:{model}").resolved()


def test_each_embedder_has_its_own_cache_key_and_thresholds(test_model):
    dlib = fc.ExtractParams(embed=EmbedParams("dlib")).resolved(30.0)
    onnx_ = fc.ExtractParams(embed=EmbedParams(test_model)).resolved(30.0)
    assert entry_key("clip", dlib.to_dict(), 5) != entry_key("clip", onnx_.to_dict(), 5)
    assert onnx_.embed.model_sha256 == models.file_sha256(test_model.removeprefix("onnx:"))
    assert thresholds("dlib") != thresholds(onnx_.embed.embedder)
    assert dlib.tracks.split_distance == thresholds("dlib").split_distance
    assert onnx_.tracks.split_distance == thresholds(onnx_.embed.embedder).split_distance
    assert onnx_.detect.min_score == thresholds(onnx_.embed.embedder).min_score
    given = fc.ExtractParams(embed=EmbedParams(test_model), tracks=fc.TrackParams(split_distance=0.7))
    assert given.resolved(30.0).tracks.split_distance == 0.7  # a given value wins


@pytest.mark.parametrize("name", ["multi_face.avi", "short_hamilton_clip.mp4"])
def test_the_onnx_embedder_tells_the_labelled_people_apart(tmp_path, data, test_model, name):
    params = fc.ExtractParams(embed=EmbedParams(test_model))
    extraction, labels, _ = fc.run(data / "clips" / name, tmp_path, params, workers=2)
    table = extraction.faces.table
    assert table["encoded"].all()  # a cheap embedder describes every face
    assert table["landmarks"].notna().all()  # YuNet's five points, kept
    low, high = thresholds(extraction.embedder).eps_bounds
    assert low <= extraction.calibrated_eps <= high
    truth = pd.read_csv(data / "labels" / f"{name}.labels.csv")
    metrics = fc.evaluate(table.assign(cluster=labels), truth)
    assert metrics["coverage"] >= 0.97 and metrics["bcubed_f"] >= 0.97
    assigned = table.assign(cluster=labels)[labels >= 0]
    assert not assigned.duplicated(["frame_index", "cluster"]).any()  # no two faces of a frame together
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["embedder"] == extraction.embedder
    report = run["thresholds"]
    assert report["eps"]["value"] == extraction.calibrated_eps and report["eps"]["from"] == "clip"
    assert report["learned_metric"] is False and "note" not in report
    evidence = report["evidence"]  # both samples, and different people lie farther apart
    assert evidence["same_person"]["pairs"] > 10 and evidence["different_person"]["pairs"] >= 10
    assert evidence["same_person"]["quantiles"]["p50"] < evidence["different_person"]["quantiles"]["p50"]
    assert report["leftover"]["from"] == "clip" and report["split_distance"]["from"] == "prior"


def test_faces_without_landmarks_get_them_from_dlib(lfw, test_model):
    """HOG and CNN give no landmarks: an ONNX embedder then aligns on dlib's 68 points."""
    model = embedder(EmbedParams(test_model).resolved())
    image, other = lfw[0][0], lfw[1][0]
    ((box, _, landmarks),) = detect_faces(image, DetectParams(detector="yunet"))
    sr = SRParams(method="none")
    with_yunet, with_dlib = model.embed([face_crop(image, box, landmarks), face_crop(image, box, None)], sr)
    apart = np.linalg.norm(with_yunet - _embed(EmbedParams(model.name), other))
    assert np.linalg.norm(with_dlib - with_yunet) < 0.5 * apart


def test_every_embedder_kind_has_one_record_for_its_title_and_thresholds():
    """Names, thresholds and titles came from three places (the Library said "ONNX model", the
    dashboard "onnx:/path/model.onnx"); a resolved name now finds one record."""
    assert [fc.embedder_title(e) for e in ("dlib", "sface", "onnx:/models/arc.onnx")] == [
        "dlib",
        "SFace",
        "ONNX model arc.onnx",
    ]
    assert fc.thresholds("sface") == fc.thresholds("onnx:/models/arc.onnx") != fc.thresholds("dlib")
    with pytest.raises(ValueError, match="'auto' is no resolved embedder name"):
        fc.thresholds("auto")  # which thresholds depends on what auto resolves to
