"""Differentiable functions by family; each ``ArrayFunction`` keeps its forward and backward side by side."""
from __future__ import annotations

from typing import Any

from anynn.autograd.tensor import Tensor, BackendMismatchError
from anynn.ops._util import norm_axis, unbroadcast
from anynn.ops.arithmetic import Add, Div, MatMul, Mul, Neg, Pow, Sub
from anynn.ops.elementwise import Abs, Cast, Clip, Exp, Log, Maximum, Relu, Sigmoid, Sqrt, Tanh, Where
from anynn.ops.reduction import LogSumExp, Max, Sum, argmax, logsumexp, mean, var
from anynn.ops.shape import (BroadcastTo, Concat, GetItem, Permute, Reshape, SetItem, Stack, Take, ToBackend, concat,
                             flatten, getitem, raw_index, raw_value, setitem, squeeze, stack, unsqueeze)


def compare(a: Tensor, b: Any, name: str) -> Tensor:
    """Element-wise comparison (``less``, ``equal``, ...) giving a boolean tensor; never differentiable."""
    if isinstance(b, Tensor):
        if b._backend is not a._backend:
            raise BackendMismatchError(name, a._backend, b._backend)
        other = b.array
    elif isinstance(b, (int, float, bool)):
        other = b if type(b) in (int, float, bool) else float(b) if isinstance(b, float) else int(b)
    elif hasattr(b, "shape") or hasattr(b, "__array__") or hasattr(b, "__dlpack__"):
        raise TypeError(f"{name}: got a {type(b).__module__}.{type(b).__name__} where a Tensor or a Python number "
                        "was expected; wrap arrays with anynn.tensor(...) (it converts from any backend)")
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


__all__ = ["Abs", "Add", "BroadcastTo", "Cast", "Clip", "Concat", "Div", "Exp", "GetItem", "Log", "LogSumExp",
           "MatMul", "Max", "Maximum", "Mul", "Neg", "Permute", "Pow", "Relu", "Reshape", "Sigmoid", "Sqrt", "Stack",
           "Sub", "Sum", "Take", "Tanh", "ToBackend", "Where", "argmax", "compare", "concat", "flatten", "getitem",
           "raw_index", "raw_value", "setitem", "SetItem",
           "logsumexp", "maximum", "mean", "minimum", "norm_axis", "squeeze", "stack", "unbroadcast", "unsqueeze",
           "var", "where"]
