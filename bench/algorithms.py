"""Each clustering algorithm at the eps it starts from: BCubed F now (``Algorithm.eps_share`` of the
calibrated agglomerative eps) against before (agglomerative's eps for every algorithm) and the
best eps of a fine grid, on the labelled clips, with dlib and with the ArcFace-style test model.

    .venv/bin/python bench/algorithms.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import faceclust as fc

from common import DATA, score, table

CLIPS = ["multi_face.avi", "short_hamilton_clip.mp4", "mudo_variety.mp4"]
EMBEDDERS = {"dlib": "dlib", "MobileFaceNet": f"onnx:{DATA / 'models' / 'mobilefacenet_test.onnx'}"}


def bcubed(extraction: fc.Extraction, name: str, params: fc.ClusterParams) -> float:
    return score(extraction, name, params)["bcubed_f"]


def main() -> None:
    rows = []
    for label, embedder in EMBEDDERS.items():
        for name in CLIPS:
            extraction = fc.extract(DATA / "clips" / name, fc.ExtractParams(embed=fc.EmbedParams(embedder)))
            low, high = extraction.thresholds.eps_range
            before = extraction.resolve(fc.ClusterParams()).eps
            for algorithm in fc.ALGORITHMS:
                params = fc.ClusterParams(algorithm)
                now = extraction.resolve(params).eps
                f = {eps: bcubed(extraction, name, replace(params, eps=eps)) for eps in [now, before]}
                grid = np.round(np.arange(low, high + 1e-9, 0.01), 2)
                best = max((bcubed(extraction, name, replace(params, eps=float(e))), e) for e in grid)
                rows.append(
                    {
                        "embedder": label,
                        "clip": name,
                        "algorithm": algorithm,
                        "eps now": f"{now:.2f}",
                        "F now": f[now],
                        "eps before": f"{before:.2f}",
                        "F before": f[before],
                        "best F (eps)": f"{best[0]:.3f} ({best[1]:.2f})",
                    }
                )
                print(rows[-1], flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
