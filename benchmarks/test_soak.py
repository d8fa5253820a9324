"""Soak tests: thousands of training steps on the numpy backend must not grow memory or keep old graphs alive.

Run: ``python -m pytest benchmarks/test_soak.py -m slow -s`` (``-s`` prints the measurements); without
``-m slow`` the tests are skipped. About 25 s on two cores.

What is checked, for a small MLP (Adam) and a tiny conv net (BatchNorm, Dropout, max-pool; SGD with momentum):

- memory: NumPy reports its allocations to ``tracemalloc``, so the traced size at the end of a step counts every
  live array (parameters, gradients, optimizer state, the last graph) and Python object. The size after step 500
  and after the last step must agree within ``MARGIN``, and the second half of the run must add at most
  ``LATE_MARGIN`` (a leak of a few bytes per step shows there). The first couple of thousand steps do add about
  80 KiB that is not a leak: CPython keeps freed small tuples on a free list (up to 2000 per size) instead of
  returning them, and those blocks stay "traced"; the curve is flat once the list is full.
- no leaked graphs: the cyclic garbage collector is switched off for the whole run, so memory is freed by
  reference counting alone (as a GPU needs: device buffers go back when the last reference drops, not at some
  later collection). The previous step's loss tensor, and the output of its first layer, must be dead (their
  weak references cleared) as soon as the next step has run.
"""
from __future__ import annotations

import gc
import time
import tracemalloc
import weakref

import numpy as np
import pytest

import anynn
from anynn import nn
from anynn.data import DataLoader, TensorDataset
from anynn.nn import functional as F

pytestmark = pytest.mark.slow

WARMUP = 500
MARGIN = 128 * 1024  # bytes; one leaked graph per step would add megabytes (the MLP's first activation is 16 KiB)
LATE_MARGIN = 8 * 1024  # bytes over the second half of the run (thousands of steps): under 4 bytes per step
CHECK_EVERY = 500


def _data(shape: tuple[int, ...], n: int = 1024, classes: int = 10, seed: int = 0) -> TensorDataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n,) + shape) + y.reshape((n,) + (1,) * len(shape)) * 0.1
    return TensorDataset(anynn.tensor(x.astype(np.float32)), anynn.tensor(y.astype(np.int64)))


def _batches(loader: DataLoader):
    while True:
        yield from loader


def _soak(model: nn.Module, optimizer, dataset: TensorDataset, steps: int, label: str) -> dict[str, float]:
    """Train for ``steps`` steps with gc off and tracemalloc on; return (and print) the measurements."""
    loader = DataLoader(dataset, batch_size=32, shuffle=True, seed=0)
    batches = _batches(loader)
    first_layer = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    seen: dict[str, object] = {}
    first_layer.register_forward_hook(lambda module, inputs, out: seen.__setitem__("activation", out))
    previous: tuple[weakref.ref, weakref.ref] | None = None
    marks: dict[int, int] = {}
    gc.collect()
    gc.disable()
    tracemalloc.start()
    began = time.perf_counter()
    try:
        for step in range(1, steps + 1):
            x, y = next(batches)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 100 == 0:  # an evaluation pass without a graph in between
                model.eval()
                with anynn.no_grad():
                    model(x)
                model.train()
            if previous is not None:
                assert previous[0]() is None, f"{label}: the loss of step {step - 1} is still alive after step {step}"
                assert previous[1]() is None, f"{label}: an activation of step {step - 1} is still alive"
            previous = weakref.ref(loss), weakref.ref(seen["activation"])
            seen.clear()
            if step % CHECK_EVERY == 0:
                marks[step] = tracemalloc.get_traced_memory()[0]
        final, peak = tracemalloc.get_traced_memory()
        seconds = time.perf_counter() - began
    finally:
        tracemalloc.stop()
        gc.enable()
    after_warmup, halfway = marks[WARMUP], marks[steps // 2 // CHECK_EVERY * CHECK_EVERY]
    result = {"after_warmup": after_warmup, "final": final, "growth": final - after_warmup,
              "late_growth": final - halfway, "peak": peak, "ms_per_step": 1000 * seconds / steps,
              "loss": float(loss)}
    curve = ", ".join(f"{(v - after_warmup) / 1024:+.1f}" for v in marks.values())
    print(f"\n{label}: {steps} steps; traced memory after step {WARMUP} {after_warmup / 1024:.1f} KiB, after step "
          f"{steps} {final / 1024:.1f} KiB (growth {result['growth']:+d} B; second half {result['late_growth']:+d} B),"
          f" peak {peak / 1024:.1f} KiB; {result['ms_per_step']:.2f} ms/step under tracemalloc; final loss "
          f"{result['loss']:.4f}\n  KiB vs step {WARMUP}, every {CHECK_EVERY} steps: {curve}")
    return result


def _check(result: dict[str, float]) -> None:
    assert abs(result["growth"]) <= MARGIN, result
    assert abs(result["late_growth"]) <= LATE_MARGIN, result
    assert np.isfinite(result["loss"])


@pytest.fixture(autouse=True)
def _only_when_asked(request):
    """A soak takes tens of seconds: it runs when selected with ``-m slow``, not in every benchmark run."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("soak test: run with -m slow")


@pytest.fixture
def numpy_backend():
    with anynn.use_backend("numpy") as backend:
        anynn.manual_seed(0)
        yield backend


def test_mlp_soak_keeps_memory_flat(numpy_backend):
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    _check(_soak(model, anynn.optim.Adam(model.parameters(), lr=1e-3), _data((64,)), 6000, "MLP 64-128-64-10"))


def test_conv_net_soak_keeps_memory_flat(numpy_backend):
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * 4 * 4, 10))
    optimizer = anynn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    _check(_soak(model, optimizer, _data((1, 12, 12)), 4000, "conv net (1x12x12, BatchNorm, Dropout)"))
