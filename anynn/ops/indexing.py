"""Indexing along a dimension: gather, scatter/scatter_add, index_select, masked_fill, one_hot, bincount.

``gather`` and ``scatter`` address each element through one *linear index* into the flattened input: the
element at ``(i, j, k)`` of ``index`` (with ``dim=1``) stands for ``x[i, index[i, j, k], k]``. The forward reads
with ``take`` at those positions and the backward adds into them with ``backend.index_add``, which counts every
repeat of an index (the standard has no scatter-add; see ``anynn/backends/base.py``).

Index values are range-checked like embedding ids (:mod:`anynn.ops._checks`): at once on host backends, at the
next synchronisation point on GPUs (where the indices are clamped meanwhile, so nothing reads out of bounds).
"""
from __future__ import annotations

import math
from typing import Any

from anynn import dtypes as D
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._args import expect_tensor
from anynn.ops._checks import DEFERRED_NOTE, check_now, defer
from anynn.ops._util import norm_axis
from anynn.ops.elementwise import Where


def _int_index(who: str, index: Any, name: str = "index") -> Tensor:
    """``index`` checked to be an integer Tensor (a TypeError naming ``who`` and the fix otherwise)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{who}: {name} must be an integer anynn Tensor, got {type(index).__name__}; wrap it with "
                        "anynn.tensor(..., dtype=anynn.int64)")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{who}: {name} must have an integer dtype (int64), got {index.dtype}; convert with .long()")
    return index


def check_range(who: str, index: Tensor, size: int, allow_negative: bool = False) -> Tensor:
    """``index`` if every value is in ``[0, size)`` (``[-size, size)`` with ``allow_negative``), else an
    IndexError naming ``who``; on GPUs the check is deferred and the returned indices are clamped meanwhile."""
    if index.numel() == 0:
        return index
    xp = index.xp
    flat = xp.reshape(index.array, (-1,))
    low = -size if allow_negative else 0

    def error(note: str) -> IndexError | None:
        bad = (flat < low) | (flat >= size)
        if not bool(xp.any(bad)):
            return None
        value = int(flat[int(xp.nonzero(bad)[0][0])])
        return IndexError(f"{who}: index {value} is out of bounds for a dimension of size {size} (expected "
                          f"indices in [{low}, {size - 1}]){note}")

    if check_now(index.backend):
        found = error("")
        if found is not None:
            raise found
        return index
    defer(lambda where: error(f" ({DEFERRED_NOTE}; the bad index was in {where})"))
    return Tensor._make(xp.clip(index.array, low, size - 1), index.backend)


def linear_index(xp: Any, index: Any, axis: int, shape: tuple[int, ...], device: Any) -> Any:
    """For each element of ``index``, the position in the flattened array of ``shape`` that it addresses:
    its own coordinates on every axis but ``axis``, where it takes its value."""
    flat = xp.zeros(tuple(index.shape), dtype=index.dtype, device=device)
    stride = 1
    for d in reversed(range(len(shape))):
        if d == axis:
            coord = index
        else:
            coord = xp.reshape(xp.arange(index.shape[d], dtype=index.dtype, device=device),
                               tuple(-1 if i == d else 1 for i in range(len(shape))))
        flat = flat + coord * stride
        stride *= shape[d]
    return xp.reshape(flat, (-1,))


class Gather(ArrayFunction):
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` (for ``axis=1``); repeated indices add their gradients."""

    @staticmethod
    def forward(ctx, x, index, axis):
        xp = ctx.xp
        flat = linear_index(xp, index, axis, tuple(x.shape), ctx.backend.device)
        ctx.save(flat)
        ctx.in_shape = tuple(x.shape)
        return xp.reshape(xp.take(xp.reshape(x, (-1,)), flat), tuple(index.shape))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        flat = ctx.saved[0]
        total = math.prod(ctx.in_shape)
        return xp.reshape(ctx.backend.index_add(total, flat, xp.reshape(grad, (-1,))), ctx.in_shape), None


class ScatterAdd(ArrayFunction):
    """``x`` plus ``src`` added at the gathered positions (``out[i][index[i][j]] += src[i][j]`` for axis 1)."""

    @staticmethod
    def forward(ctx, x, index, src, axis):
        xp = ctx.xp
        flat = linear_index(xp, index, axis, tuple(x.shape), ctx.backend.device)
        ctx.save(flat)
        ctx.src_shape = tuple(src.shape)
        added = ctx.backend.index_add(math.prod(x.shape), flat, xp.reshape(src, (-1,)))
        return x + xp.reshape(xp.astype(added, x.dtype), tuple(x.shape))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        flat = ctx.saved[0]
        gsrc = xp.reshape(xp.take(xp.reshape(grad, (-1,)), flat), ctx.src_shape) if ctx.needs_input_grad[2] else None
        return grad, None, gsrc


