"""Creating tensors: ``tensor`` (from lists or any backend's arrays), ``from_numpy``/``as_tensor`` (sharing memory
where they can) and the usual factories, with PyTorch's names and keywords (``size=``, ``dtype=``, ``device=``,
``requires_grad=``), including the random ones (``rand``, ``randn``, ``randint``, ``normal``, ``multinomial``)."""
from __future__ import annotations

from typing import Any, Sequence

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor

Shape = Sequence[int]


def _shape(shape: tuple, size: Shape | int | None = None, who: str = "factory") -> tuple[int, ...]:
    """The shape given as ints (``zeros(2, 3)``), one sequence (``zeros((2, 3))``) or ``size=`` (PyTorch's keyword)."""
    if size is not None:
        if shape:
            raise TypeError(f"{who}: give the shape either positionally or as size=, not both")
        shape = (size,)
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    if not all(isinstance(n, int) and not isinstance(n, bool) or hasattr(n, "__index__") for n in shape):
        raise TypeError(f"{who}: the shape must be ints, got {shape!r}")
    return tuple(int(n) for n in shape)


def _float(dtype: D.DType | str | None) -> D.DType:
    return D.as_dtype(dtype) or D.get_default_dtype()


def _target(backend: str | None, device: str | None):
    """The backend a factory creates on: the current one, or ``backend``/``device`` when given."""
    if backend is None and device is None:
        return B.get_backend()
    from anynn.device import resolve_move  # devices as Tensor.to reads them: 'cuda' is CuPy's GPU from NumPy

    current = B.get_backend()
    dest, _ = resolve_move(current, backend=backend, device=device)
    return dest or current


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
    def make(*shape: int | Shape, size: Shape | None = None, dtype: D.DType | str | None = None,
             requires_grad: bool = False, backend: str | None = None, device: str | None = None) -> Tensor:
        backend = _target(backend, device)
        array = getattr(backend.xp, name)(_shape(shape, size, name), dtype=backend.dtype(_float(dtype)),
                                          device=backend.device)
        return Tensor._make(array, backend).requires_grad_(requires_grad)

    make.__name__ = name
    make.__doc__ = (f"A tensor of {name[:-1]}s with the given shape (ints, a sequence or size=; default dtype "
                    "float32)." if name != "empty" else "An uninitialised tensor with the given shape.")
    return make


zeros = _factory("zeros")
ones = _factory("ones")
empty = _factory("empty")


def _fill_dtype(value: Any) -> D.DType:
    if isinstance(value, bool):
        return D.bool_
    return D.int64 if isinstance(value, int) else D.get_default_dtype()


def full(size: int | Shape, fill_value: float, dtype: D.DType | str | None = None, requires_grad: bool = False,
         backend: str | None = None, device: str | None = None) -> Tensor:
    """A tensor filled with ``fill_value``; like ``torch.full`` the dtype follows the value when not given."""
    backend = _target(backend, device)
    dt = D.as_dtype(dtype) or _fill_dtype(fill_value)
    shape = (size,) if isinstance(size, int) else tuple(size)
    array = backend.xp.full(shape, fill_value, dtype=backend.dtype(dt), device=backend.device)
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: D.DType | str | None = None,
           backend: str | None = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """``start, start + step, ...`` below ``end`` (``arange(n)``: 0..n-1), like ``torch.arange``: int64 for
    integer arguments, the default float dtype otherwise."""
    backend = _target(backend, device)
    ints = all(isinstance(v, int) for v in (start, end if end is not None else 0, step))
    dt = D.as_dtype(dtype) or (D.int64 if ints else D.get_default_dtype())
    array = backend.xp.arange(start, end, step, dtype=backend.dtype(dt), device=backend.device)
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def linspace(start: float, end: float, steps: int, dtype: D.DType | str | None = None,
             backend: str | None = None, device: str | None = None, requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (default float dtype)."""
    backend = _target(backend, device)
    array = backend.xp.linspace(start, end, steps, dtype=backend.dtype(_float(dtype)), device=backend.device)
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def eye(n: int, m: int | None = None, dtype: D.DType | str | None = None, backend: str | None = None,
        device: str | None = None, requires_grad: bool = False) -> Tensor:
    """An identity matrix (n x m), default float dtype."""
    backend = _target(backend, device)
    array = backend.xp.eye(n, m, dtype=backend.dtype(_float(dtype)), device=backend.device)
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def randn(*shape: int | Shape, size: Shape | None = None, dtype: D.DType | str | None = None,
          requires_grad: bool = False, backend: str | None = None, device: str | None = None) -> Tensor:
    """Standard normal samples from the backend's seeded generator (``randn(2, 3)``, ``randn((2, 3))`` or
    ``randn(size=(2, 3))``)."""
    backend = _target(backend, device)
    array = backend.randn(_shape(shape, size, "randn"), _float(dtype))
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def rand(*shape: int | Shape, size: Shape | None = None, dtype: D.DType | str | None = None,
         requires_grad: bool = False, backend: str | None = None, device: str | None = None) -> Tensor:
    """Uniform samples in [0, 1) from the backend's seeded generator."""
    backend = _target(backend, device)
    array = backend.rand(_shape(shape, size, "rand"), _float(dtype))
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def randint(*args: int | Shape, size: Shape | None = None, dtype: D.DType | str | None = None,
            backend: str | None = None, device: str | None = None) -> Tensor:
    """Integers in [low, high) (default int64), as ``torch.randint(low, high, size)`` or
    ``torch.randint(high, size)``; ``low`` defaults to 0."""
    if size is None and args and isinstance(args[-1], (tuple, list)):
        *args, size = args
    if size is None or not 1 <= len(args) <= 2:
        raise TypeError("randint: call it as randint(high, size) or randint(low, high, size), the size a tuple "
                        "(or size=...)")
    low, high = (0, args[0]) if len(args) == 1 else args
    backend = _target(backend, device)
    out = Tensor._make(backend.randint(int(low), int(high), _shape((), size, "randint")), backend)
    return out if dtype is None else out.to(dtype)


