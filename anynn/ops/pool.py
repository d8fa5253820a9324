"""Pooling: max and average pooling (1-D and 2-D) and adaptive average pooling, as PyTorch computes them.

A window reduction is a loop over the kh*kw window offsets, each one strided slice of the padded input
covering every output position at once. Max pooling saves each window's winner, its FIRST maximum (row-major,
as PyTorch's argmax), and its backward sends each window's gradient there.
"""
from __future__ import annotations

import math
from typing import Any

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._args import check_input, describe, ntuple
from anynn.ops._fused import FusedOp
from anynn.ops._util import Pads, Pair, as_4d, pad2d, unpad2d
from anynn.ops.conv import IntOrTuple


def _offsets(window: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
             out_hw: tuple[int, int]) -> list[tuple[slice, slice]]:
    """For each window offset (row-major), the (rows, cols) slices of the padded input it sees."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window, stride, dilation, out_hw
    return [(slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def _disjoint(window: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> bool:
    """True if no two window offsets touch the same input element (windows do not overlap)."""
    return all(k == 1 or s > d * (k - 1) for k, s, d in zip(window, stride, dilation))


class MaxPoolNd(ArrayFunction):
    """Max over each window; padding counts as -inf but never wins. The gradient goes to each window's winner,
    saved by the forward pass (the fused pair ``MAX_POOL``): its first maximum, PyTorch's rule, which matters
    when values tie, e.g. zeros after a ReLU. A window holding NaN has no maximum: the compiled kernels send its
    gradient to the last NaN, as PyTorch does; the standard twins to the first (the loss is NaN by then anyway).
    """

    @staticmethod
    def forward(ctx, x, *, window, stride, dilation, pads, out_hw):
        xp = ctx.xp
        ctx.x_shape = tuple(x.shape)
        x = as_4d(x, xp)
        ctx.geometry = (tuple(x.shape), window, stride, dilation, pads)
        out, winners = MAX_POOL.forward(ctx, x, window, stride, dilation, pads, out_hw)
        ctx.save(winners)
        return xp.reshape(out, (out.shape[0], out.shape[1], out.shape[3])) if len(ctx.x_shape) == 3 else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x_shape, window, stride, dilation, pads = ctx.geometry
        dx = MAX_POOL.backward(ctx, as_4d(grad, xp), ctx.saved[0], x_shape, window, stride, dilation, pads)
        return xp.reshape(dx, ctx.x_shape)


def max_pool_windows(xp: Any, x: Any, window: Pair, stride: Pair, dilation: Pair, pads: Pads,
                     out_hw: Pair) -> tuple[Any, Any]:
    """Standard twin of the compiled max pooling: the max of each window and the winning window offset.

    The windows are stacked on a last axis (one strided slice of the -inf-padded input per window offset), so
    the winner is one ``argmax``. Where padding is involved, the winner is chosen among the input's values with
    -inf raised to the lowest finite value, so padding never wins, even against an input of -inf.
    """
    padded = pad2d(xp, x, pads, -math.inf)
    windows = [padded[:, :, rows, cols] for rows, cols in _offsets(window, stride, dilation, out_hw)]
    stacked = xp.stack(windows, axis=-1)
    if any(p for pair in pads for p in pair):
        floor = xp.finfo(x.dtype).min
        key = pad2d(xp, xp.maximum(x, floor), pads, -math.inf)
        winners = xp.argmax(xp.stack([key[:, :, r, c] for r, c in _offsets(window, stride, dilation, out_hw)],
                                     axis=-1), axis=-1)
    else:
        winners = xp.argmax(stacked, axis=-1)
    return xp.max(stacked, axis=-1), winners


def max_pool_scatter(xp: Any, grad: Any, winners: Any, x_shape: tuple[int, int, int, int], window: Pair,
                     stride: Pair, dilation: Pair, pads: Pads) -> Any:
    """Standard twin of the compiled max pooling's backward: each output's gradient added at its winner."""
    count = window[0] * window[1]
    offsets = xp.arange(count, dtype=winners.dtype, device=grad.device)
    routed = xp.expand_dims(grad, axis=-1) * xp.astype(xp.expand_dims(winners, axis=-1) == offsets, grad.dtype)
    n, c, h, w = x_shape
    (pt, pb), (pl, pr) = pads
    out_hw = tuple(grad.shape[2:])
    disjoint = _disjoint(window, stride, dilation)
    # batch-last memory, the layout conv layers hand on, so the gradient reaches the conv below without a copy
    dpadded = xp.permute_dims(xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=grad.dtype, device=grad.device),
                              (3, 0, 1, 2))
    for k, (rows, cols) in enumerate(_offsets(window, stride, dilation, out_hw)):
        if disjoint:
            dpadded[:, :, rows, cols] = routed[..., k]
        else:
            dpadded[:, :, rows, cols] += routed[..., k]
    return unpad2d(dpadded, pads, (h, w))


MAX_POOL = FusedOp("max_pool2d", forward=max_pool_windows, backward=max_pool_scatter)


class AvgPoolNd(ArrayFunction):
    """Mean over each window; ``divisor`` is a Python number or an (OH, OW) array of per-window counts."""

    @staticmethod
    def forward(ctx, x, *, window, stride, pads, out_hw, divisor):
        xp = ctx.xp
        ctx.x_shape = tuple(x.shape)
        x = as_4d(x, xp)
        padded = pad2d(xp, x, pads, 0.0)
        offsets = _offsets(window, stride, (1, 1), out_hw)
        total = padded[:, :, offsets[0][0], offsets[0][1]]
        for rows, cols in offsets[1:]:
            total = total + padded[:, :, rows, cols]
        divisor = _divisor_array(ctx, divisor, x.dtype)
        ctx.save(divisor)
        ctx.geometry = (offsets, _disjoint(window, stride, (1, 1)), pads, tuple(x.shape[2:]), tuple(padded.shape))
        out = total / divisor
        return xp.reshape(out, (out.shape[0], out.shape[1], out.shape[3])) if len(ctx.x_shape) == 3 else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        (divisor,) = ctx.saved
        offsets, disjoint, pads, hw, padded_shape = ctx.geometry
        share = as_4d(grad, xp) / divisor
        dpadded = xp.zeros(padded_shape, dtype=share.dtype, device=ctx.backend.device)
        for rows, cols in offsets:
            if disjoint:
                dpadded[:, :, rows, cols] = share
            else:
                dpadded[:, :, rows, cols] += share
        return xp.reshape(unpad2d(dpadded, pads, hw), ctx.x_shape)


def _divisor_array(ctx: Any, divisor: Any, dtype: Any) -> Any:
    """A per-window divisor given as nested lists becomes an (OH, OW) array on the device; numbers stay."""
    if isinstance(divisor, (int, float)):
        return float(divisor)
    return ctx.xp.asarray(divisor, dtype=dtype, device=ctx.backend.device)


class BlockMean(ArrayFunction):
    """Mean over non-overlapping kh x kw blocks that tile the input exactly: one reshape and one reduction
    (adaptive pooling to a divisor of the input size, global average pooling included)."""

    @staticmethod
    def forward(ctx, x, *, block):
        xp = ctx.xp
        ctx.x_shape = tuple(x.shape)
        x = as_4d(x, xp)
        n, c, h, w = x.shape
        (kh, kw) = block
        out = xp.mean(xp.reshape(x, (n, c, h // kh, kh, w // kw, kw)), axis=(3, 5))
        ctx.block = block
        return xp.reshape(out, (n, c, w // kw)) if len(ctx.x_shape) == 3 else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        kh, kw = ctx.block
        g = as_4d(grad, xp) / float(kh * kw)
        n, c, oh, ow = g.shape
        g = xp.broadcast_to(xp.reshape(g, (n, c, oh, 1, ow, 1)), (n, c, oh, kh, ow, kw))
        return xp.reshape(g, ctx.x_shape)


class AdaptiveAvgPoolNd(ArrayFunction):
    """PyTorch's adaptive average: output cell i averages input rows floor(i*H/OH) .. ceil((i+1)*H/OH)-1.

    Exact for any sizes: ``A_h @ x @ A_w.T`` with averaging matrices (rows of 1/count over each window).
    """

    @staticmethod
    def forward(ctx, x, *, out_hw):
        xp = ctx.xp
        ctx.x_shape = tuple(x.shape)
        x = as_4d(x, xp)
        device = ctx.backend.device
        a_h = xp.asarray(_averaging_rows(x.shape[2], out_hw[0]), dtype=x.dtype, device=device)
        a_w = xp.asarray(_averaging_rows(x.shape[3], out_hw[1]), dtype=x.dtype, device=device)
        ctx.save(a_h, a_w)
        out = xp.matmul(xp.matmul(a_h, x), xp.matrix_transpose(a_w))
        return xp.reshape(out, (out.shape[0], out.shape[1], out.shape[3])) if len(ctx.x_shape) == 3 else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        a_h, a_w = ctx.saved
        gx = xp.matmul(xp.matmul(xp.matrix_transpose(a_h), as_4d(grad, xp)), a_w)
        return xp.reshape(gx, ctx.x_shape)


def _averaging_rows(size: int, out: int) -> list[list[float]]:
    """The (out, size) matrix whose row i averages PyTorch's adaptive window i."""
    rows = []
    for i in range(out):
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        rows.append([1.0 / (hi - lo) if lo <= k < hi else 0.0 for k in range(size)])
    return rows