class Scatter(ArrayFunction):
    """``x`` with ``src`` written at the gathered positions (``out[i][index[i][j]] = src[i][j]`` for axis 1).
    Where an index repeats, the last write wins (PyTorch leaves the winner unspecified). The overwritten
    elements of ``x`` get no gradient; each element of ``src`` gets the gradient of the position it addresses."""

    @staticmethod
    def forward(ctx, x, index, src, axis):
        xp = ctx.xp
        flat = linear_index(xp, index, axis, tuple(x.shape), ctx.backend.device)
        total = math.prod(x.shape)
        order = xp.argsort(flat, stable=True)
        ranked = xp.take(flat, order)
        last = xp.concat([ranked[1:] != ranked[:-1], xp.ones((1,), dtype=xp.bool, device=ctx.backend.device)])
        if hasattr(src, "shape"):
            values = xp.take(xp.reshape(xp.astype(src, x.dtype), (-1,)), order)
        else:
            values = xp.full(tuple(ranked.shape), src, dtype=x.dtype, device=ctx.backend.device)
        written = ctx.backend.index_add(total, ranked, xp.where(last, values, xp.zeros_like(values)))
        hit = ctx.backend.index_add(total, ranked, xp.astype(last, xp.int32)) > 0
        hit = xp.reshape(hit, tuple(x.shape))
        ctx.save(flat, hit)
        ctx.src_shape = tuple(src.shape) if hasattr(src, "shape") else None
        return xp.where(hit, xp.reshape(written, tuple(x.shape)), x)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        flat, hit = ctx.saved
        gx = xp.where(hit, 0.0, grad) if ctx.needs_input_grad[0] else None
        gsrc = None
        if ctx.src_shape is not None and ctx.needs_input_grad[2]:
            gsrc = xp.reshape(xp.take(xp.reshape(grad, (-1,)), flat), ctx.src_shape)
        return gx, None, gsrc


def _dim_args(who: str, x: Tensor, dim: int, index: Tensor) -> int:
    """``dim`` made non-negative, after checking ``index`` fits ``x`` as gather and scatter need."""
    expect_tensor(who, x)
    _int_index(who, index)
    axis = norm_axis(dim, x.ndim)[0] if x.ndim else 0
    if index.ndim != max(x.ndim, 1) and not (x.ndim == 0 and index.ndim <= 1):
        raise ValueError(f"{who}: index must have as many dimensions as the input ({x.ndim}), got shape "
                         f"{index.shape}")
    for d in range(index.ndim if x.ndim else 0):
        if d != axis and index.shape[d] > x.shape[d]:
            raise ValueError(f"{who}: index of shape {index.shape} is larger than the input {x.shape} in dimension "
                             f"{d}; outside dim={dim}, index sizes must not exceed the input's")
    return axis


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of ``x`` picked along ``dim`` by ``index`` (``torch.gather``): ``out[i][j] = x[i][index[i][j]]``
    for dim=1. The output has the shape of ``index``."""
    axis = _dim_args("gather", x, dim, index)
    if x.ndim == 0:
        return Gather.apply(x.reshape(1), check_range("gather", index, 1), axis=0).reshape(index.shape)
    return Gather.apply(x, check_range("gather", index, x.shape[axis]), axis=axis)


def _scatter_source(who: str, src: Any, index: Tensor) -> Any:
    """``src`` cut to the shape of ``index`` (PyTorch reads only that corner of a larger ``src``)."""
    if not isinstance(src, Tensor):
        return src
    if src.ndim != index.ndim or any(s < i for s, i in zip(src.shape, index.shape)):
        raise ValueError(f"{who}: src of shape {src.shape} must have as many dimensions as index {index.shape} "
                         "and at least its size in each")
    if src.shape != index.shape:
        src = src[tuple(slice(0, n) for n in index.shape)]
    return src


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``x`` with ``src`` added at the positions ``index`` addresses along ``dim``
    (``torch.scatter_add``; every repeat of an index adds)."""
    axis = _dim_args("scatter_add", x, dim, index)
    expect_tensor("scatter_add", src, "src")
    src = _scatter_source("scatter_add", src, index)
    return ScatterAdd.apply(x, check_range("scatter_add", index, x.shape[axis]), src, axis=axis)


