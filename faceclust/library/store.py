"""The library's one SQLite file: people, their exemplar faces and embeddings, remembered
rejections, and the search index of clips' people.

- Path: ``FACECLUST_LIBRARY``, default ``$XDG_DATA_HOME/faceclust/library.sqlite``
  (``~/.local/share/faceclust/library.sqlite``). Created ``0600`` in a ``0700`` folder: it holds
  biometric data. SQLite gives its journal the same mode.
- Schema versioned by ``PRAGMA user_version``; ``MIGRATIONS[k]`` takes a file from version k to
  k + 1, all in the transaction that opens it. A file from a newer faceclust is refused.
- Every write is one ``BEGIN IMMEDIATE`` transaction (a second process waits up to
  ``BUSY_S``), in the rollback-journal mode: a write killed half-way is rolled back by the next
  reader. ``secure_delete`` overwrites what is deleted, so a removed person leaves no bytes.
- Embeddings are kept per embedder key (``embedder_key``): vectors of two models are never
  compared.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..embed import EMBEDDER_KINDS
from ..errors import BadInput
from ..models import file_sha256, model_dirs

#: Seconds a writer waits for another process's transaction before it gives up.
BUSY_S = 60.0

#: Statements that take a library from version k (the index) to k + 1.
MIGRATIONS = [
    [
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            notes TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL)""",
        """CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            image BLOB NOT NULL,
            source TEXT NOT NULL,
            added REAL NOT NULL)""",
        "CREATE INDEX faces_person ON faces(person)",
        """CREATE TABLE embeddings (
            face INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            embedder TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (face, embedder))""",
    ],
    [
        """CREATE TABLE rejections (
            clip TEXT NOT NULL,
            person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            faces BLOB NOT NULL)""",
        "CREATE INDEX rejections_clip ON rejections(clip)",
        """CREATE TABLE clips (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL UNIQUE,
            stamp TEXT NOT NULL,
            clip TEXT NOT NULL,
            embedder TEXT NOT NULL,
            embed TEXT NOT NULL,
            entry TEXT NOT NULL)""",
        """CREATE TABLE clip_people (
            clip INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
            person TEXT NOT NULL,
            vector BLOB NOT NULL,
            face_ids BLOB NOT NULL,
            times BLOB NOT NULL)""",
        "CREATE INDEX clip_people_clip ON clip_people(clip)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def library_path() -> Path:
    """``FACECLUST_LIBRARY``, default ``$XDG_DATA_HOME/faceclust/library.sqlite``."""
    if os.environ.get("FACECLUST_LIBRARY"):
        return Path(os.environ["FACECLUST_LIBRARY"]).expanduser()
    data = Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser()
    return data / "faceclust" / "library.sqlite"


def embedder_key(embed: dict) -> str:
    """What a library files an embedding under: ``dlib``, or the model family and the first 16
    hex digits of the model file's sha256 (``sface:…``, ``onnx:…``), so the same model matches
    wherever its file lies. embed: a resolved ``EmbedParams`` as a dict (``run.json``, meta)."""
    name = embed["embedder"]
    if name == "dlib":
        return "dlib"
    return f"{'sface' if name == 'sface' else 'onnx'}:{embed['model_sha256'][:16]}"


def embedder_label(key: str) -> str:
    """An ``embedder_key`` as a person reads it: ``dlib``, ``SFace``, or the ONNX model's file
    name where a file with that sha256 lies in the models folders (``model_dirs``), else
    ``ONNX model`` and the first 8 hex digits of its sha256."""
    family, _, digest = key.partition(":")
    if family != "onnx":
        return EMBEDDER_KINDS[family].title
    for folder in model_dirs():
        for path in sorted(folder.glob("*.onnx")) if folder.is_dir() else []:
            stat = path.stat()
            if _sha256_of(path, stat.st_size, stat.st_mtime_ns).startswith(digest):
                return path.name
    return f"{EMBEDDER_KINDS['onnx'].title} {digest[:8]}"


@cache
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    """``file_sha256``, once per version of a file (its size and time are part of the key)."""
    return file_sha256(path)


def to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, np.float32)


