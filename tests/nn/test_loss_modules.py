"""anynn.nn loss layers: PyTorch's constructors, attributes, buffers, repr and results (float64), gradcheck,
and errors that name the layer, on every backend."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
from anynn import nn
from helpers import assert_close, error_case_suite, leaf, raises, torch_leaf, torch_or_skip


def _classes(rng, n=5, c=4):
    y = rng.integers(0, c, n).astype(np.int64)
    y[0] = -100
    return rng.standard_normal((n, c)), y


def _cases(rng):
    """(module name, constructor kwargs with host arrays, float64 input arrays, int target or None)."""
    w4 = rng.random(4) + 0.1
    probs = rng.random((5, 4))
    logits, y = _classes(rng)
    x, t = rng.standard_normal((3, 4)), rng.random((3, 4))
    return [
        ("CrossEntropyLoss", {}, [logits], y),
        ("CrossEntropyLoss", {"weight": w4, "reduction": "sum", "label_smoothing": 0.2}, [logits], y),
        ("CrossEntropyLoss", {"ignore_index": 1, "reduction": "none"}, [logits], np.where(y < 0, 1, y)),
        ("CrossEntropyLoss", {"weight": w4, "label_smoothing": 0.1}, [logits, probs / probs.sum(1, keepdims=True)],
         None),
        ("NLLLoss", {"weight": w4}, [logits], y),
        ("NLLLoss", {"reduction": "none", "ignore_index": 2}, [logits], np.where(y < 0, 2, y)),
        ("MultiMarginLoss", {}, [logits], np.abs(y) % 4),
        ("MultiMarginLoss", {"p": 2, "margin": 0.5, "weight": w4, "reduction": "sum"}, [logits], np.abs(y) % 4),
        ("MSELoss", {}, [x, t], None),
        ("MSELoss", {"reduction": "none"}, [x, t], None),
        ("L1Loss", {"reduction": "sum"}, [x, t], None),
        ("SmoothL1Loss", {"beta": 0.5}, [x, t], None),
        ("HuberLoss", {"delta": 0.3, "reduction": "none"}, [x, t], None),
        ("BCELoss", {"weight": w4}, [rng.uniform(0.05, 0.95, (3, 4)), t], None),
        ("BCEWithLogitsLoss", {}, [x, t], None),
        ("BCEWithLogitsLoss", {"weight": w4, "pos_weight": w4 * 2.0, "reduction": "sum"}, [x, t], None),
    ]


CASE_IDS = [f"{c[0]}-{i}" for i, c in enumerate(_cases(np.random.default_rng(0)))]


def _build(namespace, name, kwargs, make):
    """``namespace.name(**kwargs)`` with host arrays in ``kwargs`` converted by ``make``."""
    return getattr(namespace, name)(**{k: make(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()})


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_loss_module_matches_torch(backend, index):
    torch = torch_or_skip()
    name, kwargs, arrays, target = _cases(np.random.default_rng(0))[index]
    ours = _build(nn, name, kwargs, lambda a: anynn.tensor(a, dtype=anynn.float64))
    theirs = _build(torch.nn, name, kwargs, torch.tensor)
    assert repr(ours) == repr(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for attr in ("reduction", "ignore_index", "label_smoothing", "p", "margin", "beta", "delta"):
        if hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr), attr
    mine, ref = [leaf(a) for a in arrays], [torch_leaf(a) for a in arrays]
    if target is not None:
        mine.append(anynn.tensor(target, dtype=anynn.int64))
        ref.append(torch.tensor(target))
    out, tout = ours(*mine), theirs(*ref)
    assert out.shape == tuple(tout.shape)
    assert_close(out, tout.detach().numpy())
    g = np.asarray(np.random.default_rng(1).standard_normal(tuple(tout.shape)))
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    for m, r in zip(mine, ref):
        if r.requires_grad:
            assert_close(m.grad, r.grad.numpy())


def test_loss_modules_pass_gradcheck(backend):
    rng = np.random.default_rng(2)
    for name, kwargs, arrays, target in _cases(rng):
        module = _build(nn, name, kwargs, lambda a: anynn.tensor(a, dtype=anynn.float64))
        extra = [] if target is None else [anynn.tensor(target, dtype=anynn.int64)]
        small = [a[:2] for a in arrays]
        extra = [e[:2] for e in extra]
        assert anynn.gradcheck(lambda *xs: module(*xs, *extra), [leaf(a) for a in small]), name


def test_weight_buffers_move_with_the_module(backend):
    w = anynn.tensor(np.array([1.0, 2.0, 3.0]), dtype=anynn.float32)
    loss = nn.CrossEntropyLoss(weight=w).double()
    assert loss.weight.dtype == anynn.float64
    bce = nn.BCEWithLogitsLoss(pos_weight=w).double()
    assert bce.pos_weight.dtype == anynn.float64 and bce.weight is None
    assert list(bce.state_dict()) == ["pos_weight"]


def test_legacy_flags_set_reduction_like_torch(backend):
    torch = torch_or_skip()
    for kwargs in ({"size_average": False}, {"reduce": False}, {"size_average": True, "reduce": True}):
        with pytest.warns(UserWarning):
            expected = torch.nn.MSELoss(**kwargs).reduction
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            assert nn.MSELoss(**kwargs).reduction == expected
        with pytest.warns(UserWarning):
            assert nn.CrossEntropyLoss(**kwargs).reduction == expected


def test_float_labels_error_names_the_layer(backend):
    loss = nn.CrossEntropyLoss()
    with pytest.raises(TypeError) as err:
        loss(anynn.zeros(32, 10), anynn.zeros(32))
    assert str(err.value) == ("CrossEntropyLoss() got target with dtype float32: expected integer class indices "
                              "(int64) of shape (32,); use target.long() or pass class probabilities with the same "
                              "shape as the input (32, 10)")


def test_batch_mismatch_error_names_the_layer(backend):
    with pytest.raises(ValueError, match=r"^NLLLoss\(\) got input of shape \(32, 10\) and target of shape \(16,\): "
                                         r"the batch sizes differ \(32 vs 16\)"):
        nn.NLLLoss()(anynn.zeros(32, 10), anynn.zeros(16, dtype=anynn.int64))
    with pytest.raises(ValueError, match=r"^BCEWithLogitsLoss\(\) got input of shape \(4, 1\) and target of shape "
                                         r"\(4,\): expected the same shape"):
        nn.BCEWithLogitsLoss()(anynn.zeros(4, 1), anynn.zeros(4))


def test_out_of_range_class_names_the_layer_on_host_backends(backend):
    target = anynn.tensor(np.array([0, 10, 9], dtype=np.int64))
    with pytest.raises(IndexError, match=r"^CrossEntropyLoss\(\) got target class 10 with 10 classes: class indices "
                                         r"must be in \[0, 9\] or ignore_index=-100"):
        nn.CrossEntropyLoss()(anynn.zeros(3, 10), target)
    with pytest.raises(ValueError, match=r"^BCELoss\(\) got input values in \[-1, 0\]"):
        nn.BCELoss()(anynn.tensor(np.array([-1.0, 0.0]), dtype=anynn.float32), anynn.zeros(2))


def labels(*values) -> anynn.Tensor:
    return anynn.tensor(np.array(values, dtype=np.int64))


def test_cross_entropy_batch_size_mismatch(backend):
    with raises(ValueError, "CrossEntropyLoss() got input of shape (4, 10) and target of shape (5,)",
                "the batch sizes differ (4 vs 5)", "expected target of shape (4,)"):
        nn.CrossEntropyLoss()(anynn.zeros(4, 10), labels(0, 1, 2, 3, 4))


def test_cross_entropy_given_one_hot_integers_suggests_argmax(backend):
    one_hot = anynn.zeros(4, 10, dtype=anynn.int64)
    with raises(ValueError, "CrossEntropyLoss() got input of shape (4, 10) and target of shape (4, 10)",
                "target.argmax(1)", "target.float()"):
        nn.CrossEntropyLoss()(anynn.zeros(4, 10), one_hot)


def test_float_labels_into_cross_entropy_suggest_long(backend):
    with raises(TypeError, "CrossEntropyLoss() got target with dtype float32: expected integer class indices "
                           "(int64) of shape (4,)", "target.long()"):
        nn.CrossEntropyLoss()(anynn.zeros(4, 10), anynn.zeros(4))


def test_ignore_index_with_probability_targets_is_refused(backend):
    probabilities = anynn.tensor(np.full((2, 3), 1 / 3, dtype=np.float32))
    with raises(ValueError, "CrossEntropyLoss() got ignore_index=0 with class-probability targets",
                "class indices"):
        nn.CrossEntropyLoss(ignore_index=0)(anynn.zeros(2, 3), probabilities)


def test_out_of_range_label_is_named_by_default_on_host_backends(backend):
    with raises(IndexError, "CrossEntropyLoss() got target class 10 with 10 classes: class indices must be in "
                            "[0, 9] or ignore_index=-100", "1-based?", "number of outputs of the model"):
        nn.CrossEntropyLoss()(anynn.zeros(4, 10), labels(1, 2, 10, 3))


def test_negative_label_is_named_by_default_on_host_backends(backend):
    with raises(IndexError, "NLLLoss() got target class -1 with 3 classes", "[0, 2]"):
        nn.NLLLoss()(anynn.zeros(2, 3), labels(0, -1))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_out_of_range_label_on_a_device_is_nan_exactly_there_until_named(backend, monkeypatch):
    """Documented in anynn.ops.loss: on a GPU (deferred check) the index is clamped (never an out-of-bounds read)
    and its row is NaN; the next synchronisation point names it."""
    from anynn.ops import _checks

    monkeypatch.setattr(_checks, "on_host", lambda backend: False)
    monkeypatch.setattr(_checks, "CHECK_VALUES", False)
    rng = np.random.default_rng(0)
    logits = anynn.tensor(rng.standard_normal((4, 10)), dtype=anynn.float64, requires_grad=True)
    per_sample = nn.CrossEntropyLoss(reduction="none")(logits, labels(1, 2, 10, 3)).numpy()
    good = nn.CrossEntropyLoss(reduction="none")(logits, labels(1, 2, 0, 3)).numpy()
    assert np.isnan(per_sample[2])
    np.testing.assert_array_equal(per_sample[[0, 1, 3]], good[[0, 1, 3]])
    nn.CrossEntropyLoss(reduction="none")(logits, labels(1, 2, 10, 3)).sum().backward()
    assert np.isnan(logits.grad.numpy()).any(axis=1).tolist() == [False, False, True, False]
    with raises(IndexError, "CrossEntropyLoss() got target class 10 with 10 classes",
                "found at a synchronisation point"):
        _checks.raise_deferred_errors()
    assert _checks.pending() == 0
    logits.grad = None
    mean = nn.CrossEntropyLoss()(logits, labels(1, 2, 10, 3))
    mean.backward()
    assert np.isnan(mean.numpy()) and np.isnan(logits.grad.numpy()).all(), "NaN in the mean's denominator"
    with raises(IndexError, "CrossEntropyLoss() got target class 10"):
        mean.item()  # .item() is a synchronisation point: the deferred check raises there


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"MultiMarginLoss got p=3: only p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match=r"SmoothL1Loss got beta=-1"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match=r"HuberLoss got delta=0"):
        nn.HuberLoss(delta=0)


# bad layer arguments: anynn's own error, naming the layer, what it expected and what it got (issue 16)
LAYER_ARGUMENT_ERRORS = {
    "HuberLoss delta='3'": (lambda: nn.HuberLoss(delta="3"), TypeError,
                            r"^HuberLoss got delta='3' of type str: expected a float$"),
    "HuberLoss delta=nan": (lambda: nn.HuberLoss(delta=math.nan), ValueError,
                            r"^HuberLoss got delta=nan: expected delta > 0"),
    "SmoothL1Loss beta='3'": (lambda: nn.SmoothL1Loss(beta="3"), TypeError, r"^SmoothL1Loss got beta='3' of type str"),
    "SmoothL1Loss beta=nan": (lambda: nn.SmoothL1Loss(beta=math.nan), ValueError,
                              r"^SmoothL1Loss got beta=nan: expected beta >= 0"),
    "CrossEntropyLoss label_smoothing='3'": (
        lambda: nn.CrossEntropyLoss(label_smoothing="3")(anynn.randn(2, 3), anynn.tensor(np.array([0, 1]))), TypeError,
        r"^CrossEntropyLoss\(\) got label_smoothing='3' of type str: expected a float$"),
    "BCELoss input outside [0, 1]": (lambda: nn.BCELoss()(anynn.tensor(np.array([-0.5, 2.0])), anynn.zeros(2)),
                                     ValueError, r"^BCELoss\(\) got input values in \[-0\.5, 2\]: expected "
                                     r"probabilities in \[0, 1\]; apply sigmoid first"),
}

test_bad_layer_argument_is_named = error_case_suite(LAYER_ARGUMENT_ERRORS)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])  # torch's huber backward refuses them
def test_integer_targets_are_promoted_as_in_pytorch(backend, name):
    torch = torch_or_skip()
    values = np.array([0.5, 2.0, -1.0])
    labels = np.array([1, 2, 0])
    x = anynn.tensor(values, requires_grad=True)
    loss = getattr(anynn.nn.functional, name)(x, anynn.tensor(labels))
    loss.backward()
    tx = torch.tensor(values, requires_grad=True)
    ref = getattr(torch.nn.functional, name)(tx, torch.tensor(labels))
    ref.backward()
    assert loss.dtype is anynn.float64
    assert_close(loss, ref.detach().numpy())
    assert_close(x.grad, tx.grad.numpy())
