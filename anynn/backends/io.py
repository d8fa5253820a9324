"""Arrays to and from raw little-endian bytes, for checkpoints and dataset files (host I/O lives here)."""
from __future__ import annotations

from typing import Any

import numpy as np

from anynn import dtypes as D
from anynn.backends.base import Backend


def to_bytes(backend: Backend, array: Any) -> bytes:
    """The C-order, little-endian bytes of one backend array."""
    host = backend.to_numpy(array)
    return np.asarray(host, dtype=host.dtype.newbyteorder("<"), order="C").tobytes()


def from_bytes(backend: Backend, payload: bytes | memoryview, dtype: D.DType, shape: tuple[int, ...]) -> Any:
    """A new array on ``backend`` from little-endian bytes; raises ValueError if the size does not match."""
    expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(payload) != expected:
        raise ValueError(f"expected {expected} bytes for a {dtype.name} array of shape {shape}, got {len(payload)}")
    host = np.frombuffer(payload, dtype=np.dtype(dtype.name).newbyteorder("<")).reshape(shape)
    return backend.from_numpy(host.astype(np.dtype(dtype.name), copy=False))