# ------------------------------------------------------------------ geometry and checks
def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length; with ceil_mode the last window must start inside input or left pad."""
    span = d * (k - 1) + 1
    out = (size + 2 * p - span + ((s - 1) if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _geometry(x: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
              dilation: IntOrTuple, ceil_mode: bool, dims: int, who: Any) -> tuple[Pair, Pair, Pair, Pads, Pair]:
    """Checked window, stride, dilation, per-side pads and output size, all as 2-D (height 1 for 1-D)."""
    check_input(x, dims, who)
    window = ntuple(kernel_size, dims, "kernel_size", who)
    stride = window if stride is None else ntuple(stride, dims, "stride", who)
    padding = ntuple(padding, dims, "padding", who)
    dilation = ntuple(dilation, dims, "dilation", who)
    if min(window) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{describe(who)}: kernel_size, stride and dilation must be positive and padding "
                         f"non-negative, got {window}, {stride}, {dilation} and {padding}")
    if any(p > k // 2 for k, p in zip(window, padding)):
        raise ValueError(f"{describe(who)}: padding {padding} must be at most half the kernel size {window}; "
                         "reduce the padding")
    size = x.shape[2:]
    out = tuple(_out_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(size, window, stride, padding, dilation))
    if min(out) < 1:
        padded = tuple(n + 2 * p for n, p in zip(size, padding))
        span = tuple(d * (k - 1) + 1 for k, d in zip(window, dilation))
        raise ValueError(f"{describe(who)} got input of shape {x.shape}: its padded spatial size {padded} is smaller "
                         f"than the pooling window {span}; use a smaller kernel, more padding or a larger input")
    if dims == 1:
        window, stride, padding, dilation, size, out = ((1,) + window, (1,) + stride, (0,) + padding,
                                                        (1,) + dilation, (1,) + size, (1,) + out)
    pads = tuple((p, max((o - 1) * s + d * (k - 1) + 1 - n - p, 0))
                 for n, k, s, p, d, o in zip(size, window, stride, padding, dilation, out))
    return window, stride, dilation, pads, out


def max_pool(x: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple,
             dilation: IntOrTuple, ceil_mode: bool, dims: int, who: Any) -> Tensor:
    """Checked ``dims``-D max pooling; ``who`` (a layer, or an op's name) is named in every error."""
    window, stride, dilation, pads, out = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, dims, who)
    return MaxPoolNd.apply(x, window=window, stride=stride, dilation=dilation, pads=pads, out_hw=out)


