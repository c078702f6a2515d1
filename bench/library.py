"""The library of known people: naming on the photo sets, naming clips, search speed.

1. Photo sets (``kpop_idols_photos``, ``kpop_idols_crops``, ``lfw_deepfunneled_subset``), per
   embedder: each person added with their first 5 photos (``faceclust.library``'s own
   ``photo_exemplars`` and ``Library.add``), each of their other photos then named (nearest
   prototype within ``name_distance``). Rank-1: the nearest prototype is theirs (no threshold).
   Named right / false name: at the embedder's ``name_distance``, with everyone enrolled
   (closed set) and with the photo's own person left out of the library (open set: any name is
   false). The sweep lines give, per embedder, the largest threshold whose false-name rate stays
   at most 1 % on every set, closed and open: where ``name_distance`` comes from; and at most
   10 %: where ``search_distance`` (a search's "possible" band) comes from.
2. ``--search N``: a search by photo over N synthetic indexed clips (5 people each), the index
   already built, median of 20 searches.

    .venv/bin/python bench/library.py [--search 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

import faceclust as fc
from faceclust.embed import thresholds
from faceclust.library import (
    Exemplar,
    Library,
    best_faces,
    clip_exemplars,
    name_people,
    photo_exemplars,
    search,
)
from faceclust.library.naming import person_means
from faceclust.library.store import embedder_key

from common import DATA, identities, table

EMBEDDERS = {"dlib": "dlib", "MobileFaceNet (test)": f"onnx:{DATA / 'models' / 'mobilefacenet_test.onnx'}"}
PHOTO_SETS = ["kpop_idols_photos", "kpop_idols_crops", "lfw_deepfunneled_subset"]
ENROLLED = 5
GRID = np.round(np.arange(0.0, 1.41, 0.01), 2)
#: False-name rates the sweep finds thresholds for: 1 % gives ``name_distance`` (a name given
#: unasked), 10 % ``search_distance`` (a "possible" search result, ranked below the likely ones).
FALSE_NAMES = (0.01, 0.10)


def described(name: str, embed: fc.EmbedParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every photo's vector (P, D), its person (P,) and whether it is one of the first
    ``ENROLLED`` of that person (P,)."""
    vectors, people, enrolled = [], [], []
    key = embedder_key({"embedder": embed.embedder, "model_sha256": embed.model_sha256})
    for folder in sorted(p for p in (DATA / "faces" / name).iterdir() if p.is_dir()):
        exemplars, _ = photo_exemplars([folder], [embed])
        vectors += [e.vectors[key] for e in exemplars]
        people += [folder.name] * len(exemplars)
        enrolled += [i < ENROLLED for i in range(len(exemplars))]
    return np.array(vectors), np.array(people), np.array(enrolled)


def naming_curves(vectors: np.ndarray, people: np.ndarray, enrolled: np.ndarray, key: str) -> dict:
    """Through a real library file: rank-1, and per threshold of ``GRID`` the closed-set named
    right and false-name rates and the open-set false-name rate."""
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library.sqlite") as library:
        for person in np.unique(people):
            own = np.flatnonzero((people == person) & enrolled)
            library.add(person, [Exemplar(b"", {key: vectors[i]}) for i in own])
        names, prototypes = library.prototypes(key)
    names = np.array(names)
    queries = ~enrolled
    distances = np.linalg.norm(vectors[queries][:, None] - prototypes[None], axis=2)
    truth = people[queries]
    nearest = distances.argmin(axis=1)
    right = names[nearest] == truth
    closest = distances[np.arange(len(truth)), nearest]
    others = np.where(names[None] == truth[:, None], np.inf, distances).min(axis=1)  # own person left out
    return {
        "queries": int(queries.sum()),
        "rank-1": float(right.mean()),
        "named right": np.array([(right & (closest <= t)).mean() for t in GRID]),
        "false (closed)": np.array([(~right & (closest <= t)).mean() for t in GRID]),
        "false (open)": np.array([(others <= t).mean() for t in GRID]),
    }


def photo_rows() -> list[dict]:
    rows, sweep = [], []
    for title, name in EMBEDDERS.items():
        embed = fc.EmbedParams(name).resolved()
        key = embedder_key({"embedder": embed.embedder, "model_sha256": embed.model_sha256})
        within = thresholds(embed.embedder).name_distance
        at = int(np.argmin(np.abs(GRID - within)))
        safe = {level: np.ones(len(GRID), bool) for level in FALSE_NAMES}
        curves_of = {}
        for photo_set in PHOTO_SETS:
            curves = curves_of[photo_set] = naming_curves(*described(photo_set, embed), key)
            for level, ok in safe.items():
                ok &= (curves["false (closed)"] <= level) & (curves["false (open)"] <= level)
            rows.append(
                {
                    "embedder": title,
                    "set": photo_set,
                    "queries": curves["queries"],
                    "rank-1": curves["rank-1"],
                    "name_distance": within,
                    "named right": float(curves["named right"][at]),
                    "false name (all enrolled)": float(curves["false (closed)"][at]),
                    "false name (own left out)": float(curves["false (open)"][at]),
                }
            )
        for level, ok in safe.items():
            best = int(np.flatnonzero(ok).max())
            sweep.append(
                {
                    "embedder": title,
                    "false names at most": f"{level:.0%}",
                    "largest threshold": float(GRID[best]),
                }
                | {
                    f"named right there, {name}": float(c["named right"][best])
                    for name, c in curves_of.items()
                }
            )
    return rows, sweep


