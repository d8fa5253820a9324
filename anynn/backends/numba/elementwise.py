"""ReLU and its gradient on all cores; twins in ``anynn/ops/elementwise.py``."""
from __future__ import annotations

import numpy as np
from numba import prange

from anynn.backends.numba.runtime import _FLOATS, _kernel, _one_at_a_time


# ------------------------------------------------------------------ ReLU
_RELU_MIN = 1 << 16  # below this many elements NumPy's own call is as fast


@_kernel()
def _relu(x, out):
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = 0 if v <= 0 else v  # NaN stays NaN, as in PyTorch


@_kernel()
def _relu_backward(grad, y, out):
    for i in prange(grad.shape[0]):
        out[i] = grad[i] if y[i] > 0 else 0


def _memory_order_view(a: np.ndarray) -> np.ndarray | None:
    """A 1-D view of ``a`` in memory order, if its elements are one contiguous block (in any axis order)."""
    order = sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis]))
    view = a.transpose(order)
    return view.reshape(-1) if view.flags.c_contiguous else None


def _same_block(*arrays: np.ndarray) -> list[np.ndarray] | None:
    """1-D memory-order views of equally shaped and laid out float arrays, or None if that cannot be had."""
    first = arrays[0]
    if first.size < _RELU_MIN or first.dtype not in _FLOATS:
        return None
    if any(a.shape != first.shape or a.strides != first.strides or a.dtype != first.dtype for a in arrays):
        return None
    flats = [_memory_order_view(a) for a in arrays]
    return None if any(f is None for f in flats) else flats


def relu(x: np.ndarray) -> np.ndarray | None:
    """``max(x, 0)`` on all cores, in ``x``'s memory order (small arrays: declined before taking the lock)."""
    return None if x.size < _RELU_MIN else _relu_large(x)


@_one_at_a_time
def _relu_large(x: np.ndarray) -> np.ndarray | None:
    flats = _same_block(x)
    if flats is None:
        return None
    out = np.empty_like(x)
    _relu(flats[0], _memory_order_view(out))
    return out


def relu_backward(grad: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """``grad`` where the ReLU's output ``y`` is positive, else 0."""
    return None if grad.size < _RELU_MIN else _relu_backward_large(grad, y)


@_one_at_a_time
def _relu_backward_large(grad: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    flats = _same_block(grad, y)
    if flats is None:
        return None
    out = np.empty_like(grad)
    _relu_backward(*flats, _memory_order_view(out))
    return out
