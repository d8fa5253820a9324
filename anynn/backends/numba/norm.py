"""Batch norm's four per-channel passes, fused and multi-threaded; twins in ``anynn/ops/norm.py``."""
from __future__ import annotations

import numpy as np
from numba import prange

from anynn.backends.numba.runtime import _FLOATS, _REASSOC, _kernel, _one_at_a_time


# ------------------------------------------------------------------ per-channel passes (batch norm)
@_kernel(fastmath=_REASSOC)
def _moments(x, mean, var):
    channels, a, b, c = x.shape
    count = a * b * c
    for ch in prange(channels):
        total = 0.0
        for i in range(a):
            for j in range(b):
                for k in range(c):
                    total += x[ch, i, j, k]
        m = total / count
        squares = 0.0
        for i in range(a):
            for j in range(b):
                for k in range(c):
                    d = x[ch, i, j, k] - m
                    squares += d * d
        mean[ch] = m
        var[ch] = squares / count


@_kernel(fastmath=_REASSOC)
def _affine(x, mean, scale, shift, out):
    channels, a, b, c = x.shape
    for ch in prange(channels):
        m, s, t = mean[ch], scale[ch], shift[ch]
        for i in range(a):
            for j in range(b):
                for k in range(c):
                    out[ch, i, j, k] = (x[ch, i, j, k] - m) * s + t


@_kernel(fastmath=_REASSOC)
def _grad_sums(grad, x, mean, sum_grad, sum_grad_centered):
    channels, a, b, c = x.shape
    for ch in prange(channels):
        m = mean[ch]
        s1 = 0.0
        s2 = 0.0
        for i in range(a):
            for j in range(b):
                for k in range(c):
                    g = grad[ch, i, j, k]
                    s1 += g
                    s2 += g * (x[ch, i, j, k] - m)
        sum_grad[ch] = s1
        sum_grad_centered[ch] = s2


@_kernel(fastmath=_REASSOC)
def _input_grad(grad, x, mean, p, q, r, out):
    channels, a, b, c = x.shape
    for ch in prange(channels):
        m, gp, xq, t = mean[ch], p[ch], q[ch], r[ch]
        for i in range(a):
            for j in range(b):
                for k in range(c):
                    out[ch, i, j, k] = grad[ch, i, j, k] * gp + (x[ch, i, j, k] - m) * xq + t


def _channel_order(x: np.ndarray) -> tuple[int, ...] | None:
    """Axes of an (N, C, ...) array with the channel first and the rest from slowest to fastest in memory."""
    if x.ndim < 2 or x.ndim > 4 or x.dtype not in _FLOATS:
        return None
    rest = sorted((axis for axis in range(x.ndim) if axis != 1), key=lambda axis: -abs(x.strides[axis]))
    return (1, *rest)


def _channels_first_4d(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``a`` permuted by ``order`` (channels first) and padded to 4-D (C, X, Y, Z) with unit axes after the channel."""
    view = a.transpose(order)
    return view.reshape((view.shape[0],) + (1,) * (5 - a.ndim - 1) + view.shape[1:]) if a.ndim < 4 else view


@_one_at_a_time
def channel_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel mean and biased variance of an (N, C, ...) array (two passes, float64 accumulators)."""
    order = _channel_order(x)
    if order is None:
        return None
    channels = x.shape[1]
    mean = np.empty(channels, dtype=x.dtype)
    var = np.empty(channels, dtype=x.dtype)
    _moments(_channels_first_4d(x, order), mean, var)
    return mean, var


@_one_at_a_time
def channel_affine(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray | None:
    """``(x - mean[c]) * scale[c] + shift[c]`` over the channel axis 1, in ``x``'s memory order."""
    order = _channel_order(x)
    if order is None or any(v.dtype != x.dtype for v in (mean, scale, shift)):
        return None
    out = np.empty_like(x)
    _affine(_channels_first_4d(x, order), mean, scale, shift, _channels_first_4d(out, order))
    return out


@_one_at_a_time
def channel_grad_sums(grad: np.ndarray, x: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel ``sum(grad)`` and ``sum(grad * (x - mean[c]))`` in one pass."""
    order = _channel_order(x)
    if order is None or grad.shape != x.shape or grad.dtype != x.dtype or mean.dtype != x.dtype:
        return None
    channels = x.shape[1]
    sum_grad = np.empty(channels, dtype=x.dtype)
    sum_grad_centered = np.empty(channels, dtype=x.dtype)
    _grad_sums(_channels_first_4d(grad, order), _channels_first_4d(x, order), mean, sum_grad, sum_grad_centered)
    return sum_grad, sum_grad_centered


@_one_at_a_time
def batch_norm_input_grad(grad: np.ndarray, x: np.ndarray, mean: np.ndarray, p: np.ndarray, q: np.ndarray,
                    r: np.ndarray) -> np.ndarray | None:
    """``grad * p[c] + (x - mean[c]) * q[c] + r[c]`` in one pass (batch norm's input gradient)."""
    order = _channel_order(x)
    if order is None or grad.shape != x.shape or any(v.dtype != x.dtype for v in (grad, mean, p, q, r)):
        return None
    out = np.empty_like(x)
    view = _channels_first_4d
    _input_grad(view(grad, order), view(x, order), mean, p, q, r, view(out, order))
    return out
