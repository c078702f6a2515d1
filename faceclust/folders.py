"""The run and batch folders: what ``faceclust run`` and ``faceclust batch`` write (``export``,
``batch``) and what reels, the Library's search and the Series page read.

A run folder holds ``faces.csv`` (the face table with each face's ``cluster``), ``clusters.csv``
(one row per person), ``person_NN.zip`` and ``all_clusters.zip``, the dashboard's edits, and
``run.json``. A batch folder holds ``clips/<clip>/`` (a run folder per clip), ``series.csv``
(identity x clip), ``series/<identity>.zip`` and ``batch.json``. The JSON file is written last
(``publishing``): a folder that has it is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .errors import BadInput

RUN_FILE = "run.json"
BATCH_FILE = "batch.json"
FACES_FILE = "faces.csv"
CLUSTERS_FILE = "clusters.csv"
SERIES_FILE = "series.csv"
#: A batch folder's sub-folder of one zip per identity.
SERIES_DIR = "series"
#: A batch folder's sub-folder of run folders, one per clip.
CLIPS_DIR = "clips"


def is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a complete run."""
    return (folder / RUN_FILE).is_file()


def is_batch(folder: Path) -> bool:
    """Whether ``folder`` holds a complete batch."""
    return (folder / BATCH_FILE).is_file()


def batch_runs(folder: Path) -> list[Path]:
    """The complete run folders of a batch folder's clips, by name."""
    clips = folder / CLIPS_DIR
    return sorted(p for p in clips.iterdir() if is_run(p)) if clips.is_dir() else []


def batches_under(root: Path) -> list[Path]:
    """``root`` when it holds a complete batch, else its sub-folders that do, by name."""
    if is_batch(root):
        return [root]
    return sorted(p for p in root.iterdir() if is_batch(p)) if root.is_dir() else []


def read_run(folder: Path, columns: list[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """A complete run folder's run.json and its faces.csv (only ``columns`` where given);
    BadInput where it is not one."""
    try:
        info = json.loads((folder / RUN_FILE).read_text())
        faces = pd.read_csv(folder / FACES_FILE, usecols=columns)
    except (OSError, ValueError) as e:
        raise BadInput(f"{folder} is not a finished faceclust run folder ({e})") from None
    if not isinstance(info, dict) or "clip" not in info:
        raise BadInput(f"{folder} is not a finished faceclust run folder (its {RUN_FILE} names no clip)")
    return info, faces


def read_batch(folder: Path) -> tuple[dict, pd.DataFrame]:
    """A complete batch folder's batch.json and its series.csv; BadInput where it is not one."""
    try:
        info = json.loads((folder / BATCH_FILE).read_text())
        series = pd.read_csv(folder / SERIES_FILE)
    except (OSError, ValueError) as e:
        raise BadInput(f"{folder} is not a finished faceclust batch folder ({e})") from None
    if not isinstance(info, dict) or "clips" not in info:
        raise BadInput(f"{folder} is not a finished faceclust batch folder (its {BATCH_FILE} names no clips)")
    return info, series


@contextmanager
def publishing(out: Path, marker: str) -> Iterator[Path]:
    """Write a complete run or batch into ``out``: the old ``marker`` (``RUN_FILE``,
    ``BATCH_FILE``) goes first, so the folder no longer claims to be complete; the caller
    writes into the yielded scratch folder inside ``out``, moves its files into place and ends
    with ``publish``; the scratch folder is removed whatever happens."""
    out.mkdir(parents=True, exist_ok=True)
    (out / marker).unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out, prefix=".partial-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def publish(scratch: Path, out: Path, marker: str, info: dict) -> None:
    """Write ``info`` as ``out``'s ``marker``, last and at once (through ``scratch``)."""
    (scratch / marker).write_text(json.dumps(info, indent=2, default=str))
    os.replace(scratch / marker, out / marker)
