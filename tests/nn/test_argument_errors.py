"""Issue 16: bad layer, loss and optimizer arguments raise anynn's own error naming the layer, what it expected and
what it got (before: raw NumPy/Python errors, or silent acceptance where PyTorch refuses), and edge cases PyTorch
accepts work as in PyTorch. One row per case the property test (tests/test_bad_input_properties.py) found; the
rows of the conv, loss, normalization and activation layers live beside those layers' tests (tests/nn/
test_conv_pool_layers.py, tests/nn/test_loss_modules.py, tests/ops/test_norm.py, tests/ops/test_activation.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
from anynn import nn
from helpers import error_case_suite

x4 = lambda: anynn.randn(2, 3, 4, 4)  # noqa: E731

CASES = {
    # dropout.py
    "Dropout2d p='3'": (lambda: nn.Dropout2d(p="3"), TypeError, r"^Dropout2d got p='3' of type str: expected a float$"),
    "Dropout int64 input": (lambda: nn.Dropout()(anynn.tensor(np.arange(4))), TypeError,
                            r"^Dropout\(p=0\.5, inplace=False\) got input of dtype int64: expected a floating-point "
                            r"tensor .* convert it with input\.float\(\)"),
    "Dropout2d list input": (lambda: nn.Dropout2d()([[[1.0]]]), TypeError,
                             r"^Dropout2d\(p=0\.5, inplace=False\) got input of type builtins\.list"),
    # flatten.py
    "Flatten end_dim=None": (lambda: nn.Flatten(1, None), TypeError,
                             r"^Flatten got end_dim=None: expected an int \(a dimension; negative counts from the "
                             r"end\)$"),
    "Flatten on a 0-d input": (lambda: nn.Flatten()(anynn.tensor(1.0)), IndexError,
                               r"^Flatten\(start_dim=1, end_dim=-1\) got input with 0 dimension\(s\): start_dim=1 is "
                               r"out of range \(expected -1\.\.0\)$"),
    "Flatten start after end": (lambda: nn.Flatten(2, 1)(x4()), ValueError,
                                r"^Flatten\(start_dim=2, end_dim=1\) got input with 4 dimension\(s\): start_dim 2 "
                                r"comes after end_dim 1; swap them$"),
    "Unflatten ()": (lambda: nn.Unflatten(0, ()), ValueError,
                     r"^Unflatten got unflattened_size=\(\): expected at least one size"),
    "Unflatten 4": (lambda: nn.Unflatten(0, 4), TypeError,
                    r"^Unflatten got unflattened_size=4: expected a tuple of ints, e\.g\. \(1, 28, 28\)$"),
    "Unflatten two -1": (lambda: nn.Unflatten(0, (-1, -1)), ValueError,
                         r"^Unflatten got unflattened_size=\(-1, -1\): expected sizes >= 0 with at most one -1"),
    "Unflatten 0-d input": (lambda: nn.Unflatten(0, (1,))(anynn.tensor(1.0)), ValueError,
                            r"^Unflatten\(dim=0, unflattened_size=\(1,\)\) got a 0-d input"),
    # linear.py
    "Linear out_features=-1": (lambda: nn.Linear(1, -1), ValueError,
                               r"^Linear got out_features=-1: expected a non-negative int$"),
    # rnn.py
    "RNN nonlinearity='sigmoid'": (lambda: nn.RNN(2, 3, nonlinearity="sigmoid"), ValueError,
                                   r"^RNN got nonlinearity='sigmoid': expected 'tanh' or 'relu'$"),
    "RNNCell nonlinearity='sigmoid'": (lambda: nn.RNNCell(2, 3, nonlinearity="sigmoid"), ValueError,
                                       r"^RNNCell got nonlinearity='sigmoid': expected 'tanh' or 'relu'$"),
    # optim/adam.py (AdamW inherits it)
    "Adam betas=0.0": (lambda: anynn.optim.Adam([nn.Parameter(anynn.zeros(2))], betas=0.0), TypeError,
                       r"^Adam got betas=0\.0: expected a pair of floats \(beta1, beta2\), each in \[0, 1\), e\.g\. "
                       r"betas=\(0\.9, 0\.999\)$"),
    "AdamW betas=(0.9,)": (lambda: anynn.optim.AdamW([nn.Parameter(anynn.zeros(2))], betas=(0.9,)), TypeError,
                           r"^AdamW got betas=\(0\.9,\): expected a pair of floats"),
}


test_bad_argument_is_named = error_case_suite(CASES)


def test_edge_cases_pytorch_accepts_work_as_in_pytorch():
    torch = pytest.importorskip("torch")
    with anynn.use_backend("numpy"):
        empty = anynn.zeros(0)
        assert nn.Softmax(dim=0)(empty).shape == tuple(torch.nn.Softmax(dim=0)(torch.zeros(0)).shape) == (0,)
        assert nn.LogSoftmax(dim=0)(empty).shape == (0,)
        assert nn.Flatten(0)(anynn.tensor(1.0)).shape == tuple(torch.nn.Flatten(0)(torch.tensor(1.0)).shape)
        assert nn.Flatten()(anynn.zeros(0, 0)).shape == tuple(torch.nn.Flatten()(torch.zeros(0, 0)).shape)
        assert nn.Dropout(0.0)(anynn.tensor(np.arange(3))).shape == (3,)  # p=0: the identity, ints included
        assert nn.Dropout().eval()(anynn.tensor(np.arange(3))).shape == (3,)
        assert nn.BatchNorm2d(1)(anynn.zeros(0, 1, 0, 0)).shape == tuple(
            torch.nn.BatchNorm2d(1)(torch.zeros(0, 1, 0, 0)).shape)  # an empty batch in training
        assert nn.BatchNorm1d(2, eps=0.0).eval()(anynn.zeros(3, 2)).shape == (3, 2)  # eps=0 is fine in eval
        assert nn.HuberLoss(delta=math.inf)(anynn.zeros(2), anynn.ones(2)).item() == pytest.approx(
            torch.nn.HuberLoss(delta=math.inf)(torch.zeros(2), torch.ones(2)).item())
        assert nn.CrossEntropyLoss(label_smoothing=True)(anynn.randn(2, 3), anynn.tensor(np.array([0, 1]))).shape == ()
