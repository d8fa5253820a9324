"""Array operations per ``optimizer.step()``: a handful per parameter group, not a handful per parameter.

On a GPU every array operation is a kernel launch with ~20 us of host time, so the count is the cost. A small
counting backend (NumPy arrays whose operators, ``[...] =`` assignments and namespace functions each add one
to a counter) measures a step exactly; views (slicing, ``reshape``) launch nothing and are not counted.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import anynn
from anynn import optim
from anynn.autograd.tensor import Tensor
from anynn.backends.numpy import NumpyBackend

VIEWS = {"reshape", "permute_dims", "expand_dims", "squeeze", "broadcast_to", "matrix_transpose"}


class Counter:
    """How many array operations ran, and a switch that stops nested ones from counting twice."""

    ops = 0
    depth = 0

    @classmethod
    @contextlib.contextmanager
    def one_operation(cls):
        if cls.depth == 0:
            cls.ops += 1
        cls.depth += 1
        try:
            yield
        finally:
            cls.depth -= 1


def _counted(value):
    return value.view(CountedArray) if isinstance(value, np.ndarray) and not isinstance(value, CountedArray) else value


def _plain(value):
    return value.view(np.ndarray) if isinstance(value, CountedArray) else value


class CountedArray(np.ndarray):
    """A NumPy array whose ufuncs (every operator) and item assignments count as one operation each."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        with Counter.one_operation():
            if "out" in kwargs:
                kwargs["out"] = tuple(_plain(o) for o in kwargs["out"])
            result = getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)
        return tuple(_counted(r) for r in result) if isinstance(result, tuple) else _counted(result)

    def __setitem__(self, key, value):
        with Counter.one_operation():
            _plain(self)[key] = _plain(value)


class CountingNamespace:
    """The numpy backend's namespace with each function call counted once (views excepted)."""

    def __init__(self, xp):
        self._xp = xp

    def __getattr__(self, name):
        attr = getattr(self._xp, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def call(*args, **kwargs):
            if name in VIEWS:
                return _counted(attr(*args, **kwargs))
            with Counter.one_operation():
                return _counted(attr(*(_plain(a) for a in args), **kwargs))

        return call


class CountingBackend(NumpyBackend):
    """NumPy on the CPU with every array operation counted (not in the registry: tensors are made directly)."""

    def _load(self, device):
        xp, dev, name = super()._load(device)
        return CountingNamespace(xp), dev, name


_BACKEND = None


def counting_backend() -> CountingBackend:
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = CountingBackend(None)
    return _BACKEND


def shapes(n: int) -> list[tuple[int, ...]]:
    """``n`` parameter shapes like a conv net's: weights and biases alternating."""
    return [(8, 4, 3, 3) if i % 2 == 0 else (8,) for i in range(n)]


def ops_per_step(make_optimizer, n: int, steps: int = 3) -> list[int]:
    """Array operations of each of ``steps`` steps of an optimizer over ``n`` parameters, every one with a
    gradient."""
    backend = counting_backend()
    rng = np.random.default_rng(0)
    params = []
    for shape in shapes(n):
        p = Tensor._make(_counted(rng.standard_normal(shape)), backend, requires_grad=True)
        params.append(p)
    opt = make_optimizer(params)
    counts = []
    for _ in range(steps):
        for p in params:
            p.grad = Tensor._make(_counted(rng.standard_normal(p.shape)), backend)
        before = Counter.ops
        opt.step()
        counts.append(Counter.ops - before)
    return counts


OPTIMIZERS = {
    "SGD momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "SGD momentum wd nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    "Adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "AdamW amsgrad": lambda ps: optim.AdamW(ps, lr=1e-3, amsgrad=True),
    "RMSprop": lambda ps: optim.RMSprop(ps, momentum=0.9, centered=True),
    "Adagrad": lambda ps: optim.Adagrad(ps),
    "Adadelta": lambda ps: optim.Adadelta(ps),
}

#: Operations per step beyond the gathering of the gradients (one per parameter), for the whole group.
BUDGET = {"SGD momentum": 6, "SGD momentum wd nesterov": 9, "Adam": 14, "AdamW amsgrad": 17, "RMSprop": 17,
          "Adagrad": 8, "Adadelta": 17}


def test_the_counter_counts_what_launches():
    backend = counting_backend()
    a = _counted(np.ones(4))
    before = Counter.ops
    b = backend.xp.sqrt(a) * 2.0 + 1.0  # three operations (sqrt counted once, not again as a ufunc)
    b -= a  # one
    b[...] = a  # one
    view = backend.xp.reshape(b[1:3], (2, 1))  # views launch nothing
    assert Counter.ops - before == 5 and isinstance(view, CountedArray)


@pytest.mark.parametrize("label", OPTIMIZERS)
def test_ops_per_step_are_a_handful_per_group(label):
    """After the first step (which makes the flat buffers) a step costs the gathering, one assignment per
    parameter, plus a fixed handful: SGD with momentum <= 20 + 6 for 20 parameters, Adam <= 20 + 14."""
    make = OPTIMIZERS[label]
    for n in (20, 62):
        first, *steady = ops_per_step(make, n)
        assert len(set(steady)) == 1, steady
        assert steady[0] <= n + BUDGET[label], (label, n, steady)
    assert ops_per_step(make, 62)[1] - ops_per_step(make, 20)[1] == 62 - 20  # only the gathering grows


def test_per_parameter_updates_cost_a_handful_per_parameter():
    """``foreach=False`` (and any step that must run per parameter) keeps the per-parameter cost: 4 operations
    per parameter for SGD with momentum (5 before dampening=0 skipped its multiplication by 1), 13 for Adam."""
    assert ops_per_step(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, foreach=False), 20)[1:] == [80, 80]
    assert ops_per_step(lambda ps: optim.Adam(ps, foreach=False), 20)[1:] == [260, 260]


if __name__ == "__main__":  # the table in the report: python tests/optim/test_optimizer_op_counts.py
    for label, make in OPTIMIZERS.items():
        def loop(ps, make=make):
            opt = make(ps)
            for group in opt.param_groups:
                group["foreach"] = False
            return opt

        for name, factory in (("per parameter", loop), ("flat", make)):
            print(f"{label:26s} {name:14s}", "  ".join(f"n={n}: {ops_per_step(factory, n)}" for n in (20, 62)))
