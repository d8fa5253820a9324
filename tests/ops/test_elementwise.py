"""exp, log, sqrt, trigonometry, rounding, tanh, sigmoid, relu, abs, clip, maximum/minimum, where, add/sub/mul/div
with PyTorch's keywords: PyTorch as the oracle (float64,
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
    "sin": (lambda x: x.sin(), lambda x: x.sin(), [rng.standard_normal((2, 3)) * 3]),
    "cos_function": (anynn.cos, lambda x: _torch().cos(x), [rng.standard_normal((2, 3)) * 3]),
    "tan": (lambda x: anynn.tan(x), lambda x: x.tan(), [rng.uniform(-1.2, 1.2, (2, 3))]),
    "asin": (lambda x: x.asin(), lambda x: x.asin(), [rng.uniform(-0.9, 0.9, (2, 3))]),
    "acos": (anynn.acos, lambda x: x.acos(), [rng.uniform(-0.9, 0.9, (2, 3))]),
    "atan": (lambda x: x.atan(), lambda x: x.atan(), [rng.standard_normal((2, 3)) * 3]),
    "sinh_cosh": (lambda x: x.sinh() * anynn.cosh(x), lambda x: x.sinh() * x.cosh(), [rng.standard_normal((2, 3))]),
    "atan2_broadcast": (anynn.atan2, lambda a, b: _torch().atan2(a, b),
                        [rng.standard_normal((2, 3)), rng.standard_normal(3)]),
    "atan2_method_scalar": (lambda a: a.atan2(-0.5), lambda a: a.atan2(_torch().tensor(-0.5, dtype=a.dtype)),
                            [rng.standard_normal((2, 3))]),
    "log1p_expm1": (lambda x: x.log1p() + anynn.expm1(x), lambda x: x.log1p() + x.expm1(), [_positive(2, 3) * 1e-3]),
    "log2_log10": (lambda x: anynn.log2(x) * x.log10(), lambda x: x.log2() * x.log10(), [_positive(2, 3)]),
    "rsqrt_square_reciprocal": (lambda x: x.rsqrt() + anynn.square(x) + x.reciprocal(),
                                lambda x: x.rsqrt() + x.square() + x.reciprocal(), [_positive(2, 3)]),
    "floor_ceil_round_trunc_sign": (
        lambda x: x.floor() + anynn.ceil(x) * 2 + x.round() * 3 + anynn.trunc(x) * 4 + x.sign() * 5 + x,
        lambda x: x.floor() + x.ceil() * 2 + x.round() * 3 + x.trunc() * 4 + x.sign() * 5 + x,
        [_away_from([-2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5], 3, 4, margin=0.05)]),
    "round_decimals": (lambda x: anynn.round(x, decimals=1) + x, lambda x: _torch().round(x, decimals=1) + x,
                       [np.array([0.123, -0.871, 2.349])]),
    "add_alpha": (lambda a, b: a.add(b, alpha=2.5), lambda a, b: a.add(b, alpha=2.5),
                  [rng.standard_normal((2, 3)), rng.standard_normal(3)]),
    "sub_function_alpha": (lambda a, b: anynn.sub(a, b, alpha=-0.5), lambda a, b: _torch().sub(a, b, alpha=-0.5),
                           [rng.standard_normal((2, 3)), rng.standard_normal((2, 1))]),
    "mul_div_pow": (lambda a, b: a.mul(b).div(anynn.pow(b, 2) + 1.0).pow(2),
                    lambda a, b: a.mul(b).div(_torch().pow(b, 2) + 1.0).pow(2),
                    [rng.standard_normal((2, 3)), rng.standard_normal(3)]),
    "pow_number_base": (lambda x: anynn.pow(2.0, x), lambda x: _torch().pow(2.0, x), [rng.standard_normal(4)]),
    "clamp_tensor_bounds": (lambda x, lo, hi: anynn.clamp(x, min=lo, max=hi), lambda x, lo, hi: x.clamp(lo, hi),
                            [_away_from([1.0], 2, 3) * 2, rng.standard_normal(3) - 2.0,
                             rng.standard_normal((2, 1)) + 2.5]),
    "clamp_tensor_min": (lambda x, lo: x.clamp(min=lo), lambda x, lo: x.clamp(min=lo),
                         [rng.standard_normal((2, 3)), rng.standard_normal(3)]),
    "where_method": (lambda a, b: a.where(anynn.tensor(MASK), b), lambda a, b: a.where(_torch().tensor(MASK), b),
                     [rng.standard_normal((2, 3)), rng.standard_normal(3)]),
    "remainder_floor_divide": (lambda a, b: a % b + anynn.remainder(a, 1.5) + (a // b) * a,
                               lambda a, b: a % b + _torch().remainder(a, 1.5) + a.div(b, rounding_mode="floor") * a,
                               [rng.uniform(-4, 4, (2, 3)), rng.uniform(0.7, 2.0, 3) * np.array([1, -1, 1])]),
    "fmod": (lambda a, b: anynn.fmod(a, b), lambda a, b: _torch().fmod(a, b),
             [rng.uniform(-4, 4, (2, 3)), rng.uniform(0.7, 2.0, 3) * np.array([1, -1, 1])]),
    "tril_triu": (lambda x: x.tril() + anynn.triu(x, 1) * 2 + x.tril(-1) * 3,
                  lambda x: x.tril() + _torch().triu(x, 1) * 2 + x.tril(-1) * 3, [rng.standard_normal((2, 3, 4))]),
    "erf": (lambda x: x.erf(), lambda x: x.erf(), [rng.standard_normal((2, 3)) * 1.5]),
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
    torch_or_skip()
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


def test_is_nan_inf_finite_isclose_allclose_like_torch(backend):
    torch = torch_or_skip()
    values = np.array([1.0, np.nan, np.inf, -np.inf, 0.0])
    x, t = anynn.tensor(values, dtype=anynn.float64), torch.tensor(values)
    for name in ("isnan", "isinf", "isfinite"):
        assert getattr(x, name)().tolist() == getattr(t, name)().tolist()
        assert getattr(anynn, name)(x).dtype is anynn.bool_
    other = np.array([1.0 + 1e-9, np.nan, np.inf, np.inf, 1e-7])
    y, u = anynn.tensor(other, dtype=anynn.float64), torch.tensor(other)
    assert anynn.isclose(x, y).tolist() == torch.isclose(t, u).tolist()
    assert x.isclose(y, equal_nan=True).tolist() == t.isclose(u, equal_nan=True).tolist()
    assert anynn.allclose(x[:1], y[:1]) and not anynn.allclose(x, y)
    assert x[2:].allclose(y[2:], atol=0.0) is False and anynn.allclose(x[:2], y[:2], equal_nan=True)
    assert anynn.equal(x[:1], x[:1]) and not anynn.equal(x[:1], y[:1])


def test_comparisons_by_name(backend):
    torch = torch_or_skip()
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        assert getattr(anynn, name)(anynn.tensor(a), anynn.tensor(b)).tolist() == \
            getattr(torch, name)(torch.tensor(a), torch.tensor(b)).tolist()
        assert getattr(anynn.tensor(a), name)(2.0).tolist() == getattr(torch.tensor(a), name)(2.0).tolist()


def test_integer_division_modes_like_torch(backend):
    torch = torch_or_skip()
    a, b = np.array([7, -7, 5]), np.array([2, 2, -3])
    for mode in ("floor", "trunc"):
        ours = anynn.div(anynn.tensor(a), anynn.tensor(b), rounding_mode=mode)
        theirs = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
        assert ours.dtype is anynn.int64 and ours.tolist() == theirs.tolist()
    assert anynn.tensor([7.0, -7.0]).div(2.0, rounding_mode="floor").tolist() == [3.0, -4.0]


def test_logical_and_bitwise_operators_like_torch(backend):
    torch = torch_or_skip()
    a, b = np.array([True, False, True, False]), np.array([True, True, False, False])
    i, j = np.array([5, -3, 12, 0]), np.array([3, 6, -7, 1])
    for fn in (lambda x, y: x & y, lambda x, y: x | y, lambda x, y: x ^ y, lambda x, y: ~x, lambda x, y: x & True,
               lambda x, y: x.logical_and(y), lambda x, y: x.logical_xor(y), lambda x, y: x.logical_not()):
        assert fn(anynn.tensor(a), anynn.tensor(b)).tolist() == fn(torch.tensor(a), torch.tensor(b)).tolist()
    for fn in (lambda x, y: x & y, lambda x, y: x | 6, lambda x, y: ~x, lambda x, y: x % y, lambda x, y: x // y,
               lambda x, y: -7 // x.abs().clamp(min=1), lambda x, y: x.fmod(y), lambda x, y: x.logical_or(y)):
        ours, theirs = fn(anynn.tensor(i), anynn.tensor(j)), fn(torch.tensor(i), torch.tensor(j))
        assert ours.tolist() == theirs.tolist() and ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    x = anynn.tensor([0.5, -1.0, 2.0])
    assert ((x > 0) & (x < 1)).tolist() == [True, False, False] and (~(x > 0)).tolist() == [False, True, False]
    with pytest.raises(TypeError, match="bitwise"):
        x & x


def test_unique_like_torch(backend):
    torch = torch_or_skip()
    values = np.array([[3, 1, 3], [2, 1, 3]])
    ours = anynn.unique(anynn.tensor(values), return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(values), return_inverse=True, return_counts=True)
    assert [t.tolist() for t in ours] == [t.tolist() for t in theirs]
    assert anynn.tensor([2.5, -1.0, 2.5]).unique().tolist() == [-1.0, 2.5]
