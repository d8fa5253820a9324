"""Reductions: sum, prod, mean, var, max/min (with PyTorch's gradient at ties), argmax/argmin, logsumexp,
vector norms, and the running sums and products cumsum/cumprod."""
from __future__ import annotations

import math

from anynn import dtypes as D
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._util import finite_max, norm_axis


def _expand_reduced(xp, grad, in_shape, axis, keepdims):
    """Give ``grad`` back the reduced axes (size 1) so it broadcasts against the input."""
    if keepdims:
        return grad
    axis = range(len(in_shape)) if axis is None else axis
    return xp.reshape(grad, tuple(1 if i in axis else s for i, s in enumerate(in_shape)))


class Sum(ArrayFunction):
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


class Max(ArrayFunction):
    """max (``largest=True``) or min over ``axis``, with PyTorch's gradient at ties: over all elements
    (``x.max()``) and for ``amax``/``amin`` (``even=True``) tied extrema share it evenly; along an axis
    (``x.max(dim)``) it goes to the first extremum."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, largest=True, even=False):
        reduce = ctx.xp.max if largest else ctx.xp.min
        out = reduce(x, axis=axis, keepdims=keepdims)
        ctx.save(x, out)
        ctx.axis, ctx.keepdims, ctx.largest, ctx.even = axis, keepdims, largest, even
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, out = ctx.saved
        if ctx.axis is None:
            hit = x == xp.reshape(out, ())
            return xp.where(hit, grad / xp.sum(xp.astype(hit, x.dtype)), 0.0)
        if ctx.even:
            out = _expand_reduced(xp, out, tuple(x.shape), ctx.axis, ctx.keepdims)
            grad = _expand_reduced(xp, grad, tuple(x.shape), ctx.axis, ctx.keepdims)
            hit = x == out
            return xp.where(hit, grad / xp.sum(xp.astype(hit, x.dtype), axis=ctx.axis, keepdims=True), 0.0)
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


def argmax(x: Tensor, axis=None, keepdims: bool = False, *, largest: bool = True) -> Tensor:
    """Index of the first maximum (minimum with ``largest=False``; int64, no gradient); ``axis=None`` indexes
    the flattened tensor."""
    xp = x.xp
    data = x.array if axis is not None else xp.reshape(x.array, (-1,))
    find = xp.argmax if largest else xp.argmin
    out = find(data, axis=axis if axis is not None else 0, keepdims=keepdims and axis is not None)
    if keepdims and axis is None:
        out = xp.reshape(out, (1,) * x.ndim)
    return Tensor._make(xp.astype(out, x.backend.dtype(D.int64)), x.backend)


def argmin(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the first minimum (int64, no gradient); ``axis=None`` indexes the flattened tensor."""
    return argmax(x, axis, keepdims, largest=False)


def _along(xp, x, axis: int, fn, **kwargs):
    """``fn(x, axis=axis)`` run backwards along ``axis`` (flip, apply, flip back)."""
    return xp.flip(fn(xp.flip(x, axis=axis), axis=axis, **kwargs), axis=axis)


class Prod(ArrayFunction):
    """Product over one axis (or all); the gradient is the product of the other elements, computed from
    prefix and suffix products so that zeros need no division."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = ctx.xp
        ctx.save(x)
        ctx.in_shape, ctx.axis, ctx.keepdims = tuple(x.shape), axis, keepdims
        if axis is None:
            out = xp.prod(xp.reshape(x, (-1,)))
            return xp.reshape(out, (1,) * x.ndim) if keepdims else out
        return xp.prod(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x = ctx.saved[0]
        axis = ctx.axis
        if axis is None:
            x = xp.reshape(x, (-1,))
        ax = 0 if axis is None else axis
        before = xp.cumulative_prod(x, axis=ax, include_initial=True)
        after = _along(xp, x, ax, xp.cumulative_prod, include_initial=True)
        n = x.shape[ax]
        head = (slice(None),) * ax
        others = before[head + (slice(0, n), ...)] * after[head + (slice(1, n + 1), ...)]
        if axis is None:
            return xp.reshape(xp.reshape(grad, (1,)) * others, ctx.in_shape)
        return _expand_reduced(xp, grad, ctx.in_shape, (axis,), ctx.keepdims) * others


class CumSum(ArrayFunction):
    """Running sum along ``axis``; the gradient is the running sum of ``grad`` from the other end."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return ctx.xp.cumulative_sum(x, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return _along(ctx.xp, grad, ctx.axis, ctx.xp.cumulative_sum)