def avg_pool(x: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple, ceil_mode: bool,
             count_include_pad: bool, divisor_override: int | None, dims: int, who: Any) -> Tensor:
    """Checked ``dims``-D average pooling with PyTorch's divisor rules."""
    window, stride, _, pads, out = _geometry(x, kernel_size, stride, padding, 1, ceil_mode, dims, who)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"{describe(who)}: divisor_override must be non-zero")
        divisor: Any = float(divisor_override)
    else:
        divisor = _divisors(tuple(x.shape[2:]) if dims == 2 else (1,) + tuple(x.shape[2:]), window, stride, pads,
                            out, count_include_pad)
    return AvgPoolNd.apply(x, window=window, stride=stride, pads=pads, out_hw=out, divisor=divisor)


def _divisors(size: tuple[int, int], window: tuple[int, int], stride: tuple[int, int], pads: Pads,
              out: tuple[int, int], count_include_pad: bool) -> float | list[list[float]]:
    """Per-window element counts: the window clipped to the padded input (``count_include_pad``) or to the
    input itself. A single number when all windows agree."""
    per_dim = []
    for n, k, s, (p, _), o in zip(size, window, stride, pads, out):
        counts = []
        for i in range(o):
            lo = i * s - p
            hi = min(lo + k, n + p)
            counts.append(hi - lo if count_include_pad else min(hi, n) - max(lo, 0))
        per_dim.append(counts)
    rows, cols = per_dim
    if len(set(rows)) == 1 and len(set(cols)) == 1:
        return float(rows[0] * cols[0])
    return [[float(r * c) for c in cols] for r in rows]


