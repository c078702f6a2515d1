"""Search by face: in which cached clips and run or batch folders a face appears, and when.

An index in the library file keeps, per clip, each person's mean face (plain embedding,
L2-normalised), their face ids and times. A search first brings the index up to date with the
places searched (a clip not indexed yet, or changed, is read and clustered once; one gone is
dropped), then compares the query with every indexed person of the same embedder in one
matrix product, so that it stays well under a second at a thousand clips.

Places: the extraction cache (its root, or its ``extract`` folder: every entry, clustered with
the default settings), a ``faceclust run`` folder or a ``batch`` folder (its clips' people as
written there; their embeddings are read from the cache entry that ``run.json`` names).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..cache import entry_folder, entry_key, load_entry
from ..embed import EmbedParams, thresholds
from ..errors import BadInput
from ..export import cluster_name
from ..folders import CLIPS_DIR, RUN_FILE, batch_runs, is_run, read_run
from ..table import FaceTable
from ..version import __version__
from .faces import ensure_vectors, photo_exemplars
from .naming import person_means
from .store import Library, embedder_key, embedder_label, from_blob, to_blob

log = logging.getLogger(__name__)

#: Sampled times of a person closer than this (s) are one appearance in a search result.
APPEARANCE_GAP_S = 2.0
RESULT_COLUMNS = [
    "clip",
    "person",
    "known_as",
    "distance",
    "match",
    "embedder",
    "settings",
    "appearances",
    "first_t_sec",
    "last_t_sec",
    "thumb",
    "place",
    "entry",
]


@dataclass(frozen=True)
class Place:
    """Something to index: ``source`` (a cache entry folder or a run folder), ``stamp`` (changes
    when its content does) and ``kind`` (``entry`` or ``run``)."""

    source: str
    stamp: str
    kind: str


def places(paths: list[str | Path]) -> list[Place]:
    """The indexable places under ``paths``: run folders, batch folders (their clips' runs), and
    otherwise extraction caches (their ``extract`` folder, or the folder itself, holding
    entries). BadInput for a path that is not a folder."""
    found = []
    for path in map(Path, paths):
        if is_run(path):
            runs = [path]
        elif (path / CLIPS_DIR).is_dir():
            runs = batch_runs(path)
        elif path.is_dir():
            runs = []
        else:
            raise BadInput(f"no such folder: {path} (an extraction cache, a run folder or a batch folder)")
        for run in runs:
            stat = (run / RUN_FILE).stat()
            found.append(Place(str(run.resolve()), f"{stat.st_mtime_ns}-{stat.st_size}", "run"))
        if not runs:
            entries = (path / "extract" if (path / "extract").is_dir() else path).resolve()
            found += [
                Place(str(e), __version__, "entry")  # entries never change; their clustering may
                for e in sorted(entries.iterdir())
                if not e.name.startswith(".") and (e / "meta.json").is_file()
            ]
    return found


#: A cache entry's faces and meta -> their labels (N,) at the default settings
#: (``pipeline.entry_labels``: the pipeline sits above the library, so it is handed down).
LabelsOf = Callable[[FaceTable, dict], np.ndarray]


def _people_of(
    place: Place, labels_of: LabelsOf
) -> tuple[dict, list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], str, str]:
    """(embed params, [(person, mean vector, face ids, times)], clip (the user's name for an
    upload, else its path), cache entry folder) of a place; BadInput where it cannot be read."""
    if place.kind == "run":
        run = Path(place.source)
        info, table = read_run(run, ["face_id", "cluster"])
        meta = info["clip"]
        folder = entry_folder(entry_key(meta["hash"], meta["params"], meta["feature_version"]))
    else:
        folder = Path(place.source)
    loaded = load_entry(folder)
    if loaded is None:
        raise BadInput(f"{place.source}: its cache entry {folder} is gone or damaged; run the clip again")
    faces, meta = loaded
    if place.kind == "run":
        by_id = dict(zip(table["face_id"], table["cluster"], strict=True))
        labels = np.array([by_id.get(f, -1) for f in faces.table["face_id"]], int)
    else:
        labels = labels_of(faces, meta)
    people, means = person_means(faces.face_embedding, labels)
    ids, times = faces.table["face_id"].to_numpy(), faces.table["t_sec"].to_numpy()
    rows = [(cluster_name(c), means[k], ids[labels == c], times[labels == c]) for k, c in enumerate(people)]
    return meta["params"]["embed"], rows, meta.get("name") or meta["path"], str(folder)


def index(library: Library, place: Place, embed: dict, people: list, clip: str, entry: str) -> None:
    """Put ``place``'s people into the index (replacing what it held of it)."""
    with library.writing() as db:
        db.execute("DELETE FROM clips WHERE source = ?", (place.source,))
        row = db.execute(
            "INSERT INTO clips (source, stamp, clip, embedder, embed, entry) VALUES (?, ?, ?, ?, ?, ?)",
            (place.source, place.stamp, clip, embedder_key(embed), json.dumps(embed), entry),
        ).lastrowid
        db.executemany(
            "INSERT INTO clip_people (clip, person, vector, face_ids, times) VALUES (?, ?, ?, ?, ?)",
            [
                (row, name, to_blob(mean), np.asarray(ids, np.int64).tobytes(), to_blob(times))
                for name, mean, ids, times in people
            ],
        )


def refresh(library: Library, found: list[Place], labels_of: LabelsOf) -> list[str]:
    """Bring the index up to date with the places ``found``: new or changed ones read and
    indexed (cache entries clustered by ``labels_of``), indexed places that no longer exist
    dropped; returns one line for each place that could not be read."""
    known = dict(library.db.execute("SELECT source, stamp FROM clips").fetchall())
    gone = [(source,) for source in known if not Path(source).exists()]
    if gone:
        with library.writing() as db:
            db.executemany("DELETE FROM clips WHERE source = ?", gone)
    problems = []
    for place in found:
        if known.get(place.source) == place.stamp:
            continue
        try:
            embed, people, clip, entry = _people_of(place, labels_of)
        except BadInput as e:
            problems.append(str(e))
            continue
        index(library, place, embed, people, clip, entry)
    return problems


def indexed_embedders(library: Library, found: list[Place]) -> dict[str, dict]:
    """Embedder key -> resolved embed params of the clips indexed among ``found``."""
    sources = {p.source for p in found}
    rows = library.db.execute("SELECT source, embedder, embed FROM clips").fetchall()
    return {key: json.loads(embed) for source, key, embed in rows if source in sources}


def appearances(times: np.ndarray) -> list[tuple[float, float]]:
    """Sampled times (s) joined where closer than ``APPEARANCE_GAP_S``: (start, end) spans."""
    if not len(times):
        return []
    times = np.sort(times)
    breaks = np.flatnonzero(np.diff(times) > APPEARANCE_GAP_S)
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, len(times) - 1]
    return [(float(times[a]), float(times[b])) for a, b in zip(starts, ends, strict=True)]


