"""``Tensor``: one backend array plus what autograd needs (``grad``, ``requires_grad``, the node that made it).

Operators and methods forward to the differentiable functions in ``anynn.ops``; ``backward()`` walks the
recorded graph in reverse topological order (``anynn.autograd.engine``) and accumulates gradients into leaves.
"""
from __future__ import annotations

from typing import Any

from anynn import dtypes as D
from anynn.device import device as _Device, of_backend as _device_of, resolve_move as _resolve_move
from anynn.backends.base import to_host


class BackendMismatchError(TypeError):
    """Two tensors from different backends (or devices) met in one operation."""

    def __init__(self, op: str, first, second):
        a, b = (first.device_name, second.device_name) if first.name == second.name else (first.name, second.name)
        super().__init__(
            f"{op}: tensors live on different backends ({first.name} on {first.device_name} and {second.name} on "
            f"{second.device_name}); move the {a} one with .to('{b}') or the {b} one with .to('{a}') "
            "(model.to(...) moves a whole model), or create both after anynn.set_backend(...)")


def _promote(a: "Tensor", b: Any, true_divide: bool = False) -> tuple:
    """``a`` and ``b`` converted as PyTorch promotes mixed dtypes in arithmetic: an integer or boolean tensor
    meeting a floating-point tensor takes that tensor's dtype, and a Python float the default float dtype; a
    boolean tensor meeting an integer takes the integer's dtype; true division of integers gives the default float
    dtype; two floating dtypes meet in the wider (float16 + float32 is float32). (NumPy would give float64 and
    array_api_strict refuse.) Same-dtype tensors pass through untouched."""
    if type(b) is Tensor:
        if b._backend is not a._backend:
            return a, b  # the op raises its backend-mismatch error
        if a.array.dtype == b.array.dtype and not (true_divide and not a.dtype.is_floating_point):
            return a, b
        da, db = a.dtype, b.dtype
        if da.is_floating_point != db.is_floating_point:
            return (a.to(db), b) if db.is_floating_point else (a, b.to(da))
        if not da.is_floating_point:
            if true_divide:
                return a.to(D.get_default_dtype()), b.to(D.get_default_dtype())
            if (da is D.bool_) != (db is D.bool_):
                return (a.to(db), b) if da is D.bool_ else (a, b.to(da))
            return a, b
        # two floating dtypes: the narrower is cast (differentiably), so each input's gradient keeps its dtype
        return (a.to(db), b) if db.itemsize > da.itemsize else (a, b.to(da))
    if type(b) is float or type(b) is int or true_divide:
        floats = _NATIVE_FLOATS.get(a._backend)
        if floats is None:
            floats = _NATIVE_FLOATS[a._backend] = _float_natives(a._backend)
        if a.array.dtype not in floats:
            if type(b) is float or true_divide:
                return a.to(D.get_default_dtype()), b
            if type(b) is int and a.dtype is D.bool_:
                return a.to(D.int64), b
    return a, b


def _float_natives(backend) -> set:
    """The library's floating-point dtype objects on ``backend`` (what a Python float meets without promotion)."""
    return {backend.xp.empty((0,), dtype=backend.dtype(d), device=backend.device).dtype
            for d in (D.float16, D.float32, D.float64) if d in backend._to_native}


#: A backend's floating-point dtype objects, by backend: the fast path for tensor-scalar arithmetic
_NATIVE_FLOATS: dict = {}


#: Backends whose host arrays NumPy can view without a copy (``Tensor.numpy()`` shares memory there).
_SHARES_HOST_MEMORY = ("numpy", "array_api_strict", "torch")


def _sizes(sizes: tuple) -> tuple:
    """Sizes given as separate ints (``x.view(2, 3)``) or as one sequence (``x.view((2, 3))``)."""
    return tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)


