"""Backend registry and selection: ``ANYNN_BACKEND`` / ``ANYNN_DEVICE``, ``set_backend``, ``use_backend``.

This package is the only part of anynn that names a concrete array library.
"""
from __future__ import annotations

import contextlib
import importlib
import os
from typing import Iterator

from anynn.backends.base import Backend, BackendUnavailable

_MODULES = {
    "numpy": ("anynn.backends.numpy", "NumpyBackend"),
    "array_api_strict": ("anynn.backends.strict", "StrictBackend"),
    "torch": ("anynn.backends.torch", "TorchBackend"),
    "cupy": ("anynn.backends.cupy", "CupyBackend"),
}
_ALIASES = {"strict": "array_api_strict", "np": "numpy", "cp": "cupy", "pytorch": "torch"}
NAMES = tuple(_MODULES)

_cache: dict[tuple[str, str | None], Backend] = {}
_current: Backend | None = None
_seed: int | None = None


def canonical_name(name: str) -> str:
    """The registry name for ``name`` or one of its aliases ('strict', 'np', ...)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    return key


def backend_for(name: str, device: str | None = None) -> Backend:
    """The (cached) Backend for ``name`` on ``device``; raises BackendUnavailable with the reason and fix."""
    key = (canonical_name(name), None if device is None else str(device))
    backend = _cache.get(key)
    if backend is None:
        module, cls = _MODULES[key[0]]
        backend = getattr(importlib.import_module(module), cls)(key[1])
        if _seed is not None:
            backend.manual_seed(_seed)
        _cache[key] = backend
        _cache.setdefault((key[0], backend.device_name), backend)
    return backend


def get_backend() -> Backend:
    """The current backend (first use reads ``ANYNN_BACKEND``, default numpy, and ``ANYNN_DEVICE``)."""
    global _current
    if _current is None:
        _current = backend_for(os.environ.get("ANYNN_BACKEND", "numpy"), os.environ.get("ANYNN_DEVICE") or None)
    return _current


def set_backend(name: str | Backend, device: str | None = None) -> Backend:
    """Make ``name`` (on ``device``) the backend new tensors and models are created on."""
    global _current
    _current = name if isinstance(name, Backend) else backend_for(name, device)
    return _current


@contextlib.contextmanager
def use_backend(name: str | Backend, device: str | None = None) -> Iterator[Backend]:
    """``with anynn.use_backend('torch'):`` — switch the current backend for a block."""
    global _current
    previous = _current
    try:
        yield set_backend(name, device)
    finally:
        _current = previous


def why_unavailable(name: str, device: str | None = None) -> str | None:
    """None if ``name`` can run here, else the reason (with the fix)."""
    try:
        backend_for(name, device)
    except BackendUnavailable as err:
        return str(err)
    return None


def available() -> list[str]:
    """Backends that import and have a device on this machine."""
    return [name for name in NAMES if why_unavailable(name) is None]


def manual_seed(seed: int) -> None:
    """Seed every backend (those created later too) so runs are reproducible on a given backend."""
    global _seed
    _seed = int(seed)
    for backend in set(_cache.values()):
        backend.manual_seed(_seed)


__all__ = ["Backend", "BackendUnavailable", "NAMES", "available", "backend_for", "canonical_name",
           "get_backend", "manual_seed", "set_backend", "use_backend", "why_unavailable"]