def search(library: Library, queries: dict[str, np.ndarray], found: list[Place]) -> pd.DataFrame:
    """Indexed people among ``found`` within their embedder's ``search_distance`` of a query.

    queries: embedder key -> (D,) L2-normalised query vector. Returns ``RESULT_COLUMNS``, one row
    per (place, person), nearest first: ``match`` ``likely`` within the embedder's
    ``name_distance`` (what names a clip's person after the library), else ``possible`` (a
    person's mean face drifts from one photo of them over a long clip); ``known_as`` the
    library person nearest them (within ``name_distance``), ``embedder`` its name
    (``embedder_label``), ``settings`` the extraction's other settings in a few words (one clip
    extracted twice is two places; a cache entry is left out where a run or batch made from it
    has a hit), ``appearances`` as "a-b s" spans, ``thumb`` the path of their first
    face's thumbnail, ``entry`` the cache entry folder their faces are read from.
    """
    sources = {p.source for p in found}
    results = []
    for key, query in queries.items():
        label = embedder_label(key)
        rows = library.db.execute(
            """SELECT p.rowid, c.source, c.embed, p.vector, c.entry FROM clip_people p
               JOIN clips c ON p.clip = c.id WHERE c.embedder = ?""",
            (key,),
        ).fetchall()
        rows = [r for r in rows if r[1] in sources]
        if not rows:
            continue
        vectors = np.vstack([from_blob(r[3]) for r in rows])
        distances = np.linalg.norm(vectors - query, axis=1)
        limits = thresholds(json.loads(rows[0][2])["embedder"])
        within = limits.name_distance
        names, prototypes = library.prototypes(key)
        hits = np.flatnonzero(distances <= limits.search_distance)
        found_in_runs = {Path(rows[k][4]).name for k in hits if rows[k][1] != rows[k][4]}
        for k in hits:
            if rows[k][1] == rows[k][4] and Path(rows[k][4]).name in found_in_runs:
                continue  # the cache entry a run found here was made from: the run says it
            known = ""
            if names:
                apart = np.linalg.norm(prototypes - vectors[k], axis=1)
                known = names[int(apart.argmin())] if apart.min() <= within else ""
            match = "likely" if distances[k] <= within else "possible"
            results.append(
                {
                    **_result(library, rows[k][0], float(distances[k]), known),
                    "match": match,
                    "embedder": label,
                }
            )
    table = pd.DataFrame(results, columns=RESULT_COLUMNS)
    return table.sort_values("distance", kind="stable").reset_index(drop=True)


