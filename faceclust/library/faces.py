"""Faces for the library: from photos, from a clustered clip's person, and vectors of a new
embedder for the faces already kept.

Images are BGR uint8 (H, W, 3); a kept face is a JPEG of the face with half a face of margin
(``embed.face_crop``), from which any embedder can describe it again.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..detect import DetectParams, detect_faces
from ..embed import EmbedParams, FaceInput, embedder, face_crop
from ..errors import BadInput
from ..progress import Progress, no_progress
from ..superres import SRParams
from ..table import FaceTable, head_pose
from .store import Exemplar, Library, embedder_key

PHOTO_TYPES = ("jpg", "jpeg", "png", "webp", "bmp")
#: Faces "Save to library" keeps of a clip's person: the sharpest, spread over head poses.
EXEMPLARS = 8
#: Photos at most this many pixels on their longer side are tight crops: padded before
#: detection (YuNet wants room around a face).
TIGHT_CROP_PX = 200
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 92]


def photo_files(paths: list[str | Path]) -> list[Path]:
    """The photos named: files as given, folders searched (with their sub-folders) for
    ``PHOTO_TYPES``, in name order. BadInput for a path that does not exist or holds none."""
    photos = []
    for path in map(Path, paths):
        if path.is_dir():
            photos += sorted(p for p in path.rglob("*") if p.suffix.lower().lstrip(".") in PHOTO_TYPES)
        elif path.is_file():
            photos.append(path)
        else:
            raise BadInput(f"no such photo or folder: {path}")
    if not photos:
        raise BadInput("no photos found (folders are searched for " + ", ".join(PHOTO_TYPES) + ")")
    return photos


def largest_face(image: np.ndarray, detect: DetectParams) -> FaceInput | None:
    """The largest face of ``image`` cut out for an embedder (``face_crop``), or None."""
    if max(image.shape[:2]) <= TIGHT_CROP_PX:
        image = cv2.copyMakeBorder(image, *(image.shape[0] // 2,) * 4, cv2.BORDER_REPLICATE)
    found = detect_faces(image, detect)
    if not found:
        return None
    box, _, landmarks = max(found, key=lambda d: (d[0][2] - d[0][0]) * (d[0][1] - d[0][3]))
    return face_crop(image, box, landmarks)


def _describe(faces: list[FaceInput], embeds: list[EmbedParams]) -> list[dict[str, np.ndarray]]:
    """Each face's vector of every (resolved) embedder, by ``embedder_key``."""
    sr = SRParams().resolved()
    vectors: list[dict[str, np.ndarray]] = [{} for _ in faces]
    for params in embeds:
        key = embedder_key({"embedder": params.embedder, "model_sha256": params.model_sha256})
        for row, vector in zip(vectors, embedder(params).embed(faces, sr), strict=True):
            row[key] = vector
    return vectors


def photo_exemplars(
    paths: list[str | Path], embeds: list[EmbedParams], progress: Progress = no_progress
) -> tuple[list[Exemplar], list[str]]:
    """The largest face of each photo, described by every embedder of ``embeds`` (resolved);
    returns the exemplars and one line for each photo that gave none."""
    detect = DetectParams().resolved()
    faces, sources, problems = [], [], []
    photos = photo_files(paths)
    for done, photo in enumerate(photos, 1):
        image = cv2.imread(str(photo))
        face = None if image is None else largest_face(image, detect)
        if image is None:
            problems.append(f"{photo}: not a readable image")
        elif face is None:
            problems.append(f"{photo}: no face found")
        else:
            faces.append(face)
            sources.append(f"photo:{photo.name}")
        progress("photos", done, len(photos))
    vectors = _describe(faces, embeds) if faces else []
    exemplars = [
        Exemplar(cv2.imencode(".jpg", crop, _JPEG)[1].tobytes(), described, source)
        for (crop, _, _), described, source in zip(faces, vectors, sources, strict=True)
    ]
    return exemplars, problems


def best_faces(rows: pd.DataFrame, k: int = EXEMPLARS) -> list[int]:
    """Face ids of at most ``k`` of one person's faces (face table rows) worth keeping: among
    the sharpest half of those the embedder saw, the sharpest first, then each next one the
    farthest in head pose (``head_pose``) from those chosen."""
    seen = rows[rows["encoded"]] if rows["encoded"].any() else rows
    sharp = seen.sort_values("sharpness", ascending=False).head(max(k, (len(seen) + 1) // 2))
    poses = np.array([head_pose(v) for v in sharp["landmarks"]])
    chosen = [0]
    nearest = np.linalg.norm(poses - poses[0], axis=1)
    while len(chosen) < min(k, len(sharp)):
        far = int(np.argmax(nearest))
        if nearest[far] == 0:  # only copies of chosen poses left: take the sharpest of them
            far = next(i for i in range(len(sharp)) if i not in chosen)
        chosen.append(far)
        nearest = np.minimum(nearest, np.linalg.norm(poses - poses[far], axis=1))
        nearest[chosen] = -1
    return [int(sharp["face_id"].iloc[i]) for i in chosen]


def clip_exemplars(faces: FaceTable, embed: dict, face_ids: list[int], clip: str) -> list[Exemplar]:
    """Exemplars of faces ``face_ids`` of a clip's face table: each face's thumbnail and own
    embedding (the mean of its track where it was not encoded itself) under the clip's embedder
    (``embed``: its resolved ``EmbedParams`` as a dict)."""
    key = embedder_key(embed)
    row_of = {int(f): i for i, f in enumerate(faces.table["face_id"])}
    exemplars = []
    for face_id in face_ids:
        row = row_of[face_id]
        vector = faces.own_embedding[row] if faces.table["encoded"].iloc[row] else faces.face_embedding[row]
        image = faces.thumb_path(face_id).read_bytes()
        exemplars.append(Exemplar(image, {key: vector.astype(np.float32)}, f"clip:{clip}#{face_id}"))
    return exemplars


def ensure_vectors(library: Library, embed: EmbedParams) -> int:
    """Describe with ``embed`` (resolved) the library's faces that have no vector of it yet
    (kept faces are detected again in their image); returns how many were described."""
    key = embedder_key({"embedder": embed.embedder, "model_sha256": embed.model_sha256})
    missing = library.missing(key)
    if not missing:
        return 0
    detect = DetectParams().resolved()
    found = []
    for face, image in missing:
        decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        crop = None if decoded is None else largest_face(decoded, detect)
        if crop is not None:
            found.append((face, crop))
    if found:
        vectors = _describe([crop for _, crop in found], [embed])
        library.add_vectors(key, {face: v[key] for (face, _), v in zip(found, vectors, strict=True)})
    return len(found)
