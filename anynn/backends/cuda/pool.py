"""Max pooling that records each window's winner in one byte, and its backward as a gather: one thread per
input element sums the gradients of the windows that cover it and chose it, in a fixed order (no atomics,
the same result every run). Twins in ``anynn/ops/pool.py``."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from anynn.backends.cuda.runtime import FLOATS, blocks_for, coords, empty_4d, is_batch_last, launch, library


@cuda.jit
def _max_pool(x, kh, kw, sh, sw, dh, dw, pt, pl, batch_last, out, arg):
    n_size, channels, h_in, w_in = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    for index in range(cuda.grid(1), n_size * channels * oh_n * ow_n, cuda.gridsize(1)):
        n, c, oh, ow = coords(index, n_size, channels, oh_n, ow_n, batch_last)
        best = -math.inf
        winner = -1  # a dilated window that sees only padding: -inf, as PyTorch, and no winner
        for i in range(kh):
            h = oh * sh + i * dh - pt
            if h < 0 or h >= h_in:
                continue
            for j in range(kw):
                w = ow * sw + j * dw - pl
                if w < 0 or w >= w_in:
                    continue
                v = x[n, c, h, w]
                # the first maximum wins (row-major), padding never; PyTorch's rule for NaN: the last NaN wins
                if winner < 0 or v > best or v != v:
                    best = v
                    winner = i * kw + j
        out[n, c, oh, ow] = best
        arg[n, c, oh, ow] = winner


@cuda.jit
def _max_pool_backward(grad, arg, kh, kw, sh, sw, dh, dw, pt, pl, batch_last, dx):
    n_size, channels, h_in, w_in = dx.shape
    oh_n, ow_n = grad.shape[2], grad.shape[3]
    for index in range(cuda.grid(1), n_size * channels * h_in * w_in, cuda.gridsize(1)):
        n, c, h, w = coords(index, n_size, channels, h_in, w_in, batch_last)
        total = 0.0
        for i in range(kh):  # the windows whose offset (i, j) lands on (h, w), in offset order
            top = h + pt - i * dh
            if top < 0 or top % sh != 0 or top // sh >= oh_n:
                continue
            oh = top // sh
            for j in range(kw):
                left = w + pl - j * dw
                if left < 0 or left % sw != 0 or left // sw >= ow_n:
                    continue
                ow = left // sw
                if arg[n, c, oh, ow] == i * kw + j:
                    total += grad[n, c, oh, ow]
        dx[n, c, h, w] = total


def max_pool2d(x: Any, window, stride, dilation, pads, out_hw) -> tuple[Any, Any] | None:
    """Max over each window of an (N, C, H, W) array and the winning offset per output (int8), batch-last where
    ``x`` is; declines other dtypes and windows of more than 127 offsets."""
    if x.ndim != 4 or x.dtype not in FLOATS or window[0] * window[1] > 127 or library(x) is None:
        return None
    batch_last = is_batch_last(x)
    shape = (x.shape[0], x.shape[1], *out_hw)
    out = empty_4d(x, shape, x.dtype, batch_last)
    arg = empty_4d(x, shape, np.int8, batch_last)
    launch(_max_pool, blocks_for(math.prod(shape)), x, x, *window, *stride, *dilation, pads[0][0], pads[1][0],
           batch_last, out, arg)
    return out, arg


def max_pool2d_backward(grad: Any, arg: Any, x_shape, window, stride, dilation, pads) -> Any:
    """The gradient of :func:`max_pool2d`, laid out as its winners; ``grad`` may have any strides (e.g. plain,
    back through Flatten). Never declines: the winners are this backend's own."""
    batch_last = is_batch_last(arg)
    dx = empty_4d(grad, tuple(x_shape), grad.dtype, batch_last)
    launch(_max_pool_backward, blocks_for(math.prod(x_shape)), grad, grad, arg, *window, *stride, *dilation,
           pads[0][0], pads[1][0], batch_last, dx)
    return dx
