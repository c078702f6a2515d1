"""Quality on every labelled clip with both embedders, beside the previous release's figures.

For each labelled clip x embedder (dlib, and the ArcFace-style test MobileFaceNet standing in
for SFace and the models users bring), at the defaults: BCubed F, precision and recall,
coverage, people found against labelled, and same-frame pairs (two faces of one frame given one
person: must be 0); the previous release's figure beside each (``quality_release.json``).
Judge a change on its worst clip. Then each clip's own evidence (same-person and
different-person distances, ``calibrate.Evidence``) with how often a face's own person is the
nearest in other shots (``across_shots``: what linking shots on faces can reach), how far
apart mixed and pure people's faces lie (``spreads``: why no card is flagged), and
leave-one-clip-out for the constant that sets eps from that evidence (the margin above the
different-person 5th percentile): the margin is chosen on the other clips (their worst F), and
the left-out clip's F at that margin is reported against the embedder's prior margin.

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


def leave_one_clip_out(by_clip: dict[str, fc.Extraction], prior_margin: float) -> list[dict]:
    """For each clip, the margin that maximises the worst F of the other clips (ties: nearest the
    prior), and the left-out clip's F at it and at the prior margin."""
    f = {name: [f_at_margin(e, name, m) for m in MARGINS] for name, e in by_clip.items()}
    rows = []
    for left_out in by_clip:
        worst = np.min([f[name] for name in by_clip if name != left_out], axis=0)
        best = np.flatnonzero(worst == worst.max())
        chosen = best[np.argmin(abs(MARGINS[best] - prior_margin))]
        prior = int(np.argmin(abs(MARGINS - prior_margin)))
        rows.append(
            {
                "left out": left_out,
                "margin chosen on the others": float(MARGINS[chosen]),
                "others' worst F": float(worst[chosen]),
                "left-out F": f[left_out][chosen],
                f"left-out F at the prior {prior_margin}": f[left_out][prior],
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
        margin = by_clip[EVERY_LABELLED[0]].thresholds.eps_margin
        loco += [{"embedder": title, **row} for row in leave_one_clip_out(by_clip, margin)]
    print("## Every labelled clip x embedder at the defaults: now (the previous release)\n")
    print(table(quality))
    print("\n## The clips' own evidence (face_vectors: the learned metric where there is one)\n")
    print(table(evidence))
    print("\n## Could a card say 'may be several people'? Spread / different-person p5 (people)\n")
    print(table(flags))
    print("\n## Leave one clip out: the eps margin chosen on the other clips\n")
    print(table(loco))
    if "--save" in sys.argv:
        RELEASE.write_text(json.dumps(now, indent=1) + "\n")


if __name__ == "__main__":
    main()
