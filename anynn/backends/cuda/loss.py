"""Softmax cross-entropy of (N, C) logits and (N,) class indices as two CUDA kernels; twins
``softmax_cross_entropy`` / ``softmax_cross_entropy_grad`` in ``anynn/ops/loss.py``.

The forward gives each row one block: the row's maximum and the sum of its exponentials are block reductions
in float64 (a fixed tree: the same result every run), then each thread writes its classes' log-probabilities
and thread 0 the row's loss and weight (1 for a target in [0, C), 0 for ``ignore_index``, NaN for any other
index, which is clamped and never used to read memory). The backward is one thread per logit.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from anynn.backends.cuda.runtime import (BLOCK, FLOATS, block_max, block_sum, blocks_for, empty, launch, library,
                                         nan_max)

_INT64 = np.dtype(np.int64)


@cuda.jit
def _forward(x, target, ignore_index, eps, loss, logp, weight):
    n_rows, classes = x.shape
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    t = cuda.threadIdx.x
    for row in range(cuda.blockIdx.x, n_rows, cuda.gridDim.x):
        m = -math.inf
        for k in range(t, classes, BLOCK):
            m = nan_max(m, float(x[row, k]))
        m = block_max(shared, m)
        total = 0.0
        for k in range(t, classes, BLOCK):
            total += math.exp(float(x[row, k]) - m)
        lse = math.log(block_sum(shared, total))
        logp_sum = 0.0
        for k in range(t, classes, BLOCK):
            v = float(x[row, k]) - m - lse
            logp[row, k] = v
            logp_sum += v
        logp_sum = block_sum(shared, logp_sum)
        if t == 0:
            index = target[row]
            safe = min(max(index, 0), classes - 1)
            ignored = index == ignore_index
            w = 0.0 if ignored else 1.0
            if safe != index and not ignored:
                w = math.nan
            nll = float(x[row, safe]) - m - lse
            if eps > 0:
                nll = (1.0 - eps) * nll + (eps / classes) * logp_sum
            loss[row] = -w * nll
            weight[row] = w


@cuda.jit
def _backward(g, logp, target, weight, eps, out):
    n_rows, classes = logp.shape
    g_per_row = g.shape[0] == n_rows
    for i in range(cuda.grid(1), n_rows * classes, cuda.gridsize(1)):
        row = i // classes
        k = i % classes
        q = 1.0 if target[row] == k else 0.0
        if eps != 0:
            q = (1.0 - eps) * q + eps / classes
        scale = (g[row] if g_per_row else g[0]) * weight[row]
        out[row, k] = (math.exp(logp[row, k]) - q) * scale


def softmax_cross_entropy(x: Any, target: Any, ignore_index: int, label_smoothing: float) -> tuple | None:
    """(per-sample loss (N,), log-probabilities (N, C), per-sample weight (N,)) in one launch."""
    if x.ndim != 2 or x.dtype not in FLOATS or target.shape != x.shape[:1] or target.dtype != _INT64 \
            or 0 in x.shape or library(x) is None:
        return None
    n_rows, classes = x.shape
    loss = empty(x, (n_rows,), x.dtype)
    logp = empty(x, (n_rows, classes), x.dtype)
    weight = empty(x, (n_rows,), x.dtype)
    launch(_forward, blocks_for(n_rows * BLOCK), x, x, target, int(ignore_index), float(label_smoothing), loss,
           logp, weight)
    return loss, logp, weight


def softmax_cross_entropy_grad(g: Any, logp: Any, target: Any, weight: Any, label_smoothing: float) -> Any:
    """``(softmax - q) * g * weight``, ``q`` the smoothed one-hot target; ``g`` per sample (N,) or one 0-d
    value (the 'mean' and 'sum' reductions)."""
    if logp.ndim != 2 or logp.dtype not in FLOATS or g.dtype != logp.dtype or weight.dtype != logp.dtype \
            or g.ndim > 1 or target.dtype != _INT64 or library(logp) is None:
        return None
    n_rows, classes = logp.shape
    if g.ndim == 1 and g.shape[0] != n_rows:
        return None
    out = empty(logp, (n_rows, classes), logp.dtype)
    launch(_backward, blocks_for(n_rows * classes), logp, g.reshape(-1), logp, target, weight,
           float(label_smoothing), out)
    return out
