"""``anynn.device``: PyTorch's ``torch.device`` (a type such as 'cpu' or 'cuda' and an optional index), and how
a device chooses a backend.

A backend is a library on a device; a device names only the second half, so moving to a device keeps the
library where it can: ``'cpu'`` is the current library's CPU (NumPy, array-api-strict and torch have one; CuPy
has none, so its tensors go to NumPy), ``'cuda'`` is the current library's GPU (torch on CUDA) or CuPy's for the
CPU-only libraries. ``Tensor.device`` returns a ``device``, which compares equal to its string (``x.device ==
'cpu'``) and to a ``torch.device`` of the same type and index.

The package exports the class as ``anynn.device``, which hides this module's name there: import from it with
``from anynn.device import backend_on`` (``import anynn.device as m`` would give the class).
"""
from __future__ import annotations

from typing import Any

from anynn import backends as B
from anynn import dtypes as D

#: Libraries with a CPU device of their own; moving one of the others (CuPy) to 'cpu' goes to NumPy.
_HAS_CPU = ("numpy", "array_api_strict", "torch")
#: The library 'cuda' means for each current library: its own GPU where it has one, else CuPy.
_GPU_LIBRARY = {"torch": "torch", "cupy": "cupy"}
#: Native device names that mean the host CPU (array-api-strict calls it 'CPU_DEVICE').
_CPU_NAMES = ("cpu", "CPU_DEVICE")


