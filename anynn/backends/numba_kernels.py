"""Compiled CPU kernels for the NumPy backend (Numba): fused, multi-threaded versions of the passes NumPy
runs one array-sized operation at a time, on one core.

Each kernel has a standard-only twin in the op that uses it (``anynn/ops/norm.py``, ``pool.py``,
``elementwise.py``, ``winograd.py``, ``conv.py``'s im2col GEMMs) or in ``Backend`` (im2col/col2im);
``tests/backends/test_numba_kernels.py`` proves every pair agrees. A wrapper returns ``None`` for a case it
does not cover (a dtype other than float32/float64, an unusual rank), and the caller then runs the standard
twin. Numba is optional: without it, or with
``ANYNN_NUMBA=0``, nothing here is used.

Process-wide effects of importing this module: Numba's threading layer becomes the work queue (unless
NUMBA_THREADING_LAYER is set), which aborts on parallel Numba code run from two threads at once, so anynn's own
kernels take a lock; other Numba code of yours running in threads should set NUMBA_THREADING_LAYER itself.

Layouts: the wrappers take arrays in their logical (N, C, ...) shape, in whatever memory order they have
(convolutions hand on batch-last (C, H, W, N) memory), and give the kernels views ordered so the innermost loop
walks the fastest-varying axis. Outputs are allocated in the input's memory order, except the convolution
passes', which are batch-last like ConvNd's GEMM results.
"""
from __future__ import annotations

import functools
import os
import threading
import types

import numba
import numpy as np
from numba import njit, prange

if "NUMBA_THREADING_LAYER" not in os.environ:
    # OpenMP's worker threads spin after each kernel and starve OpenBLAS's (measured: 3x slower steps on 2
    # cores); the simple work queue sleeps. It is not re-entrant, hence the lock in ``_one_at_a_time``.
    numba.config.THREADING_LAYER = "workqueue"
_LOCK = threading.Lock()


def _one_at_a_time(wrapper):
    """One kernel at a time across Python threads (the work queue aborts the process on concurrent use)."""
    @functools.wraps(wrapper)
    def run(*args, **kwargs):
        with _LOCK:
            return wrapper(*args, **kwargs)
    return run


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_REASSOC = {"reassoc", "contract"}  # lets sums vectorise; keeps NaN/inf semantics (no 'nnan'/'ninf')
_PARALLEL_MIN = 1 << 21  # elements; below this, starting the threads costs more than they save (~0.1 ms)


class _Kernel:
    """A loop compiled twice: across all threads (``prange``) for large arrays, serially for small ones."""

    def __init__(self, fn, fastmath):
        self.parallel = njit(parallel=True, cache=True, nogil=True, fastmath=fastmath)(fn)
        serial = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_one_at_a_time")
        serial.__qualname__ = fn.__qualname__ + "_one_at_a_time"  # its own on-disk cache entry
        self.serial = njit(cache=True, nogil=True, fastmath=fastmath)(serial)

    def __call__(self, *args, work: int | None = None):
        """Run on all threads if ``work`` (default: the largest array's size) reaches ``_PARALLEL_MIN``."""
        if (max(a.size for a in args if isinstance(a, np.ndarray)) if work is None else work) < _PARALLEL_MIN:
            return self.serial(*args)
        if quiet_blas is not None:
            quiet_blas()
        numba.set_num_threads(_threads)  # the count is per calling thread in Numba
        return self.parallel(*args)


#: Called before each multi-threaded kernel (set by the numpy backend): OpenBLAS's idle threads spin for
#: ~0.1 s after every GEMM, and sharing the cores with them halves these kernels.
quiet_blas = None
_threads = numba.config.NUMBA_NUM_THREADS


def _kernel(fastmath=False):
    """Decorator: compile ``fn`` as a :class:`_Kernel` (``fastmath``: Numba's flag set for its reductions)."""
    return lambda fn: _Kernel(fn, fastmath)


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
def _affine2(grad, x, mean, p, q, r, out):
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


