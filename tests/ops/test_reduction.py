"""sum, mean, var, std, max/min, logsumexp, argmax: PyTorch as the oracle (float64, forward and gradient),
gradcheck on every backend, float32 kept, same answers on every backend, PyTorch's gradient at ties."""
from __future__ import annotations

import os

import numpy as np
import pytest

import anynn
from anynn import backends as B
from helpers import assert_close, leaf, torch_leaf, torch_or_skip

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


def _targets() -> list[str]:
    wanted = os.environ.get("ANYNN_TEST_BACKENDS")
    names = [B.canonical_name(n.strip()) for n in wanted.split(",") if n.strip()] if wanted else list(B.NAMES)
    return [n for n in names if B.why_unavailable(n) is None]


def _forward_backward(fn, arrays, dtype=anynn.float64):
    """Output and input gradients of sum(fn(*x) * w) for fixed weights w."""
    xs = [leaf(a, dtype) for a in arrays]
    out = fn(*xs)
    weights = np.random.default_rng(7).standard_normal(out.shape)
    (out * anynn.tensor(weights, dtype=dtype)).sum().backward()
    return out, [x.grad for x in xs], weights


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(backend, case):
    torch = torch_or_skip()
    fn, torch_fn, arrays = CASES[case]
    out, grads, weights = _forward_backward(fn, arrays)
    ts = [torch_leaf(a) for a in arrays]
    ref = torch_fn(*ts)
    (ref * torch.tensor(weights)).sum().backward()
    assert out.shape == tuple(ref.shape)
    assert_close(out, ref.detach().numpy())
    for grad, t in zip(grads, ts):
        assert_close(grad, t.grad.numpy())


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradcheck(backend, case):
    fn, _, arrays = CASES[case]
    assert anynn.gradcheck(fn, [leaf(a) for a in arrays])


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_stays_float32(backend, case):
    fn, _, arrays = CASES[case]
    out, grads, _ = _forward_backward(fn, arrays, anynn.float32)
    assert out.dtype is anynn.float32
    assert all(g.dtype is anynn.float32 for g in grads)


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_results_on_every_backend(case):
    fn, _, arrays = CASES[case]
    results = {}
    for name in _targets():
        with anynn.use_backend(name):
            out, grads, _ = _forward_backward(fn, arrays)
            results[name] = [out.numpy()] + [g.numpy() for g in grads]
    first, *others = results
    for name in others:
        for got, expected in zip(results[name], results[first]):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=f"{name} vs {first}")


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
