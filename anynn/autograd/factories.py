"""Creating tensors: ``tensor`` (from lists or any backend's arrays) and the usual factories."""
from __future__ import annotations

from typing import Any, Sequence

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor

Shape = Sequence[int]


def _shape(shape: tuple) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _float(dtype: D.DType | str | None) -> D.DType:
    return D.as_dtype(dtype) or D.get_default_dtype()


def _target(backend: str | None, device: str | None):
    """The backend a factory creates on: the current one, or ``backend``/``device`` when given."""
    if backend is None and device is None:
        return B.get_backend()
    return B.backend_for(backend or B.get_backend().name, device)


def _to_array(data: Any, dtype: D.DType | None, backend=None):
    """A fresh native array on ``backend`` (default: current) from lists, scalars or any library's arrays."""
    backend = backend or B.get_backend()
    if isinstance(data, Tensor):
        data = data.array
    if dtype is None and isinstance(data, (bool, int, float, list, tuple)):
        dtype = _python_dtype(data)
    return backend.asarray(data, dtype), backend


def _python_dtype(data: Any) -> D.DType:
    """PyTorch's rule for Python data: any float (or no element at all) gives the default float dtype,
    else any int gives int64, else bool."""
    kinds = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            kinds.add("b" if isinstance(item, bool) else "i" if isinstance(item, int) else "f")
    if "f" in kinds or not kinds:
        return D.get_default_dtype()
    return D.int64 if "i" in kinds else D.bool_


def tensor(data: Any, dtype: D.DType | str | None = None, requires_grad: bool = False,
           backend: str | None = None, device: str | None = None) -> Tensor:
    """A new tensor (always a copy) on the current backend, or on ``backend``/``device`` if given.

    Accepts Python numbers and (nested) lists, NumPy arrays and arrays or Tensors of any backend. Python
    floats become the default float dtype (float32), like ``torch.tensor``.
    """
    array, target = _to_array(data, D.as_dtype(dtype), _target(backend, device))
    return Tensor._make(array, target).requires_grad_(requires_grad)


def _factory(name: str):
    def make(*shape: int | Shape, dtype: D.DType | str | None = None, requires_grad: bool = False,
             backend: str | None = None, device: str | None = None) -> Tensor:
        backend = _target(backend, device)
        dt = _float(dtype)
        array = getattr(backend.xp, name)(_shape(shape), dtype=backend.dtype(dt), device=backend.device)
        return Tensor._make(array, backend, requires_grad)

    make.__name__ = name
    make.__doc__ = f"A tensor of {name[:-1]}s with the given shape (default dtype float32)."
    return make


zeros = _factory("zeros")
ones = _factory("ones")


def _fill_dtype(value: Any) -> D.DType:
    if isinstance(value, bool):
        return D.bool_
    return D.int64 if isinstance(value, int) else D.get_default_dtype()


def full(shape: int | Shape, fill_value: float, dtype: D.DType | str | None = None, requires_grad: bool = False,
         backend: str | None = None, device: str | None = None) -> Tensor:
    """A tensor filled with ``fill_value``; like ``torch.full`` the dtype follows the value when not given."""
    backend = _target(backend, device)
    dt = D.as_dtype(dtype) or _fill_dtype(fill_value)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    array = backend.xp.full(shape, fill_value, dtype=backend.dtype(dt), device=backend.device)
    return Tensor._make(array, backend, requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: D.DType | str | None = None,
           backend: str | None = None, device: str | None = None) -> Tensor:
    """Like ``torch.arange``: int64 for integer arguments, the default float dtype otherwise."""
    backend = _target(backend, device)
    ints = all(isinstance(v, int) for v in (start, stop if stop is not None else 0, step))
    dt = D.as_dtype(dtype) or (D.int64 if ints else D.get_default_dtype())
    array = backend.xp.arange(start, stop, step, dtype=backend.dtype(dt), device=backend.device)
    return Tensor._make(array, backend)


def linspace(start: float, stop: float, num: int, dtype: D.DType | str | None = None,
             backend: str | None = None, device: str | None = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (default float dtype)."""
    backend = _target(backend, device)
    array = backend.xp.linspace(start, stop, num, dtype=backend.dtype(_float(dtype)), device=backend.device)
    return Tensor._make(array, backend)


def eye(n: int, m: int | None = None, dtype: D.DType | str | None = None, backend: str | None = None,
        device: str | None = None) -> Tensor:
    """An identity matrix (n x m), default float dtype."""
    backend = _target(backend, device)
    return Tensor._make(backend.xp.eye(n, m, dtype=backend.dtype(_float(dtype)), device=backend.device), backend)


def randn(*shape: int | Shape, dtype: D.DType | str | None = None, requires_grad: bool = False,
          backend: str | None = None, device: str | None = None) -> Tensor:
    """Standard normal samples from the backend's seeded generator."""
    backend = _target(backend, device)
    return Tensor._make(backend.randn(_shape(shape), _float(dtype)), backend, requires_grad)


def rand(*shape: int | Shape, dtype: D.DType | str | None = None, requires_grad: bool = False,
         backend: str | None = None, device: str | None = None) -> Tensor:
    """Uniform samples in [0, 1) from the backend's seeded generator."""
    backend = _target(backend, device)
    return Tensor._make(backend.rand(_shape(shape), _float(dtype)), backend, requires_grad)


def randint(low: int, high: int, size: Shape, backend: str | None = None, device: str | None = None) -> Tensor:
    """Integers in [low, high), int64."""
    backend = _target(backend, device)
    return Tensor._make(backend.randint(low, high, tuple(size)), backend)


def randperm(n: int, backend: str | None = None, device: str | None = None) -> Tensor:
    """A random permutation of range(n), int64."""
    backend = _target(backend, device)
    return Tensor._make(backend.permutation(n), backend)


def _like(name: str):
    def make(other: Tensor, dtype: D.DType | str | None = None, requires_grad: bool = False) -> Tensor:
        backend = other._backend
        native = backend.dtype(D.as_dtype(dtype)) if dtype is not None else None
        return Tensor._make(getattr(backend.xp, name)(other.array, dtype=native), backend, requires_grad)

    make.__name__ = name
    make.__doc__ = f"{name[:-5].capitalize()}s with the shape, dtype and backend of ``other``."
    return make


zeros_like = _like("zeros_like")
ones_like = _like("ones_like")


def full_like(other: Tensor, fill_value: float, dtype: D.DType | str | None = None) -> Tensor:
    backend = other._backend
    native = backend.dtype(D.as_dtype(dtype)) if dtype is not None else None
    return Tensor._make(backend.xp.full_like(other.array, fill_value, dtype=native), backend)


__all__ = ["arange", "eye", "full", "full_like", "linspace", "ones", "ones_like", "rand", "randint", "randn",
           "randperm", "tensor", "zeros", "zeros_like"]
