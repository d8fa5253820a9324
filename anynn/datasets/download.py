"""Downloading dataset files: urllib only, checksum-verified, written atomically.

A download streams into a temporary file in the destination folder, is hashed on the way, and is moved into
place with ``os.replace`` only when the checksum matches, so a failed or interrupted download never leaves a
partial file under the real name. ``ANYNN_DATA_MIRROR=http://host/path`` replaces the official URLs by
``<mirror>/<dataset>/<filename>`` (for a local mirror, and for tests).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Mapping, Sequence

from anynn.datasets import root as R

MIRROR_ENV = "ANYNN_DATA_MIRROR"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be fetched; the message lists each URL tried and why it failed."""


class ChecksumError(DownloadError):
    """A fetched file did not have the expected checksum (nothing was written under its name)."""


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def urls_for(name: str, filename: str, official: Sequence[str]) -> list[str]:
    """Where to fetch ``filename`` of dataset ``name``: the mirror if ``ANYNN_DATA_MIRROR`` is set, else the
    official base URLs in order."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return [f"{mirror.rstrip('/')}/{name}/{filename}"]
    return [base.rstrip("/") + "/" + filename for base in official]


def download_file(urls: str | Sequence[str], path: str | os.PathLike, *, md5: str | None = None,
                  sha256: str | None = None, timeout: float = 60.0) -> str:
    """Fetch the first URL that works into ``path``, checking ``md5``/``sha256`` if given; returns the path.

    Raises ChecksumError when every URL served wrong content, DownloadError otherwise (e.g. offline).
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    expected = {k: v.lower() for k, v in (("md5", md5), ("sha256", sha256)) if v}
    failures: list[tuple[str, Exception]] = []
    for url in urls:
        try:
            _fetch(url, path, expected, timeout)
            return path
        except (DownloadError, urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if isinstance(err, urllib.error.HTTPError):
                err.close()  # an HTTP error is also the server's open response: release its connection now
            failures.append((url, err))
    raise _failure(path, failures)


def _fetch(url: str, path: str, expected: Mapping[str, str], timeout: float) -> None:
    """Stream ``url`` into a temporary file next to ``path``, verify, then move it into place."""
    print(f"anynn: downloading {url} -> {path}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        digests = {name: hashlib.new(name, usedforsecurity=False) for name in expected}
        size = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                size += len(chunk)
                for d in digests.values():
                    d.update(chunk)
        if length is not None and int(length) != size:
            raise DownloadError(f"received {size} bytes, the server announced {length} (connection cut?)")
        for name, digest in digests.items():
            if digest.hexdigest() != expected[name]:
                raise ChecksumError(f"{name} is {digest.hexdigest()}, expected {expected[name]} "
                                    "(corrupted download or wrong file)")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _failure(path: str, failures: list[tuple[str, Exception]]) -> DownloadError:
    lines = "\n".join(f"  {url}: {_reason(err)}" for url, err in failures)
    if failures and all(isinstance(err, ChecksumError) for _, err in failures):
        return ChecksumError(f"could not download {os.path.basename(path)} with the right checksum; nothing was "
                             f"written to {path}:\n{lines}")
    return DownloadError(
        f"could not download {os.path.basename(path)}:\n{lines}\nIf this machine is offline or the server is down, "
        f"copy the file to {path} by hand, point {R.DATA_ENV} at a folder that has it, or set {MIRROR_ENV} "
        "to a reachable mirror.")


def _reason(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"unreachable ({err.reason})"
    return str(err) or type(err).__name__


def ensure(name: str, files: Mapping[str, str | None], official: Sequence[str],
           root: str | os.PathLike | None = None, download: bool = True) -> str:
    """The folder holding every file in ``files`` (filename -> md5) of dataset ``name``.

    Looks in the folders of :func:`anynn.datasets.root.search_dirs`; if none has them all and ``download``
    is true, fetches the missing ones into :func:`anynn.datasets.root.download_dir`.
    """
    folder = R.find(name, files, root)
    if folder is not None:
        return folder
    if not download:
        searched = "\n".join(f"  {d}" for d in R.search_dirs(name, root))
        raise FileNotFoundError(f"{name}: {', '.join(files)} not found in any of:\n{searched}\npass "
                                f"download=True, or put the files in one of these folders")
    dest = R.download_dir(name, root)
    for filename, md5 in files.items():
        target = os.path.join(dest, filename)
        if not os.path.isfile(target):
            download_file(urls_for(name, filename, official), target, md5=md5)
    return dest


__all__ = ["ChecksumError", "DownloadError", "MIRROR_ENV", "download_file", "ensure", "file_digest", "urls_for"]
