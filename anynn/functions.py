"""The ``torch.*`` functions under PyTorch's names and keywords (``anynn.sum(x, dim=1, keepdim=True)``,
``anynn.max(x, 1)`` giving ``(values, indices)``, ``anynn.max(a, b)`` element-wise, ...).

Each checks its arguments and calls the differentiable ops in :mod:`anynn.ops`; ``Tensor`` methods of the same
names call these. ``dim``/``keepdim`` are PyTorch's keywords; ``axis``/``keepdims`` (the Array API's) are accepted
too. The random and creation functions live in :mod:`anynn.autograd.factories`.
"""
from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

from anynn import dtypes as D
from anynn import ops
from anynn.autograd.grad_mode import is_grad_enabled
from anynn.autograd.tensor import Tensor
from anynn.ops import activation, elementwise as E, indexing, linear as L, reduction as R, sorting
from anynn.ops.shape import Flip, Roll
from anynn.ops._args import expect_tensor
from anynn.ops._util import broadcast_shape
from anynn.ops.sorting import ValuesIndices

Dim = int | Sequence[int] | None


def _tensor(x: Any, name: str) -> Tensor:
    """``x`` if it is a Tensor; anything else (a NumPy array, a list) gets the same hint as an op would give."""
    expect_tensor(f"anynn.{name}", x)
    return x


def _dim(dim: Any, axis: Any) -> Any:
    """PyTorch's ``dim`` or the Array API's ``axis`` (whichever was given)."""
    return axis if dim is None else dim


def _keep(keepdim: bool, keepdims: bool | None) -> bool:
    return bool(keepdim if keepdims is None else keepdims)


def _cast(x: Tensor, dtype: D.DType | str | None) -> Tensor:
    dtype = D.as_dtype(dtype)
    return x if dtype is None or x.dtype is dtype else x.to(dtype)


def _summable(x: Tensor) -> Tensor:
    """Booleans and integers sum as int64, as in PyTorch."""
    dtype = x.dtype
    return x if dtype.is_floating_point or dtype is D.int64 else x.to(D.int64)


def _into(out: Tensor | None, result: Tensor, name: str) -> Tensor:
    """``result``, or, with ``out=``, ``result`` written into ``out`` (of the same shape) and ``out`` returned.
    As in PyTorch, ``out=`` is for results that need no gradient."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"anynn.{name}: out must be an anynn Tensor, got {type(out).__name__}")
    if result.requires_grad and is_grad_enabled():
        raise RuntimeError(f"anynn.{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad; drop out= (use the result) or "
                           "run under anynn.no_grad()")
    if out.shape != result.shape:
        raise ValueError(f"anynn.{name}: out has shape {out.shape} but the result has shape {result.shape}; "
                         f"create out with that shape (e.g. anynn.empty{result.shape})")
    return out.copy_(result)


# ----------------------------------------------------------------- element-wise, one input
def _unary(name: str, apply, doc: str):
    def op(input: Tensor, *, out: Tensor | None = None) -> Tensor:
        return _into(out, apply(_tensor(input, name)), name)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


exp = _unary("exp", E.Exp.apply, "e ** x, element-wise.")
log = _unary("log", E.Log.apply, "The natural logarithm, element-wise.")
log1p = _unary("log1p", E.Log1p.apply, "log(1 + x), accurate for small x.")
expm1 = _unary("expm1", E.Expm1.apply, "exp(x) - 1, accurate for small x.")
log2 = _unary("log2", lambda x: E.Log.apply(x) / math.log(2.0), "The base-2 logarithm, element-wise.")
log10 = _unary("log10", lambda x: E.Log.apply(x) / math.log(10.0), "The base-10 logarithm, element-wise.")
sqrt = _unary("sqrt", E.Sqrt.apply, "The square root, element-wise.")
rsqrt = _unary("rsqrt", lambda x: ops.Pow.apply(x, -0.5), "1 / sqrt(x), element-wise.")
square = _unary("square", lambda x: ops.Pow.apply(x, 2), "x * x, element-wise.")
reciprocal = _unary("reciprocal", lambda x: ops.Div.apply(1.0, x), "1 / x, element-wise.")
neg = negative = _unary("neg", ops.Neg.apply, "-x, element-wise.")
abs = absolute = _unary("abs", E.Abs.apply, "|x|, element-wise (gradient 0 at 0, as in PyTorch).")
tanh = _unary("tanh", E.Tanh.apply, "The hyperbolic tangent, element-wise.")
sigmoid = _unary("sigmoid", E.Sigmoid.apply, "The logistic function 1 / (1 + exp(-x)), element-wise.")
relu = _unary("relu", E.Relu.apply, "max(x, 0), element-wise.")
sin = _unary("sin", E.Sin.apply, "The sine, element-wise.")
cos = _unary("cos", E.Cos.apply, "The cosine, element-wise.")
tan = _unary("tan", E.Tan.apply, "The tangent, element-wise.")
asin = arcsin = _unary("asin", E.Asin.apply, "The inverse sine, element-wise.")
acos = arccos = _unary("acos", E.Acos.apply, "The inverse cosine, element-wise.")
atan = arctan = _unary("atan", E.Atan.apply, "The inverse tangent, element-wise.")
sinh = _unary("sinh", E.Sinh.apply, "The hyperbolic sine, element-wise.")
cosh = _unary("cosh", E.Cosh.apply, "The hyperbolic cosine, element-wise.")
floor = _unary("floor", lambda x: E.Rounding.apply(x, how="floor"), "Round down (gradient 0, as in PyTorch).")
ceil = _unary("ceil", lambda x: E.Rounding.apply(x, how="ceil"), "Round up (gradient 0, as in PyTorch).")
trunc = fix = _unary("trunc", lambda x: E.Rounding.apply(x, how="trunc"), "Round toward zero (gradient 0).")
sign = _unary("sign", lambda x: E.Rounding.apply(x, how="sign"), "-1, 0 or 1 by the sign of x (gradient 0).")
erf = _unary("erf", E.Erf.apply, "The error function, element-wise.")
isnan = _unary("isnan", E.is_nan, "Boolean mask of NaN elements.")
isinf = _unary("isinf", E.is_inf, "Boolean mask of infinite elements.")
isfinite = _unary("isfinite", E.is_finite, "Boolean mask of finite elements.")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` places (gradient 0, as in PyTorch)."""
    x = _tensor(input, "round")
    if decimals == 0:
        return E.Rounding.apply(x, how="round")
    scale = 10.0 ** decimals
    return E.Rounding.apply(x * scale, how="round") / scale


