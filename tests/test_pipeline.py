import json
import shutil
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest

import faceclust as fc
import faceclust.pipeline as pipeline
from faceclust.errors import BadInput

# The bar set by the known methods (face_recognition HOG + DBSCAN / chinese whispers):
# BCubed F 0.920 on multi_face.avi, 0.763 on short_hamilton_clip.mp4. Defaults must beat them.
TARGETS = {"multi_face.avi": (0.99, 0.97), "short_hamilton_clip.mp4": (0.97, 0.95)}


@pytest.mark.parametrize("name", list(TARGETS))
def test_defaults_beat_the_known_methods(extractions, data, name):
    labels = fc.cluster(extractions[name])
    truth = pd.read_csv(data / "labels" / f"{name}.labels.csv")
    metrics = fc.evaluate(extractions[name].faces.table.assign(cluster=labels), truth)
    min_f, min_coverage = TARGETS[name]
    assert metrics["bcubed_f"] >= min_f
    assert metrics["coverage"] >= min_coverage
    assert metrics["same_frame_violations"] == 0


def test_extraction_is_cached_and_skipped_the_second_time(extractions, data, monkeypatch):
    first = extractions["multi_face.avi"]

    def fail(*args, **kwargs):
        raise AssertionError("extraction ran again")

    monkeypatch.setattr(pipeline, "extract_faces", fail)
    again = fc.extract(data / "clips" / "multi_face.avi")
    assert again.cache_hit and not first.cache_hit
    assert np.array_equal(again.faces.face_embedding, first.faces.face_embedding)
    pd.testing.assert_frame_equal(again.faces.table, first.faces.table)
    # Clustering parameters are not part of the key: a re-cluster needs no extraction.
    assert len(set(fc.cluster(again, fc.ClusterParams(weight=0.5, eps=0.4)))) >= 3


def test_one_or_all_cores_give_the_same_faces_and_report_progress(data):
    params = fc.ExtractParams(sampling=fc.SamplingParams(step=45))
    reports = []
    serial = fc.extract(data / "clips" / "short_hamilton_clip.mp4", params, workers=1)
    shutil.rmtree(serial.faces.folder)
    parallel = fc.extract(
        data / "clips" / "short_hamilton_clip.mp4", params, workers=2, progress=lambda *a: reports.append(a)
    )
    assert not parallel.cache_hit
    pd.testing.assert_frame_equal(serial.faces.table, parallel.faces.table)
    assert np.allclose(serial.faces.face_embedding, parallel.faces.face_embedding)
    extract_reports = [(d, t) for s, d, t in reports if s == "extract"]
    assert extract_reports[0] == (0, 7) and extract_reports[-1] == (7, 7)
    assert [d for d, _ in extract_reports] == sorted(d for d, _ in extract_reports)


def test_a_damaged_cache_entry_is_rebuilt(data):
    params = fc.ExtractParams(sampling=fc.SamplingParams(step=90))
    first = fc.extract(data / "clips" / "short_hamilton_clip.mp4", params, workers=1)
    (first.faces.folder / "arrays.npz").write_bytes(b"not an archive")
    again = fc.extract(data / "clips" / "short_hamilton_clip.mp4", params, workers=1)
    assert not again.cache_hit and np.array_equal(again.faces.face_embedding, first.faces.face_embedding)


def test_run_writes_a_complete_output_folder(extractions, data, tmp_path):
    out = tmp_path / "out"
    extraction, _, _ = fc.run(data / "clips" / "multi_face.avi", out)
    assert extraction.cache_hit
    info = json.loads((out / "run.json").read_text())
    assert info["clusters"] == 3 and info["cluster_params"]["eps"] == info["eps_calibrated"]
    assert 0.4 <= info["eps_calibrated"] <= 0.6
    assert sorted(p.name for p in out.iterdir()) == sorted(info["outputs"] + ["run.json"])
    faces = pd.read_csv(out / "faces.csv")
    assert {
        "face_id",
        "frame_index",
        "t_sec",
        "top",
        "right",
        "bottom",
        "left",
        "cloth_top",
        "cloth_visible",
        "sharpness",
        "cluster",
    } <= set(faces.columns)
    table = pd.read_csv(out / "clusters.csv")
    assert list(table["size"]) == sorted(table["size"], reverse=True)
    assert table["screen_time_s"].between(20, 24).all()  # all three are on screen throughout
    with zipfile.ZipFile(out / "person_00.zip") as archive:
        names = set(archive.namelist())
        manifest = pd.read_csv(archive.open("person_00/manifest.csv"))
        assert names == {"person_00/manifest.csv", *manifest["face_file"], *manifest["context_file"]}
        assert len(manifest) == table["size"][0]
        face = cv2.imdecode(np.frombuffer(archive.read(manifest["face_file"][0]), np.uint8), cv2.IMREAD_COLOR)
        assert face.shape == (112, 112, 3)
    with zipfile.ZipFile(out / "all_clusters.zip") as archive:
        manifest = pd.read_csv(archive.open("manifest.csv"))
        assert len(manifest) == len(faces) and set(manifest["cluster"]) == set(faces["cluster"])


def test_a_clip_without_faces_is_bad_input_and_writes_nothing(tmp_path):
    clip = tmp_path / "black.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(30):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    with pytest.raises(BadInput, match="no faces were found"):
        fc.run(clip, tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / "run.json").exists()


def test_a_clip_with_one_face_is_bad_input(data, tmp_path):
    person = sorted((data / "faces" / "lfw_deepfunneled_subset").iterdir())[0]
    photo = cv2.imread(str(sorted(person.iterdir())[0]))
    clip = tmp_path / "one.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, photo.shape[1::-1])
    writer.write(photo)
    writer.release()
    with pytest.raises(BadInput, match="only one face was found"):
        fc.run(clip, tmp_path / "out", workers=1)
