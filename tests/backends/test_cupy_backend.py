"""The cupy backend's own logic: device selection, out-of-memory recognition, float16 erf, sync-free clip,
sign and randint.

Most tests run without a GPU: they drive the backend's helpers with NumPy standing in for CuPy, with CuPy's
real exception classes (they import without a GPU) or look-alikes built from CuPy's status tables where the
class needs a CUDA library to import, and with fake device getters/setters. The tests marked "GPU" run the
real thing and are skipped, with the reason, where CuPy cannot run.
"""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

import anynn
from anynn.backends import BackendUnavailable
from anynn.backends import cupy as C

cupy_reason = anynn.why_unavailable("cupy")
needs_gpu = pytest.mark.skipif(cupy_reason is not None, reason=f"needs a usable CuPy GPU: {cupy_reason}")


def _gpu_count() -> int:
    if cupy_reason is not None:
        return 0
    import cupy

    return cupy.cuda.runtime.getDeviceCount()


# ====================================================================== out of memory
def _lookalike(module: str, name: str, message: str, status: int) -> BaseException:
    """An exception with the module, class name, status and message CuPy gives its library errors (whose
    modules need libcublas/libcurand/... to import, which a CPU-only machine lacks)."""
    kind = type(name, (RuntimeError,), {"__module__": module})
    err = kind(message)
    err.status = status
    return err


def test_cupy_memory_errors_are_out_of_memory():
    pytest.importorskip("cupy")
    from cupy.cuda.memory import OutOfMemoryError
    from cupy_backends.cuda.api.runtime import CUDARuntimeError

    assert C.is_cupy_out_of_memory(OutOfMemoryError(3435973837, 0, 0))
    assert C.is_cupy_out_of_memory(MemoryError("host"))
    alloc = CUDARuntimeError(2)  # the real class, status 2 = cudaErrorMemoryAllocation
    assert "cudaErrorMemoryAllocation" in str(alloc)
    assert C.is_cupy_out_of_memory(alloc)
    assert not C.is_cupy_out_of_memory(CUDARuntimeError(1))  # cudaErrorInvalidValue
    assert not C.is_cupy_out_of_memory(CUDARuntimeError(35))  # cudaErrorInsufficientDriver


@pytest.mark.parametrize("module, name, status, message, oom", [
    ("cupy_backends.cuda.libs.cublas", "CUBLASError", 3, "CUBLAS_STATUS_ALLOC_FAILED", True),
    ("cupy_backends.cuda.libs.cublas", "CUBLASError", 2, "HIPBLAS_STATUS_ALLOC_FAILED", True),  # HIP build
    ("cupy_backends.cuda.libs.cublas", "CUBLASError", 13, "CUBLAS_STATUS_EXECUTION_FAILED", False),
    ("cupy_backends.cuda.libs.curand", "CURANDError", 102, "CURAND_STATUS_ALLOCATION_FAILED", True),
    ("cupy_backends.cuda.libs.curand", "CURANDError", 201, "CURAND_STATUS_LAUNCH_FAILURE", False),
    ("cupy_backends.cuda.libs.cusolver", "CUSOLVERError", 3, "CUSOLVER_STATUS_ALLOC_FAILED", True),
    ("cupy_backends.cuda.libs.cusparse", "CUSPARSEError", 3, "CUSPARSE_STATUS_ALLOC_FAILED", True),
    ("cupy.cuda.cufft", "CuFFTError", 2, "CUFFT_ALLOC_FAILED", True),
    ("cupy_backends.cuda.api.driver", "CUDADriverError", 2, "CUDA_ERROR_OUT_OF_MEMORY: out of memory", True),
    ("somelib.errors", "LibError", 3, "LIB_STATUS_ALLOC_FAILED", False),  # not CuPy's: not ours to judge
])
def test_library_errors_by_status_name(module, name, status, message, oom):
    err = _lookalike(module, name, message, status)
    assert C.is_cupy_out_of_memory(err) is oom
    backend = object.__new__(C.CupyBackend)  # the method needs no device
    assert backend.is_out_of_memory(err) is oom


def test_other_errors_are_not_out_of_memory():
    assert not C.is_cupy_out_of_memory(ValueError("ALLOC_FAILED"))
    assert not C.is_cupy_out_of_memory(RuntimeError("cudaErrorMemoryAllocation"))  # not raised by CuPy


def _real_library_error(module: str, name: str):
    try:
        return getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError, RuntimeError) as err:
        pytest.skip(f"{module} does not import here (needs its CUDA library): {err}")


