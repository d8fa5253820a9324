"""im2col and col2im as CUDA kernels, straight from and to the unpadded input (padding read as zeros); col2im
is a gather, one thread per input element summing its patches in offset order (no atomics, the same result
every run). Twins in ``anynn/ops/im2col.py``.

Layout (as the twins): ``cols`` rows (c, i, j), columns (oh, ow, n) with the batch innermost; col2im's result
is batch-last (C, H, W, N) memory seen as (N, C, H, W).
"""
from __future__ import annotations

from typing import Any

from numba import cuda

from anynn.backends.cuda.runtime import FLOATS, blocks_for, empty, launch, library


@cuda.jit
def _im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, ow_n, cols):
    n_size, channels, h_in, w_in = x.shape
    rows, columns = cols.shape
    for index in range(cuda.grid(1), rows * columns, cuda.gridsize(1)):
        row = index // columns
        column = index % columns
        n = column % n_size
        ow = (column // n_size) % ow_n
        oh = column // (n_size * ow_n)
        j = row % kw
        i = (row // kw) % kh
        c = row // (kw * kh)
        h = oh * sh + i * dh - pt
        w = ow * sw + j * dw - pl
        if h < 0 or h >= h_in or w < 0 or w >= w_in:  # the zero padding
            cols[row, column] = 0
        else:
            cols[row, column] = x[n, c, h, w]


@cuda.jit
def _col2im(cols, kh, kw, sh, sw, dh, dw, pt, pl, oh_n, ow_n, out):
    channels, h_in, w_in, n_size = out.shape
    for index in range(cuda.grid(1), channels * h_in * w_in * n_size, cuda.gridsize(1)):
        n = index % n_size
        rest = index // n_size
        w = rest % w_in
        rest = rest // w_in
        h = rest % h_in
        c = rest // h_in
        total = 0.0
        for i in range(kh):
            top = h + pt - i * dh
            if top < 0 or top % sh != 0 or top // sh >= oh_n:
                continue
            oh = top // sh
            for j in range(kw):
                left = w + pl - j * dw
                if left < 0 or left % sw != 0 or left // sw >= ow_n:
                    continue
                ow = left // sw
                total += cols[(c * kh + i) * kw + j, (oh * ow_n + ow) * n_size + n]
        out[c, h, w, n] = total


def im2col(x: Any, window, stride, dilation, pads, out_hw) -> Any:
    """The patches of an (N, C, H, W) input (any strides; batch-last reads coalesce) as a contiguous
    (C*kh*kw, OH*OW*N) array."""
    if x.ndim != 4 or x.dtype not in FLOATS or library(x) is None:
        return None
    n, c = x.shape[0], x.shape[1]
    cols = empty(x, (c * window[0] * window[1], out_hw[0] * out_hw[1] * n), x.dtype)
    launch(_im2col, blocks_for(cols.size), x, x, *window, *stride, *dilation, pads[0][0], pads[1][0], out_hw[1],
           cols)
    return cols


def col2im(cols: Any, x_shape, window, stride, dilation, pads, out_hw) -> Any:
    """The adjoint of :func:`im2col`: the (N, C, H, W) input gradient, batch-last (C, H, W, N) in memory."""
    if cols.ndim != 2 or cols.dtype not in FLOATS or library(cols) is None:
        return None
    n, c, h, w = x_shape
    out = empty(cols, (c, h, w, n), cols.dtype)
    launch(_col2im, blocks_for(out.size), cols, cols, *window, *stride, *dilation, pads[0][0], pads[1][0],
           out_hw[0], out_hw[1], out)
    return out.transpose(3, 0, 1, 2)