def _result(library: Library, row: int, distance: float, known_as: str) -> dict:
    """A search result (``RESULT_COLUMNS`` but ``match`` and ``embedder``) of the indexed person
    at ``row``; ``known_as``: the library's name for them ("" where none is near enough)."""
    source, clip, entry, person, ids, times = library.db.execute(
        """SELECT c.source, c.clip, c.entry, p.person, p.face_ids, p.times
           FROM clip_people p JOIN clips c ON p.clip = c.id WHERE p.rowid = ?""",
        (row,),
    ).fetchone()
    times, ids = from_blob(times), np.frombuffer(ids, np.int64)
    return {
        "clip": Path(clip).name,
        "person": person,
        "known_as": known_as,
        "distance": round(distance, 4),
        "settings": _settings(Path(entry)),
        "appearances": ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in appearances(times)),
        "first_t_sec": float(times.min()),
        "last_t_sec": float(times.max()),
        "thumb": str(Path(entry) / "thumbs" / f"{ids[np.argmin(times)]}.jpg"),
        "place": source,
        "entry": entry,
    }


def _settings(entry: Path) -> str:
    """The settings that made the cache entry ``entry`` besides its embedder, in a few words
    ("step 15, yunet, SR fsrcnn-small_x4"); "settings unknown" where its entry is gone."""
    try:
        params = json.loads((entry / "meta.json").read_text())["params"]
        sampling = params["sampling"]
        cheap = ", cheap frames" if sampling.get("frames") == "cheap" else ""
        return f"step {sampling['step']}{cheap}, {params['detect']['detector']}, SR {params['sr']['method']}"
    except (OSError, ValueError, KeyError):
        return "settings unknown"


def query_vectors(
    library: Library, embeds: dict[str, dict], photo: str | Path | None, person: str | None
) -> tuple[dict, bytes | None]:
    """The query for each embedder key of ``embeds``: the largest face of ``photo`` described by
    that embedder, or the library ``person``'s prototype; and that face (JPEG bytes, with some
    margin; None for a person), to show which of a photo's faces was searched for. BadInput
    where there is no face."""
    if photo is not None:
        params = [EmbedParams(**embed) for embed in embeds.values()]
        exemplars, problems = photo_exemplars([photo], params)
        if not exemplars:
            raise BadInput(problems[0])
        return exemplars[0].vectors, exemplars[0].image
    queries = {}
    for key, embed in embeds.items():
        ensure_vectors(library, EmbedParams(**embed))
        names, prototypes = library.prototypes(key)
        if person in names:
            queries[key] = prototypes[names.index(person)]
    if not queries and person not in set(library.people()["name"]):
        raise BadInput(f"no one named {person!r} in the library {library.path}")
    return queries, None