@pytest.mark.parametrize("module, name, status, oom", [
    ("cupy_backends.cuda.libs.cublas", "CUBLASError", 3, True),
    ("cupy_backends.cuda.libs.cublas", "CUBLASError", 13, False),
    ("cupy_backends.cuda.libs.curand", "CURANDError", 102, True),
    ("cupy_backends.cuda.libs.cusolver", "CUSOLVERError", 3, True),
])
def test_real_library_errors_where_the_cuda_libraries_exist(module, name, status, oom):
    """Where CuPy's library modules import (a machine with the CUDA libraries), their real classes."""
    pytest.importorskip("cupy")
    kind = _real_library_error(module, name)
    assert C.is_cupy_out_of_memory(kind(status)) is oom


# ====================================================================== current device
class FakeRuntime:
    """getDevice/setDevice of one thread, recording each switch."""

    def __init__(self, current: int = 0):
        self.current, self.switches = current, []

    def getDevice(self) -> int:
        return self.current

    def setDevice(self, index: int) -> None:
        self.switches.append(index)
        self.current = index


def _fake_library(runtime: FakeRuntime) -> types.ModuleType:
    """A namespace like array-api-compat's whose creation function notes the device current when it runs."""
    lib = types.ModuleType("fake_xp")
    lib.float32 = np.float32
    lib.ndarray = np.ndarray
    lib.pi = math.pi
    lib.zeros = lambda shape, dtype=None, device=None: ("array on", runtime.current, shape)
    lib.add = lambda a, b: ("add on", runtime.current)
    lib.linalg = types.ModuleType("fake_xp.linalg")
    lib.linalg.matmul = lambda a, b: ("matmul on", runtime.current)
    lib.cuda = types.ModuleType("fake_xp.cuda")  # a submodule that is not part of the standard: untouched
    lib._private = lambda: runtime.current
    return lib


def test_device_namespace_makes_the_device_current_before_each_call():
    runtime = FakeRuntime(current=0)
    lib = _fake_library(runtime)
    xp = C.device_namespace(lib, 1, runtime.getDevice, runtime.setDevice)
    assert xp.zeros((2,)) == ("array on", 1, (2,))
    assert xp.add(1, 2) == ("add on", 1)
    assert xp.linalg.matmul(1, 2) == ("matmul on", 1)
    assert runtime.switches == [1], "switched once, then left current (the next calls find it current)"
    runtime.current = 0  # something else (another backend, another library) switched back
    assert xp.zeros((3,)) == ("array on", 1, (3,))
    assert runtime.switches == [1, 1]
    # dtypes, classes, constants and non-standard submodules are the very objects of the library
    assert xp.float32 is np.float32 and xp.ndarray is np.ndarray and xp.pi == math.pi and xp.cuda is lib.cuda
    assert xp._private is lib._private and xp.zeros.__wrapped__ is lib.zeros


def test_device_namespace_without_an_index_adds_no_layer():
    runtime = FakeRuntime()
    lib = _fake_library(runtime)
    replacement = lambda a, b: "replaced"  # noqa: E731
    xp = C.device_namespace(lib, None, replace={"add": replacement})
    assert xp.zeros is lib.zeros and xp.linalg is lib.linalg, "one GPU: calls go straight to the library"
    assert xp.add is replacement
    assert runtime.switches == []


def test_wrapper_overhead_is_small_on_a_numpy_stand_in():
    """The per-call cost of the device check (multi-GPU machines only), measured on NumPy's add: it must stay
    a small fraction of CuPy's own ~15-25 us per call. Generous bound: this machine is shared."""
    import timeit

    import array_api_compat.numpy as cnp

    one = np.ones(4)
    current = iter(lambda: 1, None).__next__  # a C-level getter like CuPy's runtime.getDevice
    wrapped = C.device_namespace(cnp, 1, current, lambda i: None)
    base = min(timeit.repeat(lambda: cnp.add(one, one), number=20000, repeat=5)) / 20000
    cost = min(timeit.repeat(lambda: wrapped.add(one, one), number=20000, repeat=5)) / 20000 - base
    assert cost < 2e-6, f"the device check costs {cost * 1e9:.0f} ns per call"


def _fake_gpus(monkeypatch, count: int, current: int = 0) -> FakeRuntime:
    cupy = pytest.importorskip("cupy")
    pytest.importorskip("array_api_compat.cupy")
    runtime = FakeRuntime(current)
    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: count)
    monkeypatch.setattr(cupy.cuda.runtime, "getDevice", runtime.getDevice)
    monkeypatch.setattr(cupy.cuda.runtime, "setDevice", runtime.setDevice)
    monkeypatch.setattr(C.CupyBackend, "manual_seed", lambda self, seed: None)  # RandomState needs cuRAND
    return runtime


