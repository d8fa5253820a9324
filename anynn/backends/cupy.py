"""CuPy on an NVIDIA GPU. Random numbers are generated on the device; nothing is drawn on the host.

Three things CuPy does differently from the other libraries, and what this backend does about them:

* **The current device.** CuPy allocates *and launches every kernel* on the calling thread's current device,
  including operators such as ``a + b`` that never pass through ``xp``; array-api-compat ignores ``device=``
  in CuPy's creation functions. On a machine with several GPUs this backend therefore makes its device the
  thread's current device (and leaves it so, as ``torch.cuda.set_device`` would) before each ``xp`` call and
  each of its own methods. With one GPU there is no other device to be on, and ``xp`` calls go straight to
  array-api-compat: no per-call cost on the common machine.
* **Host synchronisations in array-api-compat.** Its CuPy ``clip`` and ``sign`` use boolean-mask
  assignment, which reads the mask count back to the host; ``xp.clip`` and ``xp.sign`` here are sync-free
  equivalents (``maximum``/``minimum`` and ``where``), and ``randint`` scales uniform draws instead of
  calling CuPy's rejection sampler, which syncs.
* **Out of memory** inside cuBLAS, cuRAND, cuSOLVER or the CUDA runtime raises library errors that are not
  ``MemoryError``; :meth:`CupyBackend.is_out_of_memory` recognises them by their status names.
"""
from __future__ import annotations

import functools
import types
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from anynn.backends.base import Backend, BackendUnavailable, FusedKernels


def _cuda_kernels() -> Mapping[str, FusedKernels]:
    """The fused CUDA kernels (``anynn/backends/cuda/``), or none where numba-cuda is not installed. Importing
    them needs neither a GPU nor CuPy: the kernels compile at their first launch."""
    try:
        from anynn.backends import cuda
    except ImportError:  # numba or numba-cuda (or its CUDA bindings) missing: CuPy runs the standard ops
        return MappingProxyType({})
    return MappingProxyType(cuda.FUSED)


def _with_cudnn(kernels: Mapping[str, FusedKernels]) -> Mapping[str, FusedKernels]:
    """``kernels`` plus cuDNN's convolutions as the ``conv2d_direct`` pair where ``ANYNN_CUDNN=1``
    (``anynn/backends/cudnn.py``: each pass declines to im2col, saying why once, where cuDNN cannot run it)."""
    from anynn.backends import cudnn

    if not cudnn.enabled():
        return kernels
    return MappingProxyType({**kernels, "conv2d_direct": FusedKernels(cudnn.conv_forward, cudnn.conv_weight_grad),
                             "conv2d_input_grad": FusedKernels(cudnn.conv_input_grad, None)})

#: Words in the message of a CuPy library error that mean "memory ran out". CuPy's CUBLASError, CURANDError,
#: CUSOLVERError, CUSPARSEError, CuFFTError and CuTensorError carry the library's status name as their
#: message (e.g. 'CUBLAS_STATUS_ALLOC_FAILED', 'CURAND_STATUS_ALLOCATION_FAILED'; HIP builds say
#: 'HIPBLAS_STATUS_ALLOC_FAILED'); CUDARuntimeError says 'cudaErrorMemoryAllocation: out of memory' (HIP:
#: 'hipErrorOutOfMemory') and CUDADriverError 'CUDA_ERROR_OUT_OF_MEMORY: out of memory'. Names, not numeric
#: codes, because the codes differ between CUDA and HIP builds of the same class.
OUT_OF_MEMORY_NAMES = ("ALLOC_FAILED", "ALLOCATION_FAILED", "cudaErrorMemoryAllocation", "hipErrorOutOfMemory",
                       "CUDA_ERROR_OUT_OF_MEMORY", "HIP_ERROR_OUT_OF_MEMORY")

#: array-api-compat functions replaced here by sync-free versions (see :func:`sync_free_clip`).
_REPLACED = ("clip", "sign")


def is_cupy_out_of_memory(err: BaseException) -> bool:
    """True if ``err`` means device memory ran out: a MemoryError (CuPy's OutOfMemoryError is one) or a CuPy
    library/runtime error whose status is an allocation failure."""
    if isinstance(err, MemoryError):
        return True
    module = type(err).__module__ or ""
    if not (module.startswith("cupy") or module.startswith("cupy_backends")):
        return False
    text = str(err)
    return any(name in text for name in OUT_OF_MEMORY_NAMES)


