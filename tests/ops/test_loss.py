"""anynn.ops.loss: every loss, reduction and option equals PyTorch (float64 forward and input gradients),
passes gradcheck, stays finite on extreme logits and raises clear errors, on every backend."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn.ops import _checks
from helpers import OpCase, assert_close, leaf, op_case_suite, torch_leaf, torch_or_skip

REDUCTIONS = ["none", "mean", "sum"]


def _compare(ours, theirs, arrays, seed=1):
    """Run both on the same float64 leaves, backprop one random output gradient, compare output and grads."""
    torch = torch_or_skip()
    mine = [leaf(a) for a in arrays]
    ref = [torch_leaf(a) for a in arrays]
    out, tout = ours(*mine), theirs(*ref)
    assert out.shape == tuple(tout.shape)
    assert out.dtype == anynn.float64
    assert_close(out, tout.detach().numpy())
    g = np.asarray(np.random.default_rng(seed).standard_normal(tuple(tout.shape)))
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    for m, r in zip(mine, ref):
        assert m.grad is not None
        assert_close(m.grad, r.grad.numpy())


def _ours(array, dtype=anynn.float64):
    return None if array is None else anynn.tensor(array, dtype=dtype)


def _theirs(array):
    torch = torch_or_skip()
    return None if array is None else torch.tensor(array)


def _class_data(rng, shape, classes, ignore_index=-100):
    """Logits of ``shape`` (class axis 1, or 0 if 1-D) and int64 targets, two of them set to ``ignore_index``."""
    x = rng.standard_normal(shape) * 2.0
    target_shape = () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])
    y = rng.integers(0, classes, size=target_shape).astype(np.int64)
    if y.ndim:
        flat = y.reshape(-1)
        flat[0] = ignore_index
        flat[-1] = ignore_index
    return x, y


CLASS_SHAPES = [(6, 4), (3, 4, 2, 2), (4,)]


# ---------------------------------------------------------------- every loss, reduction and option: declared cases
def _loss(name: str, inputs, gradcheck: bool = False, **kwargs) -> OpCase:
    """F.<name> and torch.nn.functional.<name> on ``inputs`` (every array differentiated; the logits, and the
    target where it is a float), with ``kwargs`` (class indices and weights among them are constants)."""
    return OpCase(getattr(F, name), f"nn.functional.{name}", inputs, kwargs=kwargs, gradcheck=gradcheck)


def _with_weight(name: str, functional=F):
    """``name`` with its element weight as a third, differentiable, positional input."""
    return lambda a, b, c, **kwargs: getattr(functional, name)(a, b, weight=c, **kwargs)


def _torch_with_weight(name: str):
    return lambda a, b, c, **kwargs: _with_weight(name, torch_or_skip().nn.functional)(a, b, c, **kwargs)


def _label(shape, **options) -> str:
    shown = [f"{k}={v}" for k, v in options.items() if not isinstance(v, np.ndarray) and v is not None]
    shown += [k for k, v in options.items() if isinstance(v, np.ndarray)]
    return f"{shape} {' '.join(shown)}"


def _cross_entropy_indices(shape, reduction, label_smoothing, weighted):
    rng = np.random.default_rng(0)
    x, y = _class_data(rng, shape, 4)
    w = rng.random(4) + 0.1 if weighted else None
    return _loss("cross_entropy", [x], target=y, weight=w, reduction=reduction, label_smoothing=label_smoothing)


def _cross_entropy_in_range_ignore_index(reduction, label_smoothing):
    rng = np.random.default_rng(1)
    x, y = _class_data(rng, (7, 3), 3, ignore_index=1)
    return _loss("cross_entropy", [x], target=y, weight=rng.random(3) + 0.1, ignore_index=1, reduction=reduction,
                 label_smoothing=label_smoothing)


def _cross_entropy_probabilities(shape, reduction, label_smoothing, weighted):
    """Class-probability targets: gradients for both the logits and the (differentiable) target."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    p = rng.random(shape)
    p = p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    w = rng.random(4) + 0.1 if weighted else None
    return _loss("cross_entropy", [x, p], weight=w, reduction=reduction, label_smoothing=label_smoothing)