class device:
    """A device: ``device('cuda:1')``, ``device('cuda', 1)``, ``device('cpu')``, or from a ``torch.device``.

    ``type`` is the kind ('cpu', 'cuda', or a library's own name such as array-api-strict's 'device1') and
    ``index`` the number or None. As in PyTorch, ``device('cuda') != device('cuda:0')``: no index means "the
    current one", which is not the same statement as "number 0".
    """

    __slots__ = ("type", "index")

    def __init__(self, type: "str | device | Any", index: int | None = None):  # noqa: A002 (PyTorch's name)
        if _names_a_device(type):  # ours or a torch.device
            if index is not None:
                raise ValueError(f"anynn.device: an index ({index}) was given with a device ({type}); pass "
                                 "device('cuda', 1) or device('cuda:1')")
            type, index = str(type.type), type.index
        elif isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type  # torch.device(1) is cuda:1
        elif not isinstance(type, str):
            raise TypeError(f"anynn.device: expected a string such as 'cpu' or 'cuda:0', a device or a device "
                            f"index, got {type!r}")
        else:
            name, sep, number = type.partition(":")
            if sep:
                if index is not None:
                    raise ValueError(f"anynn.device: {type!r} already has an index; do not pass index={index}")
                if not number.isdigit():
                    raise ValueError(f"anynn.device: invalid device string {type!r}; expected 'type' or "
                                     "'type:index' such as 'cuda:0'")
                type, index = name, int(number)
            type = "cpu" if type in _CPU_NAMES else type
        if not type:
            raise ValueError("anynn.device: the device type is empty; expected 'cpu' or 'cuda'")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise ValueError(f"anynn.device: the index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("anynn.device is immutable")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, device):
            try:
                other = device(other)
            except (TypeError, ValueError):
                return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash(str(self))  # equal to its string, so it hashes like it

    def __reduce__(self):
        return (device, (self.type, self.index))


def _names_a_device(obj: Any) -> bool:
    """An anynn or a torch device object (recognised by its class name and fields: torch is not imported)."""
    return isinstance(obj, device) or (type(obj).__name__ == "device" and hasattr(obj, "type")
                                       and hasattr(obj, "index"))


_OF_BACKEND: dict[B.Backend, device] = {}


def of_backend(backend: B.Backend) -> device:
    """The device a backend's arrays live on ('cpu' for every host library); what ``Tensor.device`` returns."""
    found = _OF_BACKEND.get(backend)
    if found is None:
        found = _OF_BACKEND[backend] = device(backend.device_name)
    return found


def backend_on(target: "device | str | Any", current: B.Backend) -> B.Backend:
    """The backend that moving a tensor of ``current`` to device ``target`` lands on (see the module docstring);
    BackendUnavailable, with the reason and the fix, where that device cannot be used here."""
    dev = device(target)
    if dev.type == "cpu":
        library = current.name if current.name in _HAS_CPU else "numpy"
        return B.backend_for(library, "cpu")
    if dev.type == "cuda":
        library = _GPU_LIBRARY.get(current.name, "cupy")
        try:
            return B.backend_for(library, str(dev))
        except B.BackendUnavailable as err:
            raise B.BackendUnavailable(f"cannot move to {dev}: {err}") from None
    return B.backend_for(current.name, str(dev))  # a library's own device name (array-api-strict's 'device1')


def resolve_move(current: B.Backend, target: Any = None, *, backend: Any = None, device: Any = None,
                 dtype: Any = None) -> tuple[B.Backend | None, D.DType | None]:
    """Where ``Tensor.to`` / ``Module.to`` go: the destination backend (None: stay) and dtype (None: keep).

    ``target`` is what PyTorch's ``to`` takes first: a device ('cpu', 'cuda:1', ``anynn.device``,
    ``torch.device``), a dtype (``anynn.float64``, 'float64', a library's dtype), a Tensor (its backend and
    dtype), or, beyond PyTorch, a backend name ('torch') or a Backend. ``backend=`` and ``device=`` name them
    apart; a backend with a device is that library on that device.
    """
    if target is None:
        pass
    elif isinstance(target, D.DType) or (isinstance(target, str) and target in D._BY_NAME):
        if dtype is not None:
            raise TypeError(f"to(): two dtypes given ({target!r} and {dtype!r})")
        dtype = target
    elif isinstance(target, B.Backend):
        backend, device = target, None
    elif hasattr(target, "backend") and hasattr(target, "dtype") and hasattr(target, "array"):  # a Tensor
        backend, dtype = target.backend, target.dtype if dtype is None else dtype
    elif is_device(target):
        device = target
    elif isinstance(target, str):
        backend = B.canonical_name(target)  # UnknownBackendError lists the backends; devices are named above
    else:  # a library's dtype (np.float64, np.dtype('float64'), torch.float64, array_api_strict.float64)
        try:
            dtype = D.as_dtype(target)
        except ValueError:
            raise TypeError(f"to(): cannot move to {target!r}; give a device ('cpu', 'cuda:0'), a dtype "
                            "(anynn.float64), a backend name ('torch') or a Tensor") from None
    if isinstance(backend, B.Backend):
        dest = backend if device is None else B.backend_for(backend.name, str(anynn_device(device)))
    elif backend is not None:
        dest = B.backend_for(backend, None if device is None else str(anynn_device(device)))
    elif device is not None:
        dest = backend_on(device, current)
    else:
        dest = None
    return dest, D.as_dtype(dtype)


def set_default_device(target: "device | str | Any | None") -> None:
    """PyTorch's ``torch.set_default_device``: new tensors are made on ``target`` (None: the CPU), by making
    the backend that ``backend_on`` picks for it from the current one the current backend."""
    B.set_backend(backend_on("cpu" if target is None else target, B.get_backend()))


def get_default_device() -> device:
    """The device new tensors are made on: the current backend's."""
    return of_backend(B.get_backend())


anynn_device = device  # the class, for code whose parameter is named ``device`` (as PyTorch's are)


def is_device(target: Any) -> bool:
    """True for what names a device rather than a backend or a dtype: a ``device``, a ``torch.device``, or a
    string such as 'cpu', 'cuda', 'cuda:1'."""
    if _names_a_device(target):
        return True
    return isinstance(target, str) and target.partition(":")[0] in ("cpu", "cuda", *_CPU_NAMES)


__all__ = ["anynn_device", "backend_on", "device", "get_default_device", "is_device", "of_backend", "resolve_move",
           "set_default_device"]
