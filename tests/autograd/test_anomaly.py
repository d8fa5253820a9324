"""Anomaly mode names the first operation whose forward output or backward gradient is NaN/inf."""
from __future__ import annotations

import pytest

import anynn
from anynn.autograd import AnomalyError, detect_anomaly

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN/inf on purpose: NumPy warns as it makes them


def test_forward_names_the_first_non_finite_op(backend):
    x = anynn.tensor([1.0, 0.0, 2.0], requires_grad=True)
    with detect_anomaly():
        with pytest.raises(AnomalyError, match=r"Log produced NaN/inf .*input 0: shape \(3,\), finite"):
            (x.log() * 2).sum()


def test_backward_names_the_op_whose_gradient_is_non_finite(backend):
    x = anynn.tensor([4.0, 0.0], requires_grad=True)
    y = x.sqrt().sum()  # finite forward, infinite gradient at 0
    with detect_anomaly():
        with pytest.raises(AnomalyError, match=r"Sqrt.backward returned NaN/inf in the gradient of input 0"):
            y.backward()


def test_off_by_default_and_restored_after_the_block(backend):
    x = anynn.tensor([0.0])
    assert not anynn.autograd.anomaly.flag.enabled
    with detect_anomaly():
        assert anynn.autograd.anomaly.flag.enabled
    assert not anynn.autograd.anomaly.flag.enabled
    assert x.log().item() == float("-inf")