def _nll_loss(shape, reduction, weighted, ignore_index):
    rng = np.random.default_rng(5)
    x, y = _class_data(rng, shape, 4, ignore_index=ignore_index)
    w = rng.random(4) + 0.1 if weighted else None
    return _loss("nll_loss", [x], target=y, weight=w, ignore_index=ignore_index, reduction=reduction)


def _multi_margin_loss(shape, reduction, p, margin, weighted):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    y = rng.integers(0, 4, size=shape[:-1]).astype(np.int64)
    w = rng.random(4) + 0.1 if weighted else None
    return _loss("multi_margin_loss", [x], target=y, p=p, margin=margin, weight=w, reduction=reduction)


def _difference(name, options, reduction):
    """Input and target both get gradients; one exact tie (d == 0) checks the kink's gradient."""
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    t[0, 0] = x[0, 0]
    return _loss(name, [x, t], reduction=reduction, **options)


def _weighted_difference(name, options, reduction):
    """torch 2.13's element weights: 'mean' divides by sum(weight) (mse, l1) or the count (huber); all get grads."""
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4)) + 0.1]
    return OpCase(_with_weight(name), _torch_with_weight(name), arrays, kwargs=dict(reduction=reduction, **options),
                  gradcheck=False)


def _binary_cross_entropy(reduction, weight_shape):
    rng = np.random.default_rng(11)
    x, t = rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4))
    w = None if weight_shape is None else rng.random(weight_shape) + 0.1
    return _loss("binary_cross_entropy", [x, t], weight=w, reduction=reduction)


def _binary_cross_entropy_with_logits(reduction, weight_shape, with_pos_weight):
    rng = np.random.default_rng(12)
    x, t = rng.standard_normal((3, 4)) * 3.0, rng.random((3, 4))
    w = None if weight_shape is None else rng.random(weight_shape) + 0.1
    pw = rng.random(4) * 3.0 if with_pos_weight else None
    return _loss("binary_cross_entropy_with_logits", [x, t], weight=w, reduction=reduction, pos_weight=pw)


def _gradchecked(rng):
    """Every loss with its options switched on, gradchecked (with the three other checks)."""
    y = np.array([0, 2, -100], dtype=np.int64)
    y2 = np.array([[1, 0], [2, 2]], dtype=np.int64)
    w3 = rng.random(3) + 0.1
    probs = rng.random((2, 3))
    t = rng.random((2, 3))
    ww = rng.random((2, 3)) + 0.1
    return {
        "cross_entropy": _loss("cross_entropy", [rng.standard_normal((3, 3))], True, target=y, weight=w3,
                               label_smoothing=0.2),
        "cross_entropy spatial": _loss("cross_entropy", [rng.standard_normal((2, 3, 2))], True, target=y2,
                                       reduction="none"),
        "cross_entropy probabilities": _loss("cross_entropy", [rng.standard_normal((2, 3)), probs], True, weight=w3,
                                             label_smoothing=0.1),
        "nll_loss": _loss("nll_loss", [rng.standard_normal((3, 3))], True, target=y, weight=w3, reduction="sum"),
        "multi_margin_loss p=1": _loss("multi_margin_loss", [rng.standard_normal((2, 3))], True, target=y[:2],
                                       weight=w3),
        "multi_margin_loss p=2": _loss("multi_margin_loss", [rng.standard_normal((2, 3))], True, target=y[:2], p=2,
                                       margin=0.5),
        "mse_loss": OpCase(_with_weight("mse_loss"), _torch_with_weight("mse_loss"),
                           [rng.standard_normal((2, 3)), t, ww]),
        "l1_loss": _loss("l1_loss", [rng.standard_normal((2, 3)), t], True, reduction="sum"),
        "smooth_l1_loss": _loss("smooth_l1_loss", [rng.standard_normal((2, 3)), t], True, beta=0.5),
        "huber_loss": OpCase(_with_weight("huber_loss"), _torch_with_weight("huber_loss"),
                             [rng.standard_normal((2, 3)), t, ww], kwargs=dict(delta=0.5)),
        "binary_cross_entropy": _loss("binary_cross_entropy", [rng.uniform(0.1, 0.9, (2, 3)), t], True, weight=ww),
        "binary_cross_entropy_with_logits": _loss("binary_cross_entropy_with_logits", [rng.standard_normal((2, 3)), t],
                                                  True, weight=ww, pos_weight=w3),
    }