#: Labelled clips named after a library filled from their own first part (seconds), and a clip
#: whose people none of them are.
ENROL_UNTIL_S = {"multi_face.avi": 8.0, "mudo_variety.mp4": 30.0}
STRANGERS = "short_hamilton_clip.mp4"


def clip_rows() -> list[dict]:
    """Per embedder and labelled clip: each labelled person added with their best faces
    (``best_faces``, as Save to library picks) of the clip's first ``ENROL_UNTIL_S`` seconds,
    then the whole clip's people (default clustering) named; a person is named right when the
    name is the identity most of their faces have. Then ``STRANGERS`` named with the same
    library: every name there is false."""
    rows = []
    for title, name in EMBEDDERS.items():
        params = fc.ExtractParams(embed=fc.EmbedParams(name))
        for clip, until in ENROL_UNTIL_S.items():
            extraction = fc.extract(DATA / "clips" / clip, params)
            faces = extraction.faces
            truth = identities(faces.table, clip)
            embed = extraction.meta["params"]["embed"]
            with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library.sqlite") as library:
                for who in sorted({t for t in truth if t not in (None, "ignore")}):
                    early = faces.table[(truth == who) & (faces.table["t_sec"] < until)]
                    if len(early):
                        library.add(who, clip_exemplars(faces, embed, best_faces(early), clip))
                labels = fc.cluster(extraction)
                named = name_people(
                    library, faces.face_embedding, labels, faces.table["face_id"].to_numpy(), embed, "x"
                )
                is_right = {c: pd.Series(truth[labels == c]).mode()[0] == m.name for c, m in named.items()}
                right = sum(is_right.values())
                strangers = fc.extract(DATA / "clips" / STRANGERS, params)
                stranger_labels = fc.cluster(strangers)
                other = name_people(
                    library,
                    strangers.faces.face_embedding,
                    stranger_labels,
                    strangers.faces.table["face_id"].to_numpy(),
                    strangers.meta["params"]["embed"],
                    "y",
                )
                _, prototypes = library.prototypes(embedder_key(embed))
                _, means = person_means(strangers.faces.face_embedding, stranger_labels)
                rows.append(
                    {
                        "embedder": title,
                        "clip": clip,
                        "added": f"{library.people().shape[0]} people, first {until:.0f} s",
                        "people found": int(labels.max() + 1),
                        "named": len(named),
                        "named right": right,
                        "named wrong": len(named) - right,
                        "farthest named": max(m.distance for c, m in named.items() if is_right[c]),
                        f"named in {STRANGERS}": len(other),
                        "nearest stranger": float(
                            np.linalg.norm(means[:, None] - prototypes[None], axis=2).min()
                        ),
                    }
                )
    return rows


def search_rows(clips: int, people: int = 5, faces: int = 100) -> list[dict]:
    """A search by one query over ``clips`` indexed synthetic cache entries of ``people``
    people (``faces`` sampled faces each, 128-d dlib-like vectors): the index brought up to date
    (nothing to do) and searched, as ``faceclust people search`` does; median of 20."""
    rng = np.random.default_rng(0)
    embed = {"embedder": "dlib", "num_jitters": 1, "model_sha256": None, "model_spec": None}
    with tempfile.TemporaryDirectory() as tmp, Library(Path(tmp) / "library.sqlite") as library:
        root = Path(tmp) / "extract"
        started = time.perf_counter()
        for k in range(clips):
            entry = root / f"{k:032x}"
            entry.mkdir(parents=True)
            (entry / "meta.json").write_text("{}")
        for place in search.places([root]):
            vectors = rng.normal(size=(people, 128)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            times = np.sort(rng.uniform(0, 2700, size=faces)).astype(np.float32)
            found = [(f"person_{p:02d}", vectors[p], np.arange(faces), times) for p in range(people)]
            search.index(library, place, embed, found, f"episode_{place.source[-6:]}.mp4", place.source)
        built = time.perf_counter() - started
        query = {"dlib": vectors[0]}
        seconds = []
        for _ in range(20):
            started = time.perf_counter()
            found_places = search.places([root])
            search.refresh(library, found_places, fc.entry_labels)
            results = search.search(library, query, found_places)
            seconds.append(time.perf_counter() - started)
        size = (Path(tmp) / "library.sqlite").stat().st_size
    return [
        {
            "clips": clips,
            "people indexed": clips * people,
            "index built (s)": built,
            "search (s, median of 20)": float(np.median(seconds)),
            "slowest (s)": max(seconds),
            "found": len(results),
            "library file (MB)": size / 1e6,
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--search", type=int, default=0, help="also time a search over N synthetic clips")
    parser.add_argument("--search-only", action="store_true", help="only the search timing")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if not args.search_only:
        rows, sweep = photo_rows()
        print(f"## Photo sets: {ENROLLED} photos of each person added, their other photos named\n")
        print(table(rows))
        print()
        print(table(sweep, "{:.2f}"))
        print("\n## Clips named after a library filled from their own first seconds\n")
        print(table(clip_rows()))
    if args.search:
        print(f"\n## Search over {args.search} synthetic indexed clips\n")
        print(table(search_rows(args.search)))


if __name__ == "__main__":
    main()
