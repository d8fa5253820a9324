"""Batch norm's four per-channel passes as CUDA kernels; twins in ``anynn/ops/norm.py``.

The two reductions give each channel one block: its threads walk the channel's N*H*W values in memory order
(coalesced in the plain and in the batch-last layout), accumulate in float64, and add their partial sums up
in a fixed tree, so the result is the same from run to run. The moments take two passes over the channel
(mean, then the centred squares), as the Numba CPU kernels do. The two affine maps are one thread per element.
"""
from __future__ import annotations

import math
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


@cuda.jit(device=True)
def _channel_mean_var(x, ch, batch_last, shared):
    """Mean and biased variance of channel ``ch`` (two passes, float64 sums), computed by the whole block."""
    n_size, _, h_size, w_size = x.shape
    count = n_size * h_size * w_size
    t = cuda.threadIdx.x
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
    return m, block_sum(shared, squares) / count


@cuda.jit
def _moments(x, batch_last, mean, var):
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    for ch in range(cuda.blockIdx.x, x.shape[1], cuda.gridDim.x):
        m, v = _channel_mean_var(x, ch, batch_last, shared)
        if cuda.threadIdx.x == 0:
            mean[ch] = m
            var[ch] = v


@cuda.jit(device=True)
def _channel_grad_sums(grad, x, ch, m, batch_last, shared):
    """Channel ``ch``'s ``sum(grad)`` and ``sum(grad * (x - m))`` (float64 sums), computed by the whole block."""
    n_size, _, h_size, w_size = x.shape
    count = n_size * h_size * w_size
    s1 = 0.0
    s2 = 0.0
    for e in range(cuda.threadIdx.x, count, BLOCK):
        n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
        g = float(grad[n, ch, h, w])
        s1 += g
        s2 += g * (x[n, ch, h, w] - m)
    return block_sum(shared, s1), block_sum(shared, s2)


@cuda.jit
def _grad_sums(grad, x, mean, batch_last, sum_grad, sum_grad_centered):
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    for ch in range(cuda.blockIdx.x, x.shape[1], cuda.gridDim.x):
        m = float(mean[ch])  # float64, as every partial sum
        s1, s2 = _channel_grad_sums(grad, x, ch, m, batch_last, shared)
        if cuda.threadIdx.x == 0:
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


# ------------------------------------------------------------------ batch norm in training, one launch each way
# One block per channel does the whole forward for its channel: the two passes of the moments, the per-channel
# scale, shift and running statistics, then the normalised values (a third pass, mostly from L2). The backward
# likewise: the two gradient sums, then the input gradient. No per-channel vector op is left to CuPy.
@cuda.jit
def _train(x, weight, bias, has_weight, has_bias, running_mean, running_var, has_running, momentum,
           momentum_is_array, momentum_value, eps, batch_last, out, mean, inv_std, new_mean, new_var):
    n_size, channels, h_size, w_size = x.shape
    count = n_size * h_size * w_size
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    t = cuda.threadIdx.x
    for ch in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        m, var = _channel_mean_var(x, ch, batch_last, shared)
        istd = 1.0 / math.sqrt(var + eps)
        scale = istd * weight[ch] if has_weight else istd
        shift = float(bias[ch]) if has_bias else 0.0
        for e in range(t, count, BLOCK):
            n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
            out[n, ch, h, w] = (x[n, ch, h, w] - m) * scale + shift
        if t == 0:
            mean[ch] = m
            inv_std[ch] = istd
            if has_running:
                f = momentum[0] if momentum_is_array else momentum_value
                new_mean[ch] = running_mean[ch] * (1.0 - f) + m * f
                new_var[ch] = running_var[ch] * (1.0 - f) + var * (f * count / (count - 1))


@cuda.jit
def _train_grad(grad, x, mean, inv_std, weight, has_weight, batch_last, gx, gw, gb):
    n_size, channels, h_size, w_size = x.shape
    count = n_size * h_size * w_size
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    t = cuda.threadIdx.x
    for ch in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        m = float(mean[ch])
        s1, s2 = _channel_grad_sums(grad, x, ch, m, batch_last, shared)
        istd = float(inv_std[ch])
        gamma = s2 * istd  # the weight's gradient
        scale = istd * weight[ch] if has_weight else istd
        k = -scale / count
        q = k * gamma * istd
        r = k * s1
        for e in range(t, count, BLOCK):
            n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
            gx[n, ch, h, w] = grad[n, ch, h, w] * scale + (x[n, ch, h, w] - m) * q + r
        if t == 0:
            gw[ch] = gamma
            gb[ch] = s1


def batch_norm_train(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any, momentum: Any,
                     eps: float) -> tuple | None:
    """Batch norm's training forward in one launch: (out, mean, inv_std, new running mean, new running var), the
    running pair None when none is tracked; ``momentum`` a float or a 0-d array (no host read either way)."""
    x4 = _covered(x, *(v for v in (weight, bias, running_mean, running_var) if v is not None))
    if x4 is None or math.prod(x.shape) // x.shape[1] < 2:
        return None
    channels = x.shape[1]
    momentum_is_array = running_mean is not None and not isinstance(momentum, (int, float))
    if momentum_is_array and (library(momentum) is not library(x) or momentum.size != 1):
        return None
    batch_last = is_batch_last(x4)
    out = empty_4d(x, tuple(x4.shape), x.dtype, batch_last)
    mean, inv_std = empty(x, (channels,), x.dtype), empty(x, (channels,), x.dtype)
    has_running = running_mean is not None
    new_mean = empty(x, (channels,), x.dtype) if has_running else None
    new_var = empty(x, (channels,), x.dtype) if has_running else None
    vec = mean  # a placeholder for the absent optional vectors (never read)
    launch(_train, blocks_for(channels * BLOCK), x, x4, vec if weight is None else weight,
           vec if bias is None else bias, weight is not None, bias is not None,
           running_mean if has_running else vec, running_var if has_running else vec, has_running,
           momentum.reshape(1) if momentum_is_array else vec, momentum_is_array,
           0.0 if momentum_is_array or not has_running else float(momentum), float(eps), batch_last, out, mean,
           inv_std, new_mean if has_running else vec, new_var if has_running else vec)
    return from_4d(out, x.ndim), mean, inv_std, new_mean, new_var


def batch_norm_train_grad(grad: Any, x: Any, mean: Any, inv_std: Any, weight: Any) -> tuple | None:
    """Batch norm's training backward in one launch: (input, weight, bias) gradients, the input's laid out as
    ``x``."""
    x4 = _covered(x, grad, mean, inv_std, *(() if weight is None else (weight,)))
    if x4 is None or grad.shape != x.shape:
        return None
    channels = x.shape[1]
    batch_last = is_batch_last(x4)
    gx = empty_4d(x, tuple(x4.shape), x.dtype, batch_last)
    gw, gb = empty(x, (channels,), x.dtype), empty(x, (channels,), x.dtype)
    launch(_train_grad, blocks_for(channels * BLOCK), x, as_4d(grad), x4, mean, inv_std,
           mean if weight is None else weight, weight is not None, batch_last, gx, gw, gb)
    return from_4d(gx, x.ndim), gw, gb