DIFFERENCE = [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}),
    ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}), ("huber_loss", {"delta": 0.7}),
]
_uint8 = np.random.default_rng(3)

CASES = {
    **{f"cross_entropy indices {_label(shape, reduction=r, label_smoothing=ls)}{' weighted' if w else ''}":
       _cross_entropy_indices(shape, r, ls, w)
       for shape in CLASS_SHAPES for r in REDUCTIONS for ls in (0.0, 0.3) for w in (False, True)},
    **{f"cross_entropy in-range ignore_index=1 {r} label_smoothing={ls}": _cross_entropy_in_range_ignore_index(r, ls)
       for r in REDUCTIONS for ls in (0.0, 0.2)},
    **{f"cross_entropy probabilities {_label(shape, reduction=r, label_smoothing=ls)}{' weighted' if w else ''}":
       _cross_entropy_probabilities(shape, r, ls, w)
       for shape in CLASS_SHAPES for r in REDUCTIONS for ls in (0.0, 0.3) for w in (False, True)},
    "cross_entropy uint8 targets": _loss("cross_entropy", [_uint8.standard_normal((5, 3))],
                                         target=_uint8.integers(0, 3, 5).astype(np.uint8)),
    **{f"nll_loss {_label(shape, reduction=r, ignore_index=i)}{' weighted' if w else ''}": _nll_loss(shape, r, w, i)
       for shape in CLASS_SHAPES for r in REDUCTIONS for w in (False, True) for i in (-100, 2)},
    **{f"multi_margin_loss {_label(shape, reduction=r, p=p, margin=m)}{' weighted' if w else ''}":
       _multi_margin_loss(shape, r, p, m, w)
       for shape in [(6, 4), (4,)] for r in REDUCTIONS for p in (1, 2) for m in (1.0, 0.4) for w in (False, True)},
    **{f"{name} {_label((4, 5), reduction=r, **options)}": _difference(name, options, r)
       for name, options in DIFFERENCE for r in REDUCTIONS},
    **{f"{name} element weights {_label((3, 4), reduction=r, **options)}": _weighted_difference(name, options, r)
       for name, options in [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {"delta": 0.5})] for r in REDUCTIONS},
    **{f"binary_cross_entropy (3, 4) {r} weight={ws}": _binary_cross_entropy(r, ws)
       for r in REDUCTIONS for ws in (None, (3, 4), (4,))},
    **{f"binary_cross_entropy_with_logits (3, 4) {r} weight={ws}{' pos_weight' if pw else ''}":
       _binary_cross_entropy_with_logits(r, ws, pw)
       for r in REDUCTIONS for ws in (None, (3, 4), (4,)) for pw in (False, True)},
    **{f"{name} (every option)": case for name, case in _gradchecked(np.random.default_rng(14)).items()},
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


# ---------------------------------------------------------------- cross_entropy
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_cross_entropy_all_ignored_mean_is_nan_like_torch(backend):
    torch = torch_or_skip()
    y = np.full(3, -100, dtype=np.int64)
    x = np.zeros((3, 2))
    ours = F.cross_entropy(_ours(x), _ours(y, anynn.int64))
    theirs = torch.nn.functional.cross_entropy(_theirs(x), _theirs(y))
    assert np.isnan(ours.item()) and torch.isnan(theirs)
    assert F.cross_entropy(_ours(x), _ours(y, anynn.int64), reduction="sum").item() == 0.0


@pytest.mark.parametrize("dtype", [anynn.float32, anynn.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_extreme_logits_are_finite(backend, dtype, label_smoothing):
    torch = torch_or_skip()
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, -1e4]])
    y = np.array([1, 1, 0], dtype=np.int64)
    a = leaf(x, dtype=dtype)
    loss = F.cross_entropy(a, _ours(y, anynn.int64), label_smoothing=label_smoothing)
    loss.backward()
    assert loss.dtype == dtype and a.grad.dtype == dtype
    assert np.isfinite(loss.item()) and np.all(np.isfinite(a.grad.numpy()))
    ta = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(ta, torch.tensor(y), label_smoothing=label_smoothing)
    tl.backward()
    tol = dict(rtol=1e-6, atol=1e-7) if dtype is anynn.float32 else {}
    assert_close(loss, tl.detach().numpy(), **tol)
    assert_close(a.grad, ta.grad.numpy(), **tol)


