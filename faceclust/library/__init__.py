"""Known people (SQLite): named once, matched in later clips, searched by photo.

``store``: the library file (people, exemplar faces, embeddings per embedder, rejections, the
search index); ``faces``: exemplars from photos and from a clip's person; ``naming``: a clip's
people named after the library; ``search``: where a face appears across cached clips and batches.
"""

from .faces import PHOTO_TYPES, best_faces, clip_exemplars, ensure_vectors, photo_exemplars, photo_files
from .naming import Match, name_people
from .store import Exemplar, Library, embedder_key, embedder_label, library_path

__all__ = [
    "PHOTO_TYPES",
    "Exemplar",
    "Library",
    "Match",
    "best_faces",
    "clip_exemplars",
    "embedder_key",
    "embedder_label",
    "ensure_vectors",
    "library_path",
    "name_people",
    "photo_exemplars",
    "photo_files",
]
