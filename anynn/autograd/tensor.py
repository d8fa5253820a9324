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

    __slots__ = ("array", "grad", "requires_grad", "_node", "_backend", "_retain", "_version", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (np.float32(2) * t)
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, *, dtype: D.DType | str | None = None):
        from anynn.autograd.factories import _to_array

        self.array, self._backend = _to_array(data, D.as_dtype(dtype))
        self._version = [0]
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
        t._version = [0]
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
        """The same storage, cut from the graph; in-place changes through either are seen by autograd."""
        out = Tensor._make(self.array, self._backend)
        out._version = share_version(self)
        return out

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph, in place."""
        self._node = None
        self.requires_grad = False
        return self

    @property
    def data(self) -> "Tensor":
        """A detached Tensor sharing this one's storage, as in PyTorch: in-place changes through it (``p.data.add_``)
        are not tracked by autograd. The raw backend array is ``Tensor.array``."""
        if self._version is BORROWED:
            own(self)
        return Tensor._make(self.array, self._backend)

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data = ...: expected a Tensor, got a {type(value).__module__}."
                            f"{type(value).__name__}; wrap arrays with anynn.tensor(...), or assign the raw array "
                            "to .array")
        if value._backend is not self._backend:
            raise BackendMismatchError("Tensor.data = ...", self._backend, value._backend)
        self.array = value.array
        self._version = [0]

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
    def __iadd__(self, other): return self.add_(other)
    def __isub__(self, other): return self.sub_(other)
    def __imul__(self, other): return self.mul_(other)
    def __itruediv__(self, other): return self.div_(other)
    def __ipow__(self, other): return self.pow_(other)

    def __setitem__(self, index, value) -> None:
        """``x[index] = value`` in place (differentiable in ``value`` and in the rest of ``x``)."""
        if _grad_mode.enabled and (self.requires_grad or isinstance(value, Tensor) and value.requires_grad):
            self._write_result("x[index] = value", lambda source: _ops.setitem(source, index, value), (value,))
            return
        if self._version is BORROWED:
            own(self)
        self.array[_ops.raw_index(self, index)] = _ops.raw_value(self, value, "x[index] = value")
        mark_modified(self)

    # ------------------------------------------------------------- in place
    def add_(self, other, *, alpha: float = 1) -> "Tensor":
        return self._write_result("add_", lambda t: t + (other if alpha == 1 else other * alpha), (other,))

    def sub_(self, other, *, alpha: float = 1) -> "Tensor":
        return self._write_result("sub_", lambda t: t - (other if alpha == 1 else other * alpha), (other,))

    def mul_(self, other) -> "Tensor":
        return self._write_result("mul_", lambda t: t * other, (other,))

    def div_(self, other) -> "Tensor":
        return self._write_result("div_", lambda t: t / other, (other,))

    def pow_(self, exponent) -> "Tensor":
        return self._write_result("pow_", lambda t: t ** exponent, (exponent,))

    def neg_(self) -> "Tensor":
        return self._write_result("neg_", lambda t: -t)

    def abs_(self) -> "Tensor":
        return self._write_result("abs_", lambda t: t.abs())

    def exp_(self) -> "Tensor":
        return self._write_result("exp_", lambda t: t.exp())

    def log_(self) -> "Tensor":
        return self._write_result("log_", lambda t: t.log())

    def sqrt_(self) -> "Tensor":
        return self._write_result("sqrt_", lambda t: t.sqrt())

    def sigmoid_(self) -> "Tensor":
        return self._write_result("sigmoid_", lambda t: t.sigmoid())

    def tanh_(self) -> "Tensor":
        return self._write_result("tanh_", lambda t: t.tanh())

    def relu_(self) -> "Tensor":
        return self._write_result("relu_", lambda t: t.relu())

    def clamp_(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return self._write_result("clamp_", lambda t: t.clip(min, max))

    clip_ = clamp_

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        """Set every element to ``value`` (a number or a one-element Tensor)."""
        if isinstance(value, Tensor):
            return self._write_result("fill_", lambda t: value.to(dtype=self.dtype).reshape(()).expand(t.shape),
                                      (value,))
        kind = self.dtype.kind
        fill = bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)
        return self._write_result("fill_", lambda t: Tensor._make(t.xp.full_like(t.array, fill), t._backend))

    def copy_(self, src: "Tensor") -> "Tensor":
        """Copy ``src`` (broadcast to this shape, from any backend or dtype) into this tensor; differentiable in
        ``src``."""
        if not isinstance(src, Tensor):
            src = Tensor(src)
        return self._write_result("copy_", lambda t: src.to(self._backend, dtype=self.dtype).expand(t.shape), (src,))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        """Fill with samples of N(mean, std^2) from the backend's generator."""
        draw = self._backend.randn(self.shape, self.dtype)
        return self._write_result("normal_", lambda t: Tensor._make(draw * std + mean, t._backend))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        """Fill with samples of U(a, b) from the backend's generator."""
        draw = self._backend.rand(self.shape, self.dtype)
        return self._write_result("uniform_", lambda t: Tensor._make(draw * (b - a) + a, t._backend))

    def _write_result(self, op: str, compute, others: tuple = ()) -> "Tensor":
        """PyTorch's in-place contract: ``compute(self)`` out of place, its values written into this tensor's
        storage (views see them), its version counter bumped, and its history replaced by the new node."""
        if self._version is BORROWED:
            own(self)
        recording = _grad_mode.enabled and (
            self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others))
        if recording and self.requires_grad and self._node is None:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation; wrap the "
                "update in `with anynn.no_grad():` (as optimizers do), or change p.data instead")
        source = self
        if recording:  # the old value, with the old history, becomes the new node's input
            source = Tensor._make(self.array, self._backend, self.requires_grad)
            source._node = self._node
        out = compute(source)
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: expected a Tensor result, got {type(out).__name__}")
        if out._backend is not self._backend:
            raise BackendMismatchError(op, self._backend, out._backend)
        result, target = out.array, self.array
        if tuple(result.shape) != tuple(target.shape):
            raise RuntimeError(f"{op}: output with shape {list(target.shape)} doesn't match the broadcast shape "
                               f"{list(result.shape)}; an in-place result must keep the tensor's shape")
        if result.dtype != target.dtype:
            if out.dtype.kind not in "iub" and self.dtype.kind in "iub":
                raise RuntimeError(f"{op}: result type {out.dtype} can't be cast to the desired output type "
                                   f"{self.dtype}; convert first, e.g. x = x.float()")
            result = self.xp.astype(result, target.dtype)
        node = out._node
        if node is not None and any(saved is target for saved in node.saved):
            kept = self.xp.asarray(target, copy=True)  # the new node keeps the old values it needs
            node.saved = tuple(kept if saved is target else saved for saved in node.saved)
        target[...] = result
        self._version[0] += 1
        in_place_writes[0] += 1
        if recording:
            self._node = node
            self.requires_grad = out.requires_grad
        return self

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


in_place_writes = [0]  # in-place writes so far (all tensors): backward checks versions only when this moved
BORROWED: list = [0]  # the version counter of a gradient that may share memory with another (see _own)


def share_version(tensor: Tensor) -> list:
    """The version counter a new view of ``tensor`` shares with it."""
    if tensor._version is BORROWED:
        own(tensor)
    return tensor._version


def own(tensor: Tensor) -> None:
    """Give a gradient the engine handed over without copying (it may be shared with another tensor's gradient
    or be a broadcast view) its own memory, before anything writes into it or views it."""
    tensor.array = tensor.xp.asarray(tensor.array, copy=True)
    tensor._version = [0]


def mark_modified(tensor: Tensor) -> None:
    """Record that ``tensor``'s values were changed in place by array code (optimizers, initialisers)."""
    tensor._version[0] += 1
    in_place_writes[0] += 1


__all__ = ["BORROWED", "BackendMismatchError", "Tensor", "in_place_writes", "mark_modified", "own", "share_version"]

from anynn import ops as _ops  # noqa: E402  (ops import Tensor: bound after the class exists)
from anynn.ops import _checks  # noqa: E402
from anynn.autograd.grad_mode import state as _grad_mode  # noqa: E402
