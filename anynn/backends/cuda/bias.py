"""A layer's bias add fused with the ReLU after it, as CUDA kernels; twins ``_bias_relu`` /
``_bias_relu_backward`` in ``anynn/ops/activation.py``.

The forward is one thread per element (``max(x + bias[c], 0)``, the output laid out as ``x``). The backward gives
each channel one block, as batch norm's gradient sums do (``norm.py``): its threads write the input gradient
(``grad`` where the output is positive, else 0) and add it up for the bias gradient in float64, in a fixed tree,
so one launch replaces the ReLU's gradient and the bias gradient's reduction.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from anynn.backends.cuda.norm import _channel_coords
from anynn.backends.cuda.runtime import (BLOCK, FLOATS, as_4d, block_sum, blocks_for, coords, empty, empty_4d,
                                         from_4d, is_batch_last, launch, library)


@cuda.jit
def _forward(x, bias, batch_last, out):
    n_size, channels, h_size, w_size = out.shape
    for i in range(cuda.grid(1), n_size * channels * h_size * w_size, cuda.gridsize(1)):
        n, c, h, w = coords(i, n_size, channels, h_size, w_size, batch_last)
        v = x[n, c, h, w] + bias[c]
        out[n, c, h, w] = 0 if v <= 0 else v  # NaN stays NaN, as in PyTorch


@cuda.jit
def _backward(grad, out, batch_last, gx, gb):
    n_size, channels, h_size, w_size = out.shape
    count = n_size * h_size * w_size
    shared = cuda.shared.array(BLOCK, dtype=np.float64)
    for ch in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        total = 0.0
        for e in range(cuda.threadIdx.x, count, BLOCK):
            n, h, w = _channel_coords(e, n_size, h_size, w_size, batch_last)
            g = grad[n, ch, h, w] if out[n, ch, h, w] > 0 else 0
            gx[n, ch, h, w] = g
            total += g
        total = block_sum(shared, total)
        if cuda.threadIdx.x == 0:
            gb[ch] = total


def bias_relu(x: Any, bias: Any) -> Any:
    """``max(x + bias[c], 0)`` for an (N, C), (N, C, L) or (N, C, H, W) ``x``, laid out as ``x``; one launch."""
    if x.dtype not in FLOATS or bias.dtype != x.dtype or bias.ndim != 1 or x.ndim < 2 or x.ndim > 4 \
            or x.shape[1] != bias.shape[0] or x.size == 0 or library(x) is None:
        return None
    x4 = as_4d(x)
    batch_last = is_batch_last(x4)
    out4 = empty_4d(x, x4.shape, x.dtype, batch_last)
    launch(_forward, blocks_for(x.size), x, x4, bias, batch_last, out4)
    return from_4d(out4, x.ndim)


def bias_relu_backward(grad: Any, out: Any) -> tuple[Any, Any] | None:
    """The input gradient (laid out as ``out``) and the bias gradient (C,): one block per channel, one launch."""
    if grad.dtype not in FLOATS or grad.dtype != out.dtype or grad.shape != out.shape or library(grad) is None:
        return None
    out4, grad4 = as_4d(out), as_4d(grad)
    batch_last = is_batch_last(out4)
    gx4 = empty_4d(out, out4.shape, out.dtype, batch_last)
    gb = empty(out, (out.shape[1],), out.dtype)
    launch(_backward, blocks_for(out.shape[1] * BLOCK), out, grad4, out4, batch_last, gx4, gb)
    return from_4d(gx4, out.ndim), gb


__all__ = ["bias_relu", "bias_relu_backward"]
