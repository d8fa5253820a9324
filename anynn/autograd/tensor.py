"""``Tensor``: one backend array plus what autograd needs (``grad``, ``requires_grad``, the node that made it).

Operators and methods forward to the differentiable functions in ``anynn.ops``; ``backward()`` walks the
recorded graph in reverse topological order (``anynn.autograd.engine``) and accumulates gradients into leaves.
"""
from __future__ import annotations

from typing import Any

from anynn import dtypes as D
from anynn import backends as B


class BackendMismatchError(TypeError):
    """Two tensors from different backends (or devices) met in one operation."""

    def __init__(self, op: str, first, second):
        a, b = (first.device_name, second.device_name) if first.name == second.name else (first.name, second.name)
        super().__init__(
            f"{op}: tensors live on different backends ({first.name} on {first.device_name} and {second.name} on "
            f"{second.device_name}); move the {a} one with .to('{b}') or the {b} one with .to('{a}') "
            "(model.to(...) moves a whole model), or create both after anynn.set_backend(...)")


def _unwrap_axis(axis, dim):
    return dim if axis is None and dim is not None else axis


class Tensor:
    """A multi-dimensional array on the current backend that records operations for ``backward()``."""

    __slots__ = ("array", "grad", "requires_grad", "_node", "_backend", "_retain", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (np.float32(2) * t)
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, *, dtype: D.DType | str | None = None):
        from anynn.autograd.factories import _to_array

        self.array, self._backend = _to_array(data, D.as_dtype(dtype))
        self.grad: Tensor | None = None
        self.requires_grad = False
        self._node = None
        self._retain = False
        self.requires_grad_(requires_grad)

    @classmethod
    def _make(cls, data: Any, backend, requires_grad: bool = False) -> "Tensor":
        """Wrap a native array without copying or checking (the hot path of every op)."""
        t = object.__new__(cls)
        t.array = data
        t._backend = backend
        t.grad = None
        t.requires_grad = requires_grad
        t._node = None
        t._retain = False
        return t

    # ----------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> D.DType:
        return self._backend.dtype_of(self.array.dtype)

    @property
    def device(self) -> str:
        return self._backend.device_name

    @property
    def backend(self):
        return self._backend

    @property
    def xp(self):
        return self._backend.xp

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = repr(self.numpy()).replace("array(", "tensor(", 1) if self.numel() <= 1000 else f"tensor(shape={self.shape})"
        extra = f", backend={self._backend.name}" + (", requires_grad=True" if self.requires_grad else "")
        return body[:-1] + extra + ")" if body.endswith(")") else body

    # ----------------------------------------------------------- conversion
    def item(self) -> float | int | bool:
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        kind = self.dtype.kind
        value = self._backend.xp.reshape(self.array, ())
        value = float(value) if kind == "f" else bool(value) if kind == "b" else int(value)
        if _checks.pending():  # a synchronisation point: value checks deferred on a GPU raise here
            _checks.raise_deferred_errors()
        return value

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, this one is {self.dtype}")
        return int(self.item())

    def numpy(self):
        """A host NumPy copy (detached)."""
        return self._backend.to_numpy(self.array)

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor._make(self.array, self._backend)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        """Make this leaf record operations for ``backward()`` (floating-point tensors only, as in PyTorch)."""
        if flag and not self.dtype.is_floating_point:
            raise RuntimeError(f"only floating-point tensors can require gradients, this one is {self.dtype}; "
                               "convert it first, e.g. x.float()")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after ``backward()``."""
        self._retain = True

    def to(self, target: Any = None, *, backend: str | None = None, device: str | None = None,
           dtype: D.DType | str | None = None) -> "Tensor":
        """Move to a backend ('numpy', 'torch', ...), a device ('cpu', 'cuda:0') or a dtype (differentiable)."""
        from anynn.ops.shape import ToBackend
        from anynn.ops.elementwise import Cast

        if isinstance(target, D.DType) or (isinstance(target, str) and target in D._BY_NAME):
            dtype = target
        elif isinstance(target, B.Backend):
            backend, device = target.name, target.device_name
        elif isinstance(target, str):
            try:
                backend = B.canonical_name(target)
            except ValueError:
                device = target
        elif target is not None:
            raise TypeError(f"Tensor.to: cannot move to {target!r}; give a backend name, a device or a dtype")
        out = self
        if backend is not None or device is not None:
            dest = B.backend_for(backend or self._backend.name, device)
            if dest is not self._backend:
                out = ToBackend.apply(out, dest=dest)
        dtype = D.as_dtype(dtype)
        if dtype is not None and dtype is not out.dtype:
            out = Cast.apply(out, dtype=dtype)
            if not dtype.is_floating_point:  # integers and booleans carry no gradient (as in PyTorch)
                out = out.detach()
        return out

    def float(self) -> "Tensor":
        return self.to(D.float32)

    def double(self) -> "Tensor":
        return self.to(D.float64)

    def long(self) -> "Tensor":
        return self.to(D.int64)

    def cpu(self) -> "Tensor":
        """This tensor on the CPU: the same library's CPU device, or NumPy for a GPU-only library (CuPy)."""
        if self.device in ("cpu", "CPU_DEVICE"):
            return self
        try:
            return self.to(device="cpu")
        except B.BackendUnavailable:
            return self.to("numpy")

    # ------------------------------------------------------------- autograd
    def backward(self, grad: "Tensor | None" = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires it."""
        from anynn.autograd.engine import run_backward

        run_backward(self, grad, retain_graph)

    # ------------------------------------------------------------- operators
    def __add__(self, other): return _ops.Add.apply(self, other)
    def __radd__(self, other): return _ops.Add.apply(other, self)
    def __sub__(self, other): return _ops.Sub.apply(self, other)
    def __rsub__(self, other): return _ops.Sub.apply(other, self)
    def __mul__(self, other): return _ops.Mul.apply(self, other)
    def __rmul__(self, other): return _ops.Mul.apply(other, self)
    def __truediv__(self, other): return _ops.Div.apply(self, other)
    def __rtruediv__(self, other): return _ops.Div.apply(other, self)
    def __pow__(self, other): return _ops.Pow.apply(self, other)
    def __rpow__(self, other): return _ops.Pow.apply(other, self)
    def __matmul__(self, other): return _ops.MatMul.apply(self, other)
    def __rmatmul__(self, other): return _ops.MatMul.apply(other, self)
    def __neg__(self): return _ops.Neg.apply(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.Abs.apply(self)
    def __lt__(self, other): return _ops.compare(self, other, "less")
    def __le__(self, other): return _ops.compare(self, other, "less_equal")
    def __gt__(self, other): return _ops.compare(self, other, "greater")
    def __ge__(self, other): return _ops.compare(self, other, "greater_equal")
    def __eq__(self, other): return _ops.compare(self, other, "equal")
    def __ne__(self, other): return _ops.compare(self, other, "not_equal")
    def __getitem__(self, index): return _ops.getitem(self, index)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --------------------------------------------------------------- methods
    def reshape(self, *shape) -> "Tensor":
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return _ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims) -> "Tensor":
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return _ops.Permute.apply(self, dims=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> "Tensor":
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def unsqueeze(self, dim: int) -> "Tensor":
        return _ops.unsqueeze(self, dim)

    def squeeze(self, dim: int | None = None) -> "Tensor":
        return _ops.squeeze(self, dim)

    def expand(self, *shape) -> "Tensor":
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _ops.BroadcastTo.apply(self, shape=shape)

    def sum(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> "Tensor":
        return _ops.Sum.apply(self, axis=_ops.norm_axis(_unwrap_axis(axis, dim), self.ndim),
                              keepdims=keepdims if keepdim is None else keepdim)

    def mean(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> "Tensor":
        return _ops.mean(self, _unwrap_axis(axis, dim), keepdims if keepdim is None else keepdim)

    def var(self, axis=None, keepdims: bool = False, *, correction: int = 1, dim=None, keepdim=None) -> "Tensor":
        return _ops.var(self, _unwrap_axis(axis, dim), keepdims if keepdim is None else keepdim, correction)

    def std(self, axis=None, keepdims: bool = False, *, correction: int = 1, dim=None, keepdim=None) -> "Tensor":
        return self.var(axis, keepdims, correction=correction, dim=dim, keepdim=keepdim).sqrt()

    def max(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> "Tensor":
        return _ops.Max.apply(self, axis=_ops.norm_axis(_unwrap_axis(axis, dim), self.ndim),
                              keepdims=keepdims if keepdim is None else keepdim, largest=True)

    def min(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> "Tensor":
        return _ops.Max.apply(self, axis=_ops.norm_axis(_unwrap_axis(axis, dim), self.ndim),
                              keepdims=keepdims if keepdim is None else keepdim, largest=False)

    def argmax(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None) -> "Tensor":
        return _ops.argmax(self, _unwrap_axis(axis, dim), keepdims if keepdim is None else keepdim)

    def exp(self): return _ops.Exp.apply(self)
    def log(self): return _ops.Log.apply(self)
    def sqrt(self): return _ops.Sqrt.apply(self)
    def tanh(self): return _ops.Tanh.apply(self)
    def sigmoid(self): return _ops.Sigmoid.apply(self)
    def relu(self): return _ops.Relu.apply(self)
    def abs(self): return _ops.Abs.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return _ops.Clip.apply(self, lo=min, hi=max)

    clamp = clip


__all__ = ["BackendMismatchError", "Tensor"]

from anynn import ops as _ops  # noqa: E402  (ops import Tensor: bound after the class exists)
from anynn.ops import _checks  # noqa: E402
