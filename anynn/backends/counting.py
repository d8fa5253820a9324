"""The counting backend: NumPy arrays that count every array-library call, taking another backend's dispatch
decisions, so a CPU-only CI can count the kernel launches, host synchronisations and host-to-device uploads
that backend (CuPy by default) would make in a training step.

``backend_for("counting", "cupy")`` (the default) mirrors the cupy backend: its namespace's sync-free
``clip``/``sign``, its hooks (``index_add`` as zeros plus one scatter, ``erf`` as one kernel), its device-side
random numbers, and CuPy's own rules where they matter (a concatenate of more than 8 small arrays is one kernel
plus an upload of pointer tables; boolean-mask indexing reads a count back). Where the mirrored backend
registers a fused operation, one launch is counted and the op's standard twin computes the result.
``backend_for("counting", "numpy")`` mirrors the numpy backend instead (its Numba kernels run, one launch each).

What counts, at the outermost call only (what a library call does inside is the library's business):
- a *launch*: every namespace function, operator, ufunc, copying ``astype``/``reshape``, integer-array or
  boolean indexing and every ``__setitem__``; views (slicing, transposes, ``expand_dims``, a reshape that
  copies nothing), metadata (``shape``, ``finfo``, ``result_type``) and allocation without a fill
  (``empty``) are free;
- a *sync*: a value read to the host (``item``, ``bool``/``float``/``int``/``index``, ``tolist``, ``repr``,
  ``to_numpy``) and boolean-mask indexing;
- an *upload*: host data entering the device (``asarray`` of host data, ``from_numpy``, a pointer table).

``anynn.profiler`` turns the counts into reports per step and per op, and its capture-safe mode raises on any
sync or upload. Counting walks the Python stack once per call: use this backend to count, never to time.
"""
from __future__ import annotations

import sys
import types
from collections import Counter
from typing import Any, Callable

import numpy as np

from anynn.backends.base import Backend, BackendUnavailable, FusedKernels

LAUNCH, SYNC, UPLOAD = "launch", "sync", "upload"

#: Namespace functions that launch no kernel: views, metadata, allocation without a fill.
FREE = frozenset({
    "permute_dims", "transpose", "matrix_transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
    "broadcast_to", "broadcast_arrays", "shape", "ndim", "size", "result_type", "can_cast", "finfo", "iinfo",
    "isdtype", "may_share_memory", "empty", "empty_like", "issubdtype", "isscalar",
    "broadcast_shapes", "dtype", "promote_types", "unstack",
})
#: Functions that copy only when they must (a view otherwise).
MAYBE_VIEW = frozenset({"reshape", "ravel", "asarray", "ascontiguousarray", "asanyarray", "from_dlpack"})
#: Functions that build arrays from host data when given host data.
HOST_INPUT = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray", "from_dlpack"})
CONCATENATIONS = frozenset({"concat", "concatenate", "stack", "hstack", "vstack"})
#: CuPy joins more than this many arrays in one kernel (with an upload of pointer tables) when they are small.
CUPY_SINGLE_KERNEL_CONCAT = 8
CUPY_CONCAT_BYTES_PER_ARRAY = 2 * 1024 * 1024

_ANYNN = __file__.rsplit("/backends/", 1)[0] + "/"
_SKIP_FILES = (__file__,)


class HostSyncError(RuntimeError):
    """A host read or upload inside a capture-safe block: the step could not be captured as a CUDA graph."""


