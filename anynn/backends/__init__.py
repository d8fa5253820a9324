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
    "counting": ("anynn.backends.counting", "CountingBackend"),
    "replay": ("anynn.backends.replay", "ReplayBackend"),
}
_ALIASES = {"strict": "array_api_strict", "np": "numpy", "cp": "cupy", "pytorch": "torch"}
NAMES = tuple(_MODULES)

_cache: dict[tuple[str, str | None], Backend] = {}
_current: Backend | None = None
_seed: int | None = None


class UnknownBackendError(BackendUnavailable, ValueError):
    """A backend name that anynn does not know (a typo, or a library it has no backend for)."""


def canonical_name(name: str) -> str:
    """The registry name for ``name`` or one of its aliases ('strict', 'np', ...)."""
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in _MODULES:
        raise UnknownBackendError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)} "
                                  f"(anynn.available() lists those that can run here)")
    return key


def backend_for(name: str, device: str | None = None) -> Backend:
    """The (cached) Backend for ``name`` on ``device``; raises BackendUnavailable with the reason and fix.

    One Backend object exists per library and device, whatever spelling asked for it (None, 'cpu', 'cuda',
    'cuda:0'), because tensors compare backends by identity.
    """
    key = (canonical_name(name), None if device is None else str(device))
    backend = _cache.get(key)
    if backend is None:
        module, cls = _MODULES[key[0]]
        fresh = getattr(importlib.import_module(module), cls)(key[1])
        backend = _cache.setdefault((key[0], fresh.device_name), fresh)
        if backend is fresh and _seed is not None:
            backend.manual_seed(_seed)
        _cache[key] = backend
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


__all__ = ["Backend", "BackendUnavailable", "NAMES", "UnknownBackendError", "available", "backend_for",
           "canonical_name", "get_backend", "manual_seed", "set_backend", "use_backend", "why_unavailable"]
