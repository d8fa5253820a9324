"""``anynn.accelerator``: PyTorch's device-neutral questions (``torch.accelerator``), answered by the GPU
backend of :mod:`anynn.cuda`, the one accelerator kind anynn drives::

    device = anynn.accelerator.current_accelerator().type if anynn.accelerator.is_available() else "cpu"
"""
from __future__ import annotations

from anynn import cuda
from anynn.device import device


def is_available() -> bool:
    """Whether an accelerator (a GPU the GPU backend can use) is usable here."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> device | None:
    """``device('cuda')`` where a GPU is usable, else None (a CPU-only machine has no accelerator)."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    """How many accelerators are usable here (0 without a GPU)."""
    return cuda.device_count()


def current_device_index() -> int:
    """The index of the current accelerator (raises where there is none)."""
    return cuda.current_device()


current_device_idx = current_device_index


def synchronize(which: device | str | int | None = None) -> None:
    """Wait for the accelerator's queued work (raises where there is none)."""
    cuda.synchronize(which)


__all__ = ["current_accelerator", "current_device_idx", "current_device_index", "device_count", "is_available",
           "synchronize"]
