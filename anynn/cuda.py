"""``anynn.cuda``: PyTorch's ``torch.cuda`` questions, answered by the GPU backend.

The GPU backend is the one ``x.cuda()`` moves to: torch on CUDA while the current backend is torch, CuPy
otherwise (see :mod:`anynn.device`). So the usual line works unchanged::

    device = anynn.device("cuda" if anynn.cuda.is_available() else "cpu")
    model.to(device)

CUDA graphs, as ``torch.cuda`` names them: ``CUDAGraph``, ``graph`` and ``GraphedStep`` (a whole training step
captured after a warm-up and replayed per batch); see :mod:`anynn.cuda_graphs`.
"""
from __future__ import annotations

from anynn import backends as B
from anynn.amp import cuda_amp as amp
from anynn.cuda_graphs import CUDAGraph, GraphedStep, graph
from anynn.device import _GPU_LIBRARY, device


def _library() -> str:
    """The library whose GPU ``cuda`` means from the current backend."""
    return _GPU_LIBRARY.get(B.get_backend().name, "cupy")


def _backend(which: "device | str | int | None" = None) -> B.Backend:
    """The GPU backend on ``which`` (None: the current GPU); BackendUnavailable says why there is none."""
    where = "cuda" if which is None else str(device(which))
    return B.backend_for(_library(), where)


def why_unavailable() -> str | None:
    """None where a GPU backend can run here, else the reason and the fix."""
    return B.why_unavailable(_library(), "cuda")


def is_available() -> bool:
    """Whether ``x.cuda()`` can work here (a GPU and the library to drive it)."""
    return why_unavailable() is None


def device_count() -> int:
    """How many GPUs the GPU backend sees (0 where none is usable, as in PyTorch)."""
    if not is_available():
        return 0
    backend = _backend()
    if backend.name == "torch":
        return backend.torch.cuda.device_count()
    return backend.cupy.cuda.runtime.getDeviceCount()


def current_device() -> int:
    """The index of the GPU that ``'cuda'`` without an index means (raises where there is none)."""
    return device(_require().device_name).index


def synchronize(which: "device | str | int | None" = None) -> None:
    """Wait until the GPU has finished the work queued so far (timings, host reads of device results)."""
    _require(which).synchronize()


def manual_seed(seed: int) -> None:
    """Seed the current GPU's generator; does nothing where there is no GPU (as in PyTorch)."""
    if is_available():
        _backend().manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    """Seed every GPU's generator; does nothing where there is no GPU (as in PyTorch)."""
    for index in range(device_count()):
        _backend(index).manual_seed(int(seed))


def _require(which: "device | str | int | None" = None) -> B.Backend:
    """The GPU backend, or BackendUnavailable (a RuntimeError) that says why there is none."""
    try:
        return _backend(which)
    except B.BackendUnavailable as err:
        raise B.BackendUnavailable(f"anynn.cuda: no GPU is usable here: {err}") from None


__all__ = ["CUDAGraph", "GraphedStep", "amp", "current_device", "device_count", "graph", "is_available", "manual_seed",
           "manual_seed_all", "synchronize", "why_unavailable"]