class Tally:
    """Counts of launches, syncs and uploads by (phase, op, call), where phase is forward, backward or optimizer
    and op is the anynn function that made the call (an ArrayFunction's forward or backward, an optimizer's step)."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str, str, str, str]] = Counter()  # (kind, phase, op, call)

    def total(self, kind: str, phase: str | None = None) -> int:
        return sum(n for (k, p, _, _), n in self.events.items() if k == kind and (phase is None or p == phase))

    @property
    def launches(self) -> int:
        return self.total(LAUNCH)

    @property
    def syncs(self) -> int:
        return self.total(SYNC)

    @property
    def uploads(self) -> int:
        return self.total(UPLOAD)

    def by_op(self) -> dict[tuple[str, str], Counter[str]]:
        """(phase, op) -> Counter of kinds."""
        out: dict[tuple[str, str], Counter[str]] = {}
        for (kind, phase, op, _), n in self.events.items():
            out.setdefault((phase, op), Counter())[kind] += n
        return out

    def calls(self, kind: str = LAUNCH) -> Counter[tuple[str, str]]:
        """(op, call) -> count, for one kind: which library calls an op makes."""
        out: Counter[tuple[str, str]] = Counter()
        for (k, _, op, call), n in self.events.items():
            if k == kind:
                out[(op, call)] += n
        return out


class _State:
    """Process-wide counting state: the call depth (only outermost calls count), the active tallies, the
    capture-safe flag, and whether the code runs at a host point (a log point or epoch end, where reading the
    device is the intent)."""

    def __init__(self) -> None:
        self.depth = 0
        self.tallies: list[Tally] = []
        self.capture_safe = 0
        self.host_point = 0


state = _State()


def record(kind: str, call: str) -> None:
    """Count one event of ``kind`` made by library call ``call``, attributed to the anynn code that made it."""
    strict = state.capture_safe and not state.host_point and kind != LAUNCH
    if not state.tallies and not strict:
        return
    phase, op = attribute(sys._getframe(1))
    if strict:
        what = "reads a value back to the host" if kind == SYNC else "uploads host data to the device"
        raise HostSyncError(f"{op} {what} ({call}) inside a capture-safe block: a CUDA graph could not capture "
                            "this step. Keep the value on the device (0-d arrays, device-side flags), move the "
                            "read to a log point or epoch end, or create constants once outside the step")
    for tally in state.tallies:
        tally.events[(kind, phase, op, call)] += 1


def attribute(frame: Any) -> tuple[str, str]:
    """(phase, op) of the anynn code running ``frame``'s call."""
    op = inner = None
    phase = "forward"
    while frame is not None:
        code = frame.f_code
        path = code.co_filename
        if path.startswith(_ANYNN) and path not in _SKIP_FILES:
            name = getattr(code, "co_qualname", code.co_name)
            if inner is None and not path.endswith("_fused.py"):
                inner = name
            if op is None and code.co_name in ("forward", "backward") and "/ops/" in path \
                    and not path.endswith("_fused.py"):
                op = name
            if code.co_name == "run_backward":
                phase = "backward"
            elif "/optim/" in path:
                phase = "optimizer"
                op = op or name
        frame = frame.f_back
    return phase, op or inner or "user code"


def _enter(kind: str | None, call: str) -> None:
    if state.depth == 0 and kind is not None:
        record(kind, call)
    state.depth += 1


def _plain(a: Any) -> Any:
    return a.view(np.ndarray) if isinstance(a, CountedArray) else a


def wrap(result: Any) -> Any:
    """Library results as CountedArrays (NumPy scalars as 0-d arrays, as CuPy returns them)."""
    if isinstance(result, CountedArray):
        return result
    if isinstance(result, np.ndarray):
        return result.view(CountedArray)
    if isinstance(result, np.generic):
        return np.asarray(result).view(CountedArray)
    if isinstance(result, tuple):
        return tuple(wrap(r) for r in result)
    if isinstance(result, list):
        return [wrap(r) for r in result]
    return result


def _index_kind(key: Any) -> str | None:
    """None for basic indexing (a view), LAUNCH for integer-array indexing, SYNC for a boolean mask."""
    keys = key if isinstance(key, tuple) else (key,)
    kind = None
    for k in keys:
        if isinstance(k, np.ndarray) or isinstance(k, (list, CountedArray)):
            arr = np.asarray(_plain(k))
            if arr.dtype == np.bool_:
                return SYNC
            kind = LAUNCH
    return kind


