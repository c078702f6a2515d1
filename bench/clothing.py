"""Which clothing descriptor? Measured on the labelled clips' faces (default extraction).

For each descriptor: how well clothing distance alone separates same-person from
different-person pairs (ROC AUC), how far a 30 % darker copy of the same region moves
(lighting robustness, in units of the median different-person distance), and the BCubed F of
the default clustering using that descriptor, and the best BCubed F over a weight x eps grid.

    .venv/bin/python bench/clothing.py
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

import faceclust as fc
from faceclust.features import CLOTH_DESCRIPTORS, FeatureParams, clothing_feature
from faceclust.table import CLOTH_BOX
from faceclust.video import iter_frames

from common import DATA, LABELLED, identities, score, table

SWEEP = [fc.ClusterParams(weight=w, eps=e) for w in (0.1, 0.2, 0.3, 0.5) for e in (0.4, 0.5, 0.6)]


def describe(extraction: fc.Extraction, name: str, params: FeatureParams) -> tuple[np.ndarray, np.ndarray]:
    """Clothing features of every face with a clothing box, and of its 30 % darker copy."""
    table_ = extraction.faces.table
    step = extraction.meta["params"]["sampling"]["step"]
    k = len(clothing_feature(np.zeros((8, 8, 3), np.uint8), (0, 8, 8, 0), params))
    plain, dark = np.zeros((len(table_), k), np.float32), np.zeros((len(table_), k), np.float32)
    rows = table_.groupby("frame_index").indices
    for frame in iter_frames(DATA / "clips" / name, step):
        for i in rows.get(frame.index, []):
            box = table_.loc[i, CLOTH_BOX]
            if box.isna().any():
                continue
            box = tuple(int(v) for v in box)
            plain[i] = clothing_feature(frame.image, box, params)
            dark[i] = clothing_feature(cv2.convertScaleAbs(frame.image, alpha=0.7), box, params)
    return plain, dark


def main() -> None:
    rows = []
    for name in LABELLED:
        extraction = fc.extract(DATA / "clips" / name)
        ids = identities(extraction.faces.table, name)
        has = extraction.faces.has_cloth & (ids != None)  # noqa: E711 - object array
        for descriptor in CLOTH_DESCRIPTORS:
            params = FeatureParams(cloth_descriptor=descriptor)
            plain, dark = describe(extraction, name, params)
            idx = np.flatnonzero(has)
            d = np.linalg.norm(plain[idx, None] - plain[None, idx], axis=2)
            same = ids[idx][:, None] == ids[idx][None, :]
            upper = np.triu(np.ones_like(same), 1)
            auc = roc_auc_score(same[upper], -d[upper])
            shift = np.median(np.linalg.norm(plain[idx] - dark[idx], axis=1)) / np.median(d[upper & ~same])
            faces = replace(extraction.faces, cloth_feature=plain)
            swapped = fc.Extraction(faces, extraction.meta, True)
            best = max(
                ((score(swapped, name, p)["bcubed_f"], p.weight, p.eps) for p in SWEEP), key=lambda r: r[0]
            )
            rows.append(
                {
                    "clip": name,
                    "descriptor": descriptor,
                    "same/different AUC": float(auc),
                    "30% darker shift": float(shift),
                    "BCubed F, defaults": score(swapped, name, fc.ClusterParams())["bcubed_f"],
                    "best BCubed F (weight, eps)": "{:.3f} ({}, {})".format(*best),
                }
            )
    print(table(rows))


if __name__ == "__main__":
    main()
