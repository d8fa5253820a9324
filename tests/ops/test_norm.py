"""F.batch_norm and F.layer_norm against PyTorch in float64 (outputs, every gradient, running statistics),
gradcheck, dtypes and error messages, on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn import nn
from helpers import (Fixed, OpCase, assert_close, compare_with_torch, error_case_suite, leaf, op_case_suite, raises,
                     torch_or_skip)


SHAPES = [(6, 3), (4, 3, 5), (2, 3, 4, 5)]
BATCH_NORM = "nn.functional.batch_norm"
LAYER_NORM = "nn.functional.layer_norm"


def _batch_norm_training(shape, affine) -> OpCase:
    rng = np.random.default_rng(0)
    c = shape[1]
    x = rng.standard_normal(shape) * 3 + 1
    w, b = (rng.standard_normal(c), rng.standard_normal(c)) if affine else (None, None)
    return OpCase(F.batch_norm, BATCH_NORM, [x, None, None, w, b], kwargs=dict(training=True, eps=1e-3),
                  gradcheck=False)


def _batch_norm_eval(shape) -> OpCase:
    """Eval mode normalizes with the running statistics (constants here)."""
    rng = np.random.default_rng(1)
    c = shape[1]
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)
    return OpCase(F.batch_norm, BATCH_NORM, [x, Fixed(mean), Fixed(var), w, b], gradcheck=False)


def _layer_norm(shape, normalized, affine) -> OpCase:
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape) * 2 - 1
    w, b = (rng.standard_normal(normalized), rng.standard_normal(normalized)) if affine else (None, None)
    return OpCase(F.layer_norm, LAYER_NORM, [x, normalized, w, b], kwargs=dict(eps=1e-4), gradcheck=False)


def _gradchecked_batch_norm(shape, training, seed) -> OpCase:
    """Small enough to gradcheck x, weight and bias; the running statistics are used in eval and updated (on a
    copy) in training."""
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(2), rng.standard_normal(2)
    mean, var = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    return OpCase(F.batch_norm, BATCH_NORM, [x, Fixed(mean), Fixed(var), w, b], kwargs=dict(training=training))


_rng = np.random.default_rng(5)
_X, _W, _B = _rng.standard_normal((3, 2, 2)), _rng.standard_normal(2), _rng.standard_normal(2)
_MEAN, _VAR = _rng.standard_normal(2), _rng.uniform(0.5, 2, 2)
_rng = np.random.default_rng(8)
_LN = [_rng.standard_normal((2, 2, 3)), (2, 3), _rng.standard_normal((2, 3)), _rng.standard_normal((2, 3))]

CASES = {
    **{f"batch_norm training {shape}{' affine' if affine else ''}": _batch_norm_training(shape, affine)
       for shape in SHAPES for affine in (True, False)},
    **{f"batch_norm eval {shape}": _batch_norm_eval(shape) for shape in SHAPES},
    **{f"layer_norm {shape} over {normalized}{' affine' if affine else ''}": _layer_norm(shape, normalized, affine)
       for shape, normalized in [((4, 5), (5,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((3, 4), (3, 4))]
       for affine in (True, False)},
    # gradchecked, with the three other checks
    "batch_norm training (3, 2, 2) batch statistics": OpCase(F.batch_norm, BATCH_NORM, [_X, None, None, _W, _B],
                                                             kwargs=dict(training=True)),
    "batch_norm eval (3, 2, 2)": OpCase(F.batch_norm, BATCH_NORM, [_X, Fixed(_MEAN), Fixed(_VAR), _W, _B]),
    **{f"batch_norm {'training' if training else 'eval'} {shape}": _gradchecked_batch_norm(shape, training, 9)
       for shape in [(2, 2, 2, 2), (2, 2, 1, 2, 2)] for training in (True, False)},
    "layer_norm (2, 2, 3) over (2, 3) affine": OpCase(F.layer_norm, LAYER_NORM, _LN),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_batch_norm_running_stats_after_several_steps(backend, momentum):
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    mean, var = anynn.zeros(3, dtype=anynn.float64), anynn.ones(3, dtype=anynn.float64)
    tmean, tvar = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for _ in range(3):
        x = rng.standard_normal((4, 3, 2, 2)) * 2 + 5
        F.batch_norm(anynn.tensor(x), mean, var, training=True, momentum=momentum)
        torch.nn.functional.batch_norm(torch.tensor(x), tmean, tvar, training=True, momentum=momentum)
    assert_close(mean, tmean.numpy())
    assert_close(var, tvar.numpy())  # unbiased batch variance, as PyTorch


def test_batch_norm_momentum_as_tensor(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2))
    mean, var = anynn.zeros(2, dtype=anynn.float64), anynn.ones(2, dtype=anynn.float64)
    F.batch_norm(anynn.tensor(x), mean, var, training=True, momentum=anynn.tensor(0.25, dtype=anynn.float64))
    assert_close(mean, 0.25 * x.mean(axis=0))
    assert_close(var, 0.75 + 0.25 * x.var(axis=0, ddof=1))


def test_batch_norm_running_stats_keep_their_dtype(backend):
    x = anynn.tensor(np.random.default_rng(4).standard_normal((4, 2)), dtype=anynn.float32)
    mean, var = anynn.zeros(2, dtype=anynn.float32), anynn.ones(2, dtype=anynn.float32)
    out = F.batch_norm(x, mean, var, training=True)
    assert out.dtype == mean.dtype == var.dtype == anynn.float32


def test_batch_norm_errors(backend):
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training"):
        F.batch_norm(anynn.zeros(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"training=False needs running_mean and running_var"):
        F.batch_norm(anynn.zeros(2, 3), None, None)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\) but the input has 3 channels"):
        F.batch_norm(anynn.zeros(2, 3), None, None, anynn.ones(4), training=True)
    with pytest.raises(ValueError, match=r"give both running_mean and running_var"):
        F.batch_norm(anynn.zeros(2, 3), anynn.zeros(3), None, training=True)
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, C, \.\.\.\)"):
        F.batch_norm(anynn.zeros(3), None, None, training=True)


def test_batchnorm2d_wrong_channels_suggests_num_features(backend):
    with raises(ValueError, "BatchNorm2d(3, eps=1e-05", "got input of shape (2, 4, 5, 5): expected 3 channels in "
                            "dimension 1, got 4", "set num_features=4"):
        nn.BatchNorm2d(3)(anynn.zeros(2, 4, 5, 5))


def test_batchnorm2d_given_flat_features_suggests_batchnorm1d(backend):
    with raises(ValueError, "BatchNorm2d(3", "got input of shape (2, 3)", "use nn.BatchNorm1d"):
        nn.BatchNorm2d(3)(anynn.zeros(2, 3))


# bad layer arguments: anynn's own error, naming the layer, what it expected and what it got (issue 16)
LAYER_ARGUMENT_ERRORS = {
    "BatchNorm1d num_features=-1": (lambda: nn.BatchNorm1d(-1), ValueError,
                                    r"^BatchNorm1d got num_features=-1: expected a non-negative int$"),
    "BatchNorm3d num_features=2.5": (lambda: nn.BatchNorm3d(2.5), ValueError,
                                     r"^BatchNorm3d got num_features=2\.5: expected a non-negative int$"),
    "BatchNorm1d list input": (lambda: nn.BatchNorm1d(3)([[1.0, 2.0, 3.0]]), TypeError,
                               r"^BatchNorm1d\(3, .*\) got input of type builtins\.list: expected an anynn Tensor; "
                               r"wrap arrays and lists with anynn\.tensor"),
    "BatchNorm2d eps=0 in training": (lambda: nn.BatchNorm2d(3, eps=0.0)(anynn.randn(2, 3, 4, 4)), ValueError,
                                      r"^BatchNorm2d\(3, eps=0\.0, .*\): eps must be positive in training .* got "
                                      r"eps=0\.0; use the default 1e-05"),
    "BatchNorm2d eps='3'": (lambda: nn.BatchNorm2d(3, eps="3"), TypeError,
                            r"^BatchNorm2d got eps='3' of type str: expected a float$"),
    "LayerNorm normalized_shape=-1": (lambda: nn.LayerNorm(-1), ValueError,
                                      r"^LayerNorm got normalized_shape=-1: expected a non-negative int$"),
    "LayerNorm normalized_shape=()": (lambda: nn.LayerNorm(()), ValueError,
                                      r"^LayerNorm got normalized_shape=\(\): expected at least one size"),
    "LayerNorm numpy input": (lambda: nn.LayerNorm(3)(np.zeros((2, 3))), TypeError,
                              r"^LayerNorm\(\(3,\), .*\) got input of type numpy\.ndarray: expected an anynn Tensor"),
    "BatchNorm2d one value per channel": (lambda: nn.BatchNorm2d(3)(anynn.zeros(1, 3, 1, 1)), ValueError,
                                          r"^BatchNorm2d\(3, .*\) got input of shape \(1, 3, 1, 1\): expected more "
                                          r"than 1 value per channel when training"),
}

test_bad_layer_argument_is_named = error_case_suite(LAYER_ARGUMENT_ERRORS)


def test_layer_norm_int_shape_and_float32(backend):
    x = leaf(np.random.default_rng(7).standard_normal((3, 4)), dtype=anynn.float32)
    w = leaf(np.ones(4), dtype=anynn.float32)
    out = F.layer_norm(x, 4, w)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == w.grad.dtype == anynn.float32
    assert_close(out.mean(axis=-1), np.zeros(3), atol=1e-6)


def test_layer_norm_errors(backend):
    with pytest.raises(ValueError, match=r"normalized_shape=\(5,\) needs an input of shape \(\*, 5\), got \(2, 4\)"):
        F.layer_norm(anynn.zeros(2, 4), 5)
    with pytest.raises(ValueError, match=r"needs an input of shape \(\*, 2, 3, 4\), got \(3, 4\)"):
        F.layer_norm(anynn.zeros(3, 4), (2, 3, 4))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected normalized_shape \(4,\)"):
        F.layer_norm(anynn.zeros(2, 4), 4, anynn.ones(3))


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_5d_matches_torch(backend, affine):
    """F.batch_norm on (N, C, D, H, W) input: batch statistics with the running-statistics update, then eval."""
    torch = torch_or_skip()
    rng = np.random.default_rng(10)
    shape = (2, 3, 2, 2, 3)
    w, b = (rng.standard_normal(3), rng.standard_normal(3)) if affine else (None, None)
    mean, var = anynn.zeros(3, dtype=anynn.float64), anynn.ones(3, dtype=anynn.float64)
    tmean, tvar = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    compare_with_torch(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=True, momentum=0.3, eps=1e-3),
                        lambda x, w, b: torch.nn.functional.batch_norm(x, tmean, tvar, w, b, training=True,
                                                                       momentum=0.3, eps=1e-3),
                        [rng.standard_normal(shape) * 2 + 1, w, b])
    assert_close(mean, tmean.numpy())
    assert_close(var, tvar.numpy())
    compare_with_torch(lambda x, w, b: F.batch_norm(x, mean, var, w, b, eps=1e-3),
                        lambda x, w, b: torch.nn.functional.batch_norm(x, tmean, tvar, w, b, eps=1e-3),
                        [rng.standard_normal(shape), w, b], seed=2)