def on_device(fn: Callable, index: int, get_device: Callable[[], int], set_device: Callable[[int], Any]) -> Callable:
    """``fn`` made to run with device ``index`` current (switched only when it is not, and left current)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if get_device() != index:
            set_device(index)
        return fn(*args, **kwargs)

    return call


def device_namespace(base: types.ModuleType, index: int | None, get_device: Callable[[], int] | None = None,
                     set_device: Callable[[int], Any] | None = None,
                     replace: dict[str, Callable] | None = None) -> types.ModuleType:
    """A copy of the namespace ``base`` (array-api-compat's CuPy) with ``replace``'s functions swapped in and,
    when ``index`` is not None, every function (also in ``linalg`` and ``fft``) wrapped by :func:`on_device`.

    Dtypes, constants and classes are the very objects of ``base``, so dtype identity and ``isinstance``
    checks behave as on ``base``. With ``index=None`` no function is wrapped: calls cost what they cost on
    ``base``.
    """
    ns = types.ModuleType(base.__name__, getattr(base, "__doc__", None))
    for name, value in vars(base).items():
        if name in ("__name__", "__doc__", "__loader__", "__spec__", "__package__"):
            continue
        value = (replace or {}).get(name, value)
        if index is not None and not name.startswith("_"):
            if isinstance(value, types.ModuleType) and name in ("linalg", "fft"):
                value = device_namespace(value, index, get_device, set_device)
            elif callable(value) and not isinstance(value, type):
                value = on_device(value, index, get_device, set_device)
        setattr(ns, name, value)
    return ns


# ---------------------------------------------------------------- sync-free replacements
def sync_free_clip(cp: Any) -> Callable:
    """The standard ``clip`` for CuPy without boolean-mask assignment (array-api-compat's reads the mask count
    back to the host). Same results: the dtype of ``x``, bounds cast to it first, NaN in ``x`` or in a bound
    gives NaN (``maximum``/``minimum`` propagate NaN), Python ints outside an integer dtype's range ignored."""

    def clip(x, /, min=None, max=None):
        integral = np.issubdtype(x.dtype, np.integer)
        bounds = []
        for bound, drop in ((min, lambda v, info: v <= info.min), (max, lambda v, info: v >= info.max)):
            if bound is None:
                bounds.append(None)
            elif isinstance(bound, (bool, int, float)):
                if integral and type(bound) is int and drop(bound, np.iinfo(x.dtype)):
                    bounds.append(None)
                else:
                    bounds.append(np.asarray(bound, dtype=x.dtype)[()])  # a scalar of x's dtype
            else:
                bounds.append(bound.astype(x.dtype, copy=False))
        lo, hi = bounds
        if lo is None and hi is None:
            shape = np.broadcast_shapes(x.shape, *(() if b is None or np.isscalar(b) else b.shape
                                                   for b in (min, max)))
            return cp.array(cp.broadcast_to(x, shape), copy=True)
        out = x if lo is None else cp.maximum(x, lo)
        return out if hi is None else cp.minimum(out, hi)

    return clip


def sync_free_sign(cp: Any) -> Callable:
    """The standard ``sign`` for CuPy: NaN stays NaN (CuPy's sign gives 0), without mask assignment."""

    def sign(x, /):
        if np.issubdtype(x.dtype, np.complexfloating):
            size = cp.abs(x)
            return cp.where(size == 0, cp.zeros_like(x), x / cp.where(size == 0, cp.ones_like(size), size))
        out = cp.sign(x)
        if np.issubdtype(x.dtype, np.floating):
            out = cp.where(cp.isnan(x), x, out)
        return out

    return sign


def half_safe_erf(erf: Callable, x: Any, float16: Any, float32: Any) -> Any:
    """``erf(x)`` in the dtype of ``x``: cupyx's erf maps float16 to float64 (its loops are e->d, f->f, d->d),
    so float16 is computed with the float32 loop (``dtype=``: the cast happens inside the one kernel) and cast
    back."""
    if x.dtype == float16:
        return erf(x, dtype=float32).astype(float16)
    return erf(x)


def scaled_randint(cp: Any, uniform: Any, low: int, high: int) -> Any:
    """Integers in [low, high) from float64 uniforms in [0, 1): ``low + floor(u * (high - low))``, capped at
    ``high - 1`` against rounding. No host read (CuPy's ``randint`` reads a count back); the bias is at most
    (high - low) / 2**53 per value."""
    span = high - low
    drawn = cp.minimum(cp.floor(uniform * span), span - 1)
    return drawn.astype(cp.int64) + low


class CupyBackend(Backend):
    name = "cupy"
    #: The fused CUDA kernels by op name (read by class: the counting backend mirrors them without a GPU).
    fused = _with_cudnn(_cuda_kernels())
    compiler = "numba-cuda" if _cuda_kernels() else None
    multi_tensor_updates = True

    def _load(self, device: str | None):
        try:
            import cupy
            import array_api_compat.cupy as compat
        except ImportError:
            raise BackendUnavailable("CuPy is not installed: pip install 'anynn[cuda12]' (CUDA 12) "
                                     "or 'anynn[cuda13]' (CUDA 13)") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:  # CUDARuntimeError without a driver
            raise BackendUnavailable(f"CuPy is installed but no NVIDIA GPU is usable here ({err}); "
                                     "use ANYNN_BACKEND=numpy on this machine") from None
        if count == 0:
            raise BackendUnavailable("CuPy is installed but no NVIDIA GPU was found; use ANYNN_BACKEND=numpy")
        try:
            index = 0 if device in (None, "cuda") else int(str(device).removeprefix("cuda").lstrip(":"))
        except ValueError:
            raise BackendUnavailable(f"the cupy backend runs on 'cuda' or 'cuda:N', not {device!r}") from None
        if not 0 <= index < count:
            raise BackendUnavailable(f"asked for {device!r} but only {count} GPU(s) exist (cuda:0..cuda:{count - 1})")
        self.cupy = cupy
        self.array_type = cupy.ndarray
        runtime = cupy.cuda.runtime
        # One GPU: every thread's current device is it, so nothing is wrapped and _ensure does nothing.
        self._index = index if count > 1 else None
        self._get_device, self._set_device = runtime.getDevice, runtime.setDevice
        replace = {"clip": sync_free_clip(cupy), "sign": sync_free_sign(cupy)}
        xp = device_namespace(compat, self._index, runtime.getDevice, runtime.setDevice, replace)
        return xp, cupy.cuda.Device(index), f"cuda:{index}"

    def _ensure(self) -> None:
        """Make this backend's device the calling thread's current device (only with several GPUs)."""
        if self._index is not None and self._get_device() != self._index:
            self._set_device(self._index)

    def manual_seed(self, seed: int | None) -> None:
        self._ensure()
        self._gen = self.cupy.random.RandomState(seed)

    def from_numpy(self, host: np.ndarray, dtype=None) -> Any:
        self._ensure()
        return self.cupy.array(host, dtype=None if dtype is None else self.dtype(dtype))

    def may_share_memory(self, a: Any, b: Any) -> bool:
        import cupy

        return bool(cupy.may_share_memory(a, b))

    def to_numpy(self, arr: Any) -> np.ndarray:
        return self.cupy.asnumpy(arr)

    def randn(self, shape, dtype):
        self._ensure()
        return self._gen.standard_normal(shape, dtype=self.dtype(dtype))

    def rand(self, shape, dtype):
        self._ensure()
        return self._gen.random_sample(shape, dtype=self.dtype(dtype))

    def randint(self, low, high, shape):
        self._ensure()
        return scaled_randint(self.cupy, self._gen.random_sample(shape, dtype=self.cupy.float64), low, high)

    def permutation(self, n):
        self._ensure()
        return self._gen.permutation(n).astype(self.cupy.int64)

    def get_rng_state(self) -> dict:
        raise NotImplementedError("CuPy's RandomState cannot export its state; anynn's training loop reseeds "
                                  "per epoch instead, so checkpoints do not need it")

    def set_rng_state(self, state: dict) -> None:
        raise NotImplementedError("CuPy's RandomState cannot import a state; reseed with anynn.manual_seed")

    @property
    def out_of_memory_errors(self):
        """The exception classes to catch; CuPy's OutOfMemoryError last (a MemoryError subclass). cuBLAS,
        cuRAND and runtime allocation failures are RuntimeErrors told apart by status: see
        :meth:`is_out_of_memory`."""
        return (MemoryError, self.cupy.cuda.memory.OutOfMemoryError)

    def is_out_of_memory(self, err: BaseException) -> bool:
        """True if ``err`` means GPU memory ran out, whichever CuPy layer raised it."""
        return is_cupy_out_of_memory(err)

    def synchronize(self) -> None:
        self.device.synchronize()

    def index_add(self, num_rows, index, values):
        import cupyx

        self._ensure()
        out = self.cupy.zeros((num_rows,) + tuple(values.shape[1:]), dtype=values.dtype)
        cupyx.scatter_add(out, index, values)
        return out

    def erf(self, x):
        import cupyx.scipy.special

        self._ensure()
        return half_safe_erf(cupyx.scipy.special.erf, x, self.cupy.float16, self.cupy.float32)


__all__ = ["CupyBackend", "OUT_OF_MEMORY_NAMES", "device_namespace", "half_safe_erf", "is_cupy_out_of_memory",
           "on_device", "scaled_randint", "sync_free_clip", "sync_free_sign"]
