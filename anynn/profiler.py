"""Launch and sync accounting: what a training step asks of the array library, per step and per op.

On a GPU backend every array-library call is at least one kernel launch (CuPy spends 15-25 us of host time on
each), every value read back to the host stalls the GPU, and both host reads and host-to-device uploads stop a
step from being captured as a CUDA graph. The ``counting`` backend (NumPy arrays that count their calls) takes
the dispatch decisions of the backend it mirrors, so these counts are the ones that backend would make, here,
on a CPU::

    anynn.set_backend("counting", "cupy")        # or model.to("counting") ...
    model, opt = ..., ...
    with anynn.profiler.count() as tally:
        loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    print(anynn.profiler.report(tally))          # launches / syncs / uploads per phase and per op

    with anynn.profiler.capture_safe():          # raises HostSyncError naming the op that reads back or uploads
        train_step(x, y)

``anynn bench --count`` prints the same for the zoo models. Counts are deterministic: tests assert budgets.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from anynn.backends.counting import LAUNCH, SYNC, UPLOAD, HostSyncError, Tally, state

PHASES = ("forward", "backward", "optimizer")


@contextlib.contextmanager
def count() -> Iterator[Tally]:
    """Count the launches, syncs and uploads that arrays of the counting backend make inside the block."""
    tally = Tally()
    state.tallies.append(tally)
    try:
        yield tally
    finally:
        state.tallies.remove(tally)


@contextlib.contextmanager
def capture_safe() -> Iterator[None]:
    """Raise :class:`HostSyncError`, naming the op, on any host read or upload by counting-backend arrays in the
    block: what passes here could be captured as one CUDA graph on the mirrored GPU backend."""
    state.capture_safe += 1
    try:
        yield
    finally:
        state.capture_safe -= 1


@contextlib.contextmanager
def host_point() -> Iterator[None]:
    """Mark a place outside the training step where reading the device is the intent (a log point, an epoch
    end): capture-safe mode lets its syncs and uploads through. ``fit`` marks its own."""
    state.host_point += 1
    try:
        yield
    finally:
        state.host_point -= 1


def per_step(tally: Tally, steps: int = 1) -> dict[str, float]:
    """Launches per phase, syncs and uploads, each divided by ``steps``."""
    out = {f"{phase}_launches": tally.total(LAUNCH, phase) / steps for phase in PHASES}
    out["launches"] = tally.launches / steps
    out["syncs"] = tally.syncs / steps
    out["uploads"] = tally.uploads / steps
    return out


def report(tally: Tally, steps: int = 1, top: int = 12) -> str:
    """A table: totals per step, then the ops with the most launches (per step)."""
    counts = per_step(tally, steps)
    lines = [f"per step: {counts['launches']:g} launches (forward {counts['forward_launches']:g}, backward "
             f"{counts['backward_launches']:g}, optimizer {counts['optimizer_launches']:g}), "
             f"{counts['syncs']:g} host syncs, {counts['uploads']:g} uploads"]
    rows = sorted(tally.by_op().items(), key=lambda item: -sum(item[1].values()))[:top]
    width = max([len(op) for (_, op), _ in rows] + [2])
    for (phase, op), kinds in rows:
        lines.append(f"  {phase:<9} {op:<{width}} {kinds[LAUNCH] / steps:>7g} launches"
                     + (f", {kinds[SYNC] / steps:g} syncs" if kinds[SYNC] else "")
                     + (f", {kinds[UPLOAD] / steps:g} uploads" if kinds[UPLOAD] else ""))
    return "\n".join(lines)


__all__ = ["HostSyncError", "PHASES", "Tally", "capture_safe", "count", "host_point", "per_step", "report"]
