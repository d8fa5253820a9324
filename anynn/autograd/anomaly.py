"""Anomaly mode (``anynn.autograd.detect_anomaly()``), like ``torch.autograd.detect_anomaly``.

While on, every operation checks its output and every backward checks the gradients it returns; the first
NaN or infinity raises an error naming the operation, so "my loss is NaN" becomes "Log produced -inf from an
input of shape (32, 10)". Each check reads a value back from the device, so it is off by default.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator


class AnomalyError(FloatingPointError):
    """An operation produced NaN/inf while anomaly mode was on."""


class _Flag:
    enabled = False


flag = _Flag()


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every forward output and backward gradient for NaN/inf inside this block."""
    previous, flag.enabled = flag.enabled, True
    try:
        yield
    finally:
        flag.enabled = previous


def set_detect_anomaly(mode: bool) -> None:
    """Switch anomaly mode on or off for the rest of the program."""
    flag.enabled = bool(mode)


def _non_finite(xp: Any, array: Any) -> bool:
    if not hasattr(array, "dtype") or not xp.isdtype(array.dtype, "real floating"):
        return False
    return not bool(xp.all(xp.isfinite(array)))


def check_forward(function: type, xp: Any, inputs: tuple, out: Any) -> None:
    """Raise AnomalyError if ``function``'s forward output holds NaN/inf (and name the inputs' state)."""
    if not _non_finite(xp, out):
        return
    described = []
    for i, a in enumerate(inputs):
        data = getattr(a, "array", a)
        if hasattr(data, "shape"):
            state = "non-finite" if _non_finite(xp, data) else "finite"
            described.append(f"input {i}: shape {tuple(data.shape)}, {state}")
    raise AnomalyError(f"anomaly mode: {function.__name__} produced NaN/inf in its forward output "
                       f"({'; '.join(described) or 'no array inputs'}); this is the first operation to do so")


def check_backward(function: type, xp: Any, grads: tuple) -> None:
    """Raise AnomalyError if ``function``'s backward returned a NaN/inf gradient."""
    for i, g in enumerate(grads):
        if g is not None and _non_finite(xp, g):
            raise AnomalyError(f"anomaly mode: {function.__name__}.backward returned NaN/inf in the gradient of "
                               f"input {i} (shape {tuple(g.shape)}); the values flowing into it were finite")