class CountedArray(np.ndarray):
    """A NumPy array whose every library call is counted (see the module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _enter(LAUNCH, ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}")
        try:
            if out is not None:
                kwargs["out"] = tuple(_plain(o) for o in out)
            result = getattr(ufunc, method)(*(_plain(i) for i in inputs), **kwargs)
        finally:
            state.depth -= 1
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        name = func.__name__
        _enter(None if name in FREE or name in MAYBE_VIEW else LAUNCH, name)
        try:
            result = super().__array_function__(func, types, args, kwargs)
        finally:
            state.depth -= 1
        if name in MAYBE_VIEW and state.depth == 0 and isinstance(result, np.ndarray) and args \
                and isinstance(args[0], np.ndarray) and not np.may_share_memory(result, args[0]):
            record(LAUNCH, name)
        return wrap(result)

    def __getitem__(self, key):
        kind = _index_kind(key) if state.depth == 0 else None
        if kind is not None:
            record(LAUNCH, "getitem")
            if kind == SYNC:
                record(SYNC, "boolean-mask getitem")
        state.depth += 1
        try:
            result = super().__getitem__(_plain_key(key))
        finally:
            state.depth -= 1
        return wrap(result)

    def __setitem__(self, key, value):
        if state.depth == 0:
            record(LAUNCH, "setitem")
            if _index_kind(key) == SYNC:
                record(SYNC, "boolean-mask setitem")
            if isinstance(value, (np.ndarray, list)) and not isinstance(value, CountedArray):
                record(UPLOAD, "setitem from host")
        state.depth += 1
        try:
            super().__setitem__(_plain_key(key), _plain(value))
        finally:
            state.depth -= 1

    def astype(self, dtype, *args, copy=True, **kwargs):
        if state.depth == 0 and (copy or np.dtype(dtype) != self.dtype):
            record(LAUNCH, "astype")
        state.depth += 1
        try:
            return wrap(self.view(np.ndarray).astype(dtype, *args, copy=copy, **kwargs))
        finally:
            state.depth -= 1

    def copy(self, *args, **kwargs):
        _enter(LAUNCH, "copy")
        try:
            return wrap(self.view(np.ndarray).copy(*args, **kwargs))
        finally:
            state.depth -= 1

    def _read(self, call: str) -> np.ndarray:
        if state.depth == 0:
            record(SYNC, call)
        return self.view(np.ndarray)

    def item(self, *args):
        return self._read("item").item(*args)

    def tolist(self):
        return self._read("tolist").tolist()

    def __bool__(self):
        return bool(self._read("bool()"))

    def __float__(self):
        return float(self._read("float()"))

    def __int__(self):
        return int(self._read("int()"))

    def __index__(self):
        return self._read("index()").__index__()

    def __repr__(self):
        return repr(self._read("repr()"))

    __str__ = __repr__


def _plain_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_plain(k) for k in key)
    return _plain(key)


class CountingNamespace(types.SimpleNamespace):
    """A namespace whose functions count one call each and return CountedArrays."""

    def __init__(self, base: Any, replace: dict[str, Callable] | None = None, rules: bool = True):
        super().__init__()
        self.__name__ = f"counting({getattr(base, '__name__', base)})"
        for name in dir(base):
            if name.startswith("__"):
                continue
            value = getattr(base, name)
            if isinstance(value, types.ModuleType):
                if name in ("linalg", "fft"):  # the standard's extensions; other submodules are not the API
                    setattr(self, name, CountingNamespace(value, rules=rules))
            elif callable(value) and not isinstance(value, type):
                setattr(self, name, _counted(name, value) if rules else value)
            else:
                setattr(self, name, value)
        for name, fn in (replace or {}).items():
            setattr(self, name, fn)


def _counted(name: str, fn: Callable) -> Callable:
    """``fn`` counting itself as one call (or as CuPy's rules say: views free, host data uploaded, joins)."""

    def call(*args, **kwargs):
        if state.depth == 0:
            _count_call(name, args)
        state.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            state.depth -= 1
        if state.depth == 0 and name in MAYBE_VIEW and args and isinstance(args[0], CountedArray) \
                and isinstance(result, np.ndarray) and not np.may_share_memory(result, args[0]):
            record(LAUNCH, name)
        return wrap(result)

    call.__name__ = call.__qualname__ = name
    return call


def _count_call(name: str, args: tuple) -> None:
    if name in CONCATENATIONS and args and isinstance(args[0], (list, tuple)):
        arrays = [a for a in args[0] if isinstance(a, np.ndarray)]
        nbytes = sum(a.nbytes for a in arrays)
        same_dtype = len({a.dtype for a in arrays}) <= 1
        if len(arrays) > CUPY_SINGLE_KERNEL_CONCAT and same_dtype \
                and nbytes < CUPY_CONCAT_BYTES_PER_ARRAY * len(arrays):
            record(LAUNCH, name)
            record(UPLOAD, f"{name} pointer table")
        else:
            for _ in arrays:
                record(LAUNCH, f"{name} (one copy per array)")
        return
    if name in HOST_INPUT and args and not isinstance(args[0], CountedArray):
        if isinstance(args[0], (bool, int, float)):
            record(LAUNCH, f"{name} of a Python number")
        else:
            record(UPLOAD, f"{name} of host data")
        return
    if name in FREE or name in MAYBE_VIEW:
        return
    record(LAUNCH, name)


class CountingBackend(Backend):
    """NumPy arrays that count their calls, taking the dispatch decisions of ``device`` ("cupy" or "numpy")."""

    name = "counting"
    array_type = CountedArray

    def _load(self, device: str | None):
        import array_api_compat.numpy as compat

        self.mirrors = device or "cupy"
        self.multi_tensor_updates = self.mirrors == "cupy"
        if self.mirrors == "cupy":
            from anynn.backends.cupy import sync_free_clip, sync_free_sign

            plain = CountingNamespace(np)
            xp = CountingNamespace(compat, {"clip": sync_free_clip(plain), "sign": sync_free_sign(plain)})
            self.fused = _counted_twins(_cupy_fused())
        elif self.mirrors == "numpy":
            from anynn.backends.numpy import fused_kernels

            xp = CountingNamespace(compat)
            fused, self.compiler = fused_kernels()
            self.fused = {name: FusedKernels(_one_launch(name, pair.forward), _one_launch(name + "_backward",
                                                                                         pair.backward))
                          for name, pair in fused.items()}
        else:
            raise BackendUnavailable(f"the counting backend mirrors 'cupy' or 'numpy', not {device!r}")
        return xp, "cpu", self.mirrors

    # ------------------------------------------------------------ conversion
    def from_numpy(self, host: np.ndarray, dtype=None) -> Any:
        record(UPLOAD, "from_numpy")
        return np.array(host, dtype=None if dtype is None else self.dtype(dtype), copy=True).view(CountedArray)

    def to_numpy(self, arr: Any) -> np.ndarray:
        record(SYNC, "to_numpy")
        return np.array(_plain(arr), copy=True)

    def is_native(self, obj: Any) -> bool:
        return isinstance(obj, CountedArray)

    # ---------------------------------------------------------------- random
    def _device_random(self, call: str, host: np.ndarray) -> Any:
        """Random numbers the mirrored GPU backend draws on the device: one launch, no upload."""
        if self.mirrors == "numpy":
            return self.from_numpy(host)
        record(LAUNCH, call)
        return host.view(CountedArray)

    def randn(self, shape, dtype):
        return self._device_random("randn", self._host_rng.standard_normal(shape, dtype=np.dtype(dtype.name)))

    def rand(self, shape, dtype):
        return self._device_random("rand", self._host_rng.random(shape, dtype=np.dtype(dtype.name)))

    def randint(self, low, high, shape):
        if self.mirrors == "numpy":
            return super().randint(low, high, shape)
        from anynn.backends.cupy import scaled_randint

        uniform = self._device_random("rand", self._host_rng.random(shape))
        return scaled_randint(self.xp, uniform, low, high)

    def permutation(self, n):
        return self._device_random("permutation", self._host_rng.permutation(n).astype(np.int64))

    # ----------------------------------------------------------------- hooks
    def index_add(self, num_rows, index, values):
        if self.mirrors == "numpy":
            out = self.xp.zeros((num_rows,) + tuple(values.shape[1:]), dtype=values.dtype)
            record(LAUNCH, "add.at")
            np.add.at(_plain(out), _plain(index), _plain(values))
            return out
        out = self.xp.zeros((num_rows,) + tuple(values.shape[1:]), dtype=values.dtype)  # cupyx.scatter_add
        record(LAUNCH, "scatter_add")
        np.add.at(_plain(out), _plain(index), _plain(values))
        return out

    def erf(self, x):
        record(LAUNCH, "erf")
        state.depth += 1
        try:
            return wrap(super().erf(_plain(x)))
        finally:
            state.depth -= 1


def _cupy_fused() -> dict[str, FusedKernels]:
    """The fused operations the cupy backend registers (by class, so no GPU is needed to ask)."""
    from anynn.backends.cupy import CupyBackend

    return dict(CupyBackend.fused)


def _counted_twins(registered: dict[str, FusedKernels]) -> dict[str, FusedKernels]:
    """For each fused operation the mirrored backend registers: one launch per pass, computed by the op's
    standard twin (the mirrored kernels need a GPU; the twins compute the same thing)."""
    from anynn.ops._fused import FusedOp

    out = {}
    for name in registered:
        op = FusedOp.registry[name]
        backward = None if op.standard_backward is None else _twin_launch(name + "_backward", op.standard_backward)
        out[name] = FusedKernels(_twin_launch(name, op.standard_forward), backward)
    return out


def _twin_launch(call: str, twin: Callable) -> Callable:
    import array_api_compat.numpy as compat

    def run(*args):
        return _one_launch(call, lambda *a: twin(compat, *a))(*args)
    return run


def _one_launch(call: str, fn: Callable) -> Callable:
    """A fused pass as one counted launch over plain NumPy arrays (a compiled pass may decline: None)."""

    def run(*args):
        state.depth += 1
        try:
            result = fn(*(_plain(a) for a in args))
        finally:
            state.depth -= 1
        if result is not None and state.depth == 0:
            record(LAUNCH, call)
        return wrap(result)
    return run


__all__ = ["CountedArray", "CountingBackend", "HostSyncError", "Tally", "record", "state"]