def test_second_gpu_is_made_current_before_cupy_creates_an_array(monkeypatch):
    runtime = _fake_gpus(monkeypatch, count=2)
    backend = C.CupyBackend("cuda:1")
    assert backend.device_name == "cuda:1" and backend.device.id == 1
    import array_api_compat.cupy as compat

    assert backend.xp.zeros.__wrapped__ is compat.zeros
    assert backend.xp.float32 is compat.float32 and backend.dtype(anynn.float32) is compat.float32
    try:  # without a GPU CuPy then fails to allocate; with one the fake runtime did not really switch
        backend.xp.zeros((2,), dtype=backend.xp.float32)
    except Exception:
        pass
    assert runtime.switches[:1] == [1], "device 1 was made current before CuPy's zeros ran"
    runtime.current = 0
    try:
        backend.from_numpy(np.zeros(2))
    except Exception:
        pass
    assert runtime.switches[-1] == 1 and runtime.current == 1


def test_one_gpu_is_never_switched(monkeypatch):
    runtime = _fake_gpus(monkeypatch, count=1)
    backend = C.CupyBackend("cuda")
    import array_api_compat.cupy as compat

    assert backend.device_name == "cuda:0"
    assert backend.xp.zeros is compat.zeros, "one GPU: no wrapper on the hot path"
    assert backend.xp.clip is not compat.clip and backend.xp.sign is not compat.sign
    backend._ensure()
    assert runtime.switches == []


@pytest.mark.parametrize("device, count, message", [
    ("cuda:2", 2, r"only 2 GPU\(s\) exist"),
    ("cuda:1", 1, r"only 1 GPU\(s\) exist"),
    ("cuda:-1", 2, r"only 2 GPU\(s\) exist"),
    ("gpu0", 2, "runs on 'cuda' or 'cuda:N'"),
])
def test_bad_device_indices(monkeypatch, device, count, message):
    _fake_gpus(monkeypatch, count=count)
    with pytest.raises(BackendUnavailable, match=message):
        C.CupyBackend(device)


def _gpu_indices():
    count = max(_gpu_count(), 1)
    return [pytest.param(i, marks=pytest.mark.skipif(i >= _gpu_count(), reason=f"needs a GPU cuda:{i}; "
                                                     f"{cupy_reason or f'{_gpu_count()} GPU(s) here'}"))
            for i in range(max(count, 2))]


@pytest.mark.parametrize("index", _gpu_indices())
def test_gpu_every_creation_path_lands_on_the_backend_device(index):
    """GPU: zeros, full, arange, from_numpy, random draws and an operator all on cuda:index."""
    import cupy

    from anynn.backends import backend_for

    backend = backend_for("cupy", f"cuda:{index}")
    cupy.cuda.Device(0).use()  # the thread starts on device 0 whichever backend is used
    xp = backend.xp
    arrays = [xp.zeros((3,), dtype=xp.float32), xp.full((3,), 2.0), xp.arange(3), xp.ones_like(xp.zeros(2)),
              backend.from_numpy(np.ones(3)), backend.randn((3,), anynn.float32), backend.randint(0, 5, (3,))]
    arrays.append(arrays[0] + arrays[1])
    assert [a.device.id for a in arrays] == [index] * len(arrays)
    t = anynn.zeros(4, backend="cupy", device=f"cuda:{index}") + 1
    assert t.array.device.id == index


# ====================================================================== erf
def _cupyx_like_erf(x, dtype=None):
    """cupyx.scipy.special.erf's type rules on NumPy: loops e->d, f->f, d->d; dtype= picks the loop."""
    from math import erf

    out_dtype = np.dtype(dtype) if dtype is not None else {np.float16: np.float64}.get(x.dtype.type, x.dtype)
    return np.vectorize(erf, otypes=[np.float64])(x.astype(np.float64)).astype(out_dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_erf_keeps_the_input_dtype(dtype):
    x = np.linspace(-3, 3, 13).astype(dtype)
    assert _cupyx_like_erf(np.zeros(1, np.float16)).dtype == np.float64, "the stand-in has cupyx's quirk"
    out = C.half_safe_erf(_cupyx_like_erf, x, np.float16, np.float32)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.astype(np.float64), [math.erf(v) for v in x.astype(np.float64)],
                               rtol=2e-3 if dtype == np.float16 else 1e-6)


@needs_gpu
@pytest.mark.parametrize("dtype", [anynn.float16, anynn.float32, anynn.float64])
def test_gpu_erf_dtype_and_values(dtype):
    from anynn.backends import backend_for

    backend = backend_for("cupy")
    x = np.linspace(-3, 3, 13)
    out = backend.erf(backend.from_numpy(x, dtype))
    assert backend.dtype_of(out.dtype) == dtype
    np.testing.assert_allclose(backend.to_numpy(out).astype(np.float64), [math.erf(v) for v in x],
                               rtol=2e-3 if dtype == anynn.float16 else 1e-6,
                               atol=1e-3 if dtype == anynn.float16 else 1e-7)


