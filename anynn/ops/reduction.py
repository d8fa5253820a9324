"""Reductions: sum, mean, var, max/min (gradient to the first extremum, as PyTorch), argmax, logsumexp."""
from __future__ import annotations

import math

from anynn.autograd.function import Function
from anynn.autograd.tensor import Tensor
from anynn.ops._util import norm_axis


def _expand_reduced(xp, grad, in_shape, axis, keepdims):
    """Give ``grad`` back the reduced axes (size 1) so it broadcasts against the input."""
    if axis is None:
        return xp.reshape(grad, (1,) * len(in_shape))
    if not keepdims:
        grad = xp.expand_dims(grad, axis=axis) if len(axis) > 1 else xp.expand_dims(grad, axis=axis[0])
    return grad


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
    axis = norm_axis(axis, x.ndim)
    return Sum.apply(x, axis=axis, keepdims=keepdims) * (1.0 / max(_count(x.shape, axis), 1))


def var(x: Tensor, axis=None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance with Bessel's ``correction`` (PyTorch's default 1; BatchNorm uses 0)."""
    axis = norm_axis(axis, x.ndim)
    centered = x - mean(x, axis, keepdims=True)
    n = _count(x.shape, axis)
    return Sum.apply(centered * centered, axis=axis, keepdims=keepdims) * (1.0 / max(n - correction, 1))


class Max(Function):
    """max (``largest=True``) or min over ``axis``; the gradient goes to the first extremum only, so ties
    (common after ReLU) do not multiply it."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, largest=True):
        ctx.save(x)
        ctx.axis, ctx.keepdims, ctx.largest = axis, keepdims, largest
        reduce = ctx.xp.max if largest else ctx.xp.min
        return reduce(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x = ctx.saved[0]
        axis = tuple(range(x.ndim)) if ctx.axis is None else ctx.axis
        kept = tuple(a for a in range(x.ndim) if a not in axis)
        perm = kept + axis
        moved = xp.permute_dims(x, perm)
        kept_shape = tuple(moved.shape[:len(kept)])
        flat = xp.reshape(moved, kept_shape + (-1,))
        pick = (xp.argmax if ctx.largest else xp.argmin)(flat, axis=-1, keepdims=True)
        hit = xp.arange(flat.shape[-1], device=ctx.backend.device) == pick
        g = xp.reshape(grad, kept_shape + (1,))
        gx = xp.reshape(xp.where(hit, g, 0.0), tuple(moved.shape))
        inverse = tuple(perm.index(i) for i in range(x.ndim))
        return xp.permute_dims(gx, inverse)


def argmax(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the first maximum (int64, no gradient); ``axis=None`` indexes the flattened tensor."""
    xp = x.xp
    data = x.data if axis is not None else xp.reshape(x.data, (-1,))
    out = xp.argmax(data, axis=axis if axis is not None else 0, keepdims=keepdims)
    return Tensor._make(out, x.backend)


class LogSumExp(Function):
    """log(sum(exp(x))) over ``axis``, stable for any finite or infinite input."""

    @staticmethod
    def forward(ctx, x, axis, keepdims=False):
        xp = ctx.xp
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0.0)
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        ctx.save(x, out)
        ctx.axis, ctx.keepdims = axis, keepdims
        return out if keepdims else xp.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, out = ctx.saved
        if not ctx.keepdims:
            grad = xp.expand_dims(grad, axis=ctx.axis) if len(ctx.axis) > 1 else xp.expand_dims(grad, axis=ctx.axis[0])
        return grad * xp.exp(x - out)


def logsumexp(x: Tensor, axis, keepdims: bool = False) -> Tensor:
    return LogSumExp.apply(x, axis=norm_axis(axis, x.ndim), keepdims=keepdims)
