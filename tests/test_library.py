"""The library of known people: the file (schema, privacy, concurrency, a killed write), naming
clips after it, search by photo, and the command line."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import faceclust as fc
from faceclust import dashboard
from faceclust.batch import run_batch
from faceclust.cache import cache_root
from faceclust.cli import main
from faceclust.evaluate import identities
from faceclust.library import Exemplar, Library, best_faces, clip_exemplars, name_people
from faceclust.library.store import MIGRATIONS, SCHEMA_VERSION

MOBILEFACENET = "onnx:{}"


def _exemplars(seed: int, k: int = 2, key: str = "test") -> list[Exemplar]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(k, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [Exemplar(rng.bytes(200), {key: v}, f"test:{seed}") for v in vectors]


def test_embedders_are_named_as_people_know_them(data, tmp_path, monkeypatch):
    """The Library said "described by dlib,onnx:d67b3057..."; a model in the models folders is
    named by its file, one elsewhere by its family and the start of its sha256."""
    from faceclust.library import embedder_label

    model = data / "models" / "mobilefacenet_test.onnx"
    key = fc.library.embedder_key({"embedder": f"onnx:{model}", "model_sha256": fc.models.file_sha256(model)})
    monkeypatch.setenv("FACECLUST_MODELS", str(model.parent))
    assert [embedder_label(k) for k in ("dlib", "sface:0123456789abcdef", key)] == [
        "dlib",
        "SFace",
        "mobilefacenet_test.onnx",
    ]
    monkeypatch.setenv("FACECLUST_MODELS", str(tmp_path))
    assert embedder_label(key) == "ONNX model d67b3057"


def test_an_older_library_is_migrated_and_a_newer_one_refused(tmp_path):
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO people (name, notes, created) VALUES ('Kept Person', 'from v1', 0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Library(old) as library:
        assert library.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert library.people()["notes"].tolist() == ["from v1"]
        library.reject("clip", "Kept Person", np.array([1, 2]))  # a table of version 2
        assert library.rejections("clip")[0][0] == "Kept Person"
    db = sqlite3.connect(old)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(fc.BadInput, match="newer faceclust"):
        Library(old)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(fc.BadInput, match="not a faceclust library"):
        Library(tmp_path / "junk.sqlite")


def test_the_file_is_private_and_a_removed_person_leaves_no_byte(tmp_path):
    path = tmp_path / "new" / "library.sqlite"
    gone, kept = _exemplars(1, 3), _exemplars(2)
    with Library(path) as library:
        library.add("Zqxwv Removed", gone, notes="secret notes of Zqxwv")
        library.add("Kept", kept)
        library.reject("some clip", "Zqxwv Removed", np.arange(5))
        before = path.read_bytes()
        assert b"Zqxwv Removed" in before and gone[0].vectors["test"].tobytes() in before
        library.remove("Zqxwv Removed")
        assert library.people()["name"].tolist() == ["Kept"]
        assert library.rejections("some clip") == []
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    after = path.read_bytes()
    for trace in [b"Zqxwv", b"secret notes", gone[0].image, *(e.vectors["test"].tobytes() for e in gone)]:
        assert trace not in after
    assert kept[0].image in after and sorted(p.name for p in path.parent.iterdir()) == ["library.sqlite"]
    with pytest.raises(fc.BadInput, match="no one named"):
        Library(path).remove("Zqxwv Removed")


def _add_people(path: str, prefix: str, count: int) -> None:
    with Library(path) as library:
        for k in range(count):
            library.add(f"{prefix}{k}", _exemplars(k))


def test_two_processes_adding_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "library.sqlite")
    Library(path).close()
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_add_people, args=(path, prefix, 40)) for prefix in "ab"]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    with Library(path) as library:
        people = library.people()
        assert len(people) == 80 and (people["faces"] == 2).all()


KILLED_WRITER = """
import sys
import time
from faceclust.library import Library
with Library(sys.argv[1]) as library, library.writing() as db:
    db.execute("INSERT INTO people (name, notes, created) VALUES ('Half Written', '', 0)")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_a_killed_write_leaves_the_library_readable(tmp_path):
    path = tmp_path / "library.sqlite"
    with Library(path) as library:
        library.add("Before", _exemplars(3))
    root = Path(__file__).resolve().parents[1]
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    with Library(path) as library:
        assert library.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert library.people()["name"].tolist() == ["Before"]
        library.add("After", _exemplars(4))  # and it takes writes again
        assert len(library.people()) == 2


