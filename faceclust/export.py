"""Write a run's results: faces.csv, clusters.csv, zips of face crops, and run.json last.

Files are first written into a temporary folder inside the output folder and moved into place
when all are complete; ``run.json`` is moved last, so an output folder with a ``run.json`` is
always complete, and a failed run leaves none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .extract import FaceTable

ALL_ZIP = "all_clusters.zip"


def cluster_name(label: int) -> str:
    """Folder and file stem of a cluster: ``person_00``, ... and ``unassigned`` for -1."""
    return "unassigned" if label < 0 else f"person_{label:02d}"


def cluster_summary(faces: FaceTable, labels: np.ndarray, seconds_per_frame: float) -> pd.DataFrame:
    """One row per cluster: size, first/last time seen (s), screen time (s), representative face.

    Screen time counts each sampled frame in which the person appears as ``seconds_per_frame``.
    The representative is the face nearest the cluster's mean face embedding.
    """
    table = faces.table
    rows = []
    for label in range(int(labels.max(initial=-1)) + 1):
        members = np.flatnonzero(labels == label)
        vectors = faces.face_embedding[members]
        central = members[np.argmax(vectors @ vectors.mean(axis=0))]
        times = table["t_sec"].to_numpy()[members]
        rows.append(
            {
                "cluster": label,
                "name": cluster_name(label),
                "size": len(members),
                "first_t_sec": float(times.min()),
                "last_t_sec": float(times.max()),
                "screen_time_s": round(table["frame_index"].iloc[members].nunique() * seconds_per_frame, 3),
                "representative_face_id": int(table["face_id"].iloc[central]),
            }
        )
    columns = [
        "cluster",
        "name",
        "size",
        "first_t_sec",
        "last_t_sec",
        "screen_time_s",
        "representative_face_id",
    ]
    return pd.DataFrame(rows, columns=columns)


def _manifest(table: pd.DataFrame, folder: str) -> pd.DataFrame:
    manifest = table[["face_id", "cluster", "frame_index", "t_sec", "top", "right", "bottom", "left"]].copy()
    manifest.insert(1, "face_file", [f"{folder}/faces/{i}.jpg" for i in manifest["face_id"]])
    manifest.insert(2, "context_file", [f"{folder}/context/{i}.jpg" for i in manifest["face_id"]])
    return manifest


def _add_cluster(
    archive: zipfile.ZipFile, faces: FaceTable, table: pd.DataFrame, folder: str
) -> pd.DataFrame:
    manifest = _manifest(table, folder)
    for face_id, face_file, context_file in manifest[["face_id", "face_file", "context_file"]].itertuples(
        index=False
    ):
        archive.write(faces.thumb_path(face_id), face_file)
        archive.write(faces.context_path(face_id), context_file)
    archive.writestr(f"{folder}/manifest.csv", manifest.to_csv(index=False))
    return manifest


def write_zips(faces: FaceTable, table: pd.DataFrame, folder: Path) -> list[str]:
    """One zip per cluster and ``all_clusters.zip`` (with the unassigned faces) into ``folder``.

    ``table`` is the face table with a ``cluster`` column. Each cluster's folder in a zip holds
    ``faces/<face_id>.jpg``, ``context/<face_id>.jpg`` (face with clothing) and ``manifest.csv``.
    Returns the zip file names.
    """
    names = []
    manifests = []
    with zipfile.ZipFile(folder / ALL_ZIP, "w", zipfile.ZIP_STORED) as everything:
        for label, members in table.groupby("cluster", sort=True):
            name = cluster_name(int(label))
            manifests.append(_add_cluster(everything, faces, members, name))
            if label >= 0:
                with zipfile.ZipFile(folder / f"{name}.zip", "w", zipfile.ZIP_STORED) as one:
                    _add_cluster(one, faces, members, name)
                names.append(f"{name}.zip")
        if manifests:
            everything.writestr("manifest.csv", pd.concat(manifests).to_csv(index=False))
    return [*names, ALL_ZIP]


def write_run(
    out: Path,
    faces: FaceTable,
    labels: np.ndarray,
    clusters: pd.DataFrame,
    run_info: dict,
) -> None:
    """Write a complete run into ``out``, replacing an earlier run's files there."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").unlink(missing_ok=True)  # the folder no longer holds a complete run
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".partial-"))
    try:
        table = faces.table.assign(cluster=labels)
        table.to_csv(tmp / "faces.csv", index=False)
        clusters.to_csv(tmp / "clusters.csv", index=False)
        zips = write_zips(faces, table, tmp)
        for old in [*out.glob("person_*.zip"), out / ALL_ZIP]:
            old.unlink(missing_ok=True)
        for name in ["faces.csv", "clusters.csv", *zips]:
            os.replace(tmp / name, out / name)
        run_info = {**run_info, "outputs": ["faces.csv", "clusters.csv", *zips]}
        (tmp / "run.json").write_text(json.dumps(run_info, indent=2, default=str))
        os.replace(tmp / "run.json", out / "run.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