def clamp(input: Tensor, min: Tensor | float | None = None, max: Tensor | float | None = None) -> Tensor:
    """Clamp to [min, max] (either may be None, a number or a tensor); the gradient passes where
    min <= x <= max."""
    x = _tensor(input, "clamp")
    if min is None and max is None:
        raise TypeError("anynn.clamp: give at least one of min and max")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x if min is None else ops.maximum(x, min)
        return out if max is None else ops.minimum(out, max)
    return E.Clip.apply(x, lo=min, hi=max)


clip = clamp


# ----------------------------------------------------------------- element-wise, two inputs
def add(input: Tensor | float, other: Tensor | float, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:
    """``input + alpha * other``, broadcast (mixed dtypes promote as the operators do)."""
    return _into(out, input + (other if alpha == 1 else other * alpha), "add")


def sub(input: Tensor | float, other: Tensor | float, *, alpha: float = 1, out: Tensor | None = None) -> Tensor:
    """``input - alpha * other``, broadcast."""
    return _into(out, input - (other if alpha == 1 else other * alpha), "sub")


subtract = sub


def mul(input: Tensor | float, other: Tensor | float, *, out: Tensor | None = None) -> Tensor:
    """``input * other``, broadcast."""
    return _into(out, input * other, "mul")


multiply = mul


def div(input: Tensor | float, other: Tensor | float, *, rounding_mode: str | None = None,
        out: Tensor | None = None) -> Tensor:
    """``input / other``, broadcast; ``rounding_mode="floor"`` or ``"trunc"`` rounds the quotient."""
    if rounding_mode not in (None, "floor", "trunc"):
        raise ValueError(f"anynn.div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    if rounding_mode is not None and builtins.all(isinstance(v, Tensor) and v.dtype.kind in "iub" or
                                                  type(v) is int for v in (input, other)):
        return _into(out, _integer_quotient(input, other, rounding_mode), "div")  # integers stay integers
    result = input / other
    return _into(out, result if rounding_mode is None else E.Rounding.apply(result, how=rounding_mode), "div")


def floor_divide(input: Tensor | float, other: Tensor | float) -> Tensor:
    """The quotient rounded down (``input // other``)."""
    return div(input, other, rounding_mode="floor")


def remainder(input: Tensor | float, other: Tensor | float) -> Tensor:
    """``input - floor(input / other) * other`` (the sign of ``other``, Python's ``%``); differentiable in both,
    as PyTorch's."""
    if builtins.all(isinstance(v, Tensor) and v.dtype.kind in "iub" or type(v) is int for v in (input, other)):
        like = input if isinstance(input, Tensor) else other
        raw = [v.array if isinstance(v, Tensor) else v for v in (input, other)]
        return Tensor._make(like.xp.remainder(*raw), like.backend)
    return input - div(input, other, rounding_mode="floor") * other


def fmod(input: Tensor, other: Tensor | float) -> Tensor:
    """``input - trunc(input / other) * other`` (the sign of ``input``, C's ``fmod``); differentiable in both."""
    return input - div(input, other, rounding_mode="trunc") * other


def _logical(name: str, standard: str, doc: str):
    """An element-wise logical or bitwise function of booleans or integers (no gradient)."""
    def op(input: Tensor, other: Tensor | int | bool) -> Tensor:
        x = _tensor(input, name)
        if isinstance(other, Tensor):
            if other.backend is not x.backend:
                raise ops.BackendMismatchError(name, x.backend, other.backend)
            y = other.array
        elif isinstance(other, (bool, int)):
            y = other
        else:
            raise TypeError(f"anynn.{name}: other must be a Tensor, a bool or an int, got {type(other).__name__}")
        a = x.array
        if standard.startswith("logical"):
            a = a if x.dtype is D.bool_ else a != 0
            y = (y if other.dtype is D.bool_ else y != 0) if isinstance(other, Tensor) else bool(y)
        elif x.dtype.is_floating_point or (isinstance(other, Tensor) and other.dtype.is_floating_point):
            raise TypeError(f"anynn.{name}: bitwise operations need boolean or integer tensors, got {x.dtype}")
        return Tensor._make(getattr(x.xp, standard)(a, y), x.backend)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


logical_and = _logical("logical_and", "logical_and", "Element-wise AND of the truth values (a boolean tensor).")
logical_or = _logical("logical_or", "logical_or", "Element-wise OR of the truth values (a boolean tensor).")
logical_xor = _logical("logical_xor", "logical_xor", "Element-wise XOR of the truth values (a boolean tensor).")
bitwise_and = _logical("bitwise_and", "bitwise_and", "Element-wise ``&`` of booleans or integers.")
bitwise_or = _logical("bitwise_or", "bitwise_or", "Element-wise ``|`` of booleans or integers.")
bitwise_xor = _logical("bitwise_xor", "bitwise_xor", "Element-wise ``^`` of booleans or integers.")


def logical_not(input: Tensor) -> Tensor:
    """Element-wise NOT of the truth values (a boolean tensor)."""
    x = _tensor(input, "logical_not")
    return Tensor._make(x.xp.logical_not(x.array if x.dtype is D.bool_ else x.array != 0), x.backend)


def bitwise_not(input: Tensor) -> Tensor:
    """``~x``: logical NOT of booleans, bitwise NOT of integers."""
    x = _tensor(input, "bitwise_not")
    if x.dtype.is_floating_point:
        raise TypeError(f"anynn.bitwise_not: needs a boolean or integer tensor, got {x.dtype}; for a mask use x == 0")
    return Tensor._make(x.xp.bitwise_invert(x.array), x.backend)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes (elements above the ``diagonal``-th diagonal set to 0)."""
    return _triangle(_tensor(input, "tril"), diagonal, lower=True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes (elements below the ``diagonal``-th diagonal set to 0)."""
    return _triangle(_tensor(input, "triu"), diagonal, lower=False)


def _triangle(x: Tensor, diagonal: int, lower: bool) -> Tensor:
    if x.ndim < 2:
        raise ValueError(f"anynn.{'tril' if lower else 'triu'}: needs at least 2 dimensions, got shape {x.shape}")
    xp, backend = x.xp, x.backend
    rows = xp.reshape(xp.arange(x.shape[-2], device=backend.device), (-1, 1))
    cols = xp.reshape(xp.arange(x.shape[-1], device=backend.device), (1, -1))
    keep = (cols - rows <= diagonal) if lower else (cols - rows >= diagonal)
    zero = False if x.dtype is D.bool_ else 0 if x.dtype.kind in "iu" else 0.0
    return ops.Where.apply(Tensor._make(keep, backend), x, zero)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim: int | None = None):
    """The distinct values of ``input`` in ascending order (flattened), with the index of each element's value
    (``return_inverse``) and how often each occurs (``return_counts``), as ``torch.unique``; no gradient."""
    x = _tensor(input, "unique")
    if dim is not None:
        raise NotImplementedError("anynn.unique: dim= is not supported; unique over the flattened tensor only")
    xp, backend = x.xp, x.backend
    int64 = backend.dtype(D.int64)
    flat = xp.reshape(x.array, (-1,))
    order = xp.argsort(flat, stable=True)  # by sorting (torch's namespace lacks the standard's unique_all)
    ranked = xp.take(flat, order)
    first = xp.concat([xp.ones((builtins.min(flat.shape[0], 1),), dtype=xp.bool, device=backend.device),
                       ranked[1:] != ranked[:-1]])
    values = ranked[first]
    starts = xp.nonzero(first)[0]
    counts = xp.concat([starts[1:], xp.asarray([flat.shape[0]], dtype=starts.dtype, device=backend.device)]) - starts
    group = xp.cumulative_sum(xp.astype(first, int64)) - 1  # each sorted element's value number
    inverse = xp.reshape(xp.take(group, xp.argsort(order, stable=True)), tuple(x.shape))
    out = [Tensor._make(values, backend)]
    if return_inverse:
        out.append(Tensor._make(xp.astype(inverse, int64), backend))
    if return_counts:
        out.append(Tensor._make(xp.astype(counts, int64), backend))
    return out[0] if len(out) == 1 else tuple(out)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset``-th diagonal of the matrices spanned by ``dim1`` and ``dim2``, as the last axis
    (differentiable)."""
    x = _tensor(input, "diagonal")
    if x.ndim < 2:
        raise ValueError(f"anynn.diagonal: needs at least 2 dimensions, got shape {x.shape}")
    moved = movedim(x, (dim1, dim2), (-2, -1))
    rows, cols = moved.shape[-2:]
    start_row, start_col = builtins.max(-offset, 0), builtins.max(offset, 0)
    length = builtins.max(builtins.min(rows - start_row, cols - start_col), 0)
    picks = range(length)
    return moved[..., [start_row + i for i in picks], [start_col + i for i in picks]]


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor laid on the ``diagonal``-th diagonal of a square matrix, or the diagonal of a matrix
    (``torch.diag``); differentiable."""
    x = _tensor(input, "diag")
    if x.ndim == 2:
        return globals()["diagonal"](x, diagonal)
    if x.ndim != 1:
        raise ValueError(f"anynn.diag: expects a 1-D or 2-D tensor, got shape {x.shape}")
    m, k = x.shape[0], diagonal
    n = m + builtins.abs(k)
    xp, backend = x.xp, x.backend
    at = xp.arange(m, device=backend.device)
    grid = xp.arange(n, device=backend.device)
    dtype = backend.dtype(x.dtype)
    pick_rows = xp.astype(xp.reshape(grid, (-1, 1)) == at + builtins.max(-k, 0), dtype)  # (n, m)
    pick_cols = xp.astype(xp.reshape(at + builtins.max(k, 0), (-1, 1)) == grid, dtype)  # (m, n)
    return Tensor._make(pick_rows, backend) @ (ops.unsqueeze(x, 1) * Tensor._make(pick_cols, backend))