def test_export_and_import_move_the_people_and_nothing_twice(tmp_path):
    with Library(tmp_path / "a.sqlite") as library:
        library.add("Ann", _exemplars(5), notes="host")
        library.add("Bo", _exemplars(6, 3))
        library.reject("a clip", "Ann", np.arange(3))
        library.export(tmp_path / "moved.faceclust")
    assert (tmp_path / "moved.faceclust").stat().st_mode & 0o777 == 0o600
    with Library(tmp_path / "b.sqlite") as other:
        other.add("Ann", _exemplars(5)[:1])
        assert other.import_(tmp_path / "moved.faceclust") == 1 + 3  # Ann's second face and Bo's three
        assert other.import_(tmp_path / "moved.faceclust") == 0
        people = other.people().set_index("name")
        assert people.loc["Ann", "faces"] == 2 and people.loc["Bo", "faces"] == 3
        assert people.loc["Ann", "notes"] == "host" and other.rejections("a clip") == []
        names, prototypes = other.prototypes("test")
        mean = np.mean([e.vectors["test"] for e in _exemplars(6, 3)], axis=0)
        assert np.allclose(prototypes[names.index("Bo")], mean / np.linalg.norm(mean), atol=1e-6)


def test_two_people_of_a_clip_never_get_one_name_and_a_reject_is_remembered(tmp_path):
    with Library(tmp_path / "library.sqlite") as library:
        library.add("Ann", _exemplars(7, 1))
        ann = _exemplars(7, 1)[0].vectors["test"]
        embedding = np.vstack([ann] * 3 + [ann * 0.98 + 0.02] * 3).astype(np.float32)
        embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
        labels, face_ids = np.array([0, 0, 0, 1, 1, 1]), np.arange(10, 16)
        library.db.execute("UPDATE embeddings SET embedder = 'dlib'")
        embed = {"embedder": "dlib", "num_jitters": 1, "model_sha256": None, "model_spec": None}
        first = name_people(library, embedding, labels, face_ids, embed, "clip")
        assert list(first) == [0] and first[0].name == "Ann" and first[0].distance < 1e-4
        library.reject("clip", "Ann", face_ids[:3])
        again = name_people(library, embedding, labels, face_ids, embed, "clip")
        assert list(again) == [1]  # the other person is near enough; the rejected one is not named
        assert name_people(library, embedding, labels, face_ids, embed, "another clip")[0].name == "Ann"


def _library_of_the_three_men(extraction: fc.Extraction, data: Path, path: Path) -> dict[int, str]:
    """Each of multi_face.avi's three men added from their faces of the first 8 s (their best
    ones, as Save to library picks), named as the labels name them; returns label -> name."""
    labels = fc.cluster(extraction)
    table = extraction.faces.table.assign(cluster=labels)
    truth = identities(table, pd.read_csv(data / "labels" / "multi_face.avi.labels.csv"))
    names = {}
    with Library(path) as library:
        for label in range(3):
            early = table[(labels == label) & (table["t_sec"] < 8)]
            assert len(early) >= 5
            names[label] = pd.Series(truth[labels == label]).mode()[0]
            chosen = best_faces(early)
            seen = early[early["encoded"]]  # dlib describes a few faces of each track itself
            assert len(chosen) == min(8, len(seen)) == len(set(chosen)) and set(chosen) <= set(
                seen["face_id"]
            )
            assert chosen[0] == seen.loc[seen["sharpness"].idxmax(), "face_id"]
            library.add(
                names[label],
                clip_exemplars(extraction.faces, extraction.meta["params"]["embed"], chosen, "m"),
            )
    return names


