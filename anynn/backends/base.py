"""The Backend contract: one array library on one device, plus the few things the Array API standard lacks.

A Backend owns its namespace (``xp``, resolved once), its device, its random generator, conversion to and
from host NumPy arrays, *hooks* for what the standard lacks (index_add, erf) whose default here uses only
standard functions, and ``fused``: compiled forward/backward pairs of whole op passes
(``anynn/ops/_fused.py``). A concrete backend overrides a hook only to go faster, and ``tests/backends`` proves
each override equals this default.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from anynn import dtypes as D

class FusedKernels(NamedTuple):
    """A backend's compiled forward and backward of one fused operation, registered together (see
    ``anynn/ops/_fused.py``); each takes the op's arrays (no ``xp``) and may return None to decline a case."""

    forward: Callable[..., Any]
    backward: Callable[..., Any]


class BackendUnavailable(RuntimeError):
    """Raised when a backend is asked for but cannot run here; the message says why and how to fix it."""


class Backend:
    """Base class; subclasses set ``name`` and implement ``_load`` (import the library, pick the device)."""

    name: str = "base"
    array_type: type = object
    #: Compiled fused operations by name (e.g. "max_pool2d"); the op that asks for one holds its standard-only
    #: twins and runs those when the name is absent or a compiled pass declines the case.
    fused: Mapping[str, FusedKernels] = MappingProxyType({})
    #: What compiled the fused kernels ("numba"), or None where there are none.
    compiler: str | None = None
    #: Whether optimizers update all parameters as flat buffers by default (``foreach=None``): where every array
    #: operation is a kernel launch (GPUs). On a CPU the extra pass that gathers the gradients costs more.
    multi_tensor_updates: bool = False

    def __init__(self, device: str | None = None):
        self.xp, self.device, self.device_name = self._load(device)
        self._to_native = {d: getattr(self.xp, d.name) for d in D.ALL if hasattr(self.xp, d.name)}
        self._from_native = {native: d for d, native in self._to_native.items()}
        for d, native in self._to_native.items():
            try:  # NumPy and CuPy arrays report np.dtype objects, whose hash differs from the scalar type's
                self._from_native[np.dtype(native)] = d
            except TypeError:
                pass
        self.manual_seed(None)

    def _load(self, device: str | None) -> tuple[Any, Any, str]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device_name!r})"

    # ----------------------------------------------------------------- dtypes
    def dtype(self, dtype: D.DType) -> Any:
        """The library's dtype object for an anynn dtype."""
        try:
            return self._to_native[dtype]
        except KeyError:
            raise TypeError(f"backend {self.name!r} has no dtype {dtype!r}") from None

    def dtype_of(self, native: Any) -> D.DType:
        """The anynn dtype of a library dtype object."""
        return self._from_native[native]

    # ------------------------------------------------------------ conversion
    def is_native(self, obj: Any) -> bool:
        """True if ``obj`` is an array of this backend's library."""
        return isinstance(obj, self.array_type)

    def from_numpy(self, host: np.ndarray, dtype: D.DType | None = None) -> Any:
        """Copy a host NumPy array onto this backend's device (the one place data enters a backend)."""
        native = None if dtype is None else self.dtype(dtype)
        return self.xp.asarray(np.array(host, order="C"), dtype=native, device=self.device, copy=True)

    def to_numpy(self, arr: Any) -> np.ndarray:
        """A host NumPy copy of one of this backend's arrays."""
        return np.array(np.from_dlpack(arr), copy=True)

    def may_share_memory(self, a: Any, b: Any) -> bool:
        """Whether two of this backend's arrays may overlap in memory (autograd's in-place checks ask; True when
        it cannot tell)."""
        try:
            return bool(np.may_share_memory(np.from_dlpack(a), np.from_dlpack(b)))
        except (BufferError, RuntimeError, TypeError, ValueError):
            return True

    def from_buffer(self, buffer: bytes, dtype: D.DType, shape: tuple[int, ...]) -> Any:
        """Interpret raw bytes (e.g. a dataset file's payload) as an array on this backend's device."""
        host = np.frombuffer(buffer, dtype=np.dtype(dtype.name)).reshape(shape)
        return self.from_numpy(host)

    def asarray(self, obj: Any, dtype: D.DType | None = None) -> Any:
        """Any array-like (Python lists, NumPy, any backend's arrays) as a fresh array of this backend."""
        if self.is_native(obj):
            native = self.dtype(dtype) if dtype is not None else None
            return self.xp.asarray(obj, dtype=native, device=self.device, copy=True)
        return self.from_numpy(to_host(obj), dtype)

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on CPU backends)."""

    @property
    def out_of_memory_errors(self) -> tuple[type[BaseException], ...]:
        """The exception classes this library raises when device memory runs out."""
        return (MemoryError,)

    def is_out_of_memory(self, err: BaseException) -> bool:
        """Whether ``err`` means memory ran out (CuPy's library workspaces raise their own errors, recognised by
        the status they carry, so the cupy backend overrides this)."""
        return isinstance(err, self.out_of_memory_errors)

    # ---------------------------------------------------------------- random
    def manual_seed(self, seed: int | None) -> None:
        """Reseed this backend's generator (``None``: fresh entropy)."""
        self._host_rng = np.random.default_rng(seed)

    def randn(self, shape: tuple[int, ...], dtype: D.DType) -> Any:
        """Standard normal samples."""
        return self.from_numpy(self._host_rng.standard_normal(shape, dtype=np.dtype(dtype.name)))

    def rand(self, shape: tuple[int, ...], dtype: D.DType) -> Any:
        """Uniform samples in [0, 1)."""
        return self.from_numpy(self._host_rng.random(shape, dtype=np.dtype(dtype.name)))

    def randint(self, low: int, high: int, shape: tuple[int, ...]) -> Any:
        """Integers in [low, high) as int64."""
        return self.from_numpy(self._host_rng.integers(low, high, size=shape, dtype=np.int64))

    def permutation(self, n: int) -> Any:
        """A random permutation of range(n) as int64."""
        return self.from_numpy(self._host_rng.permutation(n).astype(np.int64))

    def get_rng_state(self) -> dict:
        """The generator state as a JSON-serialisable dict."""
        return {"numpy": self._host_rng.bit_generator.state}

    def set_rng_state(self, state: dict) -> None:
        """Restore a state from :meth:`get_rng_state`."""
        self._host_rng.bit_generator.state = state["numpy"]

    # ----------------------------------------------------------------- hooks
    def index_add(self, num_rows: int, index: Any, values: Any) -> Any:
        """``out[index[k]] += values[k]`` into ``num_rows`` zero rows; every repeat of an index is counted.

        Standard-only (the standard has no scatter-add): sort the indices, take prefix sums of the sorted
        rows and difference them at each row's ``searchsorted`` bounds. A row's rounding error is that of
        the running prefix sum, not of the row alone: exact for integer-valued data, about 1e-16 relative to
        the column's running total in float64 (so ~1e-7 of it in float32). Overrides scatter-add directly.
        """
        xp = self.xp
        flat = xp.reshape(values, (values.shape[0], math.prod(values.shape[1:])))
        order = xp.argsort(index, stable=True)
        sorted_index = xp.take(index, order)
        sums = xp.cumulative_sum(xp.take(flat, order, axis=0), axis=0, include_initial=True)
        rows = xp.arange(num_rows, dtype=index.dtype, device=self.device)
        lo = xp.searchsorted(sorted_index, rows, side="left")
        hi = xp.searchsorted(sorted_index, rows, side="right")
        out = xp.take(sums, hi, axis=0) - xp.take(sums, lo, axis=0)
        return xp.reshape(out, (num_rows,) + tuple(values.shape[1:]))

    def erf(self, x: Any) -> Any:
        """The error function, to float64 precision (W. J. Cody's rational approximations)."""
        return standard_erf(self.xp, x)


