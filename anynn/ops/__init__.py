"""Differentiable functions by family; each ``ArrayFunction`` keeps its forward and backward side by side."""
from __future__ import annotations

from typing import Any

from anynn.autograd.function import not_an_input
from anynn.autograd.tensor import Tensor, BackendMismatchError
from anynn.ops._util import norm_axis, unbroadcast
from anynn.ops.arithmetic import Add, Div, MatMul, Mul, Neg, Pow, Sub
from anynn.ops.elementwise import (Abs, Acos, Asin, Atan, Atan2, Cast, Clip, Cos, Cosh, Exp, Expm1, Log, Log1p, Maximum,
                                   Relu, Rounding, Sigmoid, Sin, Sinh, Sqrt, Tan, Tanh, Where)
from anynn.ops.reduction import (CumProd, CumSum, LogSumExp, Max, Prod, Sum, VectorNorm, argmax, argmin, cumprod,
                                 cumsum, logsumexp, mean, norm, prod, var)
from anynn.ops.shape import (BroadcastTo, Concat, Flip, GetItem, Permute, Reshape, Roll, SetItem, Stack, Take,
                             ToBackend, concat, flatten, getitem, raw_index, raw_value, setitem, squeeze, stack,
                             unsqueeze)
from anynn.ops.indexing import (Gather, IndexSelect, Scatter, ScatterAdd, bincount, gather, index_select, masked_fill,
                                one_hot, scatter, scatter_add)
from anynn.ops.sorting import ValuesIndices, argsort, kthvalue, max_along, median, sort, topk


def compare(a: Tensor, b: Any, name: str) -> Tensor:
    """Element-wise comparison (``less``, ``equal``, ...) giving a boolean tensor; never differentiable."""
    if isinstance(b, Tensor):
        if b._backend is not a._backend:
            raise BackendMismatchError(name, a._backend, b._backend)
        other = b.array
    elif isinstance(b, (int, float, bool)):
        other = b if type(b) in (int, float, bool) else float(b) if isinstance(b, float) else int(b)
    elif hasattr(b, "shape") or hasattr(b, "__array__") or hasattr(b, "__dlpack__"):
        raise not_an_input(name, b)
    else:
        return NotImplemented
    return Tensor._make(getattr(a._backend.xp, name)(a.array, other), a._backend)


def where(condition: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (differentiable in ``a`` and ``b``)."""
    return Where.apply(condition, a, b)


def maximum(a: Tensor | float, b: Tensor | float) -> Tensor:
    return Maximum.apply(a, b)


def minimum(a: Tensor | float, b: Tensor | float) -> Tensor:
    return Maximum.apply(a, b, smallest=True)


__all__ = ["Abs", "Acos", "Add", "Asin", "Atan", "Atan2", "BroadcastTo", "Cast", "Clip", "Concat", "Cos", "Cosh",
           "CumProd", "CumSum", "Div", "Exp", "Expm1", "Flip", "Gather", "GetItem", "IndexSelect", "Log", "Log1p",
           "LogSumExp", "MatMul", "Max", "Maximum", "Mul", "Neg", "Permute", "Pow", "Prod", "Relu", "Reshape", "Roll",
           "Rounding", "Scatter", "ScatterAdd", "SetItem", "Sigmoid", "Sin", "Sinh", "Sqrt", "Stack", "Sub", "Sum",
           "Take", "Tan", "Tanh", "ToBackend", "ValuesIndices", "VectorNorm", "Where", "argmax", "argmin", "argsort",
           "bincount", "compare", "concat", "cumprod", "cumsum", "flatten", "gather", "getitem", "index_select",
           "kthvalue", "logsumexp", "masked_fill", "max_along", "maximum", "mean", "median", "minimum", "norm",
           "norm_axis", "one_hot", "prod", "raw_index", "raw_value", "scatter", "scatter_add", "setitem", "sort",
           "squeeze", "stack", "topk", "unbroadcast", "unsqueeze", "var", "where"]
