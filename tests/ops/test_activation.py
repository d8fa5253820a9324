"""Activations against PyTorch in float64 (outputs and gradients), gradcheck, kinks, extreme inputs, the erf
hook against math.erf, and errors, on every backend."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, compare_with_torch, leaf, torch_or_skip



def _data(shape=(3, 4, 5), seed=0):
    """Normal samples with exact zeros and some large values mixed in (kinks and saturation)."""
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    flat = x.reshape(-1)
    flat[::7] = 0.0
    flat[3] = 25.0
    flat[5] = -25.0
    return x


def _torch_pairs():
    tf = torch_or_skip().nn.functional
    return {
        "relu": (F.relu, tf.relu),
        "leaky_relu": (F.leaky_relu, tf.leaky_relu),
        "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda x: tf.leaky_relu(x, 0.2)),
        "elu": (F.elu, tf.elu),
        "elu_0.5": (lambda x: F.elu(x, alpha=0.5), lambda x: tf.elu(x, alpha=0.5)),
        "gelu": (F.gelu, tf.gelu),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: tf.gelu(x, approximate="tanh")),
        "sigmoid": (F.sigmoid, tf.sigmoid),
        "tanh": (F.tanh, tf.tanh),
        "softmax_1": (lambda x: F.softmax(x, dim=1), lambda x: tf.softmax(x, dim=1)),
        "softmax_-1": (lambda x: F.softmax(x, dim=-1), lambda x: tf.softmax(x, dim=-1)),
        "log_softmax_0": (lambda x: F.log_softmax(x, dim=0), lambda x: tf.log_softmax(x, dim=0)),
        "log_softmax_-1": (lambda x: F.log_softmax(x, dim=-1), lambda x: tf.log_softmax(x, dim=-1)),
    }


NAMES = ["relu", "leaky_relu", "leaky_relu_0.2", "elu", "elu_0.5", "gelu", "gelu_tanh", "sigmoid", "tanh",
         "softmax_1", "softmax_-1", "log_softmax_0", "log_softmax_-1"]


@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_torch(backend, name):
    ours, theirs = _torch_pairs()[name]
    compare_with_torch(ours, theirs, [_data()])


@pytest.mark.parametrize("name", NAMES)
def test_activation_gradcheck(backend, name):
    ours, _ = _torch_pairs()[name]
    x = np.random.default_rng(2).standard_normal((2, 3, 2)) + 0.05  # away from the kinks at 0
    assert anynn.gradcheck(ours, [leaf(x)])


@pytest.mark.parametrize("name", NAMES)
def test_activation_keeps_float32(backend, name):
    ours, _ = _torch_pairs()[name]
    x = leaf(_data((2, 3)), dtype=anynn.float32)
    out = ours(x)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == anynn.float32


@pytest.mark.parametrize("shape,n", [((4, 3, 2, 2), 3), ((5, 3), 3), ((2, 3, 4), 1), ((6,), 1)])
def test_prelu_matches_torch(backend, shape, n):
    torch = torch_or_skip()
    weight = np.random.default_rng(3).uniform(0.0, 0.5, n)
    compare_with_torch(F.prelu, torch.nn.functional.prelu, [_data(shape), weight])


def test_prelu_gradcheck(backend):
    rng = np.random.default_rng(4)
    x, w = leaf(rng.standard_normal((2, 3, 2)) + 0.05), leaf(rng.uniform(0, 0.5, 3))
    assert anynn.gradcheck(F.prelu, [x, w])
    assert anynn.gradcheck(F.prelu, [x, leaf(np.array([0.3]))])


def test_prelu_errors(backend):
    with pytest.raises(ValueError, match=r"weight has 4 slopes but the input of shape \(2, 3\) has 3 channel"):
        F.prelu(anynn.zeros(2, 3), anynn.ones(4))
    with pytest.raises(ValueError, match=r"weight must be 1-D"):
        F.prelu(anynn.zeros(2, 3), anynn.ones(1, 3))


def test_gradients_at_the_kinks_follow_torch(backend):
    x = leaf(np.zeros(1))
    for fn, expected in [(F.relu, 0.0), (lambda t: F.leaky_relu(t, 0.2), 0.2), (lambda t: F.elu(t, alpha=0.5), 0.5)]:
        x.grad = None
        fn(x).sum().backward()
        assert_close(x.grad, [expected])


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_extreme_logits_are_finite(backend, fn):
    torch = torch_or_skip()
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4 + 1.0, -1e4 - 5.0]])
    x = leaf(logits)
    out = fn(x, dim=1)
    out.sum().backward()
    assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    tfn = getattr(torch.nn.functional, fn.__name__)
    assert_close(out, tfn(torch.tensor(logits), dim=1).numpy())


def test_softmax_handles_minus_infinity_like_torch(backend):
    torch = torch_or_skip()
    logits = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]])
    for fn in (F.softmax, F.log_softmax):
        expected = getattr(torch, fn.__name__)(torch.tensor(logits), dim=1).numpy()
        assert_close(fn(anynn.tensor(logits), dim=1), expected)


def test_softmax_implicit_dim_warns_like_torch(backend):
    x = anynn.tensor(np.random.default_rng(5).standard_normal((2, 3)))
    with pytest.warns(UserWarning, match=r"Implicit dimension choice for softmax"):
        out = F.softmax(x)
    assert_close(out.sum(axis=1), np.ones(2))
    with pytest.raises(IndexError, match=r"log_softmax: dim 2 is out of range for a tensor with 2 dimension"):
        F.log_softmax(x, dim=2)


def test_gelu_rejects_unknown_approximation(backend):
    with pytest.raises(ValueError, match=r"approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(anynn.zeros(2), approximate="erf")


def _erf_points() -> np.ndarray:
    """A dense grid plus Cody's range boundaries (0.5, 4), tiny values and the saturated tails."""
    edges = [0.0, -0.0, 1e-300, 1e-8, 0.5, np.nextafter(0.5, 1.0), 4.0, np.nextafter(4.0, 5.0), 6.0, 10.0, 27.0]
    edges = np.array(edges)
    return np.concatenate([np.linspace(-6.0, 6.0, 4001), edges, -edges])


def test_erf_hook_matches_math_erf(backend):
    x = _erf_points()
    got = backend.to_numpy(backend.erf(backend.from_numpy(x)))
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=3e-16)


def test_erf_hook_float32(backend):
    x = np.linspace(-5, 5, 101, dtype=np.float32)
    got = backend.erf(backend.from_numpy(x))
    assert backend.dtype_of(got.dtype) == anynn.float32
    np.testing.assert_allclose(backend.to_numpy(got), [math.erf(v) for v in x.astype(np.float64)], atol=1e-6)
