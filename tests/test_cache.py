"""The extraction cache: damaged entries rebuilt, abandoned builds removed, a size limit kept,
keys that change with everything that changes the result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceclust.cache import cached, entry_key, kept_entry
from faceclust.extract import FEATURE_VERSION, ExtractParams
from faceclust.models import file_sha256
from faceclust.table import CLOTH_BOX, COLUMNS, FaceTable

N_FACES = 4


def _build(folder: Path, bulk: int = 0) -> tuple[FaceTable, dict]:
    """A small entry: four faces with crops (``bulk`` extra bytes in each crop)."""
    rows = [{c: 0 for c in COLUMNS} | {"face_id": i, "frame_index": i} for i in range(N_FACES)]
    for sub in ("thumbs", "context"):
        (folder / sub).mkdir()
        for i in range(N_FACES):
            (folder / sub / f"{i}.jpg").write_bytes(b"\xff\xd8" + bytes(bulk))
    table = pd.DataFrame(rows, columns=COLUMNS).astype({c: "Int64" for c in CLOTH_BOX})
    vectors = np.random.default_rng(0).random((N_FACES, 128), dtype=np.float32)
    return FaceTable(table, vectors, np.zeros((N_FACES, 68), np.float32), vectors, folder), {"clip": "test"}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "extract"


def _rewrite_table(folder: Path, change) -> None:
    """Rewrite faces.csv changed, with a matching checksum: a well-formed entry of another layout."""
    path = folder / "faces.csv"
    change(pd.read_csv(path)).to_csv(path, index=False)
    meta = json.loads((folder / "meta.json").read_text())
    meta["sha256"]["faces.csv"] = file_sha256(path)
    (folder / "meta.json").write_text(json.dumps(meta))


def _rebuilt(key: str) -> bool:
    return not cached(key, _build)[2]


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "arrays.npz").write_bytes(b"not an archive"),
        lambda f: (f / "arrays.npz").write_bytes((f / "arrays.npz").read_bytes()[:-7] + b"1234567"),
        lambda f: (f / "faces.csv").write_text("face_id\n0\n"),
        lambda f: _rewrite_table(f, lambda t: t.drop(columns="track_id")),
        lambda f: (f / "meta.json").write_text("{"),
        lambda f: (f / "meta.json").unlink(),
        lambda f: (f / "thumbs" / "2.jpg").unlink(),
        lambda f: (f / "context" / "0.jpg").unlink(),
    ],
    ids=[
        "garbage",
        "bit flips",
        "table cut",
        "old columns",
        "bad meta",
        "no meta",
        "lost thumb",
        "lost context",
    ],
)
def test_a_damaged_entry_is_detected_and_rebuilt(cache, damage):
    faces, _, hit = cached("k", _build)
    assert not hit and cached("k", _build)[2]
    damage(faces.folder)
    assert _rebuilt("k")
    again, _, hit = cached("k", _build)
    assert hit and np.array_equal(again.face_embedding, faces.face_embedding)


def test_an_entry_is_found_again_by_its_name_and_by_nothing_else(cache):
    """``kept_entry`` reads an entry by the name an address carries (the dashboard's refresh):
    only an entry's name, never a path out of the cache."""
    key = entry_key("clip", {}, FEATURE_VERSION)
    faces, _, _ = cached(key, _build)
    again, meta = kept_entry(key)
    assert meta["clip"] == "test" and np.array_equal(again.face_embedding, faces.face_embedding)
    assert kept_entry("0" * 32) is None  # evicted, say
    for name in ("x", f"../extract/{key}", key.upper(), f"{key}/"):
        assert kept_entry(name) is None, name
    (faces.folder / "arrays.npz").write_bytes(b"damaged")
    assert kept_entry(key) is None


def test_one_entry_asked_for_by_three_sessions_at_once_is_built_once(cache):
    """The dashboard's sessions are threads of one process: three users running one clip got
    three extractions of it on the same cores; the second and third now wait and load it."""
    from concurrent.futures import ThreadPoolExecutor

    builds = []

    def slow_build(folder: Path) -> tuple[FaceTable, dict]:
        builds.append(folder)
        time.sleep(0.5)
        return _build(folder)

    with ThreadPoolExecutor(3) as sessions:
        hits = sorted(hit for _, _, hit in sessions.map(lambda _: cached("k", slow_build), range(3)))
    assert len(builds) == 1 and hits == [False, True, True]


def test_a_build_that_fails_leaves_nothing(cache):
    def broken(folder):
        (folder / "thumbs").mkdir()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        cached("k", broken)
    assert list(cache.iterdir()) == []


KILLED_BUILD = """
import sys, time
from faceclust.cache import cached
def build(folder):
    (folder / "thumbs").mkdir()
    print("building", flush=True)
    time.sleep(60)
cached("k", build)
"""


def test_a_killed_build_leaves_no_entry_and_its_folder_is_cleaned_by_the_next(cache):
    process = subprocess.Popen([sys.executable, "-c", KILLED_BUILD], stdout=subprocess.PIPE, env=os.environ)
    assert process.stdout.readline().strip() == b"building"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    (left,) = list(cache.iterdir())
    assert left.name.startswith(".k-")  # its temporary folder, never read as an entry
    assert _rebuilt("k")
    assert [p.name for p in cache.iterdir()] == ["k"]


def test_the_least_recently_used_entries_go_when_the_cache_is_full(cache, monkeypatch):
    def build(folder):
        return _build(folder, bulk=100_000)  # ~0.8 MB an entry

    for key in ("a", "b", "c"):
        cached(key, build)
        time.sleep(0.05)
    os.utime(cache / "a" / "meta.json", (time.time() + 5, time.time() + 5))  # "a" used last
    monkeypatch.setenv("FACECLUST_CACHE_MAX_GB", "0.002")  # room for two entries
    cached("d", build)
    assert sorted(p.name for p in cache.iterdir()) == ["a", "d"]
    assert json.loads((cache / "d" / "meta.json").read_text())["bytes"] > 800_000
    monkeypatch.setenv("FACECLUST_CACHE_MAX_GB", "0.0001")  # smaller than one entry: keep the new one
    cached("e", build)
    assert [p.name for p in cache.iterdir()] == ["e"]


def _leaves(params: dict, path: tuple = ()):
    """(path, value) of every parameter in a nested parameter dict."""
    for name, value in params.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, name))
        else:
            yield (*path, name), value


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return 1 if value is None else f"{value}-other"


def test_every_parameter_and_the_feature_version_change_the_key():
    params = ExtractParams().resolved(30.0).to_dict()
    keys = {
        entry_key("clip", params, FEATURE_VERSION),
        entry_key("other clip", params, FEATURE_VERSION),
        entry_key("clip", params, FEATURE_VERSION + 1),
    }
    leaves = list(_leaves(params))
    for path, value in leaves:
        changed = json.loads(json.dumps(params))
        parent = changed
        for name in path[:-1]:
            parent = parent[name]
        parent[path[-1]] = _changed(value)
        keys.add(entry_key("clip", changed, FEATURE_VERSION))
    assert len(leaves) >= 12
    assert len(keys) == 3 + len(leaves)
