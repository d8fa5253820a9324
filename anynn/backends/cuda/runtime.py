"""What the CUDA kernels share: the launch configuration, the stream, the allocation seam and the layouts.

The same wrappers run in two places:

* on a GPU, over CuPy arrays, which ``numba.cuda`` takes directly (DLPack / ``__cuda_array_interface__``),
  launched on CuPy's current stream so the kernels queue behind and ahead of CuPy's own work (no host sync);
* in numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``, set before ``numba.cuda`` is first imported), over
  NumPy arrays on the CPU, which is how ``tests/backends/test_cuda_kernels.py`` proves them equal to their
  standard twins without a GPU.

Outputs are allocated with the array library of the input (:func:`empty`: ``cupy.empty`` on the GPU,
``numpy.empty`` in the simulator), never with ``numba.cuda.device_array``, so CuPy's memory pool owns every
array the backend sees. Kernels take only arrays and scalars: no per-call host data, nothing to upload.

Every kernel is a grid-stride loop (any grid size covers any amount of work), so :func:`launch` may cap the grid.
"""
from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
from numba import cuda

try:  # numba-cuda keeps its own configuration; numba's built-in CUDA target (older numba) used numba.config
    from numba.cuda.core import config as _config
except ImportError:  # pragma: no cover - depends on the installed numba
    from numba.core import config as _config

#: True when numba.cuda is the CPU simulator (NUMBA_ENABLE_CUDASIM=1 at its first import).
SIMULATED = bool(_config.ENABLE_CUDASIM)
#: Threads per block. The simulator runs each thread of a block as a Python thread, so it gets few.
BLOCK = 32 if SIMULATED else 256
#: Most blocks one launch starts; the grid-stride loops do the rest (a few in the simulator, to keep it fast).
MAX_BLOCKS = 4 if SIMULATED else 65535
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------ allocation seam
_LIBRARIES: dict[type, Any] = {}


def library(like: Any) -> Any:
    """The array module of ``like`` (numpy or cupy), or None for any other array type (the pass then declines)."""
    cls = type(like)
    lib = _LIBRARIES.get(cls)
    if lib is None:
        name = cls.__module__.split(".")[0]
        if cls.__name__ != "ndarray" or name not in ("numpy", "cupy"):
            return None
        lib = _LIBRARIES[cls] = importlib.import_module(name)
    return lib


def empty(like: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """An uninitialised C-ordered array of ``like``'s library (and device: CuPy's current one)."""
    return library(like).empty(shape, dtype=dtype)


def memory_order(a: Any) -> tuple[int, ...]:
    """The axes of ``a`` from slowest to fastest in memory (ties, e.g. unit axes, keep their logical order)."""
    return tuple(sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis])))


def dense_order(a: Any) -> tuple[int, ...] | None:
    """``a``'s memory order if its elements are one gap-free block (in some axis order), else None."""
    order = memory_order(a)
    return order if a.transpose(order).flags.c_contiguous else None


def empty_in_order(like: Any, order: tuple[int, ...], dtype: Any = None) -> Any:
    """An uninitialised array shaped like ``like`` whose axes lie in memory in ``order`` (slowest first)."""
    buffer = empty(like, tuple(like.shape[axis] for axis in order), like.dtype if dtype is None else dtype)
    inverse = [0] * len(order)
    for position, axis in enumerate(order):
        inverse[axis] = position
    return buffer.transpose(inverse)


def is_batch_last(a4: Any) -> bool:
    """True if the batch axis of an (N, C, H, W) array is innermost in dense (C, H, W, N) memory (conv layers'
    layout). Every other layout is read through its strides, and outputs are then made plain (N, C, H, W)."""
    return a4.shape[0] > 1 and a4.transpose(1, 2, 3, 0).flags.c_contiguous


def empty_4d(like: Any, shape: tuple[int, int, int, int], dtype: Any, batch_last: bool) -> Any:
    """An uninitialised (N, C, H, W) array of ``like``'s library, stored (C, H, W, N) if ``batch_last``."""
    n, c, h, w = shape
    if batch_last:
        return empty(like, (c, h, w, n), dtype).transpose(3, 0, 1, 2)
    return empty(like, shape, dtype)


def as_4d(a: Any) -> Any:
    """An (N, C), (N, C, L) or (N, C, H, W) array as an (N, C, H, W) view (unit axes inserted), else None."""
    if a.ndim == 4:
        return a
    if a.ndim == 3:
        return a[:, :, None, :]
    if a.ndim == 2:
        return a[:, :, None, None]
    return None


def from_4d(a4: Any, ndim: int) -> Any:
    """The inverse view of :func:`as_4d`."""
    return a4 if ndim == 4 else a4[:, :, 0, :] if ndim == 3 else a4[:, :, 0, 0]