@dataclass
class Exemplar:
    """One face to keep for a person: ``image`` (JPEG bytes of the face with some margin),
    ``vectors`` (embedder key -> L2-normalised (D,) float32), ``source`` (where it came from)."""

    image: bytes
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""


def _private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by its owner only, or make it so."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


class Library:
    """A library file, open. Use as a context manager or ``close()`` it.

    path: the file (default ``library_path()``); created with the current schema when missing.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else library_path()
        try:
            _private_file(self.path)
            self.db = sqlite3.connect(self.path, timeout=BUSY_S, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA secure_delete = ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise BadInput(f"{self.path} is not a faceclust library ({e})") from None
        except OSError as e:
            raise BadInput(f"cannot open the library {self.path} ({e.strerror or e})") from None

    def _migrate(self) -> None:
        """Bring the file to ``SCHEMA_VERSION`` (a write transaction only where it is behind)."""
        if self.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self.writing() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise BadInput(
                    f"{self.path} was written by a newer faceclust (schema {version}, this one "
                    f"reads up to {SCHEMA_VERSION}); upgrade faceclust"
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # People -----------------------------------------------------------------------------

    def _person(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM people WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise BadInput(f"no one named {name!r} in the library {self.path}")
        return row[0]

    def people(self) -> pd.DataFrame:
        """One row per person, by name: ``name``, ``notes``, ``faces`` (exemplars kept),
        ``embedders`` (keys with vectors, comma-separated)."""
        rows = self.db.execute(
            """SELECT p.name, p.notes, COUNT(DISTINCT f.id),
                      COALESCE(GROUP_CONCAT(DISTINCT e.embedder), '')
               FROM people p LEFT JOIN faces f ON f.person = p.id
               LEFT JOIN embeddings e ON e.face = f.id
               GROUP BY p.id ORDER BY p.name COLLATE NOCASE"""
        ).fetchall()
        return pd.DataFrame(rows, columns=["name", "notes", "faces", "embedders"])

    def add(self, name: str, exemplars: list[Exemplar], notes: str | None = None) -> int:
        """Add ``exemplars`` to the person ``name`` (created when new; names are compared
        without case); returns how many faces they now have. notes: replace theirs when given."""
        name = name.strip()
        if not name:
            raise BadInput("a person needs a name")
        now = time.time()
        with self.writing() as db:
            db.execute(
                "INSERT INTO people (name, notes, created) VALUES (?, '', ?) ON CONFLICT(name) DO NOTHING",
                (name, now),
            )
            person = self._person(name)
            if notes is not None:
                db.execute("UPDATE people SET notes = ? WHERE id = ?", (notes, person))
            for exemplar in exemplars:
                face = db.execute(
                    "INSERT INTO faces (person, image, source, added) VALUES (?, ?, ?, ?)",
                    (person, exemplar.image, exemplar.source, now),
                ).lastrowid
                db.executemany(
                    "INSERT INTO embeddings (face, embedder, vector) VALUES (?, ?, ?)",
                    [(face, key, to_blob(v)) for key, v in exemplar.vectors.items()],
                )
            return db.execute("SELECT COUNT(*) FROM faces WHERE person = ?", (person,)).fetchone()[0]

    def rename(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise BadInput("a person needs a name")
        with self.writing() as db:
            person = self._person(old)
            try:
                db.execute("UPDATE people SET name = ? WHERE id = ?", (new, person))
            except sqlite3.IntegrityError:
                raise BadInput(f"the library already has someone named {new!r}") from None

    def set_notes(self, name: str, notes: str) -> None:
        with self.writing() as db:
            db.execute("UPDATE people SET notes = ? WHERE id = ?", (notes, self._person(name)))

    def remove(self, name: str) -> None:
        """Delete the person, their faces, embeddings and rejections; the freed pages are
        overwritten (``secure_delete``), so no byte of them stays in the file."""
        with self.writing() as db:
            db.execute("DELETE FROM people WHERE id = ?", (self._person(name),))

    def images(self, name: str) -> list[bytes]:
        """The person's exemplar faces (JPEG bytes), oldest first."""
        rows = self.db.execute(
            "SELECT image FROM faces WHERE person = ? ORDER BY id", (self._person(name),)
        ).fetchall()
        return [row[0] for row in rows]

    def missing(self, key: str) -> list[tuple[int, bytes]]:
        """(face id, image) of the exemplars with no vector of embedder ``key``."""
        return self.db.execute(
            """SELECT id, image FROM faces WHERE id NOT IN
               (SELECT face FROM embeddings WHERE embedder = ?) ORDER BY id""",
            (key,),
        ).fetchall()

    def add_vectors(self, key: str, vectors: dict[int, np.ndarray]) -> None:
        """Store vectors of embedder ``key`` for exemplars (face id -> (D,))."""
        with self.writing() as db:
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (face, embedder, vector) VALUES (?, ?, ?)",
                [(face, key, to_blob(v)) for face, v in vectors.items()],
            )

    def prototypes(self, key: str) -> tuple[list[str], np.ndarray]:
        """Each person with vectors of embedder ``key``: their names and their prototypes
        (K, D) float32, the L2-normalised mean of their exemplars' vectors."""
        rows = self.db.execute(
            """SELECT p.name, e.vector FROM embeddings e JOIN faces f ON e.face = f.id
               JOIN people p ON f.person = p.id WHERE e.embedder = ? ORDER BY p.name, f.id""",
            (key,),
        ).fetchall()
        names = sorted({name for name, _ in rows}, key=str.lower)
        if not names:
            return [], np.zeros((0, 0), np.float32)
        sums: dict[str, np.ndarray] = {}
        for name, blob in rows:
            sums[name] = sums.get(name, 0) + from_blob(blob)
        means = np.vstack([sums[n] for n in names])
        return names, (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)

    # Rejections ---------------------------------------------------------------------------

    def reject(self, clip: str, name: str, face_ids: np.ndarray) -> None:
        """Remember that the faces ``face_ids`` of clip ``clip`` (its content hash) are not
        ``name``: they are not named so again."""
        with self.writing() as db:
            db.execute(
                "INSERT INTO rejections (clip, person, faces) VALUES (?, ?, ?)",
                (clip, self._person(name), np.asarray(face_ids, np.int64).tobytes()),
            )

    def rejections(self, clip: str) -> list[tuple[str, np.ndarray]]:
        """(name, face ids) of each rejection remembered for clip ``clip``."""
        rows = self.db.execute(
            "SELECT p.name, r.faces FROM rejections r JOIN people p ON r.person = p.id WHERE r.clip = ?",
            (clip,),
        ).fetchall()
        return [(name, np.frombuffer(blob, np.int64)) for name, blob in rows]

    # Moving a library ---------------------------------------------------------------------

    def export(self, target: str | Path) -> None:
        """The people, their faces and embeddings as one SQLite file ``target`` (created
        ``0600``; the search index and rejections, which belong to this machine's clips, stay)."""
        target = Path(target)
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        _private_file(partial)
        try:
            copy = sqlite3.connect(partial)
            self.db.backup(copy)
            copy.execute("PRAGMA secure_delete = ON")
            copy.executescript("DELETE FROM rejections; DELETE FROM clip_people; DELETE FROM clips;")
            copy.execute("VACUUM")
            copy.close()
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def import_(self, source: str | Path) -> int:
        """Add the people of an exported library file (a person with a name already here gets
        the faces this one lacks); returns the faces added."""
        with Library(source) as other:
            people = other.db.execute("SELECT id, name, notes FROM people").fetchall()
            added = 0
            known = set(self.people()["name"].str.lower())
            for person, name, notes in people:
                ours = set(self.images(name)) if name.lower() in known else set()
                exemplars = []
                for face, image, source_ in other.db.execute(
                    "SELECT id, image, source FROM faces WHERE person = ? ORDER BY id", (person,)
                ).fetchall():
                    if image in ours:
                        continue
                    vectors = other.db.execute(
                        "SELECT embedder, vector FROM embeddings WHERE face = ?", (face,)
                    ).fetchall()
                    exemplars.append(Exemplar(image, {k: from_blob(v) for k, v in vectors}, source_))
                self.add(name, exemplars, notes or None)
                added += len(exemplars)
        return added
