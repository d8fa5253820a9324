"""Kernel launches per ``optimizer.step()``: a handful per parameter group, not a handful per parameter.

On a GPU every array operation is a kernel launch with ~20 us of host time, so the count is the cost. The
``counting`` backend mirroring CuPy (``anynn.profiler``) counts them exactly on the CPU; views (slicing, a
``reshape`` that copies nothing) and allocation without a fill launch nothing.
"""
from __future__ import annotations

import numpy as np
import pytest

from anynn import optim, profiler
from anynn import backends as B
from anynn.autograd.tensor import Tensor


def shapes(n: int) -> list[tuple[int, ...]]:
    """``n`` parameter shapes like a conv net's: weights and biases alternating."""
    return [(8, 4, 3, 3) if i % 2 == 0 else (8,) for i in range(n)]


def counted_steps(make_optimizer, n: int, steps: int = 3, capture_safe: bool = False) -> list[profiler.Tally]:
    """The tallies of ``steps`` steps of an optimizer over ``n`` parameters, every one with a gradient (each
    step in a capture-safe block with ``capture_safe``: a host read or upload raises)."""
    backend = B.backend_for("counting", "cupy")
    rng = np.random.default_rng(0)
    params = [Tensor._make(backend.from_numpy(rng.standard_normal(shape)), backend, requires_grad=True)
              for shape in shapes(n)]
    opt = make_optimizer(params)
    tallies = []
    for _ in range(steps):
        for p in params:
            p.grad = Tensor._make(backend.from_numpy(rng.standard_normal(p.shape)), backend)
        with profiler.count() as tally:
            if capture_safe:
                with profiler.capture_safe():
                    opt.step()
            else:
                opt.step()
        tallies.append(tally)
    return tallies


def launches_per_step(make_optimizer, n: int, steps: int = 3) -> list[int]:
    return [tally.launches for tally in counted_steps(make_optimizer, n, steps)]


OPTIMIZERS = {
    "SGD momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "SGD momentum wd nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    "Adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "AdamW amsgrad": lambda ps: optim.AdamW(ps, lr=1e-3, amsgrad=True),
    "RMSprop": lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
    "Adagrad": lambda ps: optim.Adagrad(ps),
    "Adadelta": lambda ps: optim.Adadelta(ps),
}
#: Launches per step beyond the gathering of the gradients (one per parameter), for the whole group: SGD and
#: Adam/AdamW are one kernel on cupy (``anynn/backends/cuda/optim.py``); the others run the standard update.
BUDGET = {"SGD momentum": 1, "SGD momentum wd nesterov": 1, "Adam": 1, "AdamW amsgrad": 1, "RMSprop": 17,
          "Adagrad": 8, "Adadelta": 17}


@pytest.mark.parametrize("label", OPTIMIZERS)
def test_launches_per_step_are_a_handful_per_group(label):
    """After the first step (which makes the flat buffers) a step costs the gathering, one assignment per
    parameter, plus a fixed handful: SGD and Adam 20 + 1 for 20 parameters (one update kernel)."""
    make = OPTIMIZERS[label]
    for n in (20, 62):
        first, *steady = launches_per_step(make, n)
        assert len(set(steady)) == 1, steady
        assert steady[0] <= n + BUDGET[label], (label, n, steady)
    assert launches_per_step(make, 62)[1] - launches_per_step(make, 20)[1] == 62 - 20  # only the gathering grows


@pytest.mark.parametrize("label", OPTIMIZERS)
def test_steps_never_sync_or_upload(label):
    """No host reads and no uploads, the first step included: an optimizer step can be captured as a CUDA
    graph (no concatenate of many small arrays, whose pointer tables CuPy uploads)."""
    tallies = counted_steps(OPTIMIZERS[label], 20, capture_safe=True)
    assert all(tally.syncs == 0 and tally.uploads == 0 for tally in tallies)
    assert all(tally.launches > 0 for tally in tallies)


def test_per_parameter_updates_cost_a_handful_per_parameter():
    """``foreach=False`` (and any step that must run per parameter) keeps the per-parameter cost: one launch per
    parameter where the backend has the fused update kernel (cupy's ``sgd_update``/``adam_update``), else 4 per
    parameter for SGD with momentum (5 before dampening=0 skipped its multiplication by 1), 13 for Adam."""
    assert launches_per_step(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, foreach=False), 20)[1:] == [20, 20]
    assert launches_per_step(lambda ps: optim.Adam(ps, foreach=False), 20)[1:] == [20, 20]
    backend = B.backend_for("counting", "cupy")
    kernels = backend.fused
    backend.fused = {name: pair for name, pair in kernels.items() if name not in ("sgd_update", "adam_update")}
    try:
        assert launches_per_step(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, foreach=False), 20)[1:] == [80, 80]
        assert launches_per_step(lambda ps: optim.Adam(ps, foreach=False), 20)[1:] == [260, 260]
    finally:
        backend.fused = kernels


if __name__ == "__main__":  # the table in the report: python tests/optim/test_optimizer_op_counts.py
    for label, make in OPTIMIZERS.items():
        def loop(ps, make=make):
            opt = make(ps)
            for group in opt.param_groups:
                group["foreach"] = False
            return opt

        for name, factory in (("per parameter", loop), ("flat", make)):
            print(f"{label:26s} {name:14s}",
                  "  ".join(f"n={n}: {launches_per_step(factory, n)}" for n in (20, 62)))