def test_the_three_men_are_named_in_the_whole_clip_and_no_one_in_another(extractions, data, tmp_path):
    path = tmp_path / "library.sqlite"
    names = _library_of_the_three_men(extractions["multi_face.avi"], data, path)
    assert len(set(names.values())) == 3
    assert (
        main(
            [
                "run",
                str(data / "clips" / "multi_face.avi"),
                "--out",
                str(tmp_path / "m"),
                "--library",
                str(path),
                "-q",
            ]
        )
        == 0
    )
    clusters = pd.read_csv(tmp_path / "m" / "clusters.csv")
    assert dict(zip(clusters["cluster"], clusters["library_name"], strict=True)) == names
    assert json.loads((tmp_path / "m" / "run.json").read_text())["library"]["named"] == 3
    hamilton = data / "clips" / "short_hamilton_clip.mp4"
    assert main(["run", str(hamilton), "--out", str(tmp_path / "h"), "--library", str(path), "-q"]) == 0
    assert pd.read_csv(tmp_path / "h" / "clusters.csv")["library_name"].isna().all()
    assert main(["run", str(hamilton), "--out", str(tmp_path / "h2"), "--no-library", "-q"]) == 0
    assert "library_name" not in pd.read_csv(tmp_path / "h2" / "clusters.csv")


def test_a_photo_of_one_man_finds_his_clip_and_episodes_not_hamilton(
    extractions, episodes, data, tmp_path, capsys
):
    """With an ArcFace-style embedder (what users get: SFace, or their own model): the library
    filled from the dlib extraction is described by it from its kept pictures, names the batch's
    people, and a photo finds the man's clip and episodes."""
    path = tmp_path / "library.sqlite"
    names = _library_of_the_three_men(extractions["multi_face.avi"], data, path)
    arcface = fc.ExtractParams(
        embed=fc.EmbedParams(MOBILEFACENET.format(data / "models" / "mobilefacenet_test.onnx"))
    )
    for clip in ("multi_face.avi", "short_hamilton_clip.mp4"):  # in the cache, to be searched
        fc.extract(data / "clips" / clip, arcface, workers=2)
    out = tmp_path / "season"
    _, series = run_batch([episodes], out, arcface, jobs=2, library=path)
    named = series.groupby("identity")["library_name"].agg(lambda v: set(v.dropna()))
    assert sorted(map(frozenset, named)) == sorted(frozenset([n]) for n in names.values())
    with Library(path) as library:  # described by both embedders now
        assert (library.people()["embedders"].str.split(",").map(len) == 2).all()
    # A photo: a frame of the clip at 20 s.
    video = cv2.VideoCapture(str(data / "clips" / "multi_face.avi"))
    video.set(cv2.CAP_PROP_POS_MSEC, 20_000)
    _, frame = video.read()
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), frame)
    search = [
        "people",
        "--library",
        str(path),
        "search",
        "--in",
        str(cache_root()),
        "--in",
        str(out),
        "--json",
    ]
    assert main([*search, str(photo)]) == 0
    found = pd.DataFrame(json.loads(capsys.readouterr().out))
    likely = found[found["match"] == "likely"]
    assert set(found["match"]) <= {"likely", "possible"} and set(found["embedder"]) <= {
        "dlib",
        "mobilefacenet_test.onnx",
    }
    clips = set(likely["clip"])
    assert "multi_face.avi" in clips and "short_hamilton_clip.mp4" not in clips
    assert {"episode_1", "episode_2", "episode_3"} <= {Path(p).name for p in likely["place"]}
    assert found["distance"].is_monotonic_increasing and found["appearances"].str.contains(" s").all()
    assert found["settings"].str.fullmatch(r"step \d+(, cheap frames)?, \w+, SR [\w.-]+").all()
    assert all(Path(t).is_file() for t in found["thumb"])
    assert found["known_as"].iloc[0] in names.values() and set(found["known_as"]) <= {"", *names.values()}
    assert main([*search, "--person", names[0]]) == 0
    episodes_found = [
        p
        for p in json.loads(capsys.readouterr().out)
        if Path(p["place"]).parent == out / "clips" and p["match"] == "likely"
    ]
    assert len(episodes_found) == 3  # one man, three episodes
    # An episode's folder deleted: the index drops it at the next search.
    shutil.rmtree(out / "clips" / "episode_3")
    assert main([*search, "--person", names[0]]) == 0
    episodes_found = [p for p in json.loads(capsys.readouterr().out) if "episode_" in p["place"]]
    assert len([p for p in episodes_found if p["match"] == "likely"]) == 2
    assert not any(p["place"].endswith("episode_3") for p in episodes_found)
    with Library(path) as library:
        assert library.db.execute("SELECT COUNT(*) FROM clips WHERE source LIKE '%episode_3'").fetchone() == (
            0,
        )


