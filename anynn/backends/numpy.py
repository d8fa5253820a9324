"""NumPy on the CPU (the default backend), with fast paths for the copies the standard makes slow."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
import warnings
from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from anynn.backends.base import Backend, BackendUnavailable, FusedKernels


class NumpyBackend(Backend):
    name = "numpy"
    array_type = np.ndarray

    def _load(self, device: str | None):
        import array_api_compat.numpy as xp

        if device not in (None, "cpu"):
            raise BackendUnavailable(f"the numpy backend runs on 'cpu' only, not {device!r}; "
                                     "use ANYNN_BACKEND=cupy or torch for a GPU")
        if os.environ.get("ANYNN_NUMPY_KEEP_MEMORY", "1") != "0":
            keep_freed_memory()
        self.fused, self.compiler = fused_kernels()
        return xp, "cpu", "cpu"

    def from_numpy(self, host: np.ndarray, dtype=None) -> np.ndarray:
        return np.array(host, dtype=None if dtype is None else self.dtype(dtype), copy=True)

    def to_numpy(self, arr: np.ndarray) -> np.ndarray:
        return np.array(arr, copy=True)

    def index_add(self, num_rows: int, index: Any, values: Any) -> np.ndarray:
        out = np.zeros((num_rows,) + values.shape[1:], dtype=values.dtype)
        np.add.at(out, index, values)
        return out


def fused_kernels() -> tuple[dict[str, FusedKernels], str | None]:
    """The numpy backend's fused operations and what compiled them: the Numba kernels, and im2col from a strided
    window view.

    Without Numba, or with ANYNN_NUMBA=0, only the window-view im2col remains (one copy instead of a slice per
    window offset). ANYNN_WINOGRAD=0 leaves out the Winograd tile passes, so ``conv2d`` runs every layer as im2col
    (closer to PyTorch's CPU convolutions in float32; see anynn/ops/winograd.py). Numba compiles each kernel on
    first use and caches it on disk; its thread count follows NumPy's BLAS. A Numba that imports but cannot start
    its threads leaves the standard ops in charge, with a warning.
    """
    window = {"im2col": FusedKernels(window_im2col, _decline)}
    if os.environ.get("ANYNN_NUMBA", "1") == "0":
        return window, None
    try:
        from anynn.backends import numba as compiled
        from anynn.backends.numba import runtime
    except ImportError:
        return window, None
    try:
        runtime.set_threads(numpy_blas_threads())
        runtime.quiet_blas = blas_pool_stopper()
    except Exception as err:  # e.g. "No threading layer could be loaded"
        warnings.warn(f"anynn: Numba's kernels are off ({err}); the numpy backend runs the standard ops. "
                      "Set ANYNN_NUMBA=0 to silence this.", RuntimeWarning, stacklevel=2)
        return window, None
    fused = dict(compiled.FUSED)
    fused["im2col"] = FusedKernels(_first(compiled.conv.im2col, window_im2col), compiled.conv.col2im)
    fused["batch_norm"] = batch_norm_with(compiled.norm)
    if os.environ.get("ANYNN_WINOGRAD", "1") == "0":
        fused = {name: pair for name, pair in fused.items() if not name.startswith("winograd_")}
    return fused, "numba"


def batch_norm_with(kernels: Any) -> FusedKernels:
    """Batch norm's fused training pair as its standard twin with the four compiled per-channel passes
    plugged in (each falling back to the standard pass where it declines a case)."""
    import array_api_compat.numpy as xp

    from anynn.ops import norm

    compiled = (kernels.channel_moments, kernels.channel_affine, kernels.channel_grad_sums,
                kernels.batch_norm_input_grad)
    passes = norm.ChannelPasses(*(_or_standard(fn, twin) for fn, twin in zip(compiled, norm.STANDARD_PASSES)))
    return FusedKernels(lambda *args: norm.batch_norm_train(xp, *args, passes=passes),
                        lambda *args: norm.batch_norm_train_grad(xp, *args, passes=passes))


def _or_standard(compiled: Callable[..., Any], standard: Callable[..., Any]) -> Callable[..., Any]:
    """A pass taking ``xp`` first that runs ``compiled`` and, where it declines the case, ``standard``."""
    def run(xp: Any, *args: Any) -> Any:
        out = compiled(*args)
        return standard(xp, *args) if out is None else out
    return run


def window_im2col(x, window, stride, dilation, pads, out_hw):
    """im2col as one copy from a strided 6-D window view of the padded (C, H, W, N) input."""
    from anynn.ops.im2col import padded_batch_last

    x = padded_batch_last(np, x, pads)
    c, n = x.shape[0], x.shape[3]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window, stride, dilation, out_hw
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(1, 2))
    win = win[:, :sh * (oh - 1) + 1:sh, :sw * (ow - 1) + 1:sw, :, ::dh, ::dw]
    return np.ascontiguousarray(win.transpose(0, 4, 5, 1, 2, 3)).reshape(c * kh * kw, oh * ow * n)


def _first(compiled: Callable[..., Any], fallback: Callable[..., Any]) -> Callable[..., Any]:
    """A pass that runs ``compiled`` and, where it declines the case, ``fallback``."""
    def run(*args: Any) -> Any:
        out = compiled(*args)
        return fallback(*args) if out is None else out
    return run


def _decline(*args: Any) -> None:
    """A pass with no compiled version here: the op runs its standard twin."""
    return None


def keep_freed_memory() -> bool:
    """Ask glibc to serve large arrays from its heap and keep freed memory, like a GPU caching allocator.

    By default every array over 32 MB is a fresh mmap whose pages fault in on first touch and go back to the
    system on free; a training step allocates the same big im2col and activation buffers every time, and the
    faults cost 20-30% of a LeNet epoch. The price: the process keeps its peak memory until it exits.
    Set ANYNN_NUMPY_KEEP_MEMORY=0 to leave the allocator alone. Returns True if the setting took effect.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2 ** 31 - 1))


