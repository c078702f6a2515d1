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


def test_layouts_are_kept_in_the_clip_s_cache_entry_and_read_back(extractions, monkeypatch):
    import faceclust as fc
    from faceclust import pipeline
    from faceclust.project import ProjectParams

    kept = extractions["short_hamilton_clip.mp4"]
    first = kept.layout(0.35)
    path = kept.faces.folder / "layouts" / f"fused_0.35_{ProjectParams().key}.npy"
    assert path.is_file() and first.shape == (len(kept.faces.table), 2)
    # A restarted server (a new Extraction of the same entry) reads it back without fitting UMAP.
    restarted = fc.Extraction(kept.faces, kept.meta, True)
    monkeypatch.setattr(pipeline, "project", lambda *a: (_ for _ in ()).throw(AssertionError("refit")))
    assert np.array_equal(restarted.layout(0.35), first)
    # A damaged file is fitted again (and the same seed gives the same layout).
    path.write_bytes(b"not a layout")
    monkeypatch.undo()
    assert np.array_equal(restarted.layout(0.35), first)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no partial files left