def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix."""
    x = _tensor(input, "trace")
    if x.ndim != 2:
        raise ValueError(f"anynn.trace: expects a matrix, got shape {x.shape}")
    return sum(diagonal(x))


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where the boolean ``mask`` holds (both broadcast), as a 1-D tensor."""
    x = _tensor(input, "masked_select")
    if not isinstance(mask, Tensor) or mask.dtype is not D.bool_:
        raise TypeError("anynn.masked_select: mask must be a boolean anynn Tensor")
    shape = tuple(x.xp.broadcast_arrays(x.array, mask.array)[0].shape)
    x = x if x.shape == shape else ops.BroadcastTo.apply(x, shape=shape)
    mask = mask if mask.shape == shape else Tensor._make(mask.xp.broadcast_to(mask.array, shape), mask.backend)
    return x[mask]


def meshgrid(*tensors: Tensor, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (``indexing="ij"``, PyTorch's default: the first tensor varies along
    the first axis; ``"xy"``: the first two swapped, as NumPy's default); differentiable (expanded views)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"anynn.meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if _tensor(t, "meshgrid").ndim != 1:
            raise ValueError(f"anynn.meshgrid: expects 1-D tensors, got shape {t.shape}")
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[0], order[1] = 1, 0
    shape = tuple(tensors[i].shape[0] for i in order)
    grids = []
    for i, t in enumerate(tensors):
        spread = tuple(-1 if a == order.index(i) else 1 for a in range(len(shape)))
        grids.append(ops.BroadcastTo.apply(ops.Reshape.apply(t, shape=spread), shape=shape))
    return tuple(grids)


def diff(input: Tensor, n: int = 1, dim: int = -1) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``x[1:] - x[:-1]``, ``n`` times)."""
    x = _tensor(input, "diff")
    axis = ops.norm_axis(dim, x.ndim)[0]
    lead = (slice(None),) * axis
    for _ in range(n):
        x = x[lead + (slice(1, None),)] - x[lead + (slice(None, -1),)]
    return x


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Tensors joined along their second axis (the first for 1-D tensors)."""
    tensors = list(tensors)
    return cat(tensors, dim=0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Tensors joined along the first axis, 1-D ones as rows."""
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], dim=0)


row_stack = vstack


def _integer_quotient(a: Tensor | int, b: Tensor | int, rounding_mode: str) -> Tensor:
    """The integer quotient rounded down (``"floor"``) or toward zero (``"trunc"``); no gradient."""
    like = a if isinstance(a, Tensor) else b
    xp = like.xp
    x, y = (v.array if isinstance(v, Tensor) else v for v in (a, b))
    if rounding_mode == "floor":
        out = xp.floor_divide(x, y)
    else:
        out = xp.floor_divide(xp.abs(x), xp.abs(y))
        out = xp.where((x < 0) != (y < 0), -out, out)
    return Tensor._make(out, like.backend)


divide = true_divide = div


def pow(input: Tensor | float, exponent: Tensor | float, *, out: Tensor | None = None) -> Tensor:
    """``input ** exponent``, broadcast (either may be a number)."""
    return _into(out, input ** exponent, "pow")


def atan2(input: Tensor, other: Tensor | float) -> Tensor:
    """The angle of the point (other, input): atan(input / other) in the right quadrant."""
    return E.Atan2.apply(input, other)


arctan2 = atan2


def maximum(input: Tensor, other: Tensor | float) -> Tensor:
    """The element-wise larger of two tensors (ties split the gradient evenly, as in PyTorch)."""
    return ops.maximum(input, other)


def minimum(input: Tensor, other: Tensor | float) -> Tensor:
    """The element-wise smaller of two tensors (ties split the gradient evenly, as in PyTorch)."""
    return ops.minimum(input, other)


def where(condition: Tensor, input: Tensor | float | None = None,
          other: Tensor | float | None = None) -> Tensor | tuple[Tensor, ...]:
    """``input`` where ``condition`` holds, else ``other`` (broadcast; differentiable in both); with the
    condition alone, the positions where it holds (``nonzero(condition, as_tuple=True)``)."""
    if not isinstance(condition, Tensor) or condition.dtype is not D.bool_:
        raise TypeError("anynn.where: condition must be a boolean anynn Tensor (e.g. x > 0)")
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("anynn.where: give both input and other (or neither, for the positions)")
    return ops.Where.apply(condition, input, other)


def _comparison(name: str, standard: str):
    def op(input: Tensor, other: Tensor | float) -> Tensor:
        return ops.compare(_tensor(input, name), other, standard)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Element-wise ``{standard}`` as a boolean tensor (no gradient)."
    return op


eq, ne, lt, le, gt, ge = (_comparison(n, s) for n, s in (
    ("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
    ("ge", "greater_equal")))
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Boolean mask of ``|input - other| <= atol + rtol * |other|`` (infinities close only to themselves)."""
    a, b = _tensor(input, "isclose"), _tensor(other, "isclose")
    xp = a.xp
    x, y = a.array, b.array
    if a.dtype is not b.dtype:
        common = a.backend.dtype(D.float64 if D.float64 in (a.dtype, b.dtype) else D.float32)
        x, y = xp.astype(x, common), xp.astype(y, common)
    finite = xp.isfinite(x) & xp.isfinite(y)
    fx, fy = xp.where(finite, x, 0), xp.where(finite, y, 0)  # no inf - inf
    close = (x == y) | (finite & (xp.abs(fx - fy) <= atol + rtol * xp.abs(fy)))
    if equal_nan:
        close = close | (xp.isnan(x) & xp.isnan(y))
    return Tensor._make(close, a.backend)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True if every element of ``input`` is close to ``other`` (see :func:`isclose`)."""
    close = isclose(input, other, rtol, atol, equal_nan)
    return bool(close.xp.all(close.array))


def equal(input: Tensor, other: Tensor) -> bool:
    """True if both tensors have one shape and equal elements."""
    a, b = _tensor(input, "equal"), _tensor(other, "equal")
    return a.shape == b.shape and bool(a.xp.all(a.array == b.array))


# ----------------------------------------------------------------- reductions
def sum(input: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: D.DType | str | None = None,
        axis: Dim = None, keepdims: bool | None = None) -> Tensor:
    """The sum over ``dim`` (an int, a tuple, or None for all); booleans and integers sum as int64."""
    x = _tensor(input, "sum")
    x = _summable(x) if dtype is None else _cast(x, dtype)
    if dim is None and axis is None:
        return ops.Sum.apply(x, axis=None, keepdims=bool(keepdim or keepdims))
    return ops.Sum.apply(x, axis=ops.norm_axis(_dim(dim, axis), x.ndim), keepdims=_keep(keepdim, keepdims))


def mean(input: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: D.DType | str | None = None,
         axis: Dim = None, keepdims: bool | None = None) -> Tensor:
    """The arithmetic mean over ``dim`` (all elements if None) of a floating-point tensor."""
    x = _cast(_tensor(input, "mean"), dtype)
    if not x.dtype.is_floating_point:
        raise TypeError(f"anynn.mean: input dtype must be floating point, got {x.dtype}; pass dtype=anynn.float32 "
                        "or convert with x.float()")
    return R.mean(x, _dim(dim, axis), _keep(keepdim, keepdims))


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *,
         dtype: D.DType | str | None = None) -> Tensor:
    """The product over one ``dim`` (all elements if None), differentiable through zeros."""
    return R.prod(_cast(_summable(_tensor(input, "prod")), dtype), dim, keepdim)


def var(input: Tensor, dim: Dim = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None, axis: Dim = None, keepdims: bool | None = None) -> Tensor:
    """The variance over ``dim`` with Bessel's ``correction`` (1 by default; ``unbiased=False`` means 0)."""
    if correction is None:
        correction = 0 if unbiased is False else 1
    return R.var(_tensor(input, "var"), _dim(dim, axis), _keep(keepdim, keepdims), correction)


def std(input: Tensor, dim: Dim = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None, axis: Dim = None, keepdims: bool | None = None) -> Tensor:
    """The standard deviation over ``dim`` (see :func:`var`)."""
    return var(input, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims).sqrt()


def _extreme(name: str, input: Tensor, dim: Any, keepdim: bool, largest: bool) -> Tensor | ValuesIndices:
    x = _tensor(input, name)
    if isinstance(dim, Tensor):
        return ops.maximum(x, dim) if largest else ops.minimum(x, dim)
    if dim is None:
        return ops.Max.apply(x, axis=None, keepdims=False, largest=largest)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"anynn.{name}: dim must be an int (or a tensor, for the element-wise {name}), got {dim!r}; "
                        f"for several dims use anynn.a{name}(x, dims)")
    return sorting.max_along(x, dim, keepdim, largest)


def max(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *, axis: int | None = None,
        keepdims: bool | None = None) -> Tensor | ValuesIndices:
    """As ``torch.max``: ``max(x)`` the largest element; ``max(x, dim)`` the ``(values, indices)`` along
    ``dim``; ``max(a, b)`` the element-wise larger of two tensors."""
    return _extreme("max", input, _dim(dim, axis), _keep(keepdim, keepdims), True)


def min(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False, *, axis: int | None = None,
        keepdims: bool | None = None) -> Tensor | ValuesIndices:
    """As ``torch.min``: ``min(x)``, ``min(x, dim)`` -> ``(values, indices)``, or element-wise ``min(a, b)``."""
    return _extreme("min", input, _dim(dim, axis), _keep(keepdim, keepdims), False)


def amax(input: Tensor, dim: Dim = (), keepdim: bool = False) -> Tensor:
    """The largest values over ``dim`` (an int or a tuple; () or None: all); tied maxima share the gradient."""
    x = _tensor(input, "amax")
    axis = None if dim is None or dim == () else ops.norm_axis(dim, x.ndim)
    return ops.Max.apply(x, axis=axis, keepdims=keepdim, largest=True, even=True)


def amin(input: Tensor, dim: Dim = (), keepdim: bool = False) -> Tensor:
    """The smallest values over ``dim`` (an int or a tuple; () or None: all); tied minima share the gradient."""
    x = _tensor(input, "amin")
    axis = None if dim is None or dim == () else ops.norm_axis(dim, x.ndim)
    return ops.Max.apply(x, axis=axis, keepdims=keepdim, largest=False, even=True)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    """The position of the first maximum along ``dim`` (of the flattened tensor if None), int64."""
    x = _tensor(input, "argmax")
    return R.argmax(x, _dim(dim, axis), _keep(keepdim, keepdims))


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None,
           keepdims: bool | None = None) -> Tensor:
    """The position of the first minimum along ``dim`` (of the flattened tensor if None), int64."""
    x = _tensor(input, "argmin")
    return R.argmin(x, _dim(dim, axis), _keep(keepdim, keepdims))


