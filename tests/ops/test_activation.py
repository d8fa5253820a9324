"""Activations against PyTorch in float64 (outputs and gradients), gradcheck, kinks, extreme inputs, the erf
hook against math.erf, and errors, on every backend."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn import nn
from helpers import OpCase, assert_close, error_case_suite, leaf, op_case_suite


def _data(shape=(3, 4, 5), seed=0):
    """Normal samples with exact zeros and some large values mixed in (kinks and saturation)."""
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    flat = x.reshape(-1)
    flat[::7] = 0.0
    flat[3] = 25.0
    flat[5] = -25.0
    return x


X = _data()
SMOOTH = np.random.default_rng(2).standard_normal((2, 3, 2)) + 0.05  # gradcheck away from the kinks at 0


def _activation(fn, torch_name, **kwargs) -> OpCase:
    return OpCase(fn, f"nn.functional.{torch_name}", [X], kwargs=kwargs, gradcheck_inputs=[SMOOTH])


def _prelu(shape, n) -> OpCase:
    rng = np.random.default_rng(3)
    weight = rng.uniform(0.0, 0.5, n)
    return OpCase(F.prelu, "nn.functional.prelu", [_data(shape), weight],
                  gradcheck_inputs=[rng.standard_normal(shape) + 0.05, weight])


EXTREME_LOGITS = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4 + 1.0, -1e4 - 5.0]])
MINUS_INFINITY = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]])

CASES = {
    "relu": _activation(F.relu, "relu"),
    "leaky_relu": _activation(F.leaky_relu, "leaky_relu"),
    "leaky_relu_0.2": _activation(F.leaky_relu, "leaky_relu", negative_slope=0.2),
    "elu": _activation(F.elu, "elu"),
    "elu_0.5": _activation(F.elu, "elu", alpha=0.5),
    "gelu": _activation(F.gelu, "gelu"),
    "gelu_tanh": _activation(F.gelu, "gelu", approximate="tanh"),
    "sigmoid": _activation(F.sigmoid, "sigmoid"),
    "tanh": _activation(F.tanh, "tanh"),
    "softmax_1": _activation(F.softmax, "softmax", dim=1),
    "softmax_-1": _activation(F.softmax, "softmax", dim=-1),
    "log_softmax_0": _activation(F.log_softmax, "log_softmax", dim=0),
    "log_softmax_-1": _activation(F.log_softmax, "log_softmax", dim=-1),
    "prelu_(4, 3, 2, 2)_3_slopes": _prelu((4, 3, 2, 2), 3),
    "prelu_(5, 3)_3_slopes": _prelu((5, 3), 3),
    "prelu_(2, 3, 4)_1_slope": _prelu((2, 3, 4), 1),
    "prelu_(6,)_1_slope": _prelu((6,), 1),
    # extreme logits: finite outputs and gradients (PyTorch's are finite, and ours must equal them)
    "softmax_extreme_logits": OpCase(F.softmax, "nn.functional.softmax", [EXTREME_LOGITS], kwargs={"dim": 1}),
    "log_softmax_extreme_logits": OpCase(F.log_softmax, "nn.functional.log_softmax", [EXTREME_LOGITS],
                                         kwargs={"dim": 1}),
    "softmax_minus_infinity": OpCase(F.softmax, "softmax", [MINUS_INFINITY], kwargs={"dim": 1},
                                     forward_only=True),
    "log_softmax_minus_infinity": OpCase(F.log_softmax, "log_softmax", [MINUS_INFINITY], kwargs={"dim": 1},
                                         forward_only=True),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


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


# bad layer arguments: anynn's own error, naming the layer, what it expected and what it got (issue 16)
LAYER_ARGUMENT_ERRORS = {
    "ReLU numpy input": (lambda: nn.ReLU()(np.zeros(3)), TypeError,
                         r"^ReLU\(\) got input of type numpy\.ndarray: expected an anynn Tensor"),
    "GELU numpy input": (lambda: nn.GELU()(np.zeros(3)), TypeError, r"^GELU\(approximate='none'\) got input"),
    "PReLU init=None": (lambda: nn.PReLU(init=None), TypeError, r"^PReLU got init=None of type NoneType"),
    "ELU alpha='3'": (lambda: nn.ELU(alpha="3"), TypeError, r"^ELU got alpha='3' of type str: expected a float$"),
    "Softmax list input": (lambda: nn.Softmax(dim=0)([1.0, 2.0]), TypeError,
                           r"^Softmax\(dim=0\) got input of type builtins\.list"),
    "LogSoftmax dim=1 on a 0-d input": (lambda: nn.LogSoftmax(dim=1)(anynn.tensor(1.0)), IndexError,
                                        r"^LogSoftmax\(dim=1\): dim 1 is out of range for a tensor with 0 "
                                        r"dimension\(s\)"),
}

test_bad_layer_argument_is_named = error_case_suite(LAYER_ARGUMENT_ERRORS)


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
