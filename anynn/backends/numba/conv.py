"""im2col/col2im straight from and to the unpadded batch-last input, and direct convolution loops for tiny
first layers; twins in ``anynn/ops/conv.py``."""
from __future__ import annotations

import numpy as np
from numba import prange

from anynn.backends.numba.runtime import _FLOATS, _REASSOC, _kernel, _one_at_a_time


# ------------------------------------------------------------------ im2col / col2im (batch-last layout)
_IM2COL_MIN = 1 << 23


@_kernel()
def _im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, cols):
    channels, h_in, w_in, n = x.shape
    oh_n, ow_n = cols.shape[3], cols.shape[4]
    for row in prange(channels * kh * kw):
        ch = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        for oh in range(oh_n):
            h = oh * sh + i * dh - pt
            for ow in range(ow_n):
                w = ow * sw + j * dw - pl
                if h < 0 or h >= h_in or w < 0 or w >= w_in:  # the zero padding
                    for k in range(n):
                        cols[ch, i, j, oh, ow, k] = 0
                else:
                    for k in range(n):
                        cols[ch, i, j, oh, ow, k] = x[ch, h, w, k]


@_kernel()
def _col2im(cols, sh, sw, dh, dw, pt, pl, out):
    channels, kh, kw, oh_n, ow_n, n = cols.shape
    h_in, w_in = out.shape[1], out.shape[2]
    for ch in prange(channels):
        out[ch] = 0
        for i in range(kh):
            for j in range(kw):
                for oh in range(oh_n):
                    h = oh * sh + i * dh - pt
                    if h < 0 or h >= h_in:
                        continue
                    for ow in range(ow_n):
                        w = ow * sw + j * dw - pl
                        if w < 0 or w >= w_in:
                            continue
                        for k in range(n):
                            out[ch, h, w, k] += cols[ch, i, j, oh, ow, k]


@_one_at_a_time
def im2col(x: np.ndarray, window, stride, dilation, pads, out_hw) -> np.ndarray | None:
    """Backend.im2col on all cores, straight from the (N, C, H, W) input (padding written as zeros, no
    padded copy). Below ~8M output values NumPy's single strided copy is as fast (measured): left to it."""
    n, c = x.shape[0], x.shape[1]
    if x.dtype not in _FLOATS or c * window[0] * window[1] * out_hw[0] * out_hw[1] * n < _IM2COL_MIN:
        return None
    cols = np.empty((c, window[0], window[1], out_hw[0], out_hw[1], n), dtype=x.dtype)
    _im2col(x.transpose(1, 2, 3, 0), *window, *stride, *dilation, pads[0][0], pads[1][0], cols)
    return cols.reshape(c * window[0] * window[1], -1)


@_one_at_a_time
def col2im(cols: np.ndarray, x_shape, window, stride, dilation, pads, out_hw) -> np.ndarray | None:
    """Backend.col2im on all cores: each channel's sum made in one pass over its patches, only inside the
    input (nothing is accumulated on the padding), returned batch-last and contiguous."""
    if cols.dtype not in _FLOATS:
        return None
    n, c, h, w = x_shape
    out = np.empty((c, h, w, n), dtype=cols.dtype)
    _col2im(np.ascontiguousarray(cols).reshape(c, window[0], window[1], out_hw[0], out_hw[1], n),
            *stride, *dilation, pads[0][0], pads[1][0], out)
    return out.transpose(3, 0, 1, 2)


# ------------------------------------------------------------------ direct convolution (tiny first layers)
# LeNet-5's first conv (1 -> 6 channels, 5x5) has 25 products per output and 6 outputs per pixel: im2col copies
# its input 25 times for GEMMs with 6 rows and a 25-long inner dimension (20-40 GFLOP/s). These loops read the
# input in place instead, each inner loop along the batch. Their standard twins are ConvNd's im2col GEMMs.
# Measured in a training step: LeNet-5's first conv 1.5x faster (fwd 2.95 -> 1.9 ms, weight grad 3.3 -> 2.6 ms);
# vgg_small's (3 -> 32 channels, 3x3) 1.3x slower, since the GEMM shares each copied value among 32 outputs.
# Taps on the padding are skipped rather than multiplied by zero, so an infinite weight gives inf there where
# im2col (and PyTorch) give NaN.
_DIRECT_MAX_TAPS = 32  # C*kh*kw
_DIRECT_MAX_OUT = 16  # output channels
_DIRECT_MIN_BATCH = 16  # the batch is the vectorised axis


