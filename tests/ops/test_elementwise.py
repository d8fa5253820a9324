"""exp, log, sqrt, tanh, sigmoid, relu, abs, clip, maximum/minimum, where: PyTorch as the oracle (float64,
forward and every input gradient), gradcheck on every backend, float32 kept, same answers on every backend."""
from __future__ import annotations


import numpy as np
import pytest

import anynn
from helpers import op_case_suite, assert_close, leaf, torch_leaf, torch_or_skip

rng = np.random.default_rng(1)


def _away_from(points, *shape, margin=0.2, low=-3.0, high=3.0):
    """Samples in [low, high] at least ``margin`` from every kink in ``points`` (finite differences need it)."""
    x = rng.uniform(low, high, shape)
    for p in points:
        x = np.where(np.abs(x - p) < margin, p + np.sign(x - p + 1e-12) * margin, x)
    return x


def _positive(*shape):
    return rng.uniform(0.3, 3.0, shape)


def _torch():
    return torch_or_skip()


MASK = np.array([[True, False, True], [False, False, True]])

# name: (anynn function, torch function, input arrays); every input is differentiated
CASES = {
    "exp": (lambda x: x.exp(), lambda x: x.exp(), [rng.standard_normal((2, 3))]),
    "log": (lambda x: x.log(), lambda x: x.log(), [_positive(2, 3)]),
    "sqrt": (lambda x: x.sqrt(), lambda x: x.sqrt(), [_positive(2, 3)]),
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh(), [rng.standard_normal((2, 3))]),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid(), [rng.standard_normal((2, 3)) * 4]),
    "sigmoid_saturated": (lambda x: x.sigmoid(), lambda x: x.sigmoid(), [np.array([-40.0, -12.0, 12.0, 40.0])]),
    "relu": (lambda x: x.relu(), lambda x: x.relu(), [_away_from([0.0], 2, 3)]),
    "abs": (lambda x: x.abs(), lambda x: x.abs(), [_away_from([0.0], 2, 3)]),
    "clip_both": (lambda x: x.clip(-1.0, 1.5), lambda x: x.clamp(-1.0, 1.5), [_away_from([-1.0, 1.5], 2, 4)]),
    "clip_min": (lambda x: x.clip(min=0.5), lambda x: x.clamp(min=0.5), [_away_from([0.5], 2, 3)]),
    "clip_max": (lambda x: anynn.clip(x, max=-0.5), lambda x: x.clamp(max=-0.5), [_away_from([-0.5], 2, 3)]),
    "maximum_broadcast": (anynn.maximum, lambda a, b: _torch().maximum(a, b),
                          [rng.standard_normal((2, 3)), rng.standard_normal(3) + 0.05]),
    "minimum_broadcast": (anynn.minimum, lambda a, b: _torch().minimum(a, b),
                          [rng.standard_normal((2, 1)), rng.standard_normal((2, 3))]),
    "maximum_scalar": (lambda x: anynn.maximum(x, 0.25), lambda x: x.clamp(min=0.25), [_away_from([0.25], 2, 3)]),
    "minimum_scalar": (lambda x: anynn.minimum(0.25, x), lambda x: x.clamp(max=0.25), [_away_from([0.25], 2, 3)]),
    "where": (lambda a, b: anynn.where(anynn.tensor(MASK), a, b),
              lambda a, b: _torch().where(_torch().tensor(MASK), a, b),
              [rng.standard_normal((2, 3)), rng.standard_normal(3)]),
    "where_scalar": (lambda a: anynn.where(anynn.tensor(MASK), a, 0.5),
                     lambda a: _torch().where(_torch().tensor(MASK), a, 0.5),
                     [rng.standard_normal((2, 3))]),
    "chain": (lambda x: (x.tanh() * x.sigmoid()).exp().sqrt().log(),
              lambda x: (x.tanh() * x.sigmoid()).exp().sqrt().log(), [rng.standard_normal((3,))]),
}


test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_ties_split_the_gradient_like_torch(backend, op):
    torch = torch_or_skip()
    a_np, b_np = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 3.0, 5.0])
    a, b = leaf(a_np), leaf(b_np)
    ta, tb = torch_leaf(a_np), torch_leaf(b_np)
    getattr(anynn, op)(a, b).sum().backward()
    getattr(torch, op)(ta, tb).sum().backward()
    assert_close(a.grad, ta.grad.numpy())
    assert_close(b.grad, tb.grad.numpy())


def test_kinks_follow_torch(backend):
    """relu'(0) = 0, abs'(0) = 0, clamp passes the gradient at its bounds, as in PyTorch."""
    torch = torch_or_skip()
    values = np.array([-1.0, 0.0, 1.0, 2.0])
    for fn, torch_fn in ((lambda x: x.relu(), lambda x: x.relu()), (lambda x: x.abs(), lambda x: x.abs()),
                         (lambda x: x.clip(0.0, 1.0), lambda x: x.clamp(0.0, 1.0))):
        x, t = leaf(values), torch_leaf(values)
        fn(x).sum().backward()
        torch_fn(t).sum().backward()
        assert_close(x.grad, t.grad.numpy())


def test_sigmoid_does_not_overflow(backend):
    x = anynn.tensor([-1000.0, 1000.0], dtype=anynn.float32)
    with np.errstate(over="raise"):
        assert x.sigmoid().tolist() == [0.0, 1.0]


def test_cast_gradient_comes_back_in_the_input_dtype(backend):
    x = leaf(np.array([1.0, 2.0]))
    y = x.to(anynn.float32) * 2.0
    assert y.dtype is anynn.float32
    y.sum().backward()
    assert x.grad.dtype is anynn.float64
    assert_close(x.grad, [2.0, 2.0])
