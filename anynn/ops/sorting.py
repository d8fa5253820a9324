"""Ordering along a dimension: sort, argsort, topk, kthvalue, median, and max/min with their indices.

Each finds its indices with the standard's ``argsort``/``argmax`` (no gradient) and reads the values with
``gather`` (:mod:`anynn.ops.indexing`), so the gradient flows back to the positions the values came from.
Ties keep their original order (a stable sort); PyTorch leaves the order of tied elements unspecified.
"""
from __future__ import annotations

from typing import NamedTuple

from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.ops._args import expect_tensor
from anynn.ops._util import norm_axis
from anynn.ops.indexing import Gather
from anynn.ops.reduction import Max, argmax


class ValuesIndices(NamedTuple):
    """``(values, indices)``, as max/min/sort/topk/kthvalue/median along a dim return them (PyTorch's
    ``torch.return_types``): unpack it, or read ``.values`` and ``.indices``."""

    values: Tensor
    indices: Tensor


def _axis(who: str, x: Tensor, dim: int) -> int:
    expect_tensor(who, x)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{who}: dim must be an int, got {dim!r}")
    return norm_axis(dim, max(x.ndim, 1))[0]


def _order(x: Tensor, axis: int, descending: bool) -> Tensor:
    """The stable sorting permutation of ``x`` along ``axis`` as an int64 tensor (no gradient)."""
    xp = x.xp
    order = xp.argsort(x.array, axis=axis, descending=descending, stable=True)
    return Tensor._make(xp.astype(order, x.backend.dtype(D.int64)), x.backend)


def _as_1d(x: Tensor) -> Tensor:
    return x.reshape(1) if x.ndim == 0 else x


def _take(x: Tensor, indices: Tensor, axis: int, was_0d: bool) -> ValuesIndices:
    values = Gather.apply(x, indices, axis=axis)
    if was_0d:
        return ValuesIndices(values.reshape(()), indices.reshape(()))
    return ValuesIndices(values, indices)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    """``x`` sorted along ``dim`` and the positions the values came from (``torch.sort``; always stable)."""
    axis = _axis("sort", x, dim)
    y = _as_1d(x)
    return _take(y, _order(y, axis, descending), axis, x.ndim == 0)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The positions that sort ``x`` along ``dim`` (``torch.argsort``; always stable)."""
    axis = _axis("argsort", x, dim)
    order = _order(_as_1d(x), axis, descending)
    return order.reshape(()) if x.ndim == 0 else order


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """The ``k`` largest (or smallest) entries along ``dim``, in order, with their positions (``torch.topk``)."""
    axis = _axis("topk", x, dim)
    y = _as_1d(x)
    n = y.shape[axis]
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n:
        raise ValueError(f"topk: k must be an int in [0, {n}] (the size of dim {dim}), got {k!r}")
    order = _order(y, axis, descending=largest)
    first = order[(slice(None),) * axis + (slice(0, k),)]
    return _take(y, first, axis, x.ndim == 0)


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The ``k``-th smallest entry along ``dim`` (k counted from 1) and its position (``torch.kthvalue``)."""
    axis = _axis("kthvalue", x, dim)
    y = _as_1d(x)
    n = y.shape[axis]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"kthvalue: k must be an int in [1, {n}] (the size of dim {dim}), got {k!r}")
    order = _order(y, axis, descending=False)
    kth = order[(slice(None),) * axis + (slice(k - 1, k),)]
    values, indices = _take(y, kth, axis, x.ndim == 0)
    if keepdim or x.ndim == 0:
        return ValuesIndices(values, indices)
    return ValuesIndices(values.squeeze(axis), indices.squeeze(axis))


def median(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | ValuesIndices:
    """The lower median: of all elements (a 0-d tensor) when ``dim`` is None, else along ``dim`` with its
    position (``torch.median``)."""
    if dim is None:
        expect_tensor("median", x)
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            raise ValueError("median: the input is empty")
        return kthvalue(flat, (flat.shape[0] + 1) // 2).values
    n = _as_1d(x).shape[_axis("median", x, dim)]
    return kthvalue(x, (n + 1) // 2, dim, keepdim)


def max_along(x: Tensor, dim: int, keepdim: bool = False, largest: bool = True) -> ValuesIndices:
    """The largest (``largest=False``: smallest) entry along ``dim`` and the position of its first occurrence
    (``torch.max(x, dim)``); the gradient goes to that first occurrence, as in PyTorch."""
    who = "max" if largest else "min"
    axis = _axis(who, x, dim)
    y = _as_1d(x)
    if y.shape[axis] == 0:
        raise IndexError(f"{who}: cannot reduce dim {dim} of size 0 (the input has shape {x.shape})")
    values = Max.apply(y, axis=(axis,), keepdims=keepdim, largest=largest)
    indices = argmax(y, axis, keepdim, largest=largest)
    if x.ndim == 0:
        return ValuesIndices(values.reshape(()), indices.reshape(()))
    return ValuesIndices(values, indices)


__all__ = ["ValuesIndices", "argsort", "kthvalue", "max_along", "median", "sort", "topk"]