def randperm(n: int, dtype: D.DType | str | None = None, backend: str | None = None,
             device: str | None = None) -> Tensor:
    """A random permutation of range(n), int64."""
    backend = _target(backend, device)
    out = Tensor._make(backend.permutation(n), backend)
    return out if dtype is None else out.to(dtype)


def normal(mean: Tensor | float = 0.0, std: Tensor | float = 1.0, size: Shape | None = None, *,
           dtype: D.DType | str | None = None, backend: str | None = None, device: str | None = None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples with the given ``mean`` and ``std`` (``torch.normal``): numbers with ``size=``, or tensors
    (broadcast; the samples take their shape, dtype and backend). The samples carry no gradient; with number
    arguments, ``requires_grad=True`` makes them a leaf that records (D2L's ``w = torch.normal(0, 0.01,
    size=(2, 1), requires_grad=True)``)."""
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with a number mean and std, give the shape as size=(...)")
        out = randn(size=size, dtype=dtype, backend=backend, device=device) * float(std) + float(mean)
        return out.requires_grad_(requires_grad)
    if requires_grad:
        raise RuntimeError("normal: requires_grad=True is for number mean and std (PyTorch has no such variant "
                           "with tensors); call .requires_grad_() on the result")
    like = tensors[0]
    if size is not None:
        raise TypeError("normal: size= is for number mean and std; with tensors the samples take their shape")
    xp = like.xp
    shape = xp.broadcast_arrays(*(v.array for v in tensors))[0].shape if len(tensors) == 2 else like.shape
    dt = D.as_dtype(dtype) or like.dtype
    noise = Tensor._make(like.backend.randn(tuple(shape), dt), like.backend)
    return (noise * std + mean).detach()


def multinomial(input: Tensor, num_samples: int, replacement: bool = False) -> Tensor:
    """``num_samples`` category indices per row of the non-negative weights ``input`` (1-D or 2-D; rows need
    not sum to 1), as ``torch.multinomial``: without replacement by an exponential race (the ``num_samples``
    smallest ``E / w`` with ``E`` exponential draws), with replacement by inverting the cumulative weights."""
    if not isinstance(input, Tensor) or not input.dtype.is_floating_point or input.ndim not in (1, 2):
        raise TypeError("multinomial: input must be a 1-D or 2-D floating-point anynn Tensor of weights")
    backend, xp = input.backend, input.xp
    weights = input.array if input.ndim == 2 else xp.reshape(input.array, (1, -1))
    rows, n = weights.shape
    if bool(xp.any(weights < 0)) or not bool(xp.all(xp.isfinite(weights))):
        raise ValueError("multinomial: weights must be finite and non-negative")
    if not bool(xp.all(xp.sum(weights, axis=1) > 0)):
        raise ValueError("multinomial: every row of weights needs a positive sum")
    if not replacement and num_samples > n:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from {n} categories")
    if replacement:
        cdf = xp.cumulative_sum(weights, axis=1)
        u = backend.rand((rows, num_samples), input.dtype) * cdf[:, -1:]
        below = xp.expand_dims(cdf, axis=1) <= xp.expand_dims(u, axis=2)
        picks = xp.clip(xp.sum(xp.astype(below, xp.int64), axis=2), 0, n - 1)
    else:
        u = backend.rand((rows, n), input.dtype)
        keys = xp.where(weights > 0, -xp.log1p(-u) / xp.where(weights > 0, weights, 1.0), xp.inf)
        picks = xp.argsort(keys, axis=1, stable=True)[:, :num_samples]
    picks = xp.astype(picks, backend.dtype(D.int64))
    return Tensor._make(picks if input.ndim == 2 else xp.reshape(picks, (num_samples,)), backend)


def bernoulli(input: Tensor, p: float | None = None) -> Tensor:
    """1 with probability ``input`` (or ``p``), else 0, element-wise, in ``input``'s shape and dtype
    (``torch.bernoulli``; no gradient)."""
    if not isinstance(input, Tensor) or not input.dtype.is_floating_point:
        raise TypeError("bernoulli: input must be a floating-point anynn Tensor of probabilities")
    backend, xp = input.backend, input.xp
    prob = input.array if p is None else p
    draws = backend.rand(input.shape, input.dtype) < prob
    return Tensor._make(xp.astype(draws, input.array.dtype), backend)


def from_numpy(array: Any) -> Tensor:
    """A tensor on the current backend sharing memory with the NumPy ``array`` where the backend can (NumPy,
    torch on the CPU, as ``torch.from_numpy``), else a copy (GPUs)."""
    if type(array).__module__ != "numpy" or not hasattr(array, "dtype"):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__module__}.{type(array).__name__}")
    backend = B.get_backend()
    try:
        native = backend.xp.asarray(array, copy=False, device=backend.device)
    except (ValueError, TypeError, RuntimeError, BufferError):
        native = backend.asarray(array)
    return Tensor._make(native, backend)


def as_tensor(data: Any, dtype: D.DType | str | None = None, device: str | None = None,
              backend: str | None = None) -> Tensor:
    """``data`` as a tensor without a copy where possible (``torch.as_tensor``): a Tensor already of this dtype
    and backend is returned as it is, a NumPy array shares memory as with :func:`from_numpy`."""
    dt = D.as_dtype(dtype)
    target = _target(backend, device)
    if isinstance(data, Tensor):
        out = data if data.backend is target else data.to(target)
        return out if dt is None or out.dtype is dt else out.to(dt)
    if type(data).__module__ == "numpy" and hasattr(data, "dtype") and target is B.get_backend():
        out = from_numpy(data)
        return out if dt is None or out.dtype is dt else out.to(dt)
    return tensor(data, dtype=dt, backend=backend, device=device)


def _like_target(other: Tensor, dtype: D.DType | str | None, device: str | None):
    """The backend and dtype a ``*_like`` factory creates with: ``other``'s, unless ``device``/``dtype`` say."""
    backend = other._backend if device is None else B.backend_for(other._backend.name, device)
    return backend, D.as_dtype(dtype) or other.dtype