class Tensor:
    """A multi-dimensional array on the current backend that records operations for ``backward()``."""

    __slots__ = ("array", "grad", "requires_grad", "_node", "_backend", "_retain", "_version", "_rebased",
                 "__weakref__")
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
    def device(self) -> _Device:
        """PyTorch's device ('cpu', 'cuda:0'), which compares equal to its string; the library is ``backend``."""
        return _device_of(self._backend)

    @property
    def is_cuda(self) -> bool:
        return _device_of(self._backend).type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return _device_of(self._backend).type == "cpu"

    #: PyTorch's other accelerators (Intel XPU, Apple MPS, meta tensors) are never anynn's
    is_xpu = is_mps = is_meta = False

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
    def grad_fn(self):
        """PyTorch's view of the call that made this tensor (``name()``, ``next_functions``), None for a leaf."""
        from anynn.autograd.grad_fn import grad_fn_of

        return grad_fn_of(self)

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

    nelement = numel
    ndimension = dim

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        small = self.numel() <= 1000
        body = repr(self.numpy()).replace("array(", "tensor(", 1) if small else f"tensor(shape={self.shape})"
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
        """The values as a NumPy array, sharing memory with this tensor where it lives in host memory (NumPy,
        array_api_strict, torch on the CPU), as PyTorch's ``numpy()`` does; a copy from a GPU (and from the
        counting backend, which counts the read)."""
        backend = self._backend
        if backend.name in _SHARES_HOST_MEMORY and _checks.on_host(backend):
            return to_host(self.array)
        return backend.to_numpy(self.array)

    def __format__(self, spec: str) -> str:
        """``f"{loss:.3f}"`` formats the value of a one-element tensor; other tensors format as their repr."""
        if self.numel() == 1:
            return format(self.item(), spec)
        return object.__format__(self, spec) if spec else repr(self)

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

    def to(self, target: Any = None, dtype: D.DType | str | None = None, non_blocking: bool = False, *,
           backend: str | None = None, device: Any = None) -> "Tensor":
        """Move to a device ('cpu', 'cuda:0', ``anynn.device``: the current library's, see ``anynn.device``), a
        backend ('numpy', 'torch', ...), a dtype, or another tensor's backend and dtype (differentiable).
        ``non_blocking`` is accepted for PyTorch code; copies here are synchronous."""
        from anynn.ops.shape import ToBackend
        from anynn.ops.elementwise import Cast

        dest, dtype = _resolve_move(self._backend, target, backend=backend, device=device, dtype=dtype)
        out = self
        if dest is not None and dest is not self._backend:
            out = ToBackend.apply(out, dest=dest)
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

    def int(self) -> "Tensor":
        return self.to(D.int32)

    def short(self) -> "Tensor":
        return self.to(D.int16)

    def half(self) -> "Tensor":
        return self.to(D.float16)

    def bool(self) -> "Tensor":
        return self.to(D.bool_)

    def byte(self) -> "Tensor":
        return self.to(D.uint8)

    def type(self, dtype: D.DType | str | None = None):
        """With a dtype, this tensor converted to it; without, the name of its type (``"torch.FloatTensor"``
        style, as PyTorch prints it)."""
        if dtype is None:
            names = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long", "int32": "Int",
                     "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
            return f"anynn.{names.get(self.dtype.name, self.dtype.name)}Tensor"
        return self.to(dtype)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def cpu(self) -> "Tensor":
        """This tensor on the CPU: the same library's CPU device, or NumPy for a GPU-only library (CuPy)."""
        return self.to(device="cpu")

    def cuda(self, device: Any = None, non_blocking: bool = False) -> "Tensor":
        """This tensor on a GPU: torch's CUDA for the torch backend, CuPy for the others; without a GPU,
        BackendUnavailable says why (``anynn.cuda.why_unavailable()``)."""
        return self.to(device="cuda" if device is None else _Device(device))

    # ------------------------------------------------------------- autograd
    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: "Tensor | list[Tensor] | tuple | None" = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires it (given ``inputs``: into
        theirs only). ``create_graph=True`` (higher-order gradients) is not supported yet."""
        from anynn.autograd.engine import backward, run_backward

        if create_graph or inputs is not None:
            backward(self, gradient, retain_graph, create_graph, inputs)
        else:
            run_backward(self, gradient, bool(retain_graph))

    # ------------------------------------------------------------- operators
    # Mixed dtypes follow PyTorch's promotion (see ``_promote``) before the op sees the arrays.
    # The common cases (a tensor of the same dtype, or a Python float with a floating tensor) skip _promote.
    def __add__(self, other):
        if type(other) is Tensor and other._backend is self._backend and other.array.dtype == self.array.dtype \
                or type(other) is float and self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()):
            return _ops.Add.apply(self, other)
        return _ops.Add.apply(*_promote(self, other))

    def __radd__(self, other):
        if type(other) is float and self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()):
            return _ops.Add.apply(other, self)
        return _ops.Add.apply(*_promote(self, other)[::-1])

    def __sub__(self, other):
        if type(other) is Tensor and other._backend is self._backend and other.array.dtype == self.array.dtype \
                or type(other) is float and self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()):
            return _ops.Sub.apply(self, other)
        return _ops.Sub.apply(*_promote(self, other))

    def __rsub__(self, other):
        if type(other) is float and self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()):
            return _ops.Sub.apply(other, self)
        return _ops.Sub.apply(*_promote(self, other)[::-1])

    def __mul__(self, other):
        if type(other) is Tensor and other._backend is self._backend and other.array.dtype == self.array.dtype \
                or type(other) is float and self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()):
            return _ops.Mul.apply(self, other)
        return _ops.Mul.apply(*_promote(self, other))

    def __rmul__(self, other):
        if type(other) is float and self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()):
            return _ops.Mul.apply(other, self)
        return _ops.Mul.apply(*_promote(self, other)[::-1])

    def __truediv__(self, other):
        if self.array.dtype in _NATIVE_FLOATS.get(self._backend, ()) \
                and (type(other) is float or type(other) is Tensor and other._backend is self._backend
                     and other.array.dtype == self.array.dtype):
            return _ops.Div.apply(self, other)
        return _ops.Div.apply(*_promote(self, other, True))

    def __rtruediv__(self, other): return _ops.Div.apply(*_promote(self, other, True)[::-1])
    def __pow__(self, other): return _ops.Pow.apply(*_promote(self, other))
    def __rpow__(self, other): return _ops.Pow.apply(*_promote(self, other)[::-1])
    def __floordiv__(self, other): return _fn.floor_divide(self, other)
    def __rfloordiv__(self, other): return _fn.floor_divide(other, self)
    def __mod__(self, other): return _fn.remainder(self, other)
    def __rmod__(self, other): return _fn.remainder(other, self)
    def __and__(self, other): return _fn.bitwise_and(self, other)
    def __rand__(self, other): return _fn.bitwise_and(self, other)
    def __or__(self, other): return _fn.bitwise_or(self, other)
    def __ror__(self, other): return _fn.bitwise_or(self, other)
    def __xor__(self, other): return _fn.bitwise_xor(self, other)
    def __rxor__(self, other): return _fn.bitwise_xor(self, other)
    def __invert__(self): return _fn.bitwise_not(self)
    def __matmul__(self, other): return _matmul(self, other)
    def __rmatmul__(self, other): return _matmul(other, self)
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
        if (_grad_mode.enabled and (self.requires_grad or isinstance(value, Tensor) and value.requires_grad)) \
                or not hasattr(self.array, "__setitem__"):
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
        fill = _ops.raw_value(self, value, "fill_")  # a Python number of this tensor's kind
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
        if self.dtype.kind in "iub" and any(type(o) is float or isinstance(o, Tensor) and o.dtype.is_floating_point
                                            for o in others):
            raise RuntimeError(f"{op}: result type Float can't be cast to the desired output type {self.dtype}; "
                               "convert first, e.g. x = x.float()")
        source = self
        if recording:  # the old value, with the old history and the same version counter, becomes the new node's
            source = Tensor._make(self.array, self._backend, self.requires_grad)  # input (the walk reaches the
            source._node, source._version = self._node, self._version  # old node through it, and sees writes)
        out = compute(source)
        if not isinstance(out, Tensor):
            raise TypeError(f"{op}: expected a Tensor result, got {type(out).__name__}")
        if out._backend is not self._backend:
            raise BackendMismatchError(op, self._backend, out._backend)
        if recording and not out.requires_grad:  # a constant overwrote it: the old history gets a zero gradient
            out = _ops.SetItem.apply(source, out if out.dtype is self.dtype else out.to(dtype=self.dtype),
                                     index=(Ellipsis,))
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
        if hasattr(target, "__setitem__"):
            target[...] = result
        else:  # a NumPy scalar (0-d results on NumPy): immutable and never a view, so the tensor takes a new one
            self.array = self.xp.asarray(result, copy=True)
        mark_modified(self)
        if recording:
            self._node = node
            self.requires_grad = out.requires_grad
            node.writes = in_place_writes[0]  # its own write is no change to it
            self._rebased = in_place_writes[0]  # nodes recorded before now hold this tensor with its old history
        return self

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # --------------------------------------------------------------- methods
    # Shapes. The PyTorch names; ``anynn.functions`` holds the argument handling each shares with ``anynn.<name>``.
    def reshape(self, *shape) -> "Tensor":
        return _ops.Reshape.apply(self, shape=_sizes(shape))

    view = reshape

    def view_as(self, other: "Tensor") -> "Tensor":
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return _ops.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: int, sizes) -> "Tensor":
        dim = dim % self.ndim
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def permute(self, *dims) -> "Tensor":
        return _fn.permute(self, _sizes(dims))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> "Tensor":
        return _fn.transpose(self, dim0, dim1)

    swapaxes = swapdims = transpose

    def t(self) -> "Tensor":
        return _fn.t(self)

    @property
    def mT(self) -> "Tensor":
        """The last two axes swapped (a batch of matrices transposed)."""
        if self.ndim < 2:
            raise ValueError(f"tensor.mT: expects at least 2 dimensions, got shape {self.shape}")
        return _fn.transpose(self, -2, -1)

    def movedim(self, source, destination) -> "Tensor":
        return _fn.movedim(self, source, destination)

    moveaxis = movedim

    def unsqueeze(self, dim: int) -> "Tensor":
        return _fn.unsqueeze(self, dim)

    def squeeze(self, dim=None) -> "Tensor":
        return _fn.squeeze(self, dim)

    def expand(self, *sizes) -> "Tensor":
        return _ops.BroadcastTo.apply(self, shape=_sizes(sizes))

    def expand_as(self, other: "Tensor") -> "Tensor":
        return self.expand(other.shape)

    broadcast_to = expand

    def repeat(self, *sizes) -> "Tensor":
        return _fn.tile(self, _sizes(sizes), who="repeat")

    def tile(self, *dims) -> "Tensor":
        return _fn.tile(self, _sizes(dims))

    def repeat_interleave(self, repeats: int, dim: int | None = None) -> "Tensor":
        return _fn.repeat_interleave(self, repeats, dim)

    def flip(self, *dims) -> "Tensor":
        return _fn.flip(self, _sizes(dims))

    def roll(self, shifts, dims=None) -> "Tensor":
        return _fn.roll(self, shifts, dims)

    def chunk(self, chunks: int, dim: int = 0) -> tuple["Tensor", ...]:
        return _fn.chunk(self, chunks, dim)

    def split(self, split_size_or_sections, dim: int = 0) -> tuple["Tensor", ...]:
        return _fn.split(self, split_size_or_sections, dim)

    def unbind(self, dim: int = 0) -> tuple["Tensor", ...]:
        return _fn.unbind(self, dim)

    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        return _fn.narrow(self, dim, start, length)

    def select(self, dim: int, index: int) -> "Tensor":
        return _fn.select(self, dim, index)

    def contiguous(self) -> "Tensor":
        """This tensor (arrays of every backend are used as they are; there are no strides to fix)."""
        return self

    def is_contiguous(self) -> bool:
        return True

    def clone(self) -> "Tensor":
        """A copy with its own memory that stays in the graph (the gradient passes through)."""
        return _fn.clone(self)

    # Reductions.
    def sum(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None) -> "Tensor":
        return _fn.sum(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None) -> "Tensor":
        return _fn.mean(self, dim, keepdim, dtype=dtype, axis=axis, keepdims=keepdims)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> "Tensor":
        return _fn.prod(self, dim, keepdim, dtype=dtype)

    def var(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction: int | None = None,
            axis=None, keepdims=None) -> "Tensor":
        return _fn.var(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def std(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction: int | None = None,
            axis=None, keepdims=None) -> "Tensor":
        return _fn.std(self, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """``x.max()`` the largest element; ``x.max(dim)`` the ``(values, indices)`` along ``dim`` (a named tuple,
        so ``x.max(1)[1]`` and ``x.max(1).indices`` are the positions); ``x.max(other)`` element-wise."""
        return _fn.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """``x.min()``, ``x.min(dim)`` -> ``(values, indices)``, or ``x.min(other)`` element-wise."""
        return _fn.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=(), keepdim: bool = False) -> "Tensor":
        return _fn.amax(self, dim, keepdim)

    def amin(self, dim=(), keepdim: bool = False) -> "Tensor":
        return _fn.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> "Tensor":
        return _fn.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> "Tensor":
        return _fn.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def logsumexp(self, dim=None, keepdim: bool = False) -> "Tensor":
        return _fn.logsumexp(self, dim, keepdim)

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None) -> "Tensor":
        return _fn.norm(self, p, dim, keepdim, dtype)

    def cumsum(self, dim: int, *, dtype=None) -> "Tensor":
        return _fn.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype=None) -> "Tensor":
        return _fn.cumprod(self, dim, dtype=dtype)

    def all(self, dim=None, keepdim: bool = False) -> "Tensor":
        return _fn.all(self, dim, keepdim)

    def any(self, dim=None, keepdim: bool = False) -> "Tensor":
        return _fn.any(self, dim, keepdim)

    def count_nonzero(self, dim=None) -> "Tensor":
        return _fn.count_nonzero(self, dim)

    def nonzero(self, *, as_tuple: bool = False):
        return _fn.nonzero(self, as_tuple=as_tuple)

    # Ordering and indexing.
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        return _fn.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> "Tensor":
        return _fn.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        return _fn.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        return _fn.kthvalue(self, k, dim, keepdim)

    def median(self, dim: int | None = None, keepdim: bool = False):
        return _fn.median(self, dim, keepdim)

    def gather(self, dim: int, index: "Tensor") -> "Tensor":
        return _fn.gather(self, dim, index)

    def scatter(self, dim: int, index: "Tensor", src=None, *, value=None) -> "Tensor":
        return _fn.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim: int, index: "Tensor", src: "Tensor") -> "Tensor":
        return _fn.scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: "Tensor") -> "Tensor":
        return _fn.index_select(self, dim, index)

    def masked_fill(self, mask: "Tensor", value) -> "Tensor":
        return _fn.masked_fill(self, mask, value)

    def where(self, condition: "Tensor", other) -> "Tensor":
        """``self`` where ``condition`` holds, else ``other``."""
        return _fn.where(condition, self, other)

    # Element-wise.
    def exp(self): return _ops.Exp.apply(self)
    def log(self): return _ops.Log.apply(self)
    def sqrt(self): return _ops.Sqrt.apply(self)
    def tanh(self): return _ops.Tanh.apply(self)
    def sigmoid(self): return _ops.Sigmoid.apply(self)
    def relu(self): return _ops.Relu.apply(self)
    def abs(self): return _ops.Abs.apply(self)
    def neg(self): return _ops.Neg.apply(self)
    def log1p(self): return _fn.log1p(self)
    def expm1(self): return _fn.expm1(self)
    def log2(self): return _fn.log2(self)
    def log10(self): return _fn.log10(self)
    def rsqrt(self): return _fn.rsqrt(self)
    def square(self): return _fn.square(self)
    def reciprocal(self): return _fn.reciprocal(self)
    def sin(self): return _fn.sin(self)
    def cos(self): return _fn.cos(self)
    def tan(self): return _fn.tan(self)
    def asin(self): return _fn.asin(self)
    def acos(self): return _fn.acos(self)
    def atan(self): return _fn.atan(self)
    def sinh(self): return _fn.sinh(self)
    def cosh(self): return _fn.cosh(self)
    def floor(self): return _fn.floor(self)
    def ceil(self): return _fn.ceil(self)
    def trunc(self): return _fn.trunc(self)
    def sign(self): return _fn.sign(self)
    def erf(self): return _fn.erf(self)
    def isnan(self): return _fn.isnan(self)
    def isinf(self): return _fn.isinf(self)
    def isfinite(self): return _fn.isfinite(self)

    negative, absolute, arcsin, arccos, arctan, fix = neg, abs, asin, acos, atan, trunc

    def round(self, decimals: int = 0) -> "Tensor":
        return _fn.round(self, decimals=decimals)

    def clip(self, min=None, max=None) -> "Tensor":
        return _fn.clamp(self, min, max)

    clamp = clip

    def softmax(self, dim: int, dtype=None) -> "Tensor":
        return _fn.softmax(self, dim, dtype)

    def log_softmax(self, dim: int, dtype=None) -> "Tensor":
        return _fn.log_softmax(self, dim, dtype)

    def add(self, other, *, alpha: float = 1) -> "Tensor":
        return _fn.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha: float = 1) -> "Tensor":
        return _fn.sub(self, other, alpha=alpha)

    def mul(self, other) -> "Tensor":
        return _ops.Mul.apply(self, other)

    def div(self, other, *, rounding_mode: str | None = None) -> "Tensor":
        return _fn.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent) -> "Tensor":
        return self ** exponent

    subtract, multiply, divide, true_divide = sub, mul, div, div

    def atan2(self, other) -> "Tensor":
        return _fn.atan2(self, other)

    arctan2 = atan2

    def maximum(self, other) -> "Tensor":
        return _fn.maximum(self, other)

    def minimum(self, other) -> "Tensor":
        return _fn.minimum(self, other)

    def eq(self, other): return _ops.compare(self, other, "equal")
    def ne(self, other): return _ops.compare(self, other, "not_equal")
    def lt(self, other): return _ops.compare(self, other, "less")
    def le(self, other): return _ops.compare(self, other, "less_equal")
    def gt(self, other): return _ops.compare(self, other, "greater")
    def ge(self, other): return _ops.compare(self, other, "greater_equal")

    def isclose(self, other: "Tensor", rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> "Tensor":
        return _fn.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: "Tensor", rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        return _fn.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: "Tensor") -> bool:
        return _fn.equal(self, other)

    def floor_divide(self, other): return _fn.floor_divide(self, other)
    def remainder(self, other): return _fn.remainder(self, other)
    def fmod(self, other): return _fn.fmod(self, other)
    def logical_and(self, other): return _fn.logical_and(self, other)
    def logical_or(self, other): return _fn.logical_or(self, other)
    def logical_xor(self, other): return _fn.logical_xor(self, other)
    def logical_not(self): return _fn.logical_not(self)
    def bitwise_and(self, other): return _fn.bitwise_and(self, other)
    def bitwise_or(self, other): return _fn.bitwise_or(self, other)
    def bitwise_xor(self, other): return _fn.bitwise_xor(self, other)
    def bitwise_not(self): return _fn.bitwise_not(self)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> "Tensor":
        return _fn.diagonal(self, offset, dim1, dim2)

    def diag(self, diagonal: int = 0) -> "Tensor":
        return _fn.diag(self, diagonal)

    def trace(self) -> "Tensor":
        return _fn.trace(self)

    def masked_select(self, mask: "Tensor") -> "Tensor":
        return _fn.masked_select(self, mask)

    def diff(self, n: int = 1, dim: int = -1) -> "Tensor":
        return _fn.diff(self, n, dim)

    def tril(self, diagonal: int = 0) -> "Tensor":
        return _fn.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> "Tensor":
        return _fn.triu(self, diagonal)

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
        return _fn.unique(self, sorted, return_inverse, return_counts, dim)

    # Products.
    def matmul(self, other: "Tensor") -> "Tensor":
        return _fn.matmul(self, other)

    def mm(self, mat2: "Tensor") -> "Tensor":
        return _fn.mm(self, mat2)

    def bmm(self, mat2: "Tensor") -> "Tensor":
        return _fn.bmm(self, mat2)

    def dot(self, other: "Tensor") -> "Tensor":
        return _fn.dot(self, other)

    def cross(self, other: "Tensor", dim: int | None = None) -> "Tensor":
        return _fn.cross(self, other, dim)

    def outer(self, vec2: "Tensor") -> "Tensor":
        return _fn.outer(self, vec2)

    # New tensors like this one (its backend and, unless given, its dtype).
    def new_tensor(self, data, dtype=None, requires_grad: bool = False) -> "Tensor":
        return _factories.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad,
                                 backend=self._backend.name, device=self._backend.device_name)

    def new_zeros(self, *size, dtype=None, requires_grad: bool = False) -> "Tensor":
        return self._new("zeros", size, dtype, requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad: bool = False) -> "Tensor":
        return self._new("ones", size, dtype, requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad: bool = False) -> "Tensor":
        return self._new("empty", size, dtype, requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad: bool = False) -> "Tensor":
        native = self._backend.dtype(D.as_dtype(dtype) or self.dtype)
        array = self.xp.full(tuple(size), fill_value, dtype=native, device=self._backend.device)
        return Tensor._make(array, self._backend).requires_grad_(requires_grad)

    def _new(self, name: str, size: tuple, dtype, requires_grad: bool) -> "Tensor":
        native = self._backend.dtype(D.as_dtype(dtype) or self.dtype)
        array = getattr(self.xp, name)(_sizes(size), dtype=native, device=self._backend.device)
        return Tensor._make(array, self._backend).requires_grad_(requires_grad)


in_place_writes = [0]  # in-place writes so far (all tensors): a tensor's version is this count at its last write
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
    """Record that ``tensor``'s values were changed in place (by an in-place op, an optimizer, an initialiser).

    A version is the number of in-place writes made so far, by any tensor, at this tensor's last write, so a
    recorded op knows that an input was changed after it ran without keeping a version per input."""
    in_place_writes[0] += 1
    tensor._version[0] = in_place_writes[0]


__all__ = ["BORROWED", "BackendMismatchError", "Tensor", "in_place_writes", "mark_modified", "own", "share_version"]

from anynn import ops as _ops  # noqa: E402  (ops import Tensor: bound after the class exists)
from anynn.ops import _checks  # noqa: E402
from anynn.ops.linear import matmul as _matmul  # noqa: E402  (the @ operator: autocast and dtype checks)
from anynn.autograd.grad_mode import state as _grad_mode  # noqa: E402
from anynn import functions as _fn  # noqa: E402
from anynn.autograd import factories as _factories  # noqa: E402
