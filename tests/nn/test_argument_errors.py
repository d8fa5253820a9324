"""Issue 16: bad layer, loss and optimizer arguments raise anynn's own error naming the layer, what it expected and
what it got (before: raw NumPy/Python errors, or silent acceptance where PyTorch refuses), and edge cases PyTorch
accepts work as in PyTorch. One row per case the property test (tests/test_bad_input_properties.py) found."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import anynn
from anynn import nn
from anynn.ops.conv import ntuple

x4 = lambda: anynn.randn(2, 3, 4, 4)  # noqa: E731
x2 = lambda: anynn.randn(2, 3)  # noqa: E731

CASES = {
    # normalization.py
    "BatchNorm1d num_features=-1": (lambda: nn.BatchNorm1d(-1), ValueError,
                                    r"^BatchNorm1d got num_features=-1: expected a non-negative int$"),
    "BatchNorm3d num_features=2.5": (lambda: nn.BatchNorm3d(2.5), ValueError,
                                     r"^BatchNorm3d got num_features=2\.5: expected a non-negative int$"),
    "BatchNorm1d list input": (lambda: nn.BatchNorm1d(3)([[1.0, 2.0, 3.0]]), TypeError,
                               r"^BatchNorm1d\(3, .*\) got input of type builtins\.list: expected an anynn Tensor; "
                               r"wrap arrays and lists with anynn\.tensor"),
    "BatchNorm2d eps=0 in training": (lambda: nn.BatchNorm2d(3, eps=0.0)(x4()), ValueError,
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
                                          r"^BatchNorm2d\(3, .*\) got input of shape \(1, 3, 1, 1\): expected more than "
                                          r"1 value per channel when training"),
    # dropout.py
    "Dropout2d p='3'": (lambda: nn.Dropout2d(p="3"), TypeError, r"^Dropout2d got p='3' of type str: expected a float$"),
    "Dropout int64 input": (lambda: nn.Dropout()(anynn.tensor(np.arange(4))), TypeError,
                            r"^Dropout\(p=0\.5, inplace=False\) got input of dtype int64: expected a floating-point "
                            r"tensor .* convert it with input\.float\(\)"),
    "Dropout2d list input": (lambda: nn.Dropout2d()([[[1.0]]]), TypeError,
                             r"^Dropout2d\(p=0\.5, inplace=False\) got input of type builtins\.list"),
    # activation.py
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
    # loss.py
    "HuberLoss delta='3'": (lambda: nn.HuberLoss(delta="3"), TypeError,
                            r"^HuberLoss got delta='3' of type str: expected a float$"),
    "HuberLoss delta=nan": (lambda: nn.HuberLoss(delta=math.nan), ValueError,
                            r"^HuberLoss got delta=nan: expected delta > 0"),
    "SmoothL1Loss beta='3'": (lambda: nn.SmoothL1Loss(beta="3"), TypeError, r"^SmoothL1Loss got beta='3' of type str"),
    "SmoothL1Loss beta=nan": (lambda: nn.SmoothL1Loss(beta=math.nan), ValueError,
                              r"^SmoothL1Loss got beta=nan: expected beta >= 0"),
    "CrossEntropyLoss label_smoothing='3'": (
        lambda: nn.CrossEntropyLoss(label_smoothing="3")(x2(), anynn.tensor(np.array([0, 1]))), TypeError,
        r"^CrossEntropyLoss\(\) got label_smoothing='3' of type str: expected a float$"),
    "BCELoss input outside [0, 1]": (lambda: nn.BCELoss()(anynn.tensor(np.array([-0.5, 2.0])), anynn.zeros(2)),
                                     ValueError, r"^BCELoss\(\) got input values in \[-0\.5, 2\]: expected "
                                     r"probabilities in \[0, 1\]; apply sigmoid first"),
    # optim/adam.py (AdamW inherits it)
    "Adam betas=0.0": (lambda: anynn.optim.Adam([nn.Parameter(anynn.zeros(2))], betas=0.0), TypeError,
                       r"^Adam got betas=0\.0: expected a pair of floats \(beta1, beta2\), each in \[0, 1\), e\.g\. "
                       r"betas=\(0\.9, 0\.999\)$"),
    "AdamW betas=(0.9,)": (lambda: anynn.optim.AdamW([nn.Parameter(anynn.zeros(2))], betas=(0.9,)), TypeError,
                           r"^AdamW got betas=\(0\.9,\): expected a pair of floats"),
    # ops/conv.py ntuple
    "Conv2d kernel_size=2.5": (lambda: nn.Conv2d(1, 1, kernel_size=2.5), ValueError,
                               r"kernel_size must be an int or a tuple of 2 ints, got 2\.5$"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_argument_is_named(case):
    make, exc, pattern = CASES[case]
    with anynn.use_backend("numpy"), pytest.raises(exc) as err:
        make()
    assert re.search(pattern, str(err.value)), f"{case}: {type(err.value).__name__}: {err.value}"


def test_ntuple_refuses_non_iterables_with_its_own_message():
    with pytest.raises(ValueError, match=r"^conv2d: stride must be an int or a tuple of 2 ints, got None$"):
        ntuple(None, 2, "stride", "conv2d")
    assert ntuple([1, 2], 2, "stride", "conv2d") == (1, 2)


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
        assert nn.CrossEntropyLoss(label_smoothing=True)(x2(), anynn.tensor(np.array([0, 1]))).shape == ()
