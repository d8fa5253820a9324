"""Value checks that read data: at once on host backends, deferred to the next synchronisation point on GPUs.

A shape or dtype is host metadata and is always checked at once. A *value* (a class label outside ``[0, C)``,
an embedding index outside ``[0, num_embeddings)``, a BCE probability outside ``[0, 1]``) lives in the array:

- On host backends (NumPy, array_api_strict, torch on the CPU; see :func:`on_host`) reading it costs nothing
  special, so the op checks at once and raises an error naming the layer, the valid range and the bad value,
  as PyTorch on the CPU does.
- On GPU backends (CuPy, torch on CUDA, and the ``counting`` backend mirroring CuPy) reading it would stall the
  device on every step. The op keeps the bad value from being used (a label poisons its loss with NaN, an
  index is clamped) and registers a *deferred check* with :func:`defer`: a host callable that, run later,
  reads what it needs and returns the error or None. It launches nothing at registration (a loss
  reuses its own output as the flag: NaN iff a label was bad, or something else went wrong).
  :func:`raise_deferred_errors` runs the pending checks at the next synchronisation point and raises the
  first error; ``fit`` calls it at its log points and epoch ends (inside ``anynn.profiler.host_point()``),
  and ``evaluate`` at its end. A loop of your own calls it where it reads the loss back anyway
  (``loss.item()``), e.g. every 50 steps.

``ANYNN_DEBUG=1`` (or ``anynn.ops._checks.CHECK_VALUES = True``) checks at once on every backend, with a sync
per step. At most ``MAX_PENDING`` checks wait; older ones are dropped (a loop that never synchronises
keeps bounded memory, and a bad label usually comes back every epoch).

The step named in the message is the one ``fit`` announced with :func:`set_step`; outside ``fit`` the check
counts the calls since the last synchronisation point.
"""
from __future__ import annotations

import collections
import os
from typing import Any, Callable

#: Check values at once on every backend, GPUs included (a host sync per check): ``ANYNN_DEBUG=1`` when anynn is
#: imported, or ``anynn.ops._checks.CHECK_VALUES = True`` at run time. Host backends always check at once.
CHECK_VALUES: bool = os.environ.get("ANYNN_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")

#: How many deferred checks wait for a synchronisation point at most (the oldest are dropped beyond it).
MAX_PENDING = 1024

_pending: collections.deque = collections.deque(maxlen=MAX_PENDING)
_step: str | None = None
_calls = 0

DEFERRED_NOTE = "found at a synchronisation point: the check is deferred on GPUs"


def on_host(backend: Any) -> bool:
    """Whether ``backend`` computes in host memory, where reading a value back costs no device sync.

    NumPy, array_api_strict and torch on the CPU are host backends; CuPy, torch on CUDA and the ``counting``
    backend mirroring CuPy are not (the counting backend mirroring NumPy is). A backend may say so itself with
    a ``host_memory`` attribute.
    """
    declared = getattr(backend, "host_memory", None)
    if isinstance(declared, bool):
        return declared
    if backend.name == "counting":
        return getattr(backend, "mirrors", None) == "numpy"
    return backend.name in ("numpy", "array_api_strict") or str(backend.device_name).lower() == "cpu"


def check_now(backend: Any) -> bool:
    """Whether a value check on ``backend`` runs at once (a host backend, or CHECK_VALUES) or is deferred."""
    return CHECK_VALUES or on_host(backend)


def set_step(where: str | None) -> None:
    """Name the step that deferred checks registered from now on belong to (``fit``: "step 12 of epoch 3")."""
    global _step
    _step = where


def defer(check: Callable[[str], BaseException | None]) -> None:
    """Register ``check(where)``: run at the next synchronisation point, it reads the device and returns the
    error the op would have raised at once (``where`` names the step it was registered at), or None.
    Registering launches nothing and reads nothing."""
    global _calls
    _calls += 1
    where = _step if _step is not None else f"call {_calls} since the last synchronisation point"
    _pending.append((check, where))


def pending() -> int:
    """How many deferred checks wait for the next synchronisation point."""
    return len(_pending)


def raise_deferred_errors() -> None:
    """Run the pending deferred checks (each reads the device: call this at a synchronisation point) and raise
    the first error found, as the op would have raised it at once on a host backend. Clears the queue."""
    global _calls
    _calls = 0
    if not _pending:
        return
    checks = list(_pending)
    _pending.clear()
    for check, where in checks:
        error = check(where)
        if error is not None:
            raise error


__all__ = ["CHECK_VALUES", "DEFERRED_NOTE", "MAX_PENDING", "check_now", "defer", "on_host", "pending",
           "raise_deferred_errors", "set_step"]