# ------------------------------------------------------------------ public functional API
def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """2-D max pooling of (N, C, H, W) input, as ``torch.nn.functional.max_pool2d``."""
    _no_indices(return_indices, "max_pool2d")
    return max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d")


def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """1-D max pooling of (N, C, L) input, as ``torch.nn.functional.max_pool1d``."""
    _no_indices(return_indices, "max_pool1d")
    return max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 1, "max_pool1d")


def _no_indices(return_indices: bool, who: str) -> None:
    if return_indices:
        raise NotImplementedError(f"{who}: return_indices=True is not supported (anynn has no max_unpool); "
                                  "use argmax on the input windows if you need the positions")


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling of (N, C, H, W) input, as ``torch.nn.functional.avg_pool2d``."""
    return avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                    "avg_pool2d")


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-D average pooling of (N, C, L) input, as ``torch.nn.functional.avg_pool1d``."""
    return avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def adaptive_avg_pool(x: Tensor, output_size: Any, dims: int, who: Any) -> Tensor:
    """Checked adaptive average pooling; ``None`` in ``output_size`` keeps that input size."""
    check_input(x, dims, who)
    size = tuple(x.shape[2:])
    wanted = (output_size,) * dims if isinstance(output_size, int) or output_size is None else tuple(output_size)
    if len(wanted) != dims:
        raise ValueError(f"{describe(who)}: output_size must be an int or a tuple of {dims}, got {output_size!r}")
    out = tuple(n if o is None else o for n, o in zip(size, wanted))
    if min(out) < 1 or min(size) < 1:
        raise ValueError(f"{describe(who)}: output_size {out} and input size {size} must be positive")
    if all(n % o == 0 for n, o in zip(size, out)):
        block = tuple(n // o for n, o in zip(size, out))
        return BlockMean.apply(x, block=block if dims == 2 else (1,) + block)
    return AdaptiveAvgPoolNd.apply(x, out_hw=out if dims == 2 else (1,) + out)


def adaptive_avg_pool2d(input: Tensor, output_size: int | None | tuple[int | None, int | None]) -> Tensor:
    """Average (N, C, H, W) input down to exactly ``output_size``, as ``torch.nn.functional.adaptive_avg_pool2d``."""
    return adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input: Tensor, output_size: int | tuple[int]) -> Tensor:
    """Average (N, C, L) input down to exactly ``output_size``, as ``torch.nn.functional.adaptive_avg_pool1d``."""
    return adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


__all__ = ["AdaptiveAvgPoolNd", "AvgPoolNd", "BlockMean", "MaxPoolNd", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d"]