# ------------------------------------------------------------------ streams and launches
_STREAMS: dict[int, Any] = {}


def stream_for(like: Any) -> Any:
    """The numba stream to launch on: CuPy's current stream for CuPy arrays (so no host sync orders the kernel
    after CuPy's work), the default stream otherwise (NumPy arrays: the simulator)."""
    lib = library(like)
    if lib is np or SIMULATED:
        return 0
    ptr = lib.cuda.get_current_stream().ptr
    stream = _STREAMS.get(ptr)
    if stream is None:
        # CuPy's null stream is CUDA's legacy default stream, which is numba's default stream too
        stream = _STREAMS[ptr] = cuda.default_stream() if ptr == 0 else cuda.external_stream(ptr)
    return stream


def blocks_for(work: int) -> int:
    """Blocks of :data:`BLOCK` threads for ``work`` independent items (at least one, at most MAX_BLOCKS)."""
    return max(1, min(MAX_BLOCKS, math.ceil(work / BLOCK)))


if SIMULATED:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray as _SimulatedDeviceArray

    def _device_args(args: tuple) -> tuple:
        """NumPy arrays as the simulator's device arrays: views with their own strides, written in place, as
        CuPy arrays are on a GPU (the simulator would otherwise copy them, and refuses strided ones)."""
        return tuple(_SimulatedDeviceArray(a) if isinstance(a, np.ndarray) else a for a in args)
else:
    def _device_args(args: tuple) -> tuple:
        return args


#: numba-cuda's configuration, whose CUDA_ARRAY_INTERFACE_SYNC a launch turns off (None in the simulator)
_CONFIG = None if SIMULATED or not hasattr(_config, "CUDA_ARRAY_INTERFACE_SYNC") else _config


def launch(kernel: Any, blocks: int, like: Any, *args: Any) -> None:
    """Run ``kernel`` on ``blocks`` blocks of :data:`BLOCK` threads, on ``like``'s stream.

    CuPy exports its stream in ``__cuda_array_interface__`` and numba synchronises on it before a launch by
    default: a host sync per kernel. The kernel runs on that very stream, so the sync orders nothing; it is turned
    off for the launch (and restored, so other numba code keeps its setting)."""
    stream = stream_for(like)
    if _CONFIG is None:
        kernel[blocks, BLOCK, stream](*_device_args(args))
        return
    previous = _CONFIG.CUDA_ARRAY_INTERFACE_SYNC
    _CONFIG.CUDA_ARRAY_INTERFACE_SYNC = 0
    try:
        kernel[blocks, BLOCK, stream](*args)
    finally:
        _CONFIG.CUDA_ARRAY_INTERFACE_SYNC = previous


# ------------------------------------------------------------------ device functions
@cuda.jit(device=True)
def coords(i, n_size, c_size, h_size, w_size, batch_last):
    """(n, c, h, w) of the ``i``-th element of an (N, C, H, W) array in memory order: plain (N, C, H, W) or
    batch-last (C, H, W, N)."""
    if batch_last:
        n = i % n_size
        rest = i // n_size
        w = rest % w_size
        rest = rest // w_size
        h = rest % h_size
        c = rest // h_size
    else:
        w = i % w_size
        rest = i // w_size
        h = rest % h_size
        rest = rest // h_size
        c = rest % c_size
        n = rest // c_size
    return n, c, h, w


@cuda.jit(device=True)
def block_sum(shared, value):
    """The sum of ``value`` over the block's threads, in a fixed tree order (deterministic), seen by all of
    them; ``shared`` is a float64 shared array of BLOCK entries, free again when this returns."""
    t = cuda.threadIdx.x
    shared[t] = value
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:
        if t < step:
            shared[t] += shared[t + step]
        cuda.syncthreads()
        step //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def nan_max(a, b):
    """The larger of ``a`` and ``b``, NaN if either is (as ``max`` reductions of the array libraries)."""
    if a != a or b != b:
        return a + b
    return a if a > b else b


@cuda.jit(device=True)
def block_max(shared, value):
    """The NaN-propagating maximum of ``value`` over the block's threads, seen by all of them (as
    :func:`block_sum`)."""
    t = cuda.threadIdx.x
    shared[t] = value
    cuda.syncthreads()
    step = BLOCK // 2
    while step > 0:
        if t < step:
            shared[t] = nan_max(shared[t], shared[t + step])
        cuda.syncthreads()
        step //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


__all__ = ["BLOCK", "FLOATS", "MAX_BLOCKS", "SIMULATED", "as_4d", "block_max", "block_sum", "blocks_for", "coords",
           "dense_order", "empty", "empty_4d", "empty_in_order", "from_4d", "is_batch_last", "launch", "library",
           "memory_order", "nan_max"]
