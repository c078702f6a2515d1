"""The face table: the contract every stage shares (see ARCHITECTURE.md).

One row per face found in a clip's sampled frames, with row-aligned arrays (the face and clothing
descriptions) and a folder of crops. Boxes are ``(top, right, bottom, left)`` in original-frame
pixels everywhere, face_recognition's order. Any stage may import this module without importing
another stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

Box = tuple[int, int, int, int]  # (top, right, bottom, left), pixels

BOX = ["top", "right", "bottom", "left"]
CLOTH_BOX = ["cloth_top", "cloth_right", "cloth_bottom", "cloth_left"]
COLUMNS = [
    "face_id",
    "frame_index",
    "t_sec",
    *BOX,
    "score",
    *CLOTH_BOX,
    "cloth_visible",
    "sharpness",
    "landmarks",
    "shot_id",
    "track_id",
    "encoded",
]


@dataclass
class FaceTable:
    """The faces of one clip.

    table: one row per face, columns ``COLUMNS``; boxes in original-frame pixels; ``landmarks``
        the detector's five points as "x y x y ..." in original-frame pixels (empty where it
        gives none); ``shot_id`` and ``track_id`` number shots and tracks from 0; ``encoded``
        marks the faces the embedder saw (all of them with an embedder cheap enough).
    face_embedding: (N, D) float32, L2-normalised, row-aligned with ``table``: the mean of the
        encoded faces of each face's track (tracks are split where their faces disagree, so
        a track is one person), weighted by ``frontality`` where every face is encoded.
    own_embedding: (N, D) float32: each encoded face's own embedding, zero rows for the faces
        not encoded (the evidence of how a person varies within a track).
    cloth_feature: (N, K) float32, L2-normalised: the mean over the face's track; zero rows
        where the face has no clothing box.
    folder: holds ``thumbs/<face_id>.jpg`` and ``context/<face_id>.jpg``.
    """

    table: pd.DataFrame
    face_embedding: np.ndarray
    cloth_feature: np.ndarray
    own_embedding: np.ndarray
    folder: Path

    @property
    def has_cloth(self) -> np.ndarray:
        """(N,) bool: whether each face has a usable clothing region."""
        return self.table["cloth_top"].notna().to_numpy()

    def thumb_path(self, face_id: int) -> Path:
        return self.folder / "thumbs" / f"{face_id}.jpg"

    def context_path(self, face_id: int) -> Path:
        return self.folder / "context" / f"{face_id}.jpg"


def head_pose(landmarks: str) -> tuple[float, float]:
    """(yaw, pitch) proxies of a face from its five landmarks ("x y x y ..."): the nose tip's
    offset from the eyes' midpoint in eye distances; (0, 0) where there are none."""
    if not isinstance(landmarks, str) or not landmarks.strip():
        return 0.0, 0.0
    points = np.array(landmarks.split(), float).reshape(5, 2)
    eyes = points[:2].mean(axis=0)
    apart = max(float(np.linalg.norm(points[1] - points[0])), 1e-6)
    return (points[2, 0] - eyes[0]) / apart, (points[2, 1] - eyes[1]) / apart


def frontality(landmarks: pd.Series) -> np.ndarray:
    """How frontal each face is (N,) in 0..1 from its ``landmarks``: 1 where the nose tip lies
    midway between the eyes, 0 from half an eye distance to one side (a profile); 1 where there
    are no landmarks."""
    yaw = np.array([head_pose(v)[0] for v in landmarks], float).reshape(-1)
    return np.clip(1.0 - 2.0 * np.abs(yaw), 0.0, 1.0)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (m, 4) and b (n, 4), both (top, right, bottom, left): (m, n)."""
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    left = np.maximum(a[:, None, 3], b[None, :, 3])
    right = np.minimum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 1] - a[:, 3])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 1] - b[:, 3])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
