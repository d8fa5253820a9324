"""Max pooling that records each window's winner in one byte, and its one-scatter backward; twins in
``anynn/ops/pool.py``."""
from __future__ import annotations

import numpy as np
from numba import prange

from anynn.backends.numba.runtime import _FLOATS, _kernel, _one_at_a_time


# ------------------------------------------------------------------ max pooling
@_kernel()
def _max_pool(x, kh, kw, sh, sw, dh, dw, pt, pl, out, arg):
    outer, channels, h_in, w_in, inner = x.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    for slab in prange(outer * channels):
        o, ch = slab // channels, slab % channels
        for oh in range(oh_n):
            for ow in range(ow_n):
                first = True
                for i in range(kh):
                    h = oh * sh + i * dh - pt
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = ow * sw + j * dw - pl
                        if w < 0 or w >= w_in:
                            continue
                        index = i * kw + j
                        if first:
                            for k in range(inner):
                                out[o, ch, oh, ow, k] = x[o, ch, h, w, k]
                                arg[o, ch, oh, ow, k] = index
                            first = False
                        else:
                            for k in range(inner):
                                v = x[o, ch, h, w, k]
                                if v > out[o, ch, oh, ow, k] or v != v:  # PyTorch's rule: the last NaN wins
                                    out[o, ch, oh, ow, k] = v
                                    arg[o, ch, oh, ow, k] = index
                if first:  # a dilated window that sees only padding: -inf, as PyTorch, and no winner
                    for k in range(inner):
                        out[o, ch, oh, ow, k] = -np.inf
                        arg[o, ch, oh, ow, k] = -1


@_kernel()
def _max_pool_backward(grad, arg, kh, kw, sh, sw, dh, dw, pt, pl, disjoint, tiled, dx):
    outer, channels, oh_n, ow_n, inner = grad.shape
    h_in, w_in = dx.shape[2], dx.shape[3]
    for slab in prange(outer * channels):
        o, ch = slab // channels, slab % channels
        if not tiled:
            dx[o, ch] = 0
        for oh in range(oh_n):
            for ow in range(ow_n):
                for i in range(kh):
                    h = oh * sh + i * dh - pt
                    if h < 0 or h >= h_in:
                        continue
                    for j in range(kw):
                        w = ow * sw + j * dw - pl
                        if w < 0 or w >= w_in:
                            continue
                        index = i * kw + j
                        if disjoint:  # each input element belongs to one window: set, branch-free
                            for k in range(inner):
                                dx[o, ch, h, w, k] = grad[o, ch, oh, ow, k] if arg[o, ch, oh, ow, k] == index else 0
                        else:
                            for k in range(inner):
                                if arg[o, ch, oh, ow, k] == index:
                                    dx[o, ch, h, w, k] += grad[o, ch, oh, ow, k]


def _batch_innermost(x: np.ndarray) -> bool:
    """True if the batch axis of an (N, C, H, W) array varies fastest in memory (the conv layers' layout)."""
    return abs(x.strides[0]) < abs(x.strides[3]) and x.shape[0] > 1


def _pool_view(a: np.ndarray, batch_last: bool) -> np.ndarray:
    """(N, C, H, W) as the 5-D (outer, C, H, W, inner) view the pooling kernels loop over."""
    return a.transpose(1, 2, 3, 0)[None] if batch_last else a[..., None]


def _empty_4d(shape: tuple[int, int, int, int], dtype, batch_last: bool) -> np.ndarray:
    """An uninitialised (N, C, H, W) array, stored batch-last (C, H, W, N) if ``batch_last``."""
    n, c, h, w = shape
    return np.empty((c, h, w, n), dtype=dtype).transpose(3, 0, 1, 2) if batch_last else np.empty(shape, dtype=dtype)


@_one_at_a_time
def max_pool2d(x: np.ndarray, window, stride, dilation, pads,
               out_hw) -> tuple[np.ndarray, np.ndarray] | None:
    """Max over each window of an (N, C, H, W) array (padding never wins) and the winning offset per output."""
    if x.ndim != 4 or x.dtype not in _FLOATS or window[0] * window[1] > 127:
        return None
    batch_last = _batch_innermost(x)
    shape = (x.shape[0], x.shape[1], *out_hw)
    out = _empty_4d(shape, x.dtype, batch_last)
    arg = _empty_4d(shape, np.int8, batch_last)
    _max_pool(_pool_view(x, batch_last), *window, *stride, *dilation, pads[0][0], pads[1][0],
              _pool_view(out, batch_last), _pool_view(arg, batch_last))
    return out, arg


@_one_at_a_time
def max_pool2d_backward(grad: np.ndarray, arg: np.ndarray, x_shape, window, stride, dilation,
                        pads) -> np.ndarray:
    """The gradient of :func:`max_pool2d`: each output's gradient added at its window's winning offset."""
    batch_last = _batch_innermost(arg)
    if batch_last and not _batch_innermost(grad):  # e.g. a gradient back through Flatten: match the layout
        relaid = _empty_4d(grad.shape, grad.dtype, batch_last)
        relaid[...] = grad
        grad = relaid
    dx = _empty_4d(tuple(x_shape), grad.dtype, batch_last)
    disjoint = all(k == 1 or s > d * (k - 1) for k, s, d in zip(window, stride, dilation))
    tiled = disjoint and pads[0] == pads[1] == (0, 0) and all(
        s == k and n == o * s for k, s, n, o in zip(window, stride, x_shape[2:], grad.shape[2:]))
    _max_pool_backward(_pool_view(grad, batch_last), _pool_view(arg, batch_last), *window, *stride, *dilation,
                       pads[0][0], pads[1][0], disjoint, tiled, _pool_view(dx, batch_last))
    return dx