def _like(name: str):
    def make(other: Tensor, dtype: D.DType | str | None = None, requires_grad: bool = False,
             device: str | None = None) -> Tensor:
        backend, dt = _like_target(other, dtype, device)
        array = getattr(backend.xp, name)(other.shape, dtype=backend.dtype(dt), device=backend.device)
        return Tensor._make(array, backend).requires_grad_(requires_grad)

    make.__name__ = f"{name}_like"
    make.__doc__ = (f"{name.capitalize()} with the shape, dtype and backend of ``other`` (or the given ones)."
                    if name != "empty" else "An uninitialised tensor with the shape, dtype and backend of ``other``.")
    return make


zeros_like = _like("zeros")
ones_like = _like("ones")
empty_like = _like("empty")


def full_like(other: Tensor, fill_value: float, dtype: D.DType | str | None = None, requires_grad: bool = False,
              device: str | None = None) -> Tensor:
    """``fill_value`` everywhere, with the shape, dtype and backend of ``other`` (or the given ones)."""
    backend, dt = _like_target(other, dtype, device)
    array = backend.xp.full(other.shape, fill_value, dtype=backend.dtype(dt), device=backend.device)
    return Tensor._make(array, backend).requires_grad_(requires_grad)


def rand_like(other: Tensor, dtype: D.DType | str | None = None, requires_grad: bool = False,
              device: str | None = None) -> Tensor:
    """Uniform samples in [0, 1) with the shape, dtype and backend of ``other`` (or the given ones)."""
    backend, dt = _like_target(other, dtype, device)
    return Tensor._make(backend.rand(other.shape, dt), backend).requires_grad_(requires_grad)


def randn_like(other: Tensor, dtype: D.DType | str | None = None, requires_grad: bool = False,
               device: str | None = None) -> Tensor:
    """Standard normal samples with the shape, dtype and backend of ``other`` (or the given ones)."""
    backend, dt = _like_target(other, dtype, device)
    return Tensor._make(backend.randn(other.shape, dt), backend).requires_grad_(requires_grad)


def randint_like(other: Tensor, low: int, high: int | None = None, dtype: D.DType | str | None = None,
                 device: str | None = None) -> Tensor:
    """Integers in [low, high) (``randint_like(x, high)``: [0, high)) with the shape of ``other``, in its dtype."""
    low, high = (0, low) if high is None else (low, high)
    backend, dt = _like_target(other, dtype, device)
    return Tensor._make(backend.randint(int(low), int(high), other.shape), backend).to(dt)


__all__ = ["arange", "as_tensor", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
           "linspace", "multinomial", "normal", "ones", "ones_like", "rand", "rand_like", "randint", "randint_like",
           "randn", "randn_like", "randperm", "tensor", "zeros", "zeros_like"]
