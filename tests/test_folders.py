"""The run and batch folder contract (``faceclust.folders``): what is complete, what is read."""

import json

import pytest

from faceclust import folders
from faceclust.errors import BadInput


def test_a_folder_that_is_not_a_finished_run_or_batch_is_one_clear_line(tmp_path):
    for read in (folders.read_run, folders.read_batch):
        with pytest.raises(BadInput, match="is not a finished faceclust"):
            read(tmp_path)
    (tmp_path / folders.RUN_FILE).write_text("[1, 2]")  # JSON, but not a run's
    (tmp_path / folders.FACES_FILE).write_text("face_id,cluster\n0,0\n")
    with pytest.raises(BadInput, match="names no clip"):
        folders.read_run(tmp_path)
    (tmp_path / folders.BATCH_FILE).write_text("{}")
    (tmp_path / folders.SERIES_FILE).write_text("name,clip,person\n")
    with pytest.raises(BadInput, match="names no clips"):
        folders.read_batch(tmp_path)


def test_a_folder_is_complete_only_once_its_marker_is_published(tmp_path):
    out = tmp_path / "run"
    (out / "clips").mkdir(parents=True)
    (out / folders.RUN_FILE).write_text("{}")  # an earlier run's
    with pytest.raises(RuntimeError), folders.publishing(out, folders.RUN_FILE) as scratch:
        assert not folders.is_run(out)  # no longer complete while it is written
        (scratch / folders.FACES_FILE).write_text("half")
        raise RuntimeError("killed half way")
    assert not folders.is_run(out) and list(out.iterdir()) == [out / "clips"]  # no scratch left
    with folders.publishing(out, folders.RUN_FILE) as scratch:
        folders.publish(scratch, out, folders.RUN_FILE, {"clip": {"path": "a.mp4"}})
    assert folders.is_run(out) and json.loads((out / folders.RUN_FILE).read_text())["clip"]
    assert sorted(p.name for p in out.iterdir()) == ["clips", folders.RUN_FILE]