@_kernel(fastmath=_REASSOC)
def _conv_direct(x, w, bias, sh, sw, dh, dw, pt, pl, y):
    channels, h_in, w_in, n = x.shape
    outs, _, kh, kw = w.shape
    oh_n, ow_n = y.shape[1], y.shape[2]
    for o in prange(outs):
        line = np.empty(n, dtype=y.dtype)
        for oh in range(oh_n):
            for ow in range(ow_n):
                line[:] = bias[o]
                for c in range(channels):
                    for i in range(kh):
                        h = oh * sh + i * dh - pt
                        if h < 0 or h >= h_in:  # the zero padding
                            continue
                        for j in range(kw):
                            col = ow * sw + j * dw - pl
                            if col < 0 or col >= w_in:
                                continue
                            coef = w[o, c, i, j]
                            for k in range(n):
                                line[k] += coef * x[c, h, col, k]
                y[o, oh, ow, :] = line


@_kernel(fastmath=_REASSOC)
def _conv_direct_weight_grad(x, g, sh, sw, dh, dw, pt, pl, gw):
    channels, h_in, w_in, n = x.shape
    outs, _, kh, kw = gw.shape
    oh_n, ow_n = g.shape[1], g.shape[2]
    for task in prange(outs * channels):
        o, c = task // channels, task % channels
        acc = np.zeros((kh, kw, n), dtype=gw.dtype)  # per-lane partial sums, added up at the end
        for oh in range(oh_n):
            for ow in range(ow_n):
                for i in range(kh):
                    h = oh * sh + i * dh - pt
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        col = ow * sw + j * dw - pl
                        if col < 0 or col >= w_in:
                            continue
                        for k in range(n):
                            acc[i, j, k] += g[o, oh, ow, k] * x[c, h, col, k]
        for i in range(kh):
            for j in range(kw):
                gw[o, c, i, j] = acc[i, j, :].sum()


def _batch_last(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) as a (C, H, W, N) view whose batch axis is contiguous (copied if needed: these layers' inputs
    are small, and the loops vectorise along the batch)."""
    view = a.transpose(1, 2, 3, 0)
    return view if view.strides[3] == a.itemsize else np.ascontiguousarray(view)


def _direct_applies(x: np.ndarray, weight: np.ndarray, groups: int) -> bool:
    taps = weight.shape[1] * weight.shape[2] * weight.shape[3]
    return (groups == 1 and x.dtype in _FLOATS and weight.dtype == x.dtype and x.shape[0] >= _DIRECT_MIN_BATCH
            and taps <= _DIRECT_MAX_TAPS and weight.shape[0] <= _DIRECT_MAX_OUT
            and weight.shape[2] * weight.shape[3] > 1)  # a 1x1 conv's im2col is no copy: its GEMM wins (measured)


@_one_at_a_time
def conv2d_direct(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride, dilation, pads, out_hw,
                  groups: int) -> np.ndarray | None:
    """conv2d of (N, C, H, W) input straight from its memory (no im2col) for tiny layers (``_DIRECT_*``: few
    products per output, few outputs); returned batch-last, as ConvNd's GEMM gives it. None elsewhere."""
    if not _direct_applies(x, weight, groups) or (bias is not None and bias.dtype != x.dtype):
        return None
    n, outs = x.shape[0], weight.shape[0]
    y = np.empty((outs, out_hw[0], out_hw[1], n), dtype=x.dtype)
    bias = np.zeros(outs, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)
    _conv_direct(_batch_last(x), np.ascontiguousarray(weight), bias, *stride, *dilation, pads[0][0], pads[1][0], y,
                 work=y.size * weight[0].size)
    return y.transpose(3, 0, 1, 2)


@_one_at_a_time
def conv2d_direct_weight_grad(x: np.ndarray, grad: np.ndarray, weight_shape, stride, dilation, pads) -> np.ndarray:
    """The weight gradient of :func:`conv2d_direct` from the input and the output gradient, in one pass
    (called only after :func:`conv2d_direct` ran, so the case is one it covers)."""
    gw = np.empty(weight_shape, dtype=x.dtype)
    _conv_direct_weight_grad(_batch_last(x), _batch_last(grad.astype(x.dtype, copy=False)), *stride, *dilation,
                             pads[0][0], pads[1][0], gw, work=grad.size * gw[0].size)
    return gw
