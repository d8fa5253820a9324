"""Reductions: sum, mean, var, max/min (with PyTorch's gradient at ties), argmax, logsumexp."""
from __future__ import annotations

import math

from anynn.autograd.function import Function
from anynn.autograd.tensor import Tensor
from anynn.ops._util import norm_axis


def _expand_reduced(xp, grad, in_shape, axis, keepdims):
    """Give ``grad`` back the reduced axes (size 1) so it broadcasts against the input."""
    if keepdims:
        return grad
    axis = range(len(in_shape)) if axis is None else axis
    return xp.reshape(grad, tuple(1 if i in axis else s for i, s in enumerate(in_shape)))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.in_shape, ctx.axis, ctx.keepdims = tuple(x.shape), axis, keepdims
        return ctx.xp.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        grad = _expand_reduced(xp, grad, ctx.in_shape, ctx.axis, ctx.keepdims)
        return xp.broadcast_to(grad, ctx.in_shape)


def _count(shape, axis) -> int:
    return math.prod(shape) if axis is None else math.prod(shape[a] for a in axis)


def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis`` (all axes if None)."""
    axis = norm_axis(axis, x.ndim)
    return Sum.apply(x, axis=axis, keepdims=keepdims) / float(max(_count(x.shape, axis), 1))


def var(x: Tensor, axis=None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance with Bessel's ``correction`` (PyTorch's default 1; BatchNorm uses 0)."""
    axis = norm_axis(axis, x.ndim)
    centered = x - mean(x, axis, keepdims=True)
    n = _count(x.shape, axis)
    return Sum.apply(centered * centered, axis=axis, keepdims=keepdims) / float(max(n - correction, 1))


class Max(Function):
    """max (``largest=True``) or min over ``axis``, with PyTorch's gradient at ties: over all elements
    (``x.max()``) tied extrema share it evenly; along axes (``x.max(dim)``) it goes to the first extremum."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, largest=True):
        reduce = ctx.xp.max if largest else ctx.xp.min
        out = reduce(x, axis=axis, keepdims=keepdims)
        ctx.save(x, out)
        ctx.axis, ctx.keepdims, ctx.largest = axis, keepdims, largest
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, out = ctx.saved
        if ctx.axis is None:
            hit = x == xp.reshape(out, ())
            return xp.where(hit, grad / xp.sum(xp.astype(hit, x.dtype)), 0.0)
        axis = ctx.axis
        kept = tuple(a for a in range(x.ndim) if a not in axis)
        perm = kept + axis
        moved = xp.permute_dims(x, perm)
        kept_shape = tuple(moved.shape[:len(kept)])
        flat = xp.reshape(moved, kept_shape + (-1,))
        pick = (xp.argmax if ctx.largest else xp.argmin)(flat, axis=-1, keepdims=True)
        hit = xp.arange(flat.shape[-1], dtype=pick.dtype, device=ctx.backend.device) == pick
        g = xp.reshape(grad, kept_shape + (1,))
        gx = xp.reshape(xp.where(hit, g, 0.0), tuple(moved.shape))
        inverse = tuple(perm.index(i) for i in range(x.ndim))
        return xp.permute_dims(gx, inverse)


def argmax(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the first maximum (int64, no gradient); ``axis=None`` indexes the flattened tensor."""
    xp = x.xp
    data = x.array if axis is not None else xp.reshape(x.array, (-1,))
    out = xp.argmax(data, axis=axis if axis is not None else 0, keepdims=keepdims)
    return Tensor._make(out, x.backend)


class LogSumExp(Function):
    """log(sum(exp(x))) over ``axis`` (a tuple of axes), stable for any finite or infinite input."""

    @staticmethod
    def forward(ctx, x, axis, keepdims=False):
        xp = ctx.xp
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0.0)
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        ctx.save(x, out)
        ctx.axis, ctx.keepdims = axis, keepdims
        return out if keepdims else xp.reshape(out, tuple(s for i, s in enumerate(x.shape) if i not in axis))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, out = ctx.saved
        grad = _expand_reduced(xp, grad, tuple(x.shape), ctx.axis, ctx.keepdims)
        return grad * xp.exp(x - out)


def logsumexp(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis`` (all axes if None), without overflow."""
    axis = norm_axis(axis, x.ndim)
    return LogSumExp.apply(x, axis=tuple(range(x.ndim)) if axis is None else axis, keepdims=keepdims)


__all__ = ["LogSumExp", "Max", "Sum", "argmax", "logsumexp", "mean", "var"]
