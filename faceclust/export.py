"""Write a run's results: faces.csv, clusters.csv, zips of face crops, and run.json last.

Files are first written into a temporary folder inside the output folder and moved into place
when all are complete; ``run.json`` is moved last, so an output folder with a ``run.json`` is
always complete, and a failed run leaves none.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .folders import CLUSTERS_FILE, FACES_FILE, RUN_FILE, publish, publishing
from .table import FaceTable

ALL_ZIP = "all_clusters.zip"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


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
    for label in map(int, np.unique(labels[labels >= 0])):  # edits can leave a number with no one
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


def safe_name(name: str) -> str:
    """``name`` as a safe folder name inside a zip: letters of any script, digits, ``-`` and
    ``_`` kept, anything else (``/``, ``..``, spaces) made ``_``; never empty, at most 64 chars."""
    cleaned = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_.")[:64]
    return cleaned or "unnamed"


def unique_name(folder: str, taken: set[str]) -> str:
    """``folder``, or ``folder_2``, ``folder_3``...: two people never share a folder, whatever
    their names (compared without case, as some file systems do)."""
    candidate, n = folder, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{folder}_{n}"
    taken.add(candidate.lower())
    return candidate


def _manifest(table: pd.DataFrame, folder: str) -> pd.DataFrame:
    manifest = table[["face_id", "cluster", "frame_index", "t_sec", "top", "right", "bottom", "left"]].copy()
    manifest.insert(1, "face_file", [f"{folder}/faces/{i}.jpg" for i in manifest["face_id"]])
    manifest.insert(2, "context_file", [f"{folder}/context/{i}.jpg" for i in manifest["face_id"]])
    return manifest


def write_zip(
    target: str | Path | BinaryIO,
    faces: FaceTable,
    table: pd.DataFrame,
    names: Mapping[int, str] | None = None,
    index: bool = False,
) -> None:
    """Write the clusters of ``table`` (face table with a ``cluster`` column) as one zip.

    Each cluster is a folder named ``safe_name(names[label])`` (default ``cluster_name``; a
    repeated name gets ``_2``, ``_3``...) with
    ``faces/<face_id>.jpg``, ``context/<face_id>.jpg`` (the face with its clothing) and a
    ``manifest.csv`` listing exactly those files; ``index`` adds a top-level ``manifest.csv``
    of every face. ``target`` is a path or a writable binary file.
    """
    names = names or {}
    manifests, folders = [], set()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:

        def add(name: str, data: bytes) -> None:  # a fixed date: the same run gives the same bytes
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), data)

        for label, members in table.groupby("cluster", sort=True):
            folder = unique_name(safe_name(names.get(int(label), cluster_name(int(label)))), folders)
            manifest = _manifest(members, folder)
            rows = manifest[["face_id", "face_file", "context_file"]].itertuples(index=False)
            for face_id, face_file, context_file in rows:
                add(face_file, faces.thumb_path(face_id).read_bytes())
                add(context_file, faces.context_path(face_id).read_bytes())
            add(f"{folder}/manifest.csv", manifest.to_csv(index=False).encode())
            manifests.append(manifest)
        if index and manifests:
            add("manifest.csv", pd.concat(manifests).to_csv(index=False).encode())


def write_zips(faces: FaceTable, table: pd.DataFrame, folder: Path) -> list[str]:
    """``person_NN.zip`` per cluster and ``all_clusters.zip`` (every cluster, the unassigned faces
    and a top-level manifest) into ``folder``; returns the file names."""
    names = []
    for label, members in table[table["cluster"] >= 0].groupby("cluster", sort=True):
        names.append(f"{cluster_name(int(label))}.zip")
        write_zip(folder / names[-1], faces, members)
    write_zip(folder / ALL_ZIP, faces, table, index=True)
    return [*names, ALL_ZIP]


def write_run(
    out: Path,
    faces: FaceTable,
    labels: np.ndarray,
    clusters: pd.DataFrame,
    run_info: dict,
) -> None:
    """Write a complete run folder (``folders``) into ``out``, replacing an earlier run's files."""
    with publishing(out, RUN_FILE) as scratch:
        table = faces.table.assign(cluster=labels)
        table.to_csv(scratch / FACES_FILE, index=False)
        clusters.to_csv(scratch / CLUSTERS_FILE, index=False)
        outputs = [FACES_FILE, CLUSTERS_FILE, *write_zips(faces, table, scratch)]
        for old in [*out.glob("person_*.zip"), out / ALL_ZIP]:
            old.unlink(missing_ok=True)
        for name in outputs:
            os.replace(scratch / name, out / name)
        publish(scratch, out, RUN_FILE, {**run_info, "outputs": outputs})
