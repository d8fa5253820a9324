"""Peak memory of one piece of work (a training step), measured the way each array library allows.

- NumPy (and array-api-strict, which wraps NumPy): NumPy reports its data allocations to ``tracemalloc``,
  so the peak of the traced memory during the work is exactly the extra host memory it needed.
- CuPy: the default memory pool is emptied of cached blocks first; after the work its ``total_bytes()`` is
  the high-water mark the pool had to hold, so that minus the bytes in use before is the work's peak.
- torch on CUDA: ``torch.cuda.max_memory_allocated`` after resetting the peak statistics.
- torch on the CPU keeps no allocation statistics: the answer is ``None`` ('n/a'), never a guess.

Each probe returns the peak *extra* bytes over what was allocated when the work began (parameters and data
already resident are not counted).
"""
from __future__ import annotations

import tracemalloc
from typing import Any, Callable


def measure_peak(library: str, device: Any, work: Callable[[], Any]) -> int | None:
    """Run ``work()`` once and return its peak extra memory in bytes on ``device``, or None if unmeasurable.

    ``library`` is 'numpy', 'array_api_strict', 'cupy' or 'torch'; ``device`` is 'cpu', 'cuda:0', a
    ``torch.device`` or a ``cupy.cuda.Device``.
    """
    if library in ("numpy", "array_api_strict"):
        return _tracemalloc_peak(work)
    if library == "cupy":
        return _cupy_peak(device, work)
    if library == "torch":
        return _torch_peak(device, work)
    raise ValueError(f"measure_peak: unknown array library {library!r}; expected numpy, array_api_strict, "
                     "cupy or torch")


def describe_probe(library: str, device: Any) -> str:
    """One line saying how :func:`measure_peak` measures (or why it cannot) for this library and device."""
    if library in ("numpy", "array_api_strict"):
        return "tracemalloc peak (NumPy reports its allocations)"
    if library == "cupy":
        return "CuPy default memory pool high-water mark"
    if library == "torch" and _is_cuda(device):
        return "torch.cuda.max_memory_allocated"
    return "n/a: torch on the CPU keeps no allocation statistics"


def _tracemalloc_peak(work: Callable[[], Any]) -> int:
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(peak - start, 0)


def _cupy_peak(device: Any, work: Callable[[], Any]) -> int:
    import cupy

    pool = cupy.get_default_memory_pool()
    with _cupy_device(cupy, device):
        cupy.cuda.Device().synchronize()
        pool.free_all_blocks()
        before = pool.used_bytes()
        work()
        cupy.cuda.Device().synchronize()
        return max(pool.total_bytes() - before, 0)


def _cupy_device(cupy: Any, device: Any):
    if isinstance(device, cupy.cuda.Device):
        return device
    text = str(device)
    return cupy.cuda.Device(int(text.split(":")[-1]) if ":" in text else 0)


def _torch_peak(device: Any, work: Callable[[], Any]) -> int | None:
    import torch

    if not _is_cuda(device):
        work()
        return None
    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    before = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    work()
    torch.cuda.synchronize(dev)
    return max(torch.cuda.max_memory_allocated(dev) - before, 0)


def _is_cuda(device: Any) -> bool:
    return str(device).startswith("cuda")


__all__ = ["describe_probe", "measure_peak"]
