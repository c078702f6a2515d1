import hashlib
import http.server
import shutil
import threading

import pytest

import faceclust.models as models
from faceclust.errors import BadInput


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www: stands in for the models' public addresses."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def _serve(monkeypatch, tmp_path, name, url, sha256):
    spec = models.MODEL_FILES[name]
    monkeypatch.setitem(
        models.MODEL_FILES, name, models.ModelFile(spec.filename, f"{url}/{spec.filename}", sha256)
    )
    monkeypatch.setenv("FACECLUST_MODELS", str(tmp_path / "models"))


def test_fetch_downloads_verifies_and_then_finds_locally(server, tmp_path, monkeypatch, data):
    root, url = server
    shutil.copy(data / "sr_models" / "ESPCN_x2.pb", root)
    _serve(monkeypatch, tmp_path, "espcn_x2", url, models.MODEL_FILES["espcn_x2"].sha256)
    path = models.fetch_model("espcn_x2")
    assert path == tmp_path / "models" / "ESPCN_x2.pb"
    assert models.find_model("espcn_x2") == path


def test_a_corrupt_download_is_refused_and_not_kept(server, tmp_path, monkeypatch):
    root, url = server
    (root / "ESPCN_x2.pb").write_bytes(b"<html>rate limited</html>")
    _serve(monkeypatch, tmp_path, "espcn_x2", url, models.MODEL_FILES["espcn_x2"].sha256)
    with pytest.raises(BadInput, match="not a valid model file"):
        models.fetch_model("espcn_x2")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_model_without_known_hash_is_accepted_when_it_loads(server, tmp_path, monkeypatch, data):
    root, url = server
    shutil.copy(data / "sr_models" / "FSRCNN_x2.pb", root / "EDSR_x2.pb")  # any loadable network
    _serve(monkeypatch, tmp_path, "edsr_x2", url, None)
    assert models.fetch_model("edsr_x2").is_file()
    (root / "EDSR_x3.pb").write_bytes(b"not a network")
    _serve(monkeypatch, tmp_path, "edsr_x3", url, None)
    with pytest.raises(BadInput, match="not a valid model file"):
        models.fetch_model("edsr_x3")


def test_a_local_file_with_the_wrong_hash_is_ignored(tmp_path, monkeypatch, data):
    monkeypatch.setenv("FACECLUST_MODELS", str(tmp_path))
    (tmp_path / "ESPCN_x2.pb").write_bytes(b"tampered")
    assert models.find_model("espcn_x2") is None
    monkeypatch.setenv("FACECLUST_MODELS", str(data / "sr_models"))
    assert (
        hashlib.sha256(models.find_model("espcn_x2").read_bytes()).hexdigest()
        == models.MODEL_FILES["espcn_x2"].sha256
    )


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(BadInput, match="fsrcnn_x2"):
        models.find_model("srgan_x4")


def test_another_published_version_of_a_file_is_accepted(monkeypatch, data):
    monkeypatch.setenv("FACECLUST_MODELS", str(data / "sr_models"))
    spec = models.MODEL_FILES["espcn_x2"]
    newer = models.ModelFile(spec.filename, spec.url, "0" * 64, other_sha256=(spec.sha256,))
    monkeypatch.setitem(models.MODEL_FILES, "espcn_x2", newer)
    assert models.find_model("espcn_x2") == data / "sr_models" / "ESPCN_x2.pb"
    monkeypatch.setitem(models.MODEL_FILES, "espcn_x2", models.ModelFile(spec.filename, spec.url, "0" * 64))
    assert models.find_model("espcn_x2") is None