def test_with_dlib_a_photo_from_the_first_8_s_finds_that_8_s_clip_nearest(
    extractions, episodes, data, tmp_path, capsys
):
    """dlib's naming threshold is tight (0.20): search is not cut there. A photo of one man from
    the first 8 s of multi_face.avi finds the 8 s clip cut from there before the full clip,
    nearest first, each with its band: what lies beyond the naming threshold is "possible"."""
    out = tmp_path / "season"
    run_batch([episodes], out, fc.ExtractParams(), jobs=2)
    video = cv2.VideoCapture(str(data / "clips" / "multi_face.avi"))
    video.set(cv2.CAP_PROP_POS_MSEC, 4_000)
    _, frame = video.read()
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), frame)
    library = tmp_path / "library.sqlite"
    search = ["people", "--library", str(library), "search", "--in", str(cache_root()), "--in", str(out)]
    assert main([*search, "--json", str(photo)]) == 0
    found = pd.DataFrame(json.loads(capsys.readouterr().out))
    assert found["distance"].is_monotonic_increasing
    # Each clip's person once: the cache entries the batch was made from are left to its runs.
    made_from = {fc.extract(clip, workers=1).key for clip in sorted(episodes.glob("episode_[123].mp4"))}
    assert not {Path(place).name for place in found["place"]} & made_from
    # Among the batch's clips and the full clip's dlib extraction (other tests cache other cuts
    # of these frames, and other embedders' extractions):
    full = extractions["multi_face.avi"].key
    ours = found[[place.startswith(str(out)) or Path(place).name == full for place in found["place"]]]
    first = ours.iloc[0]
    where = (first["clip"], Path(first["place"]).name, first["match"])
    assert where == ("episode_1.mp4", "episode_1", "likely")
    assert first["distance"] < ours[ours["clip"] == "multi_face.avi"]["distance"].min()
    assert set(ours["match"]) == {"likely", "possible"}


