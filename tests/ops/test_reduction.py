"""sum, mean, var, std, prod, max/min (values and indices), amax/amin, logsumexp, norm, cumsum/cumprod,
argmax/argmin: PyTorch as the oracle (float64, forward and gradient), gradcheck on every backend, float32 kept,
same answers on every backend, PyTorch's gradient at ties and zeros."""
from __future__ import annotations


import numpy as np
import pytest

import anynn
from helpers import Fixed, op_case_suite, assert_close, leaf, torch_leaf, torch_or_skip

rng = np.random.default_rng(2)
X = rng.standard_normal((2, 3, 4))
SMALL = rng.standard_normal((3, 2))
ZEROS = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])  # lines with 0, 1, 2 zeros


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
    "max_axis": (lambda x: x.max(1).values, lambda x: x.max(1).values, [X]),
    "max_axis_index_0": (lambda x: x.max(1)[0], lambda x: x.max(1)[0], [X]),
    "max_axis_keepdims": (lambda x: x.max(dim=-1, keepdim=True).values, lambda x: x.max(-1, keepdim=True).values,
                          [X]),
    "max_function_axis": (lambda x: anynn.max(x, 2)[0], lambda x: _torch().max(x, 2)[0], [X]),
    "max_elementwise": (lambda a, b: anynn.max(a, b), lambda a, b: _torch().max(a, b), [X, X[0] + 0.05]),
    "max_method_elementwise": (lambda a, b: a.max(b), lambda a, b: a.max(b), [X, X[:, :1] + 0.05]),
    "min_elementwise": (lambda a, b: anynn.min(a, b), lambda a, b: _torch().min(a, b), [X, X[0] + 0.05]),
    "amax_tuple_axis": (lambda x: anynn.amax(x, (0, 2)), lambda x: x.amax((0, 2)), [X]),
    "amin_axis_keepdims": (lambda x: x.amin(1, keepdim=True), lambda x: x.amin(1, keepdim=True), [X]),
    "min_all": (lambda x: anynn.min(x), lambda x: x.min(), [X]),
    "min_axis": (lambda x: x.min(0).values, lambda x: x.min(0).values, [X]),
    "min_axis_keepdims": (lambda x: anynn.min(x, -1, keepdim=True).values,
                          lambda x: _torch().min(x, -1, keepdim=True).values, [X]),
    "prod_all": (lambda x: x.prod(), lambda x: x.prod(), [SMALL]),
    "prod_axis": (lambda x: anynn.prod(x, 1), lambda x: _torch().prod(x, 1), [X]),
    "prod_axis_keepdims": (lambda x: x.prod(-1, keepdim=True), lambda x: x.prod(-1, keepdim=True), [X]),
    "prod_with_zeros": (lambda x, z: (x * z).prod(1), lambda x, z: (x * z).prod(1), [X[0], Fixed(ZEROS)]),
    "prod_all_with_zero": (lambda x, z: (x * z).prod(), lambda x, z: (x * z).prod(), [X[0], Fixed(ZEROS)]),
    "cumsum": (lambda x: x.cumsum(1), lambda x: x.cumsum(1), [X]),
    "cumsum_function_last": (lambda x: anynn.cumsum(x, dim=-1), lambda x: _torch().cumsum(x, dim=-1), [X]),
    "cumprod": (lambda x: x.cumprod(2), lambda x: x.cumprod(2), [X]),
    "cumprod_function": (lambda x: anynn.cumprod(x, 0), lambda x: _torch().cumprod(x, 0), [X]),
    "cumprod_with_zeros": (lambda x, z: (x * z).cumprod(1), lambda x, z: (x * z).cumprod(1), [X[0], Fixed(ZEROS)]),
    "cumprod_with_zeros_axis0": (lambda x, z: (x * z).cumprod(0), lambda x, z: (x * z).cumprod(0),
                                 [X[0], Fixed(ZEROS)]),
    "norm_all": (lambda x: x.norm(), lambda x: x.norm(), [X]),
    "norm_function_p1_dim": (lambda x: anynn.norm(x, 1, dim=1), lambda x: _torch().norm(x, 1, dim=1), [X]),
    "norm_p3_keepdim": (lambda x: x.norm(3, dim=(0, 2), keepdim=True), lambda x: x.norm(3, dim=(0, 2), keepdim=True),
                        [X]),
    "norm_half": (lambda x: x.norm(0.5, dim=-1), lambda x: x.norm(0.5, dim=-1), [X]),
    "norm_inf": (lambda x: x.norm(float("inf"), dim=1), lambda x: x.norm(float("inf"), dim=1), [X]),
    "norm_minus_inf": (lambda x: x.norm(-float("inf")), lambda x: x.norm(-float("inf")), [X]),
    "sum_dim_keepdim": (lambda x: anynn.sum(x, dim=1, keepdim=True), lambda x: _torch().sum(x, dim=1, keepdim=True),
                        [X]),
    "mean_function_dim": (lambda x: anynn.mean(x, dim=(0, 1)), lambda x: _torch().mean(x, dim=(0, 1)), [X]),
    "var_unbiased_false": (lambda x: x.var(1, unbiased=False), lambda x: x.var(1, unbiased=False), [X]),
    "std_function": (lambda x: anynn.std(x, dim=0), lambda x: _torch().std(x, dim=0), [X]),
    "logsumexp_method": (lambda x: x.logsumexp(dim=1), lambda x: x.logsumexp(dim=1), [X]),
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
    torch_or_skip()
    x, t = leaf(TIES), torch_leaf(TIES)
    (x.max() if largest else x.min()).backward()
    (t.max() if largest else t.min()).backward()
    assert_close(x.grad, t.grad.numpy())


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("axis", [0, 1])
def test_ties_along_an_axis_go_to_the_first_extremum_like_torch(backend, largest, axis):
    torch_or_skip()
    x, t = leaf(TIES), torch_leaf(TIES)
    (x.max(axis).values if largest else x.min(axis).values).sum().backward()
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


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_along_a_dim_give_values_and_first_indices_like_torch(backend, largest, dim):
    torch = torch_or_skip()
    name = "max" if largest else "min"
    ours, theirs = getattr(anynn.tensor(TIES), name)(dim), getattr(torch.tensor(TIES), name)(dim)
    assert isinstance(ours, tuple) and len(ours) == 2
    assert ours.values.tolist() == theirs.values.tolist() and ours[0].tolist() == theirs[0].tolist()
    assert ours.indices.tolist() == theirs.indices.tolist() and ours[1].dtype is anynn.int64
    kept = getattr(anynn, name)(anynn.tensor(TIES), dim, keepdim=True)[1]
    assert kept.tolist() == getattr(torch, name)(torch.tensor(TIES), dim, keepdim=True)[1].tolist()
    values, indices = getattr(anynn.tensor(X), name)(dim=dim)
    assert indices.tolist() == getattr(torch.tensor(X), name)(dim=dim).indices.tolist()