def blas_pool_stopper() -> Callable[[], None] | None:
    """A function that stops OpenBLAS's idle worker threads, or None if NumPy's BLAS is not OpenBLAS.

    After each GEMM, OpenBLAS's worker threads spin for about 0.1 s waiting for the next one, taking a core
    each; the multi-threaded Numba kernels that run between GEMMs then get half the machine (measured on 2
    cores: a vgg_small step 240 -> 196 ms when the workers are stopped first). Stopping them
    (``blas_thread_shutdown_``, what OpenBLAS itself does before a fork) is safe only while no other thread
    can be inside a GEMM, so it happens only when the main thread is the one Python thread running (tqdm's
    monitor aside); the next GEMM starts the workers again (tens of microseconds).
    """
    for path in _loaded_libraries(("openblas",)):
        try:
            shutdown = getattr(ctypes.CDLL(path), "blas_thread_shutdown_")
        except (OSError, AttributeError):
            continue

        def stop_idle_blas_threads() -> None:
            if only_main_thread_running():
                shutdown()
        return stop_idle_blas_threads
    return None


def only_main_thread_running() -> bool:
    """True when called from the main thread and no other Python thread runs (tqdm's monitor aside)."""
    main = threading.main_thread()
    return threading.current_thread() is main and all(
        t is main or type(t).__name__ == "TMonitor" for t in threading.enumerate())


def numpy_blas_threads() -> int:
    """How many threads NumPy's BLAS uses (OpenBLAS or MKL asked directly; else the usual variables)."""
    for path in _loaded_libraries(("openblas", "mkl_rt")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads", "MKL_Get_Max_Threads"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                count = int(fn())
                if count > 0:
                    return count
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _loaded_libraries(fragments: tuple[str, ...]) -> list[str]:
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if any(f in os.path.basename(p).lower() for f in fragments))
