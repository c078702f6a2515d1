"""Quality on every labelled clip with both embedders, beside the previous release's figures.

For each labelled clip x embedder (dlib, and the ArcFace-style test MobileFaceNet standing in
for SFace and the models users bring), at the defaults: BCubed F, precision and recall,
coverage, people found against labelled, and same-frame pairs (two faces of one frame given one
person: must be 0); the previous release's figure beside each (``quality_release.json``).
Judge a change on its worst clip. Then each clip's own evidence (same-person and
different-person distances, ``calibrate.Evidence``) with how often a face's own person is the
nearest in other shots (``across_shots``: what linking shots on faces can reach), how far
apart mixed and pure people's faces lie (``spreads``: why no card is flagged), and
leave-one-clip-out for each constant the evidence does not set: the eps margin (above the
different-person 5th percentile), the leftover rule's margin and the track split distance (each
clip extracted again at each distance tried). Each is chosen on the other clips (their worst F)
and the left-out clip's F at that value is reported against the embedder's prior.

    .venv/bin/python bench/quality.py          # the tables
    .venv/bin/python bench/quality.py --save   # also keep these figures as the release's
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist

import faceclust as fc
from faceclust.calibrate import calibrated_eps

from common import DATA, EMBEDDERS, EVERY_LABELLED, identities, labels, table

RELEASE = Path(__file__).with_name("quality_release.json")
FIGURES = {"bcubed_f": "F", "bcubed_precision": "P", "bcubed_recall": "R", "coverage": "coverage"}
MARGINS = np.round(np.arange(0.0, 0.201, 0.02), 2)
#: The leftover rule's margins tried (None: leftovers stay unassigned).
LEFTOVER_MARGINS = [None, 0.0, 0.025, 0.05, 0.1, 0.2]
#: Track split distances tried, as shares of the embedder's; 2.0 (the largest distance between
#: unit vectors) never splits.
SPLIT_SHARES = [0.75, 0.875, 1.0, 1.125, 1.25]


def figures(extraction: fc.Extraction, name: str, params: fc.ClusterParams) -> dict:
    """The table's figures of one clip's extraction clustered at ``params``."""
    scored = labels(name)
    metrics = fc.evaluate(extraction.faces.table.assign(cluster=fc.cluster(extraction, params)), scored)
    return {
        **{short: round(metrics[key], 3) for key, short in FIGURES.items()},
        "people": metrics["clusters"],
        "labelled": int(scored.loc[scored["identity"] != "ignore", "identity"].nunique()),
        "same_frame": metrics["same_frame_violations"],
    }


def f_at_margin(extraction: fc.Extraction, name: str, margin: float) -> float:
    """BCubed F at the eps the evidence gives with ``margin`` (the prior eps without evidence)."""
    prior = replace(extraction.thresholds, eps_margin=float(margin))
    eps = calibrated_eps(extraction.evidence.different, prior) or prior.eps
    return figures(extraction, name, fc.ClusterParams(eps=eps))["F"]


def f_at_leftover_margin(extraction: fc.Extraction, name: str, margin: float | None) -> float:
    """BCubed F at the defaults with the leftover rule's ``margin`` (None: no leftover joins)."""
    clusterer, kept = extraction.clusterer, extraction.clusterer.attach
    apart = extraction.evidence.different
    clusterer.attach = None if margin is None else (margin, float(np.median(apart)) if len(apart) else 0.0)
    try:
        return figures(extraction, name, fc.ClusterParams())["F"]
    finally:
        clusterer.attach = kept


def split_distances(prior: float) -> list[float]:
    """The track split distances tried for an embedder whose prior is ``prior``."""
    return [round(prior * share, 3) for share in SPLIT_SHARES] + [2.0]


def f_at_split(name: str, embedder: str, distance: float) -> float:
    """BCubed F at the defaults of the clip extracted with tracks split at ``distance``."""
    params = fc.ExtractParams(embed=fc.EmbedParams(embedder), tracks=fc.TrackParams(split_distance=distance))
    return figures(fc.extract(DATA / "clips" / name, params, workers=2), name, fc.ClusterParams())["F"]


def leave_one_clip_out(constant: str, values: list, f: dict[str, list[float]], prior) -> list[dict]:
    """For each clip, the value of ``constant`` that maximises the worst F of the other clips
    (ties: the one nearest the prior in ``values``' order), and the left-out clip's F at it and
    at the prior. f: each clip's F at each of ``values``."""
    rows, at_prior = [], values.index(prior)
    for left_out in f:
        worst = np.min([f[name] for name in f if name != left_out], axis=0)
        best = np.flatnonzero(worst == worst.max())
        chosen = int(best[np.argmin(abs(best - at_prior))])
        rows.append(
            {
                "constant": constant,
                "left out": left_out,
                "chosen on the others": values[chosen],
                "others' worst F": float(worst[chosen]),
                "left-out F": f[left_out][chosen],
                "left-out F at the prior": f"{f[left_out][at_prior]:.3f} ({prior})",
            }
        )
    return rows


