"""The four Winograd tile passes; twins in ``anynn/ops/winograd.py``."""
from __future__ import annotations

import numpy as np
from numba import prange

from anynn.backends.numba.runtime import _FLOATS, _kernel, _one_at_a_time


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
