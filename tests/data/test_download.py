"""Downloads against a local HTTP server (never the internet): checksums, atomic writes, clear errors, and
datasets fetched through ``ANYNN_DATA_MIRROR``."""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from anynn.datasets import download as D
from anynn.datasets import root as R
from anynn.datasets.cifar import CIFAR10
from anynn.datasets.idx import MNIST


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``/cut`` announces 100 bytes and sends 50, like a dropped connection."""

    def do_GET(self):
        if self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 50)
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 (ephemeral port) in a thread, serving tmp_path/served; shut down after."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(dir=served, url=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _serve(server, name: str, data: bytes) -> str:
    path = server.dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"{server.url}/{name}"


def test_download_verifies_md5_and_sha256(server, tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 3 * 2 ** 20 + 17, dtype=np.uint8).tobytes()  # > 1 chunk
    url = _serve(server, "blob.bin", data)
    dest = tmp_path / "out" / "blob.bin"
    path = D.download_file(url, dest, md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest())
    assert path == str(dest) and dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["blob.bin"]  # no temporary file left behind
    assert D.file_digest(dest, "sha256") == hashlib.sha256(data).hexdigest()


def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    url = _serve(server, "blob.bin", b"served content")
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(D.ChecksumError, match=r"blob.bin: md5 is [0-9a-f]{32}, expected 0{32}") as info:
        D.download_file(url, dest, md5="0" * 32)
    assert "nothing was written" in str(info.value)
    assert not dest.exists() and os.listdir(dest.parent) == []


def test_failed_download_keeps_the_old_file_and_success_replaces_it(server, tmp_path):
    url = _serve(server, "blob.bin", b"new content")
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old content")
    with pytest.raises(D.ChecksumError):
        D.download_file(url, dest, sha256="f" * 64)
    assert dest.read_bytes() == b"old content"
    D.download_file(url, dest, md5=hashlib.md5(b"new content").hexdigest())
    assert dest.read_bytes() == b"new content" and sorted(os.listdir(tmp_path)) == ["blob.bin", "served"]


def test_write_is_a_rename_from_a_temporary_file_in_the_same_folder(server, tmp_path, monkeypatch):
    url = _serve(server, "blob.bin", b"payload")
    dest = tmp_path / "blob.bin"
    moves = []
    real_replace = os.replace

    def spy(src, dst):
        with open(src, "rb") as handle:
            moves.append((src, dst, os.path.exists(dst), handle.read()))
        real_replace(src, dst)

    monkeypatch.setattr(D.os, "replace", spy)
    D.download_file(url, dest)
    [(src, dst, existed, content)] = moves
    assert dst == str(dest) and os.path.dirname(src) == str(tmp_path) and src != dst
    assert os.path.basename(src).startswith(".blob.bin.") and not existed and content == b"payload"


def test_falls_back_to_the_next_url_and_reports_http_errors(server, tmp_path):
    good = _serve(server, "blob.bin", b"abc")
    dest = tmp_path / "blob.bin"
    D.download_file([f"{server.url}/missing.bin", good], dest, md5=hashlib.md5(b"abc").hexdigest())
    assert dest.read_bytes() == b"abc"
    with pytest.raises(D.DownloadError, match=r"missing.bin: HTTP 404") as info:
        D.download_file(f"{server.url}/missing.bin", tmp_path / "missing.bin")
    assert not isinstance(info.value, D.ChecksumError)


def test_cut_connection_is_an_error_without_partial_file(server, tmp_path):
    with pytest.raises(D.DownloadError):
        D.download_file(f"{server.url}/cut", tmp_path / "cut.bin")
    assert os.listdir(tmp_path) == ["served"]


def test_offline_error_says_what_to_do(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(D.DownloadError, match=r"(?s)unreachable.*If this machine is offline or the "
                                              r"server is down, copy the file to .*"
                                              r"ANYNN_DATA.*ANYNN_DATA_MIRROR") as info:
        D.download_file(f"http://127.0.0.1:{port}/blob.bin", tmp_path / "blob.bin", timeout=5)
    assert str(port) in str(info.value) and os.listdir(tmp_path) == []


def test_mirror_replaces_official_urls(monkeypatch):
    monkeypatch.delenv(D.MIRROR_ENV, raising=False)
    official = ("https://a.example/x/", "https://b.example/y")
    assert D.urls_for("mnist", "f.gz", official) == ["https://a.example/x/f.gz", "https://b.example/y/f.gz"]
    monkeypatch.setenv(D.MIRROR_ENV, "http://127.0.0.1:8000/data/")
    assert D.urls_for("mnist", "f.gz", official) == ["http://127.0.0.1:8000/data/mnist/f.gz"]


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_mnist_downloads_through_the_mirror(server, isolated, monkeypatch):
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (3, 28, 28)), rng.integers(0, 10, 3)
    files = {"train-images-idx3-ubyte.gz": _idx(images), "train-labels-idx1-ubyte.gz": _idx(labels)}
    for name, data in files.items():
        _serve(server, f"mnist/{name}", data)
    monkeypatch.setenv(D.MIRROR_ENV, server.url)
    monkeypatch.setattr(MNIST, "md5", {name: hashlib.md5(data).hexdigest() for name, data in files.items()})
    ds = MNIST(root=isolated / "data", download=True, backend="numpy")
    assert ds.folder == str(isolated / "data" / "mnist")
    assert sorted(os.listdir(ds.folder)) == sorted(files)
    np.testing.assert_array_equal(ds.images.numpy()[:, 0], images)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)


def test_dataset_download_with_wrong_content_fails_cleanly(server, isolated, monkeypatch):
    _serve(server, "mnist/t10k-images-idx3-ubyte.gz", _idx(np.zeros((1, 28, 28))))
    monkeypatch.setenv(D.MIRROR_ENV, server.url)
    monkeypatch.setenv(R.DATA_ENV, str(isolated / "env"))
    with pytest.raises(D.ChecksumError, match="expected 9fb629c4189551a2d022fa330f9573f3"):  # the official md5
        MNIST(train=False, download=True, backend="numpy")
    assert os.listdir(isolated / "env" / "mnist") == []


def test_cifar10_downloads_and_extracts_through_the_mirror(server, isolated, monkeypatch):
    rng = np.random.default_rng(2)
    labels, images = rng.integers(0, 10, 2), rng.integers(0, 256, (2, 3, 32, 32))
    test_batch = b"".join(bytes([label]) + img.astype(np.uint8).tobytes() for label, img in zip(labels, images))
    members = {f"data_batch_{i}.bin": bytes(3073) for i in range(1, 6)}
    members["test_batch.bin"] = test_batch
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _serve(server, "cifar-10/cifar-10-binary.tar.gz", archive.getvalue())
    monkeypatch.setenv(D.MIRROR_ENV, server.url)
    monkeypatch.setattr(CIFAR10, "md5", hashlib.md5(archive.getvalue()).hexdigest())
    ds = CIFAR10(root=isolated, train=False, download=True, backend="numpy")
    assert ds.folder == str(isolated / "cifar-10" / "cifar-10-batches-bin")
    np.testing.assert_array_equal(ds.images.numpy(), images)
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
