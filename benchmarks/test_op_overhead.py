"""Per-op overhead of anynn's autograd layer on tiny arrays, against the raw library call it wraps.

On a 4x4 array the library's own work is negligible, so the difference between ``anynn_*`` and ``raw_*`` in a
group is what ``ArrayFunction.apply``/``Tensor._make`` (and, for the backward rows, the tape walk) cost per op.
PyTorch's own autograd on the same tiny graph is the reference for "acceptable".

    python -m pytest benchmarks/test_op_overhead.py --benchmark-enable --benchmark-group-by=group
"""
from __future__ import annotations

import operator

import numpy as np
import pytest

import anynn
from anynn import backends as B

NAMES = [name for name in ("numpy", "torch", "array_api_strict") if anynn.why_unavailable(name) is None]
SHAPE = (4, 4)


def _pair(name: str, requires_grad: bool = False):
    backend = B.backend_for(name)
    host = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    a = anynn.tensor(host, backend=name, requires_grad=requires_grad)
    b = anynn.tensor(host + 1.0, backend=name)
    return backend, a, b


@pytest.mark.parametrize("name", NAMES)
def test_raw_add(benchmark, name):
    _, a, b = _pair(name)
    benchmark.group = f"add {name}"
    out = benchmark(operator.add, a.array, b.array)
    assert tuple(out.shape) == SHAPE


@pytest.mark.parametrize("name", NAMES)
def test_anynn_add(benchmark, name):
    _, a, b = _pair(name)
    benchmark.group = f"add {name}"
    out = benchmark(operator.add, a, b)
    assert out.shape == SHAPE and not out.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_anynn_add_recorded(benchmark, name):
    _, a, b = _pair(name, requires_grad=True)
    benchmark.group = f"add {name}"
    out = benchmark(operator.add, a, b)
    assert out.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_raw_mul_scalar(benchmark, name):
    _, a, _ = _pair(name)
    benchmark.group = f"mul by 2.0 {name}"
    out = benchmark(operator.mul, a.array, 2.0)
    assert tuple(out.shape) == SHAPE


@pytest.mark.parametrize("name", NAMES)
def test_anynn_mul_scalar(benchmark, name):
    _, a, _ = _pair(name)
    benchmark.group = f"mul by 2.0 {name}"
    out = benchmark(operator.mul, a, 2.0)
    assert out.dtype is anynn.float32


def _chain(x, b):
    """Five ops and a reduction: the shape of a tiny training step's graph."""
    return ((x * b + 1.0).tanh() @ b - x).relu().sum()


@pytest.mark.parametrize("name", NAMES)
def test_anynn_forward_backward(benchmark, name):
    _, a, b = _pair(name, requires_grad=True)
    benchmark.group = "forward+backward, 6 ops"

    def step():
        a.grad = None
        _chain(a, b).backward()
        return a.grad

    assert benchmark(step).shape == SHAPE


def test_torch_autograd_forward_backward(benchmark):
    torch = pytest.importorskip("torch")
    host = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    a = torch.tensor(host, requires_grad=True)
    b = torch.tensor(host + 1.0)
    benchmark.group = "forward+backward, 6 ops"

    def step():
        a.grad = None
        _chain(a, b).backward()
        return a.grad

    assert tuple(benchmark(step).shape) == SHAPE


@pytest.mark.parametrize("depth", [10_000])
def test_deep_chain_backward(benchmark, depth):
    """The tape walk is iterative: a 10k-op chain backpropagates without touching the recursion limit."""
    x = anynn.tensor([1.0], backend="numpy", requires_grad=True)
    benchmark.group = "deep chain"

    def run():
        x.grad = None
        y = x
        for _ in range(depth):
            y = y * 1.0
        y.sum().backward()
        return x.grad

    assert benchmark.pedantic(run, rounds=3, iterations=1).item() == 1.0