def test_people_commands_add_list_rename_remove_from_photos(data, tmp_path, capsys):
    path = tmp_path / "library.sqlite"
    folder = data / "faces" / "kpop_idols_photos" / "ITZY_YEJI"
    photos = sorted(folder.iterdir())[:5]
    model = MOBILEFACENET.format(data / "models" / "mobilefacenet_test.onnx")
    base = ["people", "--library", str(path)]
    capsys.readouterr()
    assert main([*base, "add", "Yeji", *map(str, photos), "--embedder", model, "--notes", "ITZY"]) == 0
    assert capsys.readouterr().out.startswith("Yeji: 5 faces added, 5 in all")
    assert main([*base, "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "Yeji" and listed[0]["faces"] == 5 and listed[0]["notes"] == "ITZY"
    assert listed[0]["embedders"].startswith("onnx:")
    assert main([*base, "rename", "Yeji", "Hwang Ye-ji", "-q"]) == 0
    assert main([*base, "rename", "nobody", "x"]) == 2
    assert main([*base, "add", "x", str(tmp_path)]) == 2  # an empty folder: one line, nothing added
    assert "no photos found" in capsys.readouterr().err
    assert main([*base, "remove", "Hwang Ye-ji"]) == 0
    assert "Hwang Ye-ji removed" in capsys.readouterr().out
    assert main([*base, "list", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []


def _page(page: str, extraction: fc.Extraction | None = None) -> AppTest:
    app = AppTest.from_file(str(dashboard.APP), default_timeout=180).switch_page(page)
    if extraction is not None:
        app.session_state["extraction"] = extraction
        app.session_state["clip_name"] = "multi_face.avi"
        app.session_state["labels_path"] = None
    return app.run()


def test_people_page_saves_a_person_and_later_sessions_accept_or_reject_the_name(
    extractions, tmp_path, monkeypatch
):
    monkeypatch.setenv("FACECLUST_LIBRARY", str(tmp_path / "library.sqlite"))
    extraction = extractions["multi_face.avi"]
    app = _page("views/people.py", extraction)
    assert not app.exception and not app.info  # no library yet: no suggestion, and no file made
    assert not (tmp_path / "library.sqlite").exists()
    for label, name in [(0, "Man A"), (1, "Man B")]:
        app.text_input(key=f"save-name-{label}").input(name).run()
        app.button(key=f"save-{label}").click().run()
        assert not app.exception
    with Library(tmp_path / "library.sqlite") as known:
        assert known.people()[["name", "faces"]].values.tolist() == [["Man A", 8], ["Man B", 8]]
    assert any("**Man A** ·" in m.value for m in app.markdown)  # the card is named too
    # Another session on the same clip: both suggested; Man A rejected, Man B accepted.
    app = _page("views/people.py", extraction)
    suggested = [i.value for i in app.info if "Known as" in i.value]
    assert len(suggested) == 2 and "**Man A**" in suggested[0] and "**Man B**" in suggested[1]
    app.button(key="reject-0").click().run()
    app.button(key="accept-1").click().run()
    assert not app.exception and not [i for i in app.info if "Known as" in i.value]
    assert any("**Man B** ·" in m.value for m in app.markdown)
    again = _page("views/people.py", extraction)  # the reject is remembered for this clip
    assert [i.value for i in again.info if "Known as" in i.value] == [suggested[1]]


def test_library_page_lists_edits_removes_and_searches_by_person(extractions, data, tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLUST_LIBRARY", str(tmp_path / "library.sqlite"))
    names = _library_of_the_three_men(extractions["multi_face.avi"], data, tmp_path / "library.sqlite")
    app = _page("views/library.py")
    assert not app.exception
    shown = [m.value for m in app.markdown if " faces · described by dlib" in m.value]
    assert len(shown) == 3
    first = sorted(names.values())[0]
    app.text_input(key=f"name-{first}").input("Renamed Man")
    app.button(key=f"edit-{first}").click().run()
    assert "Renamed Man" in Library(tmp_path / "library.sqlite").people()["name"].tolist()
    app.button(key="remove-Renamed Man").click().run()
    assert len(Library(tmp_path / "library.sqlite").people()) == 2
    app.segmented_control(key="search_by").set_value("A library person").run()
    second = sorted(names.values())[1]
    app.selectbox(key="search_person").set_value(second).run()
    app.button[-1].click().run()
    assert not app.exception
    found = [m.value for m in app.markdown if m.value.startswith("**multi_face.avi**")]
    assert found and "distance" in found[0]
    # Each hit opens its clip on People: the link's address names its cache entry, and a
    # session showing another clip follows it (a hit was a dead end).
    key = extractions["multi_face.avi"].key
    opens = {link.proto.query_string for link in app.get("page_link") if link.proto.label == "Open in People"}
    assert f"clip={key}&name=multi_face.avi" in opens  # with hits of other clips other tests cached
    app.session_state["extraction"] = extractions["short_hamilton_clip.mp4"]
    app.session_state["clip_name"], app.session_state["labels_path"] = "short_hamilton_clip.mp4", None
    app.query_params.update(clip=key, name="multi_face.avi")
    app.switch_page("views/people.py").run()
    assert not app.exception and [t.value for t in app.title] == ["People in multi_face.avi"]
    assert app.session_state["extraction"].key == key
