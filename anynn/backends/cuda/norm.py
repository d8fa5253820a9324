"""Batch norm's four per-channel passes as CUDA kernels; twins in ``anynn/ops/norm.py``.

The two reductions give each channel one block: its threads walk the channel's N*H*W values in memory order
(coalesced in the plain and in the batch-last layout), accumulate in float64, and add their partial sums up
in a fixed tree, so the result is the same from run to run. The moments take two passes over the channel
(mean, then the centred squares), as the Numba CPU kernels do. The two affine maps are one thread per element.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from anynn.backends.cuda.runtime import (BLOCK, FLOATS, as_4d, block_sum, blocks_for, coords, empty,
                                         empty_4d, from_4d, is_batch_last, launch, library)


@cuda.jit(device=True)
def _channel_coords(e, n_size, h_size, w_size, batch_last):
    """(n, h, w) of the ``e``-th value of one channel, in memory order."""
    if batch_last:
        n = e % n_size
        rest = e // n_size
        return n, rest // w_size, rest % w_size
    w = e % w_size
    rest = e // w_size
    return rest // h_size, rest % h_size, w


@cuda.jit
def _moments(x, batch_last, mean, var):
    n_size, channels, h_size, w_size = x.shape
    count = n_size * h_size * w_size
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    t = cuda.threadIdx.x
    for ch in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        total = 0.0
        for e in range(t, count, BLOCK):
            n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
            total += x[n, ch, h, w]
        m = block_sum(shared, total) / count
        squares = 0.0
        for e in range(t, count, BLOCK):
            n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
            d = x[n, ch, h, w] - m
            squares += d * d
        squares = block_sum(shared, squares)
        if t == 0:
            mean[ch] = m
            var[ch] = squares / count


@cuda.jit
def _grad_sums(grad, x, mean, batch_last, sum_grad, sum_grad_centered):
    n_size, channels, h_size, w_size = x.shape
    count = n_size * h_size * w_size
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    t = cuda.threadIdx.x
    for ch in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        m = float(mean[ch])  # float64, as every partial sum
        s1 = 0.0
        s2 = 0.0
        for e in range(t, count, BLOCK):
            n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
            g = float(grad[n, ch, h, w])
            s1 += g
            s2 += g * (x[n, ch, h, w] - m)
        s1 = block_sum(shared, s1)
        s2 = block_sum(shared, s2)
        if t == 0:
            sum_grad[ch] = s1
            sum_grad_centered[ch] = s2


@cuda.jit
def _affine(x, mean, scale, shift, batch_last, out):
    n_size, channels, h_size, w_size = out.shape
    start = cuda.grid(1)
    for i in range(start, n_size * channels * h_size * w_size, cuda.gridsize(1)):
        n, c, h, w = coords(i, n_size, channels, h_size, w_size, batch_last)
        out[n, c, h, w] = (x[n, c, h, w] - mean[c]) * scale[c] + shift[c]


@cuda.jit
def _input_grad(grad, x, mean, p, q, r, batch_last, out):
    n_size, channels, h_size, w_size = out.shape
    start = cuda.grid(1)
    for i in range(start, n_size * channels * h_size * w_size, cuda.gridsize(1)):
        n, c, h, w = coords(i, n_size, channels, h_size, w_size, batch_last)
        out[n, c, h, w] = grad[n, c, h, w] * p[c] + (x[n, c, h, w] - mean[c]) * q[c] + r[c]


def _covered(x: Any, *others: Any) -> Any:
    """``x`` as an (N, C, H, W) view if these kernels cover it (float32/64, rank 2-4, ``others`` of its dtype and
    of a library the seam knows), else None."""
    if x.dtype not in FLOATS or x.size == 0 or library(x) is None or any(o.dtype != x.dtype for o in others):
        return None
    return as_4d(x)


def channel_moments(x: Any) -> tuple[Any, Any] | None:
    """Per-channel mean and biased variance of an (N, C, ...) array: one block per channel, float64 sums."""
    x4 = _covered(x)
    if x4 is None:
        return None
    channels = x.shape[1]
    mean = empty(x, (channels,), x.dtype)
    var = empty(x, (channels,), x.dtype)
    launch(_moments, blocks_for(channels * BLOCK), x, x4, is_batch_last(x4), mean, var)
    return mean, var


def channel_grad_sums(grad: Any, x: Any, mean: Any) -> tuple[Any, Any] | None:
    """Per-channel ``sum(grad)`` and ``sum(grad * (x - mean[c]))`` in one pass over both."""
    x4 = _covered(x, grad, mean)
    if x4 is None or grad.shape != x.shape:
        return None
    channels = x.shape[1]
    sum_grad = empty(x, (channels,), x.dtype)
    sum_grad_centered = empty(x, (channels,), x.dtype)
    launch(_grad_sums, blocks_for(channels * BLOCK), x, as_4d(grad), x4, mean, is_batch_last(x4), sum_grad,
           sum_grad_centered)
    return sum_grad, sum_grad_centered


def channel_affine(x: Any, mean: Any, scale: Any, shift: Any) -> Any:
    """``(x - mean[c]) * scale[c] + shift[c]``, the output batch-last where ``x`` is, plain otherwise."""
    x4 = _covered(x, mean, scale, shift)
    if x4 is None:
        return None
    batch_last = is_batch_last(x4)
    out = empty_4d(x, tuple(x4.shape), x.dtype, batch_last)
    launch(_affine, blocks_for(x.size), x, x4, mean, scale, shift, batch_last, out)
    return from_4d(out, x.ndim)


def batch_norm_input_grad(grad: Any, x: Any, mean: Any, p: Any, q: Any, r: Any) -> Any:
    """``grad * p[c] + (x - mean[c]) * q[c] + r[c]`` (batch norm's input gradient), laid out as ``x``."""
    x4 = _covered(x, grad, mean, p, q, r)
    if x4 is None or grad.shape != x.shape:
        return None
    batch_last = is_batch_last(x4)
    out = empty_4d(x, tuple(x4.shape), x.dtype, batch_last)
    launch(_input_grad, blocks_for(x.size), x, as_4d(grad), x4, mean, p, q, r, batch_last, out)
    return from_4d(out, x.ndim)
