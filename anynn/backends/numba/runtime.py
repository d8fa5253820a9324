"""The runtime behind the Numba kernels: the two-build compiled loop, the thread count and the lock.

Process-wide effects of importing this module: Numba's threading layer becomes the work queue (unless
NUMBA_THREADING_LAYER is set), which aborts on parallel Numba code run from two threads at once, so anynn's own
kernels take a lock; other Numba code of yours running in threads should set NUMBA_THREADING_LAYER itself.
"""
from __future__ import annotations

import functools
import os
import threading
import types

import numba
import numpy as np
from numba import njit

if "NUMBA_THREADING_LAYER" not in os.environ:
    # OpenMP's worker threads spin after each kernel and starve OpenBLAS's (measured: 3x slower steps on 2
    # cores); the simple work queue sleeps. It is not re-entrant, hence the lock in ``_one_at_a_time``.
    numba.config.THREADING_LAYER = "workqueue"
_LOCK = threading.Lock()


def _one_at_a_time(wrapper):
    """One kernel at a time across Python threads (the work queue aborts the process on concurrent use)."""
    @functools.wraps(wrapper)
    def run(*args, **kwargs):
        with _LOCK:
            return wrapper(*args, **kwargs)
    return run


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_REASSOC = {"reassoc", "contract"}  # lets sums vectorise; keeps NaN/inf semantics (no 'nnan'/'ninf')
_PARALLEL_MIN = 1 << 21  # elements; below this, starting the threads costs more than they save (~0.1 ms)


class _Kernel:
    """A loop compiled twice: across all threads (``prange``) for large arrays, serially for small ones."""

    def __init__(self, fn, fastmath):
        self.parallel = njit(parallel=True, cache=True, nogil=True, fastmath=fastmath)(fn)
        serial = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_one_at_a_time")
        serial.__qualname__ = fn.__qualname__ + "_one_at_a_time"  # its own on-disk cache entry
        self.serial = njit(cache=True, nogil=True, fastmath=fastmath)(serial)

    def __call__(self, *args, work: int | None = None):
        """Run on all threads if ``work`` (default: the largest array's size) reaches ``_PARALLEL_MIN``."""
        if (max(a.size for a in args if isinstance(a, np.ndarray)) if work is None else work) < _PARALLEL_MIN:
            return self.serial(*args)
        if quiet_blas is not None:
            quiet_blas()
        numba.set_num_threads(_threads)  # the count is per calling thread in Numba
        return self.parallel(*args)


#: Called before each multi-threaded kernel (set by the numpy backend): OpenBLAS's idle threads spin for
#: ~0.1 s after every GEMM, and sharing the cores with them halves these kernels.
quiet_blas = None
_threads = numba.config.NUMBA_NUM_THREADS


def _kernel(fastmath=False):
    """Decorator: compile ``fn`` as a :class:`_Kernel` (``fastmath``: Numba's flag set for its reductions)."""
    return lambda fn: _Kernel(fn, fastmath)


def set_threads(count: int) -> None:
    """Run the multi-threaded kernels on ``count`` threads (at most the number Numba started with)."""
    global _threads
    _threads = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(_threads)
