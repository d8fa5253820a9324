"""Shape and data movement: reshape, permute, broadcast, indexing, concat/stack, moving between backends."""
from __future__ import annotations

import operator
from typing import Any, Sequence

from anynn import dtypes as D
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor, BackendMismatchError
from anynn.ops._util import cast, unbroadcast


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
    """``x[index]`` with NumPy's (and PyTorch's) rules: basic indexing (ints, slices, None, Ellipsis) gives a
    view; integer tensors, lists and ranges, and boolean masks (reading) on one or several axes pick elements
    (repeated picks add their gradients)."""
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(part, (Tensor, list, range)) for part in parts):
        parts = tuple(_basic_index(part) for part in parts)
        if not any(part is Ellipsis for part in parts):
            parts += (Ellipsis,)  # the standard wants every axis indexed; NumPy's implicit trailing ':' made explicit
        return GetItem.apply(x, index=parts)
    parts = tuple(_index_tensor(x, part) if isinstance(part, (Tensor, list, range)) else part for part in parts)
    if len(parts) == 1 and parts[0].dtype.kind in "iu" and x.ndim > 0:
        return Take.apply(x, check_index(parts[0], x.shape[0]))  # rows of the first axis
    return _advanced(x, parts)


def _index_tensor(x: Tensor, part: Any) -> Tensor:
    """An index tensor, list or range as an integer or boolean tensor on ``x``'s backend."""
    if isinstance(part, range):
        part = list(part)
    if isinstance(part, list):
        kind = D.bool_ if part and all(isinstance(i, bool) for i in part) else D.int64
        return Tensor._make(x.backend.asarray(part, kind), x.backend)
    if part.backend is not x.backend:
        raise BackendMismatchError("x[index]", x.backend, part.backend)
    if part.dtype.kind not in "iub":
        raise IndexError(f"indexing: tensors used as indices must be integer or boolean, got {part.dtype}")
    return part


def check_index(index: Tensor, size: int) -> Tensor:
    """``index`` with negative entries counted from the end; an IndexError if any is outside [-size, size)
    (deferred on GPUs, see :mod:`anynn.ops.indexing`)."""
    from anynn.ops.indexing import check_range

    index = check_range("x[index]", index, size, allow_negative=True)
    xp = index.xp
    return Tensor._make(xp.where(index.array < 0, index.array + size, index.array), index.backend)


def _advanced(x: Tensor, parts: tuple) -> Tensor:
    """NumPy's advanced indexing: slices applied first, then the integer (and boolean, as their ``nonzero``)
    indices broadcast together and read as one linear index over their axes; the picked dimensions go where the
    first indexed axis was if the indexed axes are adjacent, else first."""
    xp = x.xp
    spelled = []
    width = [part.ndim if isinstance(part, Tensor) and part.dtype is D.bool_ else 0 if part is None or
             part is Ellipsis else 1 for part in parts]
    for at, part in enumerate(parts):
        if isinstance(part, Tensor) and part.dtype is D.bool_:
            if part.ndim == 0:
                raise IndexError("indexing: a 0-d boolean index is not supported; use anynn.where")
            start = x.ndim - sum(width[at:]) if Ellipsis in parts[:at] else sum(width[:at])
            if part.shape != x.shape[start:start + part.ndim]:
                raise IndexError(f"indexing: the boolean mask of shape {part.shape} does not match the indexed "
                                 f"dimensions {x.shape[start:start + part.ndim]} of the tensor of shape {x.shape}")
            int64 = x.backend.dtype(D.int64)
            spelled.extend(Tensor._make(xp.astype(i, int64), x.backend) for i in xp.nonzero(part.array))
        elif part is None:
            raise IndexError("indexing: None (a new axis) together with index tensors is not supported; add the "
                             "axis with unsqueeze before or after indexing")
        else:
            spelled.append(part if isinstance(part, Tensor) else _basic_index(part))
    used = sum(1 for part in spelled if part is not Ellipsis)
    if used > x.ndim:
        raise IndexError(f"indexing: too many indices ({used}) for a tensor with {x.ndim} dimension(s)")
    if Ellipsis in spelled:
        at = spelled.index(Ellipsis)
        spelled[at:at + 1] = [slice(None)] * (x.ndim - used)
    spelled += [slice(None)] * (x.ndim - len(spelled))
    axes = [i for i, part in enumerate(spelled) if not isinstance(part, slice)]
    sliced = tuple(part if isinstance(part, slice) else slice(None) for part in spelled)
    if any(part != slice(None) for part in sliced):
        x = GetItem.apply(x, index=sliced + (Ellipsis,))
    sizes = [x.shape[a] for a in axes]
    backend = x.backend
    index = []
    for a, n in zip(axes, sizes):
        part = spelled[a]
        if not isinstance(part, Tensor):
            part = Tensor._make(backend.asarray(part, D.int64), backend)
        index.append(check_index(part, n).array)
    index = xp.broadcast_arrays(*index)
    linear = xp.zeros(tuple(index[0].shape), dtype=index[0].dtype, device=backend.device)
    for i, n in zip(index, sizes):
        linear = linear * n + i
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = Permute.apply(x, dims=tuple(axes + rest)) if axes + rest != list(range(x.ndim)) else x
    flat = Reshape.apply(moved, shape=(-1,) + tuple(x.shape[a] for a in rest))
    out = Take.apply(flat, Tensor._make(linear, backend))
    first, picked = axes[0], len(index[0].shape)
    if axes == list(range(first, first + len(axes))) and first > 0:  # adjacent: the picks stay in place
        order = list(range(picked, picked + first)) + list(range(picked)) + list(range(picked + first, out.ndim))
        out = Permute.apply(out, dims=tuple(order))
    return out


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
        return cast(x.xp, value.array, x.array.dtype)
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


class Flip(ArrayFunction):
    """The order of the elements along ``axes`` reversed (a copy, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return ctx.xp.flip(x, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.flip(grad, axis=ctx.axes)


class Roll(ArrayFunction):
    """Elements shifted along ``axes`` by ``shifts``, those falling off one end coming back at the other
    (``axes=None``: over the flattened tensor, shape kept)."""

    @staticmethod
    def forward(ctx, x, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return ctx.xp.roll(x, shift=shifts, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        back = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return ctx.xp.roll(grad, shift=back, axis=ctx.axes)


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


__all__ = ["BroadcastTo", "Concat", "Flip", "GetItem", "Permute", "Reshape", "Roll", "Stack", "Take", "ToBackend",
           "check_index", "concat", "flatten", "getitem", "squeeze", "stack", "unsqueeze"]
