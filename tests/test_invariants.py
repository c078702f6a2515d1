"""Two faces seen in one frame are two people, in every output: every labelled clip, both
embedders, every algorithm over a grid of eps (not only the defaults), the leftover rule, the
track rules, a person split again, and series linking."""

import numpy as np
import pytest

import faceclust as fc
from faceclust.batch import ClipPeople, link_people
from faceclust.evaluate import same_frame_violations
from faceclust.ranges import EPS

LABELLED = ["multi_face.avi", "short_hamilton_clip.mp4", "mudo_variety.mp4", "song_kbs_interview.mp4"]
EPS_STEPS = 9


@pytest.fixture(scope="module", params=["dlib", "test model"])
def labelled(request, data, test_model):
    """Each labelled clip's default extraction with one embedder."""
    embed = fc.EmbedParams("dlib" if request.param == "dlib" else test_model)
    params = fc.ExtractParams(embed=embed)
    return {name: fc.extract(data / "clips" / name, params, workers=2) for name in LABELLED}


def _pairs(extraction: fc.Extraction, labels: np.ndarray) -> int:
    return same_frame_violations(extraction.faces.table.assign(cluster=labels))


@pytest.mark.parametrize("name", LABELLED)
def test_no_two_faces_of_a_frame_are_one_person_at_any_eps(labelled, name):
    extraction = labelled[name]
    low, high = extraction.thresholds.eps_range
    for algorithm in fc.ALGORITHMS:
        for eps in np.linspace(low, high, EPS_STEPS).round(2):
            for weight in (0.0, 0.2, 0.5):
                params = fc.ClusterParams(algorithm, weight, float(eps))
                assert _pairs(extraction, fc.cluster(extraction, params)) == 0, (algorithm, eps, weight)


@pytest.mark.parametrize("name", LABELLED)
def test_a_person_split_again_keeps_faces_of_a_frame_apart(labelled, name):
    extraction = labelled[name]
    params = extraction.resolve(fc.ClusterParams())
    labels = fc.cluster(extraction, params)
    for person in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == person)
        parts = np.full(len(labels), -1)
        parts[members] = extraction.split(members, params)
        assert _pairs(extraction, parts) == 0, person


def test_series_linking_never_joins_two_people_of_one_clip(labelled):
    """Every clip's people linked at the largest eps: each identity holds at most one person
    of a clip."""
    clips = []
    for name, extraction in labelled.items():
        labels = fc.cluster(extraction)
        people = np.unique(labels[labels >= 0])
        means = np.array([extraction.faces.face_embedding[labels == p].mean(axis=0) for p in people])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        clips.append(ClipPeople(name, name, None, means.astype(np.float32)))
    identities = link_people(clips, EPS.high)
    clip_of = np.repeat(np.arange(len(clips)), [len(c.means) for c in clips])
    linked = identities >= 0
    assert len(set(zip(identities[linked], clip_of[linked], strict=True))) == linked.sum()