def scatter(x: Tensor, dim: int, index: Tensor, src: Tensor | float | None = None, *,
            value: float | None = None) -> Tensor:
    """A copy of ``x`` with ``src`` (a tensor, or one number ``value``) written at the positions ``index``
    addresses along ``dim`` (``torch.scatter``; where an index repeats, the last write wins)."""
    axis = _dim_args("scatter", x, dim, index)
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: give src (a tensor) or value (a number) to write")
    if isinstance(src, Tensor):
        src = _scatter_source("scatter", src, index)
    elif isinstance(src, bool) or not isinstance(src, (int, float)):
        raise TypeError(f"scatter: src must be a Tensor or a number, got {type(src).__name__}")
    return Scatter.apply(x, check_range("scatter", index, x.shape[axis]), src, axis=axis)


class IndexSelect(ArrayFunction):
    """The entries ``index`` picks along ``axis`` (``torch.index_select``); repeats add their gradients."""

    @staticmethod
    def forward(ctx, x, index, axis):
        xp = ctx.xp
        ctx.save(index)
        ctx.in_shape, ctx.axis = tuple(x.shape), axis
        return xp.take(x, index, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        index = ctx.saved[0]
        moved = xp.moveaxis(grad, ctx.axis, 0)
        summed = ctx.backend.index_add(ctx.in_shape[ctx.axis], index, moved)
        return xp.moveaxis(summed, 0, ctx.axis), None


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``x`` along ``dim`` at the positions of the 1-D integer ``index`` (``torch.index_select``)."""
    expect_tensor("index_select", x)
    _int_index("index_select", index)
    if index.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D (or 0-d), got shape {index.shape}")
    if x.ndim == 0:
        return gather(x, 0, index.reshape(-1)).reshape(index.shape if index.ndim else ())
    axis = norm_axis(dim, x.ndim)[0]
    index = check_range("index_select", index.reshape(-1), x.shape[axis])
    return IndexSelect.apply(x, index, axis=axis)


def masked_fill(x: Tensor, mask: Tensor, value: Tensor | float) -> Tensor:
    """A copy of ``x`` with ``value`` wherever the boolean ``mask`` (broadcast to ``x``) holds
    (``torch.masked_fill``; differentiable in ``x`` and in a tensor ``value``)."""
    expect_tensor("masked_fill", x)
    if not isinstance(mask, Tensor) or mask.dtype is not D.bool_:
        raise TypeError(f"masked_fill: mask must be a boolean anynn Tensor, got "
                        f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}; build it with a "
                        "comparison such as x > 0")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: a tensor value must be 0-dimensional, got shape {value.shape}")
        value = value.to(x.dtype) if value.dtype is not x.dtype else value
    elif x.dtype.kind in "iub" and isinstance(value, float):
        raise TypeError(f"masked_fill: cannot fill a {x.dtype} tensor with the float {value}")
    out = Where.apply(mask, value, x)
    if out.shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to the input's shape {x.shape}")
    return out


def one_hot(x: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot codes of the class ids in ``x``: shape ``x.shape + (num_classes,)`` (``F.one_hot``;
    ``num_classes=-1`` uses the largest id + 1)."""
    _int_index("one_hot", x, "input")
    xp = x.xp
    if num_classes == -1:
        if x.numel() == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(xp.max(x.array)) + 1
    x = check_range("one_hot", x, num_classes)
    classes = xp.arange(num_classes, dtype=x.array.dtype, device=x.backend.device)
    hot = xp.expand_dims(x.array, axis=-1) == classes
    return Tensor._make(xp.astype(hot, x.backend.dtype(D.int64)), x.backend)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the non-negative 1-D integer ``x`` (or the sum of ``weights`` at
    each), at least ``minlength`` long (``torch.bincount``; no gradient, as in PyTorch)."""
    _int_index("bincount", x, "input")
    if x.ndim != 1:
        raise ValueError(f"bincount: input must be 1-D, got shape {x.shape}")
    xp = x.xp
    if x.numel() and int(xp.min(x.array)) < 0:
        raise ValueError("bincount: input must contain non-negative integers only")
    length = max(int(xp.max(x.array)) + 1 if x.numel() else 0, minlength)
    if weights is None:
        values = xp.ones(tuple(x.shape), dtype=x.backend.dtype(D.int64), device=x.backend.device)
    else:
        expect_tensor("bincount", weights, "weights")
        if weights.shape != x.shape:
            raise ValueError(f"bincount: weights must have the input's shape {x.shape}, got {weights.shape}")
        values = weights.array
    return Tensor._make(x.backend.index_add(length, x.array, values), x.backend)


__all__ = ["Gather", "IndexSelect", "Scatter", "ScatterAdd", "bincount", "check_range", "gather", "index_select",
           "linear_index", "masked_fill", "one_hot", "scatter", "scatter_add"]