# ====================================================================== sync-free clip, sign, randint
CLIP_CASES = [
    (np.array([-2.0, -0.5, 0.0, 0.5, 2.0, np.nan]), -1.0, 1.0),
    (np.array([-2.0, 0.5, np.nan], np.float32), None, 0.25),
    (np.array([-2.0, 0.5, np.nan], np.float32), -0.25, None),
    (np.array([-2.0, 0.5]), None, None),
    (np.array([-2.0, 0.5, 3.0]), float("nan"), None),
    (np.array([[-2.0, 0.5, 3.0]]), np.array([[0.0], [1.0]]), np.array([2.0, 2.0, np.nan])),  # broadcasting
    (np.array([-5, 0, 7], np.int64), 0, 3),
    (np.array([-5, 0, 7], np.int8), -1000, 1000),  # Python ints beyond int8: ignored, as array-api-compat
    (np.array([-5, 0, 7], np.int32), np.array([1, 1, 1], np.int64), None),  # bound cast to x's dtype
    (np.array(2.5), 0.0, 1.0),
]


@pytest.mark.parametrize("x, lo, hi", CLIP_CASES)
def test_sync_free_clip_matches_array_api_compat(x, lo, hi):
    import array_api_compat.numpy as cnp

    expected = cnp.clip(x, lo, hi)
    actual = C.sync_free_clip(np)(x, lo, hi)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)
    assert actual is not x and not np.shares_memory(actual, x)


@pytest.mark.parametrize("x", [np.array([-2.0, -0.0, 0.0, 3.0, np.nan, -np.inf]), np.array([-3, 0, 4], np.int16),
                               np.array([0j, 3 + 4j, -2j], np.complex128), np.array([1.0, np.nan], np.float32)])
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the library sign's 0j / |0j|
def test_sync_free_sign_matches_array_api_compat(x):
    import array_api_compat.numpy as cnp

    expected = cnp.sign(x)
    actual = C.sync_free_sign(np)(x)
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected)


def test_sync_free_sign_keeps_nan_where_the_library_sign_does_not():
    class NoNanSign:  # CuPy's sign maps NaN to 0 (array-api-compat issue 136)
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def sign(x):
            return np.where(np.isnan(x), 0.0, np.sign(x))

    out = C.sync_free_sign(NoNanSign())(np.array([np.nan, -1.0, 0.0]))
    np.testing.assert_array_equal(out, [np.nan, -1.0, 0.0])


def test_scaled_randint_stays_in_range_and_covers_it():
    u = np.concatenate([np.random.default_rng(0).random(20000), [0.0, 1.0 - 2.0 ** -53]])
    for low, high in [(0, 10), (-3, 4), (5, 6), (0, 2 ** 31 + 7)]:
        out = C.scaled_randint(np, u, low, high)
        assert out.dtype == np.int64 and out.min() >= low and out.max() <= high - 1
        assert out[-2] == low and out[-1] == high - 1
        if high - low <= 10:
            counts = np.bincount(out - low, minlength=high - low)
            assert counts.min() > 0.8 * len(u) / (high - low)


@needs_gpu
def test_gpu_clip_sign_randint_do_not_synchronize():
    import cupyx

    from anynn.backends import backend_for

    backend = backend_for("cupy")
    xp = backend.xp
    x = backend.from_numpy(np.array([-2.0, 0.5, np.nan, 3.0]))
    backend.synchronize()
    with cupyx.allow_synchronize(False):
        clipped = xp.clip(x, -1.0, 1.0)
        signs = xp.sign(x)
        drawn = backend.randint(0, 7, (1000,))
    np.testing.assert_array_equal(backend.to_numpy(clipped), [-1.0, 0.5, np.nan, 1.0])
    np.testing.assert_array_equal(backend.to_numpy(signs), [-1.0, 1.0, np.nan, 1.0])
    host = backend.to_numpy(drawn)
    assert host.dtype == np.int64 and host.min() >= 0 and host.max() <= 6 and len(set(host.tolist())) == 7


@needs_gpu
def test_gpu_out_of_memory_is_recognised_on_a_real_allocation():
    import cupy

    from anynn.backends import backend_for

    backend = backend_for("cupy")
    free, total = cupy.cuda.runtime.memGetInfo()
    with pytest.raises(Exception) as info:
        backend.xp.empty((total * 4,), dtype=backend.xp.uint8)
    assert backend.is_out_of_memory(info.value) and isinstance(info.value, backend.out_of_memory_errors)