def test_cross_entropy_keeps_float32(backend):
    rng = np.random.default_rng(4)
    x, y = _class_data(rng, (4, 3), 3)
    a = leaf(x, dtype=anynn.float32)
    loss = F.cross_entropy(a, _ours(y, anynn.int64), _ours(rng.random(3), anynn.float32), label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == anynn.float32 and a.grad.dtype == anynn.float32
    a.grad = None
    probs = leaf(np.full((4, 3), 1.0 / 3.0))
    F.cross_entropy(a, probs).backward()
    assert a.grad.dtype == anynn.float32 and probs.grad.dtype == anynn.float64


# ---------------------------------------------------------------- regression losses
def test_mse_broadcasting_warns_and_matches_torch(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(9)
    x, t = rng.standard_normal((4, 1)), rng.standard_normal(4)
    with pytest.warns(UserWarning) as record:  # ours, and torch's own
        _compare(lambda a, b: F.mse_loss(a, b), lambda a, b: torch.nn.functional.mse_loss(a, b), [x, t])
    ours = [str(r.message) for r in record if str(r.message).startswith("F.mse_loss")]
    assert len(ours) == 1
    assert ours[0].startswith("F.mse_loss: using a target size (4,) that is different to the input size (4, 1); "
                              "they broadcast to (4, 4)")


def test_mse_float32_input_float64_target_keeps_float32_grad(backend):
    rng = np.random.default_rng(10)
    a = leaf(rng.standard_normal(3), dtype=anynn.float32)
    F.mse_loss(a, _ours(rng.standard_normal(3))).backward()
    assert a.grad.dtype == anynn.float32


# ---------------------------------------------------------------- binary cross-entropy
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_binary_cross_entropy_clamps_log_at_0_and_1_like_torch(backend):
    torch = torch_or_skip()
    x, t = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    a = leaf(x)
    loss = F.binary_cross_entropy(a, _ours(t), reduction="none")
    loss.sum().backward()
    ta = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy(ta, torch.tensor(t), reduction="none")
    tl.sum().backward()
    assert_close(loss, tl.detach().numpy())
    assert_close(loss, np.array([100.0, 100.0, 0.0, 0.0, -(0.3 * np.log(0.5) + 0.7 * np.log(0.5))]))
    assert_close(a.grad, ta.grad.numpy())
    b = leaf(t)
    F.binary_cross_entropy(_ours(x), b, reduction="sum").backward()
    tb = torch.tensor(t, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(torch.tensor(x), tb, reduction="sum").backward()
    assert_close(b.grad, tb.grad.numpy())
    assert np.isinf(b.grad.numpy()[:4]).all()


@pytest.mark.parametrize("dtype", [anynn.float32, anynn.float64])
def test_binary_cross_entropy_with_logits_extreme_logits_are_finite(backend, dtype):
    torch = torch_or_skip()
    x, t = np.array([1e4, -1e4, 1e4, -1e4]), np.array([1.0, 1.0, 0.0, 0.0])
    pw = np.array([2.0])
    a = leaf(x, dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(a, _ours(t, dtype), pos_weight=_ours(pw, dtype), reduction="sum")
    loss.backward()
    assert loss.dtype == dtype and a.grad.dtype == dtype
    assert np.isfinite(loss.item()) and np.all(np.isfinite(a.grad.numpy()))
    ta = torch.tensor(x, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(ta, torch.tensor(t), pos_weight=torch.tensor(pw),
                                                              reduction="sum")
    tl.backward()
    assert_close(loss, tl.detach().numpy())
    assert_close(a.grad, ta.grad.numpy())


# ---------------------------------------------------------------- legacy flags
@pytest.mark.parametrize("size_average,reduce,expected", [(None, False, "none"), (False, None, "sum"),
                                                          (True, True, "mean")])
def test_legacy_size_average_and_reduce_map_like_torch(backend, size_average, reduce, expected):
    rng = np.random.default_rng(13)
    x, y = _class_data(rng, (4, 3), 3)
    with pytest.warns(UserWarning, match=f"reduction='{expected}'"):
        legacy = F.cross_entropy(_ours(x), _ours(y, anynn.int64), size_average=size_average, reduce=reduce)
    assert_close(legacy, F.cross_entropy(_ours(x), _ours(y, anynn.int64), reduction=expected))


# ---------------------------------------------------------------- errors
def test_float_labels_error_names_dtype_shape_and_fix(backend):
    x, y = anynn.zeros(32, 10), anynn.zeros(32)
    message = ("F.cross_entropy got target with dtype float32: expected integer class indices (int64) of shape "
               "(32,); use target.long() or pass class probabilities with the same shape as the input (32, 10)")
    with pytest.raises(TypeError) as err:
        F.cross_entropy(x, y)
    assert str(err.value) == message
    with pytest.raises(TypeError, match=r"F\.nll_loss got target with dtype float32: .*; use target\.long\(\)$"):
        F.nll_loss(x, y)


def test_batch_size_mismatch_is_named(backend):
    x, y = anynn.zeros(32, 10), anynn.zeros(16, dtype=anynn.int64)
    with pytest.raises(ValueError, match=r"F\.cross_entropy got input of shape \(32, 10\) and target of shape "
                                         r"\(16,\): the batch sizes differ \(32 vs 16\); expected target of shape "
                                         r"\(32,\)"):
        F.cross_entropy(x, y)
    with pytest.raises(ValueError, match=r"F\.multi_margin_loss .* the batch sizes differ \(32 vs 16\)"):
        F.multi_margin_loss(x, y)


def test_other_target_shape_errors(backend):
    with pytest.raises(ValueError, match=r"expected target of shape \(4, 5\) \(the input's shape without its class "
                                         r"dimension 1\)"):
        F.cross_entropy(anynn.zeros(4, 3, 5), anynn.zeros(4, dtype=anynn.int64))
    with pytest.raises(ValueError, match=r"integer targets hold one class index per sample.*target\.float\(\)"):
        F.cross_entropy(anynn.zeros(4, 3), anynn.zeros(4, 3, dtype=anynn.int64))
    with pytest.raises(ValueError, match=r"F\.binary_cross_entropy got input of shape \(4, 1\) and target of shape "
                                         r"\(4,\): expected the same shape"):
        F.binary_cross_entropy(anynn.zeros(4, 1), anynn.zeros(4))
    with pytest.raises(ValueError, match=r"do not broadcast"):
        F.mse_loss(anynn.zeros(4, 3), anynn.zeros(2))
    with pytest.raises(TypeError, match=r"F\.mse_loss got input with dtype int64: expected a floating-point"):
        F.mse_loss(anynn.zeros(4, dtype=anynn.int64), anynn.zeros(4, dtype=anynn.int64))  # integer targets alone
    # promote (tests/nn/test_loss_modules.py); two integer tensors have no floating dtype to meet in


def test_option_errors(backend):
    x, y = anynn.zeros(4, 3), anynn.zeros(4, dtype=anynn.int64)
    with pytest.raises(ValueError, match=r"reduction='avg': expected one of 'none', 'mean', 'sum'"):
        F.cross_entropy(x, y, reduction="avg")
    with pytest.raises(ValueError, match=r"got weight of shape \(4,\) for an input with 3 classes: .* \(3,\)"):
        F.cross_entropy(x, y, weight=anynn.ones(4))
    with pytest.raises(ValueError, match=r"only p == 1 and p == 2"):
        F.multi_margin_loss(x, y, p=3)
    with pytest.raises(ValueError, match=r"label_smoothing=1.5"):
        F.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight of shape \(3,\): expected shape \(4, 3\)"):
        F.mse_loss(x, x, weight=anynn.ones(3))
    with pytest.raises(TypeError, match=r"got target of type numpy\.ndarray: expected an anynn Tensor"):
        F.cross_entropy(x, np.zeros(4, dtype=np.int64))


def test_out_of_range_target_is_named_at_once_on_host_backends(backend):
    """Issue 16: on a host backend (every backend of this fixture) a bad label raises at once, by default."""
    assert _checks.on_host(backend) and not _checks.CHECK_VALUES
    _checks._pending.clear()  # checks other tests left (e.g. steps on the counting backend)
    x = anynn.zeros(4, 10)
    y = anynn.tensor(np.array([3, 10, -100, 2], dtype=np.int64))
    with pytest.raises(IndexError) as err:
        F.cross_entropy(x, y)  # 2-D logits without class weights: the fused SoftmaxCrossEntropy pair
    assert str(err.value).startswith("F.cross_entropy got target class 10 with 10 classes: class indices must be "
                                     "in [0, 9] or ignore_index=-100")
    with pytest.raises(IndexError, match=r"F\.cross_entropy got target class -1 with 3 classes"):
        F.cross_entropy(anynn.zeros(2, 3, 2), anynn.tensor(np.array([[0, -1], [1, 2]])))  # the general CrossEntropy
    with pytest.raises(IndexError, match=r"F\.cross_entropy got target class 3 with 3 classes"):
        F.cross_entropy(anynn.zeros(2, 3), anynn.tensor(np.array([0, 3])), weight=anynn.ones(3))
    with pytest.raises(IndexError, match=r"F\.nll_loss got target class -1 with 10 classes"):
        F.nll_loss(x, anynn.tensor(np.array([-1, 0, 0, 0], dtype=np.int64)))
    with pytest.raises(IndexError, match=r"F\.multi_margin_loss got target class -100 with 10 classes: class "
                                         r"indices must be in \[0, 9\];"):
        F.multi_margin_loss(x, anynn.tensor(np.array([3, -100, 0, 0], dtype=np.int64)))
    assert np.isfinite(F.cross_entropy(x, anynn.tensor(np.array([3, 9, -100, 0], dtype=np.int64))).item())
    assert _checks.pending() == 0  # nothing deferred on a host backend


def test_probabilities_out_of_range_are_named_on_host_backends(backend):
    x = anynn.tensor(np.array([0.2, 1.5]), dtype=anynn.float64)
    with pytest.raises(ValueError, match=r"F\.binary_cross_entropy got input values in \[0\.2, 1\.5\]: expected "
                                         r"probabilities in \[0, 1\]; apply sigmoid first"):
        F.binary_cross_entropy(x, anynn.zeros(2, dtype=anynn.float64))
    with pytest.raises(ValueError, match=r"F\.binary_cross_entropy got target values in \[-1, 0\]"):
        F.binary_cross_entropy(anynn.full((2,), 0.5, dtype=anynn.float64),
                               anynn.tensor(np.array([-1.0, 0.0]), dtype=anynn.float64))


@pytest.fixture
def as_if_on_a_gpu(monkeypatch):
    """The numpy backend treated as a device backend: value checks are deferred, as on CuPy."""
    monkeypatch.setattr(_checks, "on_host", lambda backend: False)
    monkeypatch.setattr(_checks, "CHECK_VALUES", False)
    _checks.raise_deferred_errors()  # nothing left over from elsewhere
    yield
    assert _checks.pending() == 0, "a test left deferred checks behind"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the all-ignored batch's 0/0 mean, as in PyTorch
def test_out_of_range_target_on_a_device_is_nan_then_named_at_the_sync_point(backend, as_if_on_a_gpu):
    """On a GPU the check must not sync: the bad label is clamped (never a wrong read), its row's loss and
    gradient are NaN, and raise_deferred_errors names the loss, the step and the label afterwards."""
    x = leaf(np.zeros((3, 4)))
    y = anynn.tensor(np.array([1, 4, 2], dtype=np.int64))
    loss = F.cross_entropy(x, y, reduction="none")
    loss.sum().backward()
    values, grads = loss.numpy(), x.grad.numpy()
    assert np.isnan(values[1]) and np.all(np.isfinite(values[[0, 2]]))
    assert np.all(np.isnan(grads[1])) and np.all(np.isfinite(grads[[0, 2]]))
    with pytest.raises(IndexError, match=r"^F\.cross_entropy got target class 4 with 4 classes: class indices must "
                                         r"be in \[0, 3\] or ignore_index=-100; .* \(found at a synchronisation "
                                         r"point: the check is deferred on GPUs; the bad label was in call 1 since"):
        _checks.raise_deferred_errors()
    _checks.set_step("step 7 of epoch 2")
    try:  # .item() reads the device: a synchronisation point, where deferred checks raise
        with pytest.raises(IndexError, match=r"^F\.nll_loss got target class -3 with 4 classes.*was in step 7 of "
                                             r"epoch 2"):
            F.nll_loss(x, anynn.tensor(np.array([0, -3, 0], dtype=np.int64))).item()
    finally:
        _checks.set_step(None)
    with pytest.raises(IndexError, match=r"^F\.multi_margin_loss got target class 4 with 4 classes"):
        F.multi_margin_loss(x, y).item()
    F.cross_entropy(x, anynn.tensor(np.array([1, -100, 3], dtype=np.int64)))  # good labels: nothing raised
    F.cross_entropy(x, anynn.full((3,), -100, dtype=anynn.int64))  # all ignored: NaN mean, but no bad label
    assert _checks.pending() == 2
    _checks.raise_deferred_errors()


def test_device_label_check_with_check_values_raises_at_once(backend, as_if_on_a_gpu, monkeypatch):
    monkeypatch.setattr(_checks, "CHECK_VALUES", True)
    with pytest.raises(IndexError, match=r"^F\.cross_entropy got target class 5 with 4 classes"):
        F.cross_entropy(anynn.zeros(2, 4), anynn.tensor(np.array([0, 5], dtype=np.int64)))


def test_deferred_label_check_costs_no_launch_sync_or_upload_on_the_cupy_mirror():
    """The counting backend mirroring CuPy: a loss call with a deferred check launches exactly what it launched
    before (the loss output is the flag), syncs and uploads nothing, and the error comes at the sync point."""
    from anynn import profiler
    from anynn.backends import backend_for

    _checks.raise_deferred_errors()
    with anynn.use_backend(backend_for("counting", "cupy")):
        x = anynn.zeros(4, 10, requires_grad=True)
        good = anynn.tensor(np.array([3, 9, 0, 2]))
        bad = anynn.tensor(np.array([3, 10, 0, 2]))
        F.cross_entropy(x, good).backward()  # warm-up: one-time constants are made here
        _checks.raise_deferred_errors()
        counts = []
        for y in (good, bad):
            with profiler.capture_safe(), profiler.count() as tally:
                F.cross_entropy(x, y).backward()
            counts.append((tally.launches, tally.syncs, tally.uploads))
        assert counts[0] == counts[1] and counts[0][1:] == (0, 0)
        with profiler.capture_safe():
            F.cross_entropy(x, good)
        assert _checks.pending() == 3
        with pytest.raises(IndexError, match=r"^F\.cross_entropy got target class 10 with 10 classes.*deferred on "
                                             r"GPUs; the bad label was in call 2 since"):
            _checks.raise_deferred_errors()
        assert _checks.pending() == 0


def test_deferred_checks_keep_no_graph_alive_and_stay_bounded(as_if_on_a_gpu):
    import gc
    import weakref

    x = anynn.zeros(2, 3, requires_grad=True)
    loss = F.cross_entropy(x * 2.0, anynn.tensor(np.array([0, 1])))
    ref = weakref.ref(loss)
    del loss
    gc.collect()
    assert ref() is None  # the pending check holds arrays, never the loss tensor and its graph
    for _ in range(_checks.MAX_PENDING + 10):
        F.nll_loss(x, anynn.tensor(np.array([0, 1])))
    assert _checks.pending() == _checks.MAX_PENDING
    _checks.raise_deferred_errors()


def test_anynn_debug_environment_variable_sets_check_values():
    probe = "import anynn.ops._checks as C; print(C.CHECK_VALUES)"
    results = {}
    for value in ("1", "0", ""):
        env = dict(os.environ, ANYNN_DEBUG=value)
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        results[value] = out.stdout.strip()
    assert results == {"1": "True", "0": "False", "": "False"}
