"""Shape and data movement: reshape, permute, broadcast, indexing, concat/stack, moving between backends."""
from __future__ import annotations

import operator
from typing import Any, Sequence

from anynn import dtypes as D
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor, BackendMismatchError
from anynn.ops._util import unbroadcast


class Reshape(ArrayFunction):
    shares_storage = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = tuple(x.shape)
        return ctx.xp.reshape(x, tuple(shape))

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.reshape(grad, ctx.in_shape)


class Permute(ArrayFunction):
    shares_storage = True

    @staticmethod
    def forward(ctx, x, dims):
        if sorted(dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes")
        ctx.dims = dims
        return ctx.xp.permute_dims(x, dims)

    @staticmethod
    def backward(ctx, grad):
        inverse = tuple(ctx.dims.index(i) for i in range(len(ctx.dims)))
        return ctx.xp.permute_dims(grad, inverse)


class BroadcastTo(ArrayFunction):
    shares_storage = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = tuple(x.shape)
        shape = tuple(s if s != -1 else x.shape[i - len(shape) + x.ndim] for i, s in enumerate(shape))
        return ctx.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(ctx.xp, grad, ctx.in_shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one (``nn.Flatten`` uses start_dim=1)."""
    if x.ndim == 0:
        return Reshape.apply(x, shape=(1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    shape = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return Reshape.apply(x, shape=shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    dim = dim % (x.ndim + 1)
    return Reshape.apply(x, shape=x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x: Tensor, dim: int | None = None) -> Tensor:
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dim = dim % x.ndim
        shape = x.shape[:dim] + x.shape[dim + 1:] if x.shape[dim] == 1 else x.shape
    return Reshape.apply(x, shape=shape)


class GetItem(ArrayFunction):
    """Basic indexing (ints, slices, None, Ellipsis); the gradient is scattered into zeros."""

    shares_storage = True

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape, ctx.index, ctx.dtype = tuple(x.shape), index, x.dtype
        out = x[index]
        if any(part is None for part in index):  # the standard's __setitem__ takes no None: drop those axes
            ctx.index = tuple(part for part in index if part is not None)
            ctx.set_shape = tuple(x[ctx.index].shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        out = xp.zeros(ctx.in_shape, dtype=ctx.dtype, device=ctx.backend.device)
        out[ctx.index] = xp.reshape(grad, ctx.set_shape) if hasattr(ctx, "set_shape") else grad
        return out


class Take(ArrayFunction):
    """Rows picked by an integer index tensor (``x[idx]``, Embedding); repeated rows add their gradients."""

    @staticmethod
    def forward(ctx, x, index):
        xp = ctx.xp
        flat = xp.reshape(index, (-1,))
        n = x.shape[0]
        flat = xp.where(flat < 0, flat + n, flat)
        ctx.save(flat)
        ctx.in_shape = tuple(x.shape)
        out = xp.take(x, flat, axis=0)
        return xp.reshape(out, tuple(index.shape) + tuple(x.shape[1:]))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        flat = ctx.saved[0]
        rows = xp.reshape(grad, (flat.shape[0],) + ctx.in_shape[1:])
        return ctx.backend.index_add(ctx.in_shape[0], flat, rows), None


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``: basic indexing (ints, slices, None, Ellipsis), or rows picked by an integer tensor or a
    list of ints (repeated rows add their gradients)."""
    if isinstance(index, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in index):
        backend = x.backend
        index = Tensor._make(backend.asarray(index, D.int64), backend)
    if isinstance(index, Tensor):
        if index.dtype.kind not in "iu":
            raise IndexError(f"tensor indices must be integers, got {index.dtype}; boolean masks have data-dependent "
                             "shapes the Array API does not guarantee: use anynn.where(mask, x, 0) instead")
        return Take.apply(x, index)
    parts = tuple(_basic_index(part) for part in (index if isinstance(index, tuple) else (index,)))
    if not any(part is Ellipsis for part in parts):
        parts += (Ellipsis,)  # the standard wants every axis indexed; NumPy's implicit trailing ':' made explicit
    return GetItem.apply(x, index=parts)


class SetItem(ArrayFunction):
    """``x[index] = value`` out of place: a copy of ``x`` with ``value`` (broadcast) written at ``index``; the
    gradient of ``x`` is zero where it was overwritten, ``value`` gets the gradient at ``index``. Tensor's
    ``__setitem__`` writes this result back into ``x`` when autograd records the assignment."""

    @staticmethod
    def forward(ctx, x, value, index):
        xp = ctx.xp
        ctx.index, ctx.value_shape = index, tuple(getattr(value, "shape", ()))
        out = xp.asarray(x, copy=True)
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = xp.asarray(grad, copy=True)
            grad_x[ctx.index] = 0
        grad_value = None
        if ctx.needs_input_grad[1]:
            grad_value = unbroadcast(xp, grad[ctx.index], ctx.value_shape)
        return grad_x, grad_value


def raw_index(x: Tensor, index: Any) -> Any:
    """``index`` for the backend array's ``__setitem__``: index tensors and lists become arrays of ``x``'s backend."""
    parts = index if isinstance(index, tuple) else (index,)
    converted = []
    for part in parts:
        if isinstance(part, Tensor):
            if part._backend is not x._backend:
                raise BackendMismatchError("x[index] = value", x._backend, part._backend)
            converted.append(part.array)
        elif isinstance(part, list):
            kind = D.bool_ if all(isinstance(i, bool) for i in part) else D.int64
            converted.append(x._backend.asarray(part, kind))
        elif isinstance(part, range):
            converted.append(x._backend.asarray(list(part), D.int64))
        else:
            converted.append(_basic_index(part))
    if len(converted) == 1 and not isinstance(converted[0], (int, slice)) and converted[0] is not Ellipsis \
            and converted[0] is not None:
        return converted[0]  # a lone index array (a boolean mask must be the only index in the standard)
    if not any(part is Ellipsis for part in converted):
        converted.append(Ellipsis)
    return tuple(converted)


def raw_value(x: Tensor, value: Any, op: str) -> Any:
    """``value`` as something the backend array of ``x`` accepts in ``__setitem__``: a Python number of ``x``'s
    kind or an array of ``x``'s backend and dtype."""
    if isinstance(value, Tensor):
        if value._backend is not x._backend:
            raise BackendMismatchError(op, x._backend, value._backend)
        array = value.array
        return array if array.dtype == x.array.dtype else x.xp.astype(array, x.array.dtype)
    if isinstance(value, (bool, int, float)) or (hasattr(value, "__float__") and getattr(value, "ndim", 0) == 0):
        kind = x.dtype.kind
        return bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)
    return x._backend.asarray(value, x.dtype)


def setitem(x: Tensor, index: Any, value: Any) -> Tensor:
    """A copy of ``x`` with ``value`` written at ``index`` (differentiable in both)."""
    raw = raw_index(x, index)
    if not isinstance(value, Tensor):
        value = Tensor._make(x._backend.asarray(raw_value(x, value, "x[index] = value"), x.dtype), x._backend)
    elif value.dtype is not x.dtype:
        value = value.to(dtype=x.dtype)
    return SetItem.apply(x, value, index=raw)


def _basic_index(part: Any) -> Any:
    """One entry of a basic index, with integer scalars of any library turned into Python ints."""
    if part is None or part is Ellipsis or isinstance(part, (int, slice)):
        return part
    if isinstance(part, (Tensor, list)):
        raise IndexError("indexing with an integer tensor or list is supported as x[idx] (rows of the first "
                         "axis) only; for another axis, move it first with permute")
    if hasattr(part, "__index__") and getattr(part, "ndim", 0) == 0:
        return operator.index(part)
    raise TypeError(f"indexing: got a {type(part).__module__}.{type(part).__name__}; wrap index arrays with "
                    "anynn.tensor(...) (it converts from any backend)")


class Concat(ArrayFunction):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return ctx.xp.concat(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [], 0
        lead = (slice(None),) * (ctx.axis % grad.ndim)
        for size in ctx.sizes:
            grads.append(grad[lead + (slice(start, start + size), ...)])
            start += size
        return tuple(grads)


class Stack(ArrayFunction):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis % (arrays[0].ndim + 1)
        return ctx.xp.stack(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        lead = (slice(None),) * ctx.axis
        return tuple(grad[lead + (i, ...)] for i in range(grad.shape[ctx.axis]))


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
    return Concat.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    return Stack.apply(*tensors, axis=axis)


class ToBackend(ArrayFunction):
    """Copy to another backend or device; the gradient is copied back."""

    @staticmethod
    def forward(ctx, x, dest):
        ctx.dest = dest
        return dest.asarray(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.backend.asarray(grad)

    @classmethod
    def apply(cls, x: Tensor, dest) -> Tensor:
        out = super().apply(x, dest=dest)
        out._backend = dest
        return out


def check_same_backend(op: str, *tensors: Tensor) -> None:
    """Raise a clear error if ``tensors`` do not share one backend."""
    first = tensors[0]._backend
    for t in tensors[1:]:
        if t._backend is not first:
            raise BackendMismatchError(op, first, t._backend)


__all__ = ["BroadcastTo", "Concat", "GetItem", "Permute", "Reshape", "Stack", "Take", "ToBackend", "check_same_backend",
           "concat", "flatten", "getitem", "squeeze", "stack", "unsqueeze"]
