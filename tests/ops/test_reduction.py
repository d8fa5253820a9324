"""sum, mean, var, std, max/min, logsumexp, argmax: PyTorch as the oracle (float64, forward and gradient),
gradcheck on every backend, float32 kept, same answers on every backend, PyTorch's gradient at ties."""
from __future__ import annotations


import numpy as np
import pytest

import anynn
from helpers import op_case_suite, assert_close, leaf, torch_leaf, torch_or_skip

rng = np.random.default_rng(2)
X = rng.standard_normal((2, 3, 4))
SMALL = rng.standard_normal((3, 2))


def _torch():
    return torch_or_skip()


# name: (anynn function, torch function, input arrays); every input is differentiated
CASES = {
    "sum_all": (lambda x: x.sum(), lambda x: x.sum(), [X]),
    "sum_axis": (lambda x: x.sum(1), lambda x: x.sum(1), [X]),
    "sum_negative_axis_keepdims": (lambda x: x.sum(-1, keepdims=True), lambda x: x.sum(-1, keepdim=True), [X]),
    "sum_tuple_axis": (lambda x: x.sum(axis=(0, 2)), lambda x: x.sum((0, 2)), [X]),
    "sum_all_keepdims": (lambda x: x.sum(keepdims=True), lambda x: x.sum((0, 1, 2), keepdim=True), [X]),
    "sum_function": (lambda x: anynn.sum(x, 0), lambda x: x.sum(0), [X]),
    "mean_all": (lambda x: x.mean(), lambda x: x.mean(), [X]),
    "mean_axis_keepdims": (lambda x: x.mean(dim=1, keepdim=True), lambda x: x.mean(1, keepdim=True), [X]),
    "mean_tuple_axis": (lambda x: anynn.mean(x, (1, 2)), lambda x: x.mean((1, 2)), [X]),
    "var_unbiased": (lambda x: x.var(1), lambda x: x.var(1), [X]),
    "var_biased_all": (lambda x: x.var(correction=0), lambda x: x.var(correction=0), [X]),
    "std_keepdims": (lambda x: x.std((0, 2), keepdims=True), lambda x: x.std((0, 2), keepdim=True), [X]),
    "max_all": (lambda x: x.max(), lambda x: x.max(), [X]),
    "max_axis": (lambda x: x.max(1), lambda x: x.max(1).values, [X]),
    "max_axis_keepdims": (lambda x: x.max(dim=-1, keepdim=True), lambda x: x.max(-1, keepdim=True).values, [X]),
    "max_tuple_axis": (lambda x: anynn.max(x, (0, 2)), lambda x: x.amax((0, 2)), [X]),
    "min_all": (lambda x: anynn.min(x), lambda x: x.min(), [X]),
    "min_axis": (lambda x: x.min(0), lambda x: x.min(0).values, [X]),
    "logsumexp_axis": (lambda x: anynn.logsumexp(x, 1), lambda x: x.logsumexp(1), [X]),
    "logsumexp_keepdims": (lambda x: anynn.logsumexp(x, -1, keepdims=True), lambda x: x.logsumexp(-1, keepdim=True),
                           [X]),
    "logsumexp_all": (lambda x: anynn.logsumexp(x), lambda x: x.logsumexp((0, 1)), [SMALL]),
    "logsumexp_large": (lambda x: anynn.logsumexp(x * 400.0, 0), lambda x: (x * 400.0).logsumexp(0), [SMALL]),
}


test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


TIES = np.array([[0.0, 2.0, 2.0], [1.0, 1.0, 0.0], [2.0, 0.0, 2.0]])


@pytest.mark.parametrize("largest", [True, False])
def test_ties_over_all_elements_share_the_gradient_like_torch(backend, largest):
    torch = torch_or_skip()
    x, t = leaf(TIES), torch_leaf(TIES)
    (x.max() if largest else x.min()).backward()
    (t.max() if largest else t.min()).backward()
    assert_close(x.grad, t.grad.numpy())


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("axis", [0, 1])
def test_ties_along_an_axis_go_to_the_first_extremum_like_torch(backend, largest, axis):
    torch = torch_or_skip()
    x, t = leaf(TIES), torch_leaf(TIES)
    (x.max(axis) if largest else x.min(axis)).sum().backward()
    (t.max(axis).values if largest else t.min(axis).values).sum().backward()
    assert_close(x.grad, t.grad.numpy())


def test_logsumexp_of_infinities(backend):
    x = anynn.tensor([[-np.inf, -np.inf], [0.0, -np.inf], [np.inf, 1.0]], dtype=anynn.float64)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for an all -inf row
        out = anynn.logsumexp(x, 1).numpy()
    assert out[0] == -np.inf and out[1] == 0.0 and out[2] == np.inf


def test_argmax_first_occurrence_and_no_gradient(backend):
    x = anynn.tensor(TIES, requires_grad=True)
    assert x.argmax(1).tolist() == [1, 0, 0]
    assert anynn.argmax(x, 0, keepdims=True).tolist() == [[2, 0, 0]]
    assert x.argmax().item() == 1
    assert x.argmax(1).dtype is anynn.int64 and not x.argmax(1).requires_grad


def test_mean_of_float32_stays_float32(backend):
    x = anynn.ones(3, 5)
    assert x.mean().dtype is anynn.float32 and x.var(0).dtype is anynn.float32 and x.sum(1).dtype is anynn.float32