def _channel_view(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``a`` permuted by ``order`` and padded to (C, X, Y, Z) with leading unit axes after the channel."""
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
    _moments(_channel_view(x, order), mean, var)
    return mean, var


@_one_at_a_time
def channel_affine(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray | None:
    """``(x - mean[c]) * scale[c] + shift[c]`` over the channel axis 1, in ``x``'s memory order."""
    order = _channel_order(x)
    if order is None or any(v.dtype != x.dtype for v in (mean, scale, shift)):
        return None
    out = np.empty_like(x)
    _affine(_channel_view(x, order), mean, scale, shift, _channel_view(out, order))
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
    _grad_sums(_channel_view(grad, order), _channel_view(x, order), mean, sum_grad, sum_grad_centered)
    return sum_grad, sum_grad_centered


@_one_at_a_time
def channel_affine2(grad: np.ndarray, x: np.ndarray, mean: np.ndarray, p: np.ndarray, q: np.ndarray,
                    r: np.ndarray) -> np.ndarray | None:
    """``grad * p[c] + (x - mean[c]) * q[c] + r[c]`` in one pass (batch norm's input gradient)."""
    order = _channel_order(x)
    if order is None or grad.shape != x.shape or any(v.dtype != x.dtype for v in (grad, mean, p, q, r)):
        return None
    out = np.empty_like(x)
    _affine2(_channel_view(grad, order), _channel_view(x, order), mean, p, q, r, _channel_view(out, order))
    return out


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


def _flat(a: np.ndarray) -> np.ndarray | None:
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
    flats = [_flat(a) for a in arrays]
    return None if any(f is None for f in flats) else flats


@_one_at_a_time
def relu(x: np.ndarray) -> np.ndarray | None:
    """``max(x, 0)`` on all cores, in ``x``'s memory order."""
    flats = _same_block(x)
    if flats is None:
        return None
    out = np.empty_like(x)
    _relu(flats[0], _flat(out))
    return out


@_one_at_a_time
def relu_backward(grad: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """``grad`` where the ReLU's output ``y`` is positive, else 0."""
    flats = _same_block(grad, y)
    if flats is None:
        return None
    out = np.empty_like(grad)
    _relu_backward(*flats, _flat(out))
    return out


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
def max_pool2d(x: np.ndarray, kernel, stride, dilation, pads,
               out_hw) -> tuple[np.ndarray, np.ndarray] | None:
    """Max over each window of an (N, C, H, W) array (padding never wins) and the winning offset per output."""
    if x.ndim != 4 or x.dtype not in _FLOATS or kernel[0] * kernel[1] > 127:
        return None
    batch_last = _batch_innermost(x)
    shape = (x.shape[0], x.shape[1], *out_hw)
    out = _empty_4d(shape, x.dtype, batch_last)
    arg = _empty_4d(shape, np.int8, batch_last)
    _max_pool(_pool_view(x, batch_last), *kernel, *stride, *dilation, pads[0][0], pads[1][0],
              _pool_view(out, batch_last), _pool_view(arg, batch_last))
    return out, arg


@_one_at_a_time
def max_pool2d_backward(grad: np.ndarray, arg: np.ndarray, x_shape, kernel, stride, dilation,
                        pads) -> np.ndarray:
    """The gradient of :func:`max_pool2d`: each output's gradient added at its window's winning offset."""
    batch_last = _batch_innermost(arg)
    if batch_last and not _batch_innermost(grad):  # e.g. a gradient back through Flatten: match the layout
        relaid = _empty_4d(grad.shape, grad.dtype, batch_last)
        relaid[...] = grad
        grad = relaid
    dx = _empty_4d(tuple(x_shape), grad.dtype, batch_last)
    disjoint = all(k == 1 or s > d * (k - 1) for k, s, d in zip(kernel, stride, dilation))
    tiled = disjoint and pads[0] == pads[1] == (0, 0) and all(
        s == k and n == o * s for k, s, n, o in zip(kernel, stride, x_shape[2:], grad.shape[2:]))
    _max_pool_backward(_pool_view(grad, batch_last), _pool_view(arg, batch_last), *kernel, *stride, *dilation,
                       pads[0][0], pads[1][0], disjoint, tiled, _pool_view(dx, batch_last))
    return dx


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
def im2col(x: np.ndarray, kernel, stride, dilation, pads, out_hw) -> np.ndarray | None:
    """Backend.im2col on all cores, straight from the (N, C, H, W) input (padding written as zeros, no
    padded copy). Below ~8M output values NumPy's single strided copy is as fast (measured): left to it."""
    n, c = x.shape[0], x.shape[1]
    if x.dtype not in _FLOATS or c * kernel[0] * kernel[1] * out_hw[0] * out_hw[1] * n < _IM2COL_MIN:
        return None
    cols = np.empty((c, kernel[0], kernel[1], out_hw[0], out_hw[1], n), dtype=x.dtype)
    _im2col(x.transpose(1, 2, 3, 0), *kernel, *stride, *dilation, pads[0][0], pads[1][0], cols)
    return cols.reshape(c * kernel[0] * kernel[1], -1)


@_one_at_a_time
def col2im(cols: np.ndarray, x_shape, kernel, stride, dilation, pads, out_hw) -> np.ndarray | None:
    """Backend.col2im on all cores: each channel's sum made in one pass over its patches, only inside the
    input (nothing is accumulated on the padding), returned batch-last and contiguous."""
    if cols.dtype not in _FLOATS:
        return None
    n, c, h, w = x_shape
    out = np.empty((c, h, w, n), dtype=cols.dtype)
    _col2im(np.ascontiguousarray(cols).reshape(c, kernel[0], kernel[1], out_hw[0], out_hw[1], n),
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


# ------------------------------------------------------------------ Winograd F(m x m, 3x3) tile passes
# Tiles of the batch-last layout: a (C, H, W, N) input becomes a*a planes (a*a, C, TH, TW, N) for a = m + 2,
# plane a*i + j holding entry (i, j) of each tile's transform. Each tile is transformed along its rows into a
# small scratch block, then along its columns; every inner loop walks the batch (contiguous, vectorised), and
# zero coefficients are skipped. The matrices come from anynn/ops/winograd.py, whose standard-only twins these
# must equal. The four loops look alike but index their own arrays directly: one helper taking tile views was
# 2x slower (measured), since Numba cannot vectorise loops over strided views.

@_kernel()
def _winograd_input(x, bt, m, pt, pl, v):
    channels, h_in, w_in, n = x.shape
    a, th_n, tw_n = bt.shape[0], v.shape[2], v.shape[3]
    for c in prange(channels):
        d = np.zeros((m * th_n + a - m, m * tw_n + a - m, n), dtype=v.dtype)  # this channel, zero-padded
        h0, h1, w0, w1 = max(0, -pt), min(h_in, d.shape[0] - pt), max(0, -pl), min(w_in, d.shape[1] - pl)
        if x.strides[3] <= x.strides[2]:  # batch innermost in memory (a conv's output)
            for h in range(h0, h1):
                for w in range(w0, w1):
                    for k in range(n):
                        d[h + pt, w + pl, k] = x[c, h, w, k]
        else:  # plain (N, C, H, W): 16 images at a time, each read along its rows
            for k0 in range(0, n, 16):
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        for k in range(k0, min(k0 + 16, n)):
                            d[h + pt, w + pl, k] = x[c, h, w, k]
        rows = np.empty((a, a, n), dtype=v.dtype)
        line = np.empty(n, dtype=v.dtype)
        for ti in range(th_n):
            for tj in range(tw_n):
                for i in range(a):  # rows[i, j] = sum_r bt[i, r] d[r, j]
                    for j in range(a):
                        line[:] = 0
                        for r in range(a):
                            coef = bt[i, r]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * d[m * ti + r, m * tj + j, k]
                        rows[i, j, :] = line
                for i in range(a):  # v[i, j] = sum_q rows[i, q] bt[j, q]
                    for j in range(a):
                        line[:] = 0
                        for q in range(a):
                            coef = bt[j, q]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * rows[i, q, k]
                        v[a * i + j, c, ti, tj, :] = line


@_kernel()
def _winograd_output(mm, at, bias, y):
    channels, oh_n, ow_n, n = y.shape
    m, a, th_n, tw_n = at.shape[0], at.shape[1], mm.shape[2], mm.shape[3]
    for o in prange(channels):
        tiles = np.empty((m * th_n, m * tw_n, n), dtype=y.dtype)
        rows = np.empty((m, a, n), dtype=y.dtype)
        line = np.empty(n, dtype=y.dtype)
        for ti in range(th_n):
            for tj in range(tw_n):
                for i in range(m):  # rows[i, j] = sum_r at[i, r] M[r, j]
                    for j in range(a):
                        line[:] = 0
                        for r in range(a):
                            coef = at[i, r]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * mm[a * r + j, o, ti, tj, k]
                        rows[i, j, :] = line
                for i in range(m):  # y[i, j] = sum_q rows[i, q] at[j, q] + bias
                    for j in range(m):
                        line[:] = bias[o]
                        for q in range(a):
                            coef = at[j, q]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * rows[i, q, k]
                        tiles[m * ti + i, m * tj + j, :] = line
        for i in range(oh_n):  # a size not divisible by m leaves the last tiles partly used
            for j in range(ow_n):
                for k in range(n):
                    y[o, i, j, k] = tiles[i, j, k]


@_kernel()
def _winograd_grad_output(g, at, dm):
    channels, oh_n, ow_n, n = g.shape
    m, a, th_n, tw_n = at.shape[0], at.shape[1], dm.shape[2], dm.shape[3]
    for o in prange(channels):
        y = np.zeros((m * th_n, m * tw_n, n), dtype=dm.dtype)  # this channel's gradient, zero-padded to whole tiles
        if g.strides[3] <= g.strides[2]:  # batch innermost in memory
            for i in range(oh_n):
                for j in range(ow_n):
                    for k in range(n):
                        y[i, j, k] = g[o, i, j, k]
        else:  # plain (N, C, H, W): 16 images at a time, each read along its rows
            for k0 in range(0, n, 16):
                for i in range(oh_n):
                    for j in range(ow_n):
                        for k in range(k0, min(k0 + 16, n)):
                            y[i, j, k] = g[o, i, j, k]
        rows = np.empty((a, m, n), dtype=dm.dtype)
        line = np.empty(n, dtype=dm.dtype)
        for ti in range(th_n):
            for tj in range(tw_n):
                for i in range(a):  # rows[i, j] = sum_r at[r, i] Y[r, j]
                    for j in range(m):
                        line[:] = 0
                        for r in range(m):
                            coef = at[r, i]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * y[m * ti + r, m * tj + j, k]
                        rows[i, j, :] = line
                for i in range(a):  # dm[i, j] = sum_q rows[i, q] at[q, j]
                    for j in range(a):
                        line[:] = 0
                        for q in range(m):
                            coef = at[q, j]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * rows[i, q, k]
                        dm[a * i + j, o, ti, tj, :] = line


@_kernel()
def _winograd_grad_input(dv, bt, m, pt, pl, dx):
    channels, h_in, w_in, n = dx.shape
    a, th_n, tw_n = bt.shape[0], dv.shape[2], dv.shape[3]
    for c in prange(channels):
        acc = np.zeros((m * th_n + a - m, m * tw_n + a - m, n), dtype=dx.dtype)  # overlapping tiles summed here
        rows = np.empty((a, a, n), dtype=dx.dtype)
        line = np.empty(n, dtype=dx.dtype)
        for ti in range(th_n):
            for tj in range(tw_n):
                for i in range(a):  # rows[i, j] = sum_r bt[r, i] dV[r, j]
                    for j in range(a):
                        line[:] = 0
                        for r in range(a):
                            coef = bt[r, i]
                            if coef != 0:
                                for k in range(n):
                                    line[k] += coef * dv[a * r + j, c, ti, tj, k]
                        rows[i, j, :] = line
                for i in range(a):  # acc[i, j] += sum_q rows[i, q] bt[q, j]
                    for j in range(a):
                        for q in range(a):
                            coef = bt[q, j]
                            if coef != 0:
                                for k in range(n):
                                    acc[m * ti + i, m * tj + j, k] += coef * rows[i, q, k]
        for h in range(h_in):  # what fell on the padding is dropped
            for w in range(w_in):
                for k in range(n):
                    dx[c, h, w, k] = acc[h + pt, w + pl, k]


def _matrix(values, dtype) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=dtype))


@_one_at_a_time
def winograd_input(x: np.ndarray, bt, pads, tiles) -> np.ndarray | None:
    """anynn.ops.winograd.input_tiles on all cores: each channel padded once in cache, then transformed."""
    if x.dtype not in _FLOATS:
        return None
    n, c = x.shape[0], x.shape[1]
    a = len(bt)
    v = np.empty((a * a, c, tiles[0], tiles[1], n), dtype=x.dtype)
    _winograd_input(x.transpose(1, 2, 3, 0), _matrix(bt, x.dtype), a - 2, pads[0][0], pads[1][0], v)
    return v.reshape(a * a, c, -1)


@_one_at_a_time
def winograd_output(m: np.ndarray, at, bias: np.ndarray | None, out_hw, tiles) -> np.ndarray | None:
    """anynn.ops.winograd.output_from_tiles (bias added in the same pass), returned batch-last."""
    if m.dtype not in _FLOATS or (bias is not None and bias.dtype != m.dtype):
        return None
    o, n = m.shape[1], m.shape[2] // (tiles[0] * tiles[1])
    y = np.empty((o, out_hw[0], out_hw[1], n), dtype=m.dtype)
    bias = np.zeros(o, dtype=m.dtype) if bias is None else np.ascontiguousarray(bias)
    planes = np.ascontiguousarray(m).reshape(m.shape[0], o, tiles[0], tiles[1], n)
    _winograd_output(planes, _matrix(at, m.dtype), bias, y)
    return y.transpose(3, 0, 1, 2)


@_one_at_a_time
def winograd_grad_output(g: np.ndarray, at, tiles) -> np.ndarray | None:
    """anynn.ops.winograd.grad_output_tiles on all cores."""
    if g.dtype not in _FLOATS:
        return None
    n, o = g.shape[0], g.shape[1]
    a = len(at[0])
    dm = np.empty((a * a, o, tiles[0], tiles[1], n), dtype=g.dtype)
    _winograd_grad_output(g.transpose(1, 2, 3, 0), _matrix(at, g.dtype), dm)
    return dm.reshape(a * a, o, -1)


@_one_at_a_time
def winograd_grad_input(dv: np.ndarray, bt, x_shape, pads, tiles) -> np.ndarray | None:
    """anynn.ops.winograd.grad_input_from_tiles on all cores, returned batch-last."""
    if dv.dtype not in _FLOATS:
        return None
    n, c, h, w = x_shape
    a = len(bt)
    dx = np.empty((c, h, w, n), dtype=dv.dtype)
    planes = np.ascontiguousarray(dv).reshape(a * a, c, tiles[0], tiles[1], n)
    _winograd_grad_input(planes, _matrix(bt, dv.dtype), a - 2, pads[0][0], pads[1][0], dx)
    return dx.transpose(3, 0, 1, 2)


def set_threads(count: int) -> None:
    """Run the multi-threaded kernels on ``count`` threads (at most the number Numba started with)."""
    global _threads
    _threads = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(_threads)


KERNELS = {"channel_moments": channel_moments, "channel_affine": channel_affine,
           "channel_grad_sums": channel_grad_sums, "channel_affine2": channel_affine2,
           "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward,
           "relu": relu, "relu_backward": relu_backward,
           "conv2d_direct": conv2d_direct, "conv2d_direct_weight_grad": conv2d_direct_weight_grad,
           "winograd_input": winograd_input, "winograd_output": winograd_output,
           "winograd_grad_output": winograd_grad_output, "winograd_grad_input": winograd_grad_input}