def logsumexp(input: Tensor, dim: Dim = None, keepdim: bool = False, *, axis: Dim = None,
              keepdims: bool | None = None) -> Tensor:
    """log(sum(exp(x))) over ``dim``, without overflow."""
    return R.logsumexp(_tensor(input, "logsumexp"), _dim(dim, axis), _keep(keepdim, keepdims))


def norm(input: Tensor, p: float | str | None = "fro", dim: Dim = None, keepdim: bool = False,
         dtype: D.DType | str | None = None) -> Tensor:
    """The vector p-norm over ``dim`` (all elements if None; ``"fro"``: the 2-norm)."""
    return R.norm(_cast(_tensor(input, "norm"), dtype), p, dim, keepdim)


def cumsum(input: Tensor, dim: int, *, dtype: D.DType | str | None = None) -> Tensor:
    """The running sum along ``dim``; booleans and integers sum as int64."""
    return R.cumsum(_cast(_summable(_tensor(input, "cumsum")), dtype), dim)


def cumprod(input: Tensor, dim: int, *, dtype: D.DType | str | None = None) -> Tensor:
    """The running product along ``dim``, differentiable through zeros."""
    return R.cumprod(_cast(_summable(_tensor(input, "cumprod")), dtype), dim)


def all(input: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Whether every element (along ``dim``) is non-zero, as a boolean tensor."""
    x = _tensor(input, "all")
    return Tensor._make(x.xp.all(x.array, axis=ops.norm_axis(dim, x.ndim), keepdims=keepdim), x.backend)


def any(input: Tensor, dim: Dim = None, keepdim: bool = False) -> Tensor:
    """Whether any element (along ``dim``) is non-zero, as a boolean tensor."""
    x = _tensor(input, "any")
    return Tensor._make(x.xp.any(x.array, axis=ops.norm_axis(dim, x.ndim), keepdims=keepdim), x.backend)


def count_nonzero(input: Tensor, dim: Dim = None) -> Tensor:
    """How many elements (along ``dim``) are non-zero, int64."""
    x = _tensor(input, "count_nonzero")
    out = x.xp.count_nonzero(x.array, axis=ops.norm_axis(dim, x.ndim))
    return Tensor._make(x.xp.astype(out, x.backend.dtype(D.int64)), x.backend)


# ----------------------------------------------------------------- ordering and indexing
def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    """``(values, indices)`` of ``input`` sorted along ``dim`` (stable: ties keep their order)."""
    return sorting.sort(input, dim, descending, stable)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The positions that sort ``input`` along ``dim``."""
    return sorting.argsort(input, dim, descending, stable)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """``(values, indices)`` of the ``k`` largest (or smallest) entries along ``dim``."""
    return sorting.topk(input, k, dim, largest, sorted)


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """``(values, indices)`` of the ``k``-th smallest entry along ``dim`` (k counted from 1)."""
    return sorting.kthvalue(input, k, dim, keepdim)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | ValuesIndices:
    """The lower median of all elements, or ``(values, indices)`` along ``dim``."""
    return sorting.median(input, dim, keepdim)


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = input[i][index[i][j]]`` for dim=1 (any number of dims)."""
    return indexing.gather(input, dim, index)


def scatter(input: Tensor, dim: int, index: Tensor, src: Tensor | float | None = None, *,
            value: float | None = None) -> Tensor:
    """A copy of ``input`` with ``src`` (or ``value``) written where ``index`` points along ``dim``."""
    return indexing.scatter(input, dim, index, src, value=value)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added where ``index`` points along ``dim`` (repeats add)."""
    return indexing.scatter_add(input, dim, index, src)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``input`` along ``dim`` at the 1-D integer ``index``."""
    return indexing.index_select(input, dim, index)


def masked_fill(input: Tensor, mask: Tensor, value: Tensor | float) -> Tensor:
    """A copy of ``input`` with ``value`` where the boolean ``mask`` holds."""
    return indexing.masked_fill(input, mask, value)


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts (or summed ``weights``) of each value 0, 1, ... of a non-negative 1-D integer tensor."""
    return indexing.bincount(input, weights, minlength)


def one_hot(input: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot codes, shape ``input.shape + (num_classes,)`` (``torch.nn.functional.one_hot``)."""
    return indexing.one_hot(input, num_classes)


# ----------------------------------------------------------------- products
def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """``input @ other`` with NumPy's rules for 1-D operands and broadcast batch dimensions."""
    return _into(out, L.matmul(input, other), "matmul")


def mm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The product of two matrices."""
    return _into(out, L.mm(input, mat2), "mm")


def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The products of two batches of matrices, (B, n, m) @ (B, m, p)."""
    return _into(out, L.bmm(input, mat2), "bmm")


def dot(input: Tensor, other: Tensor) -> Tensor:
    """The inner product of two 1-D tensors."""
    return L.dot(input, other)


inner = dot


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (broadcast; by default the first dimension of size 3, as
    ``torch.cross``), differentiable in both."""
    a, b = _tensor(input, "cross"), _tensor(other, "cross")
    ndim = builtins.max(a.ndim, b.ndim)
    shape = broadcast_shape(a.shape, b.shape)
    if shape is None:
        raise ValueError(f"anynn.cross: shapes {a.shape} and {b.shape} do not broadcast")
    if dim is None:
        threes = [i for i, size in enumerate(shape) if size == 3]
        if not threes:
            raise RuntimeError(f"anynn.cross: no dimension of size 3 in {shape}")
        dim = threes[0]
    dim = dim % ndim
    if shape[dim] != 3:
        raise RuntimeError(f"anynn.cross: dimension {dim} has size {shape[dim]}, expected 3")
    a, b = a.expand(shape).transpose(dim, -1), b.expand(shape).transpose(dim, -1)
    parts = [a[..., i] * b[..., j] - a[..., j] * b[..., i] for i, j in ((1, 2), (2, 0), (0, 1))]
    return stack(parts, -1).transpose(dim, -1)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-D tensors, (n,) x (m,) -> (n, m)."""
    a, b = _tensor(input, "outer"), _tensor(vec2, "outer")
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"anynn.outer: expected two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return ops.unsqueeze(a, 1) * ops.unsqueeze(b, 0)


ger = outer


def einsum(equation: str, *operands: Tensor) -> Tensor:
    """Einstein summation, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    return L.einsum(equation, *operands)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    return L.cdist(x1, x2, p)


# ----------------------------------------------------------------- shapes
def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    """The same elements in a new shape (one entry may be -1)."""
    return ops.Reshape.apply(_tensor(input, "reshape"), shape=tuple(shape))


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """The axes reordered as ``dims``."""
    x = _tensor(input, "permute")
    return ops.Permute.apply(x, dims=tuple(d % builtins.max(x.ndim, 1) for d in dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Two axes swapped."""
    x = _tensor(input, "transpose")
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return ops.Permute.apply(x, dims=tuple(dims))


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    """The transpose of a matrix (a 0-d or 1-D tensor is returned as it is)."""
    x = _tensor(input, "t")
    if x.ndim > 2:
        raise ValueError(f"anynn.t: expects a tensor of at most 2 dimensions, got shape {x.shape}; use "
                         "transpose(x, dim0, dim1) or x.mT")
    return x if x.ndim < 2 else ops.Permute.apply(x, dims=(1, 0))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes ``start_dim..end_dim`` merged into one."""
    return ops.flatten(_tensor(input, "flatten"), start_dim, end_dim)


def squeeze(input: Tensor, dim: Dim = None) -> Tensor:
    """Axes of size 1 removed: all of them, or those of ``dim`` (an int or a tuple) that have size 1."""
    x = _tensor(input, "squeeze")
    if dim is None:
        return ops.squeeze(x)
    axes = ops.norm_axis(dim, builtins.max(x.ndim, 1)) if x.ndim else ()
    return ops.Reshape.apply(x, shape=tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """A new axis of size 1 at ``dim``."""
    x = _tensor(input, "unsqueeze")
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"anynn.unsqueeze: dim {dim} is out of range for a tensor with {x.ndim} dimension(s) "
                         f"(expected [{-x.ndim - 1}, {x.ndim}])")
    return ops.unsqueeze(x, dim)


def cat(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None, out: Tensor | None = None) -> Tensor:
    """Tensors joined along an existing ``dim`` (``torch.cat``)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("anynn.cat: expected a non-empty sequence of tensors")
    for x in tensors:
        _tensor(x, "cat")
    tensors = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]  # PyTorch skips (0,)
    return _into(out, ops.concat(tensors, axis=dim if axis is None else axis), "cat")


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0, *, axis: int | None = None, out: Tensor | None = None) -> Tensor:
    """Tensors of one shape joined along a new ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("anynn.stack: expected a non-empty sequence of tensors")
    for x in tensors:
        _tensor(x, "stack")
    return _into(out, ops.stack(tensors, axis=dim if axis is None else axis), "stack")


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:
    """``input`` expanded to ``size`` by broadcasting (no copy; gradients sum back)."""
    return ops.BroadcastTo.apply(_tensor(input, "broadcast_to"), shape=tuple(size))


def movedim(input: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """The axes ``source`` moved to the positions ``destination``, the others keeping their order."""
    x = _tensor(input, "movedim")
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"anynn.movedim: source {source} and destination {destination} must name as many dims")
    n = x.ndim
    src, dst = [d % n for d in src], [d % n for d in dst]
    order = [d for d in range(n) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return ops.Permute.apply(x, dims=tuple(order))


moveaxis = movedim


def tile(input: Tensor, dims: Sequence[int], *, who: str = "tile") -> Tensor:
    """``input`` repeated ``dims[i]`` times along each axis (``torch.tile``; ``Tensor.repeat`` needs at least one
    entry per axis). Missing leading entries are 1; extra ones add leading axes."""
    x = _tensor(input, who)
    dims = tuple(dims)
    if who == "repeat" and len(dims) < x.ndim:
        raise ValueError(f"Tensor.repeat: needs at least as many sizes ({len(dims)} given) as the tensor has "
                         f"dimensions ({x.ndim})")
    dims = (1,) * (x.ndim - len(dims)) + dims
    shape = (1,) * (len(dims) - x.ndim) + x.shape
    spread = tuple(v for n in shape for v in (1, n))
    target = tuple(v for r, n in zip(dims, shape) for v in (r, n))
    out = ops.BroadcastTo.apply(ops.Reshape.apply(x, shape=spread), shape=target)
    return ops.Reshape.apply(out, shape=tuple(r * n for r, n in zip(dims, shape)))


def repeat_interleave(input: Tensor, repeats: int, dim: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times in a row along ``dim`` (of the flattened tensor if None)."""
    x = _tensor(input, "repeat_interleave")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise TypeError(f"anynn.repeat_interleave: repeats must be a non-negative int, got {repeats!r} (tensors of "
                        "repeats are not supported)")
    if dim is None:
        x, dim = ops.Reshape.apply(x, shape=(-1,)), 0
    dim = dim % x.ndim
    spread = x.shape[:dim + 1] + (1,) + x.shape[dim + 1:]
    out = ops.BroadcastTo.apply(ops.Reshape.apply(x, shape=spread), shape=x.shape[:dim + 1] + (repeats,)
                                + x.shape[dim + 1:])
    return ops.Reshape.apply(out, shape=x.shape[:dim] + (x.shape[dim] * repeats,) + x.shape[dim + 1:])