class CumProd(ArrayFunction):
    """Running product along ``axis``. The gradient of x[k] is sum_{j>=k} grad[j] * out[j] / x[k] where x[k] is
    not zero; at the first zero of a line (the only zero whose gradient can be non-zero) it is the product
    before it times the running products after it, so zeros are exact, as in PyTorch."""

    @staticmethod
    def forward(ctx, x, axis):
        out = ctx.xp.cumulative_prod(x, axis=axis)
        ctx.save(x, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, out = ctx.saved
        axis = ctx.axis
        zero = x == 0
        safe = xp.where(zero, 1.0, x)
        gx = xp.where(zero, 0.0, _along(xp, grad * out, axis, xp.cumulative_sum) / safe)
        zeros_so_far = xp.cumulative_sum(xp.astype(zero, xp.int32), axis=axis)
        first_zero = zero & (zeros_so_far == 1)
        n = x.shape[axis]
        head = (slice(None),) * axis
        before = xp.cumulative_prod(x, axis=axis, include_initial=True)[head + (slice(0, n), ...)]
        after = xp.cumulative_prod(xp.where((zeros_so_far >= 1) & ~first_zero, x, 1.0), axis=axis)
        at_zero = xp.sum(xp.where(zeros_so_far >= 1, grad * after, 0.0), axis=axis, keepdims=True)
        return xp.where(first_zero, before * at_zero, gx)


class LogSumExp(ArrayFunction):
    """log(sum(exp(x))) over ``axis`` (a tuple of axes), stable for any finite or infinite input."""

    @staticmethod
    def forward(ctx, x, axis, keepdims=False):
        xp = ctx.xp
        m = finite_max(xp, x, axis)
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


def prod(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Product over one axis (all elements if None), differentiable even where elements are zero."""
    if axis is not None and not isinstance(axis, int):
        raise TypeError(f"prod: dim must be one int or None, got {axis!r} (PyTorch's prod reduces one dim)")
    axis = None if axis is None else norm_axis(axis, x.ndim)[0]
    if x.ndim == 0:
        return x * 1
    return Prod.apply(x, axis=axis, keepdims=keepdims)


def cumsum(x: Tensor, axis: int) -> Tensor:
    """Running sum along ``axis`` (PyTorch's ``cumsum(x, dim)``)."""
    if x.ndim == 0:
        return x * 1
    return CumSum.apply(x, axis=norm_axis(axis, x.ndim)[0])


def cumprod(x: Tensor, axis: int) -> Tensor:
    """Running product along ``axis`` (PyTorch's ``cumprod(x, dim)``), differentiable through zeros."""
    if x.ndim == 0:
        return x * 1
    return CumProd.apply(x, axis=norm_axis(axis, x.ndim)[0])


class VectorNorm(ArrayFunction):
    """(sum |x|^p)^(1/p) over ``axis`` for p > 0, the count of non-zeros for p = 0, max/min |x| for p = +-inf.
    As in PyTorch, the gradient is 0 where the norm is 0, and at p = +-inf tied extremes share it evenly."""

    @staticmethod
    def forward(ctx, x, p=2.0, axis=None, keepdims=False):
        xp = ctx.xp
        a = xp.abs(x)
        if math.isinf(p):
            out = (xp.max if p > 0 else xp.min)(a, axis=axis, keepdims=True)
        elif p == 0:
            out = xp.sum(xp.astype(a != 0, x.dtype), axis=axis, keepdims=True)
        elif p == 2:
            out = xp.sqrt(xp.sum(a * a, axis=axis, keepdims=True))
        elif p == 1:
            out = xp.sum(a, axis=axis, keepdims=True)
        else:
            out = xp.sum(a ** p, axis=axis, keepdims=True) ** (1.0 / p)
        ctx.save(x, out)
        ctx.p, ctx.axis, ctx.keepdims = p, axis, keepdims
        if keepdims:
            return out
        return xp.reshape(out, () if axis is None else tuple(n for i, n in enumerate(x.shape) if i not in axis))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, out = ctx.saved
        p = ctx.p
        grad = xp.reshape(grad, tuple(out.shape))
        if math.isinf(p):
            hit = xp.abs(x) == out
            share = grad / xp.sum(xp.astype(hit, x.dtype), axis=ctx.axis, keepdims=True)
            return xp.where(hit, xp.sign(x) * share, 0.0)
        if p == 0:
            return xp.zeros_like(x)
        if p == 1:
            return xp.sign(x) * grad
        nonzero = out != 0
        safe = xp.where(nonzero, out, 1.0)
        if p == 2:
            return xp.where(nonzero, x * (grad / safe), 0.0)
        scale = grad / safe ** (p - 1)
        return xp.where(nonzero, xp.sign(x) * xp.abs(x) ** (p - 1) * scale, 0.0)


def norm(x: Tensor, p: float | str | None = "fro", axis=None, keepdims: bool = False) -> Tensor:
    """The vector p-norm of ``x`` over ``axis`` (all elements if None), as ``torch.norm``/``Tensor.norm``;
    ``"fro"`` (or None) is the 2-norm of the elements."""
    if p is None or p == "fro":
        p = 2.0
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0 and p != -math.inf:
        raise ValueError(f"norm: p must be a non-negative number, inf, -inf or 'fro', got {p!r}; nuclear and "
                         "matrix norms are not implemented")
    axis = norm_axis(axis, x.ndim)
    return VectorNorm.apply(x, p=float(p), axis=axis, keepdims=keepdims)


__all__ = ["CumProd", "CumSum", "LogSumExp", "Max", "Prod", "Sum", "VectorNorm", "argmax", "argmin", "cumprod",
           "cumsum", "logsumexp", "mean", "norm", "prod", "var"]
