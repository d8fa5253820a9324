"""Where dataset files are looked for, and where downloads go.

Search order for a dataset ``name`` (e.g. 'fashion-mnist'):

1. the ``root=`` argument: ``root/name/`` then ``root/`` itself;
2. ``$ANYNN_DATA/name/``;
3. ``~/.cache/anynn/name/``;
4. ``/usr/share/datasets/name/`` (system packages, e.g. Debian's ``dataset-fashion-mnist``).

Downloads go to ``name/`` under the first of ``root``, ``$ANYNN_DATA`` and ``~/.cache/anynn``.
"""
from __future__ import annotations

import os
from typing import Iterable

DATA_ENV = "ANYNN_DATA"
SYSTEM_DIR = "/usr/share/datasets"


def cache_dir() -> str:
    """The per-user cache, ``~/.cache/anynn``."""
    return os.path.join(os.path.expanduser("~"), ".cache", "anynn")


def _bases(root: str | os.PathLike | None) -> list[str]:
    env = os.environ.get(DATA_ENV)
    return [os.fspath(b) for b in (root, env or None, cache_dir()) if b is not None]


def search_dirs(name: str, root: str | os.PathLike | None = None) -> list[str]:
    """The directories searched for dataset ``name``, in order (see the module docstring)."""
    dirs = []
    if root is not None:
        dirs += [os.path.join(os.fspath(root), name), os.fspath(root)]
    dirs += [os.path.join(base, name) for base in _bases(None)]
    dirs.append(os.path.join(SYSTEM_DIR, name))
    return list(dict.fromkeys(os.path.abspath(d) for d in dirs))


def find(name: str, filenames: Iterable[str], root: str | os.PathLike | None = None) -> str | None:
    """The first searched directory holding every one of ``filenames``, or None."""
    filenames = list(filenames)
    for folder in search_dirs(name, root):
        if all(os.path.isfile(os.path.join(folder, f)) for f in filenames):
            return folder
    return None


def download_dir(name: str, root: str | os.PathLike | None = None) -> str:
    """Where downloads of ``name`` go (created if needed)."""
    folder = os.path.abspath(os.path.join(_bases(root)[0], name))
    os.makedirs(folder, exist_ok=True)
    return folder


__all__ = ["DATA_ENV", "SYSTEM_DIR", "cache_dir", "download_dir", "find", "search_dirs"]
