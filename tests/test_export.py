"""Exports: zips that stay inside their folders, list exactly what they hold, and come out the
same for the same clip and parameters."""

from __future__ import annotations

import io
import os
import posixpath
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from faceclust.export import safe_name, write_zip

HOSTILE = ["../../x", "/etc/passwd", "..", "", "  ", "a/b", "a_b", "A_B", "C:\\win", "김민수 (MC)", "x" * 300]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_names_are_one_plain_folder(name):
    folder = safe_name(name)
    assert folder and len(folder) <= 64
    assert "/" not in folder and "\\" not in folder and folder not in (".", "..")


def test_renamed_clusters_stay_inside_their_own_folders(extractions, tmp_path):
    extraction = extractions["multi_face.avi"]
    faces = extraction.faces.table
    table = faces.assign(cluster=[i % len(HOSTILE) for i in range(len(faces))])
    buffer = io.BytesIO()
    write_zip(buffer, extraction.faces, table, dict(enumerate(HOSTILE)), index=True)
    with zipfile.ZipFile(buffer) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unzipped")
        top = {name.split("/")[0] for name in names if "/" in name}
        manifest = pd.read_csv(archive.open("manifest.csv"))
    assert all(not n.startswith("/") and ".." not in posixpath.normpath(n).split("/") for n in names)
    assert len(top) == len(HOSTILE)  # one folder per person, colliding names made distinct
    assert {p.name for p in (tmp_path / "unzipped").iterdir()} == top | {"manifest.csv"}
    assert "김민수_MC" in top
    # Every face is in exactly one folder, and each folder's manifest lists exactly its files.
    assert sorted(manifest["face_id"]) == sorted(table["face_id"])
    for folder in top:
        listed = pd.read_csv(tmp_path / "unzipped" / folder / "manifest.csv")
        inside = {f"{folder}/{p.parent.name}/{p.name}" for p in (tmp_path / "unzipped" / folder).glob("*/*")}
        assert inside == {*listed["face_file"], *listed["context_file"]}


def test_the_same_clip_and_parameters_give_the_same_run(data, tmp_path):
    """Two runs, each in a fresh cache: the same faces, the same clusters, byte-identical zips."""
    outs = []
    for run in ("first", "second"):
        env = {**os.environ, "FACECLUST_CACHE": str(tmp_path / f"cache-{run}")}
        out = tmp_path / run
        command = [sys.executable, "-m", "faceclust.cli", "run", str(data / "clips" / "multi_face.avi")]
        subprocess.run([*command, "--step", "30", "--out", str(out)], env=env, check=True, timeout=300)
        outs.append(out)
    first, second = outs
    assert (first / "faces.csv").read_bytes() == (second / "faces.csv").read_bytes()
    zips = sorted(p.name for p in first.glob("*.zip"))
    assert len(zips) >= 3 and zips == sorted(p.name for p in second.glob("*.zip"))
    for name in zips:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