def test_predictions_by_max_indices_and_argmin(backend):
    torch = torch_or_skip()
    out = anynn.tensor(X[0])
    assert out.max(1, keepdim=True)[1].tolist() == torch.tensor(X[0]).max(1, keepdim=True)[1].tolist()
    assert out.argmin(dim=1).tolist() == torch.tensor(X[0]).argmin(dim=1).tolist()
    assert anynn.argmin(out).item() == torch.tensor(X[0]).argmin().item()
    assert anynn.argmin(out, 0, keepdim=True).shape == (1, 4)


def test_max_over_several_dims_points_to_amax(backend):
    with pytest.raises(TypeError, match="amax"):
        anynn.max(anynn.tensor(X), (0, 2))


def test_integer_and_boolean_sums_are_int64_like_torch(backend):
    torch = torch_or_skip()
    ints = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    for fn in (lambda t: t.sum(), lambda t: t.sum(1), lambda t: t.cumsum(1), lambda t: t.prod(1),
               lambda t: (t > 2).sum(), lambda t: (t > 2).cumsum(0)):
        ours, theirs = fn(anynn.tensor(ints)), fn(torch.tensor(ints))
        assert ours.dtype is anynn.int64 and ours.tolist() == theirs.tolist()


def test_all_any_count_nonzero(backend):
    torch = torch_or_skip()
    mask = X[0] > 0
    for fn in (lambda t: t.all(), lambda t: t.any(1), lambda t: t.all(0, keepdim=True), lambda t: t.count_nonzero(1)):
        assert fn(anynn.tensor(mask)).tolist() == fn(torch.tensor(mask)).tolist()