def to_host(obj: Any) -> np.ndarray:
    """Any array-like of any library as a host NumPy array (may share memory; callers copy)."""
    if isinstance(obj, np.ndarray):
        return obj
    module = type(obj).__module__.split(".")[0]
    if module == "cupy":
        return obj.get()
    if module == "torch":
        return obj.detach().cpu().numpy()
    if module == "array_api_strict":
        return np.from_dlpack(obj)
    return np.asarray(obj)


_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
          1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
           8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
           2.15311535474403846e-8)
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
           3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
           6.58749161529837803e-4, 1.63153871373020978e-2)
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
           2.33520497626869185e-3)


def standard_erf(xp: Any, x: Any) -> Any:
    """erf from Cody (1969) in three ranges, evaluated with standard functions on the whole array."""
    x = xp.clip(x, -27.0, 27.0)  # erf(27) == 1 in float64; keeps inf (and huge x*x) out of the formulas
    a = xp.abs(x)
    # |x| <= 0.5: erf = x * P(x^2) / Q(x^2)
    z = x * x
    num = _ERF_A[4] * z
    den = z
    for i in range(3):
        num = (num + _ERF_A[i]) * z
        den = (den + _ERF_B[i]) * z
    small = x * (num + _ERF_A[3]) / (den + _ERF_B[3])
    # 0.5 < |x| <= 4: erfc = exp(-x^2) * P(|x|) / Q(|x|)
    num = _ERFC_C[8] * a
    den = a
    for i in range(7):
        num = (num + _ERFC_C[i]) * a
        den = (den + _ERFC_D[i]) * a
    mid = (num + _ERFC_C[7]) / (den + _ERFC_D[7])
    # |x| > 4: erfc = exp(-x^2)/|x| * (1/sqrt(pi) + 1/x^2 * P(1/x^2) / Q(1/x^2))
    safe = xp.where(a > 4.0, a, xp.ones_like(a) * 4.0)
    iz = 1.0 / (safe * safe)
    num = _ERFC_P[5] * iz
    den = iz
    for i in range(4):
        num = (num + _ERFC_P[i]) * iz
        den = (den + _ERFC_Q[i]) * iz
    big = (1.0 / math.sqrt(math.pi) - iz * (num + _ERFC_P[4]) / (den + _ERFC_Q[4])) / safe
    # erfc(|x|) = exp(-x^2) * R, computed as exp(-t^2) * exp(-(x-t)(x+t)) with t = x rounded (Cody's trick)
    tail = xp.where(a > 4.0, big, mid)
    t = xp.floor(a * 16.0) / 16.0
    erfc = xp.exp(-t * t) * xp.exp(-(a - t) * (a + t)) * tail
    large = xp.where(x < 0, erfc - 1.0, 1.0 - erfc)
    return xp.where(a <= 0.5, small, large)
