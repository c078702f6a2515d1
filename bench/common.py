"""Shared helpers for the benchmarks: the labelled clips and their default extraction."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

import faceclust as fc
from faceclust.evaluate import identities as labelled_identities

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LABELLED = ["multi_face.avi", "short_hamilton_clip.mp4"]
#: Every labelled clip, the Korean ones too: what a quality change is judged on.
EVERY_LABELLED = [*LABELLED, "mudo_variety.mp4", "song_kbs_interview.mp4"]
#: The ArcFace-style MobileFaceNet kept for tests and benchmarks (never shipped).
TEST_MODEL = f"onnx:{DATA / 'models' / 'mobilefacenet_test.onnx'}"
#: The two embedders every quality figure is given for, by their title in the tables.
EMBEDDERS = {"dlib": "dlib", "test model": TEST_MODEL}
os.environ.setdefault(
    "FACECLUST_MODELS",
    os.pathsep.join(
        [str(Path("~/.cache/faceclust/models").expanduser()), str(DATA / "models"), str(DATA / "sr_models")]
    ),
)


def concatenated(source: Path, copies: int, target: Path) -> Path:
    """``source`` repeated ``copies`` times into ``target`` without re-encoding (ffmpeg concat)."""
    listing = target.with_suffix(".txt")
    listing.write_text(f"file '{source}'\n" * copies)
    concat = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run([*concat, "-c", "copy", str(target)], check=True)
    return target


def labels(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / "labels" / f"{name}.labels.csv")


def identities(faces: pd.DataFrame, name: str) -> np.ndarray:
    """Each face's labelled identity (object array), None where it matches no scored label."""
    return labelled_identities(faces, labels(name))


def score(extraction: fc.Extraction, name: str, params: fc.ClusterParams) -> dict:
    labels_ = fc.cluster(extraction, params)
    return fc.evaluate(extraction.faces.table.assign(cluster=labels_), labels(name))


def table(rows: list[dict], floats: str = "{:.3f}") -> str:
    """A Markdown table of dict rows."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [floats.format(v) if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