def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:
    """The order of the elements along ``dims`` reversed."""
    x = _tensor(input, "flip")
    axes = ops.norm_axis(dims, builtins.max(x.ndim, 1))
    return x * 1 if x.ndim == 0 else Flip.apply(x, axes=axes)


def roll(input: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """Elements shifted by ``shifts`` along ``dims`` (the flattened tensor if None), wrapping around."""
    x = _tensor(input, "roll")
    if dims is None:
        if not isinstance(shifts, int):
            raise TypeError("anynn.roll: without dims, shifts must be one int (the flattened tensor is rolled)")
        return Roll.apply(x, shifts=shifts, axes=None)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"anynn.roll: shifts {shifts} and dims {dims} must have one length")
    return Roll.apply(x, shifts=shifts, axes=tuple(d % x.ndim for d in dims))


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The ``length`` entries from ``start`` along ``dim`` (a view)."""
    x = _tensor(input, "narrow")
    dim = dim % x.ndim
    start = start % x.shape[dim] if start < 0 else start
    if start + length > x.shape[dim]:
        raise IndexError(f"anynn.narrow: start ({start}) + length ({length}) exceeds dimension size "
                         f"({x.shape[dim]})")
    return x[(slice(None),) * dim + (slice(start, start + length),)]


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that axis removed (a view)."""
    x = _tensor(input, "select")
    return x[(slice(None),) * (dim % x.ndim) + (index,)]


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the listed sizes (views)."""
    x = _tensor(tensor, "split")
    dim = dim % x.ndim
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"anynn.split: split_size must be positive, got {step}")
        sizes = [builtins.min(step, n - start) for start in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ValueError(f"anynn.split: sections {sizes} must sum to the size of dim {dim} ({n})")
    lead = (slice(None),) * dim
    starts = [builtins.sum(sizes[:i]) for i in range(len(sizes))]
    return tuple(x[lead + (slice(s, s + k),)] for s, k in zip(starts, sizes))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces of equal size (the last may be smaller) along ``dim`` (views)."""
    x = _tensor(input, "chunk")
    if chunks <= 0:
        raise ValueError(f"anynn.chunk: chunks must be positive, got {chunks}")
    n = x.shape[dim % x.ndim]
    return split(x, builtins.max(-(-n // chunks), 1), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, that axis removed (views)."""
    x = _tensor(input, "unbind")
    return tuple(select(x, dim, i) for i in range(x.shape[dim % x.ndim]))


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The positions of the non-zero elements: an int64 (count, ndim) tensor, or one 1-D tensor per axis."""
    x = _tensor(input, "nonzero")
    xp = x.xp
    int64 = x.backend.dtype(D.int64)
    found = [xp.astype(i, int64) for i in xp.nonzero(x.array if x.ndim else xp.reshape(x.array, (1,)))]
    if as_tuple:
        return tuple(Tensor._make(i, x.backend) for i in found)
    if x.ndim == 0:
        return Tensor._make(xp.reshape(found[0], (-1, 0)), x.backend)
    return Tensor._make(xp.stack(found, axis=1), x.backend)


argwhere = nonzero


def clone(input: Tensor) -> Tensor:
    """A copy with its own memory that stays in the graph (the gradient passes through)."""
    x = _tensor(input, "clone")
    return ops.Cast.apply(x, dtype=x.dtype)


def numel(input: Tensor) -> int:
    """How many elements the tensor has."""
    return math.prod(_tensor(input, "numel").shape)


def is_tensor(obj: Any) -> bool:
    """True if ``obj`` is an anynn Tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    return _tensor(input, "is_floating_point").dtype.is_floating_point


# ----------------------------------------------------------------- activations under torch.* names
def softmax(input: Tensor, dim: int, dtype: D.DType | str | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, without overflow."""
    return activation.softmax(_cast(_tensor(input, "softmax"), dtype), dim)


def log_softmax(input: Tensor, dim: int, dtype: D.DType | str | None = None) -> Tensor:
    """x - logsumexp(x) along ``dim``."""
    return activation.log_softmax(_cast(_tensor(input, "log_softmax"), dtype), dim)


__all__ = ["abs", "absolute", "acos", "add", "all", "allclose", "amax", "amin", "any", "arccos", "arcsin", "arctan",
           "arctan2", "argmax", "argmin", "argsort", "argwhere", "asin", "atan", "atan2", "bincount", "bitwise_and",
           "bitwise_not", "bitwise_or", "bitwise_xor", "bmm", "broadcast_to", "cat", "cdist", "ceil", "chunk", "clamp",
           "clip", "clone", "concat", "concatenate", "cos", "cosh", "count_nonzero", "cross", "cumprod", "cumsum",
           "diag",
           "diagonal", "diff", "div", "divide", "dot", "einsum", "eq", "equal", "erf", "exp", "expm1", "fix", "flatten",
           "flip", "floor", "floor_divide", "fmod", "gather", "ge", "ger", "greater", "greater_equal", "gt", "hstack",
           "index_select", "inner", "is_floating_point", "is_tensor", "isclose", "isfinite", "isinf", "isnan",
           "kthvalue", "le", "less", "less_equal", "log", "log10", "log1p", "log2", "log_softmax", "logical_and",
           "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "masked_fill", "masked_select", "matmul",
           "max", "maximum", "mean", "median", "meshgrid", "min", "minimum", "mm", "moveaxis", "movedim", "mul",
           "multiply", "narrow", "ne", "neg", "negative", "nonzero", "norm", "not_equal", "numel", "one_hot", "outer",
           "permute", "pow", "prod", "reciprocal", "relu", "remainder", "repeat_interleave", "reshape", "roll", "round",
           "row_stack", "rsqrt", "scatter", "scatter_add", "select", "sigmoid", "sign", "sin", "sinh", "softmax",
           "sort", "split", "sqrt", "square", "squeeze", "stack", "std", "sub", "subtract", "sum", "swapaxes",
           "swapdims", "t", "tan", "tanh", "tile", "topk", "trace", "transpose", "tril", "triu", "true_divide", "trunc",
           "unbind", "unique", "unsqueeze", "var", "vstack", "where"]
