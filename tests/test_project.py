import numpy as np
from sklearn.neighbors import NearestNeighbors

from faceclust.fuse import fused_distances
from faceclust.project import fused_vectors, project


def test_fused_vectors_reproduce_fused_distances_where_both_have_clothing():
    rng = np.random.default_rng(0)
    face = rng.normal(size=(6, 128)).astype(np.float32)
    face /= np.linalg.norm(face, axis=1, keepdims=True)
    cloth = rng.random((6, 8)).astype(np.float32)
    cloth /= np.linalg.norm(cloth, axis=1, keepdims=True)
    has = np.ones(6, bool)
    vectors = fused_vectors(face, cloth, has, 0.3)
    direct = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    assert np.allclose(direct, fused_distances(face, cloth, has, 0.3), atol=1e-4)


def test_projection_separates_people_and_is_repeatable(extractions):
    import faceclust as fc

    extraction = extractions["multi_face.avi"]
    faces = extraction.faces
    xy = project(faces.face_embedding)
    assert xy.shape == (len(faces.table), 2) and np.isfinite(xy).all()
    # People stay apart on the map: nearly every face's 5 nearest neighbours are of its person.
    labels = fc.cluster(extraction)
    _, near = NearestNeighbors(n_neighbors=6).fit(xy).kneighbors(xy)
    assert (labels[near[:, 1:]] == labels[:, None]).mean() > 0.95
    assert np.array_equal(xy, project(faces.face_embedding))
    assert project(faces.face_embedding[:2]).shape == (2, 2)