def across_shots(extraction: fc.Extraction, name: str) -> str:
    """How far the face alone carries a person from one shot to another: of the labelled encoded
    faces whose person also appears in another shot, the share whose nearest labelled person
    there (mean distance to that person's faces in the other shots, each face's own embedding)
    is their own. What no clustering rule on faces can beat when it links shots."""
    table = extraction.faces.table
    people, shots = identities(table, name), table["shot_id"].to_numpy()
    rows = np.flatnonzero(table["encoded"].to_numpy() & pd.notna(people))
    own = extraction.faces.own_embedding
    hits = []
    for row in rows:
        elsewhere = rows[shots[rows] != shots[row]]
        if people[row] not in set(people[elsewhere]):
            continue
        distance = np.linalg.norm(own[elsewhere] - own[row], axis=1)
        mean = {p: distance[people[elsewhere] == p].mean() for p in set(people[elsewhere])}
        hits.append(min(mean, key=mean.get) == people[row])
    return f"{np.mean(hits):.2f} of {len(hits)}" if hits else "-"


def spreads(extraction: fc.Extraction, name: str) -> dict:
    """Whether a "may be several people" flag could be read from a person's faces: each person's
    spread (the mean distance between their encoded faces' own embeddings, over the clip's
    different-person 5th percentile), for the people the labels call mixed (a second person with
    at least 2 faces and a tenth of them) and for the pure ones. Overlapping ranges: no flag."""
    labels, table = fc.cluster(extraction), extraction.faces.table
    people, encoded = identities(table, name), table["encoded"].to_numpy()
    scale = np.percentile(extraction.evidence.different, 5)
    found = {True: [], False: []}
    for person in range(labels.max() + 1):
        members = np.flatnonzero(labels == person)
        faces = members[encoded[members]]
        counts = pd.Series(people[members]).value_counts()
        if len(faces) >= 2 and len(counts):
            mixed = len(counts) > 1 and counts.iloc[1] >= max(2, 0.1 * counts.sum())
            found[mixed].append(pdist(extraction.faces.own_embedding[faces]).mean() / scale)

    def span(values: list) -> str:
        return f"{min(values):.2f}-{max(values):.2f} ({len(values)})" if values else "-"

    return {"mixed people's spread": span(found[True]), "pure people's spread": span(found[False])}


def _sample(part: dict) -> str:
    """One evidence sample of ``Evidence.summary`` in a cell: pairs; p5/p50/p95."""
    if not part["pairs"]:
        return "-"
    return f"{part['pairs']}; " + "/".join(str(part["quantiles"][q]) for q in ("p5", "p50", "p95"))


def main() -> None:
    release = json.loads(RELEASE.read_text()) if RELEASE.exists() else {}
    now, quality, evidence, loco, flags = {}, [], [], [], []
    for title, embedder in EMBEDDERS.items():
        params = fc.ExtractParams(embed=fc.EmbedParams(embedder))
        by_clip = {name: fc.extract(DATA / "clips" / name, params, workers=2) for name in EVERY_LABELLED}
        for name, extraction in by_clip.items():
            key = f"{name} | {title}"
            now[key] = figures(extraction, name, fc.ClusterParams())
            before = release.get(key, {})
            quality.append(
                {
                    "clip": name,
                    "embedder": title,
                    **{k: f"{v} ({before.get(k, '-')})" for k, v in now[key].items() if k != "labelled"},
                    "labelled people": now[key]["labelled"],
                }
            )
            flags.append({"clip": name, "embedder": title, **spreads(extraction, name)})
            summary = extraction.evidence.summary()
            evidence.append(
                {
                    "clip": name,
                    "embedder": title,
                    **{f"{kind.split('_')[0]} (p5/p50/p95)": _sample(p) for kind, p in summary.items()},
                    "eps": extraction.resolve(fc.ClusterParams()).eps,
                    "own person nearest across shots": across_shots(extraction, name),
                }
            )
        prior = by_clip[EVERY_LABELLED[0]].thresholds
        margins = [float(m) for m in MARGINS]
        f = {name: [f_at_margin(e, name, m) for m in margins] for name, e in by_clip.items()}
        rows = leave_one_clip_out("eps margin", margins, f, prior.eps_margin)
        f = {n: [f_at_leftover_margin(e, n, m) for m in LEFTOVER_MARGINS] for n, e in by_clip.items()}
        rows += leave_one_clip_out("leftover margin", LEFTOVER_MARGINS, f, prior.attach_margin)
        splits = split_distances(prior.split_distance)
        f = {name: [f_at_split(name, embedder, d) for d in splits] for name in by_clip}
        rows += leave_one_clip_out("split distance", splits, f, prior.split_distance)
        loco += [{"embedder": title, **row} for row in rows]
    print("## Every labelled clip x embedder at the defaults: now (the previous release)\n")
    print(table(quality))
    print("\n## The clips' own evidence (face_vectors: the learned metric where there is one)\n")
    print(table(evidence))
    print("\n## Could a card say 'may be several people'? Spread / different-person p5 (people)\n")
    print(table(flags))
    print("\n## Leave one clip out: each constant chosen on the other clips\n")
    print(table(loco))
    if "--save" in sys.argv:
        RELEASE.write_text(json.dumps(now, indent=1) + "\n")


if __name__ == "__main__":
    main()
