"""CUDA-graph capture for the cupy backend (``anynn.cuda_graphs`` drives it). **Not yet run on a GPU.**

A capture runs on a fresh non-blocking stream made current (CuPy launches on the current stream), in CuPy's
relaxed capture mode, after the device finished the eager work queued so far. While it is open, CuPy allocates
from a *private* memory pool kept with the graph, as PyTorch's graph pools do: the arrays the capture allocates
are the graph's static memory, which no later eager allocation may be handed (the default pool would hand
freed blocks to anyone). Stream-ordered allocation (``cupy.cuda.MemoryAsyncPool``) would turn allocations into
graph memory nodes, but arrays that outlive the capture (the loss, ``p.grad``) would then be graph allocations
never freed inside the graph, which a relaunch requires unless the graph is instantiated with
auto-free-on-launch, which CuPy does not expose. Replays launch on the caller's current stream, so they are
ordered after the copies into the static inputs.

A host synchronisation inside the capture fails the capture with a CUDA error; the error raised here says to
find the op with ``anynn.profiler.capture_safe()`` on the counting backend, or on the replay backend. One sync
those cannot see: numba-cuda, handed a CuPy array by a fused kernel launch, synchronises the stream the array
names (``__cuda_array_interface__``'s ``stream``, CuPy's current stream) unless
``NUMBA_CUDA_ARRAY_INTERFACE_SYNC=0``; the kernels launch on that very stream, so the sync orders nothing, and
it is switched off while a capture is open.
"""
from __future__ import annotations

from typing import Any


class CupyCapture:
    """An open stream capture with its private memory pool."""

    def __init__(self, backend: Any):
        cupy = backend.cupy
        self.cupy = cupy
        backend.synchronize()
        self.pool = cupy.cuda.MemoryPool()
        self.previous_allocator = cupy.cuda.get_allocator()
        self.previous_stream = cupy.cuda.get_current_stream()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.numba_config, self.numba_sync = _numba_config()
        if self.numba_config is not None:
            self.numba_config.CUDA_ARRAY_INTERFACE_SYNC = 0
        cupy.cuda.set_allocator(self.pool.malloc)
        self.stream.use()
        try:
            self.stream.begin_capture()
        except BaseException:
            self._restore()
            raise

    def _restore(self) -> None:
        self.previous_stream.use()
        self.cupy.cuda.set_allocator(self.previous_allocator)
        if self.numba_config is not None:
            self.numba_config.CUDA_ARRAY_INTERFACE_SYNC = self.numba_sync

    def end(self) -> "CupyGraph":
        try:
            graph = self.stream.end_capture()
        except Exception as err:
            raise RuntimeError(
                f"CUDA graph capture failed ({err}): the step probably synchronised with the host or uploaded host "
                "data (an .item(), a boolean mask, a small host array). Run one step of it under "
                "anynn.profiler.capture_safe() on the counting or replay backend (ANYNN_BACKEND=replay) to name "
                "the op") from err
        finally:
            self._restore()
        return CupyGraph(self.cupy, graph, self.pool, self.stream)


class CupyGraph:
    """A captured graph with the memory pool and stream it was captured with (kept alive with it)."""

    def __init__(self, cupy: Any, graph: Any, pool: Any, stream: Any):
        self.cupy, self.graph, self.pool, self.stream = cupy, graph, pool, stream

    launches = None  # CuPy does not report a graph's node count

    def replay(self) -> None:
        self.graph.launch(stream=self.cupy.cuda.get_current_stream())


def _numba_config() -> tuple[Any, Any]:
    """numba-cuda's configuration module and its CUDA_ARRAY_INTERFACE_SYNC, or (None, None) without numba-cuda."""
    try:
        from numba.cuda.core import config
    except ImportError:
        return None, None
    return config, getattr(config, "CUDA_ARRAY_INTERFACE_SYNC", None)


def begin_capture(backend: Any) -> CupyCapture:
    """Start capturing the cupy ``backend``'s work (its device must be current: the backend makes it so)."""
    backend._ensure()
    return CupyCapture(backend)


__all__ = ["CupyCapture", "CupyGraph", "begin_capture"]
