"""sort, argsort, topk, kthvalue, median: PyTorch as the oracle (values and their gradients in float64, indices
exactly), gradcheck on every backend, float32 kept, the same answers on every backend; ties keep their order."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from helpers import OpCase, op_case_suite, torch_or_skip

rng = np.random.default_rng(5)
X = rng.standard_normal((3, 4, 5))  # distinct values: PyTorch's order of ties is unspecified
ODD = rng.standard_normal((3, 5))


def _torch():
    return torch_or_skip()


CASES = {
    "sort_last": (lambda x: x.sort().values, lambda x: x.sort().values, [X]),
    "sort_dim0_descending": (lambda x: anynn.sort(x, 0, descending=True)[0],
                             lambda x: _torch().sort(x, 0, descending=True)[0], [X]),
    "sort_dim1": (lambda x: x.sort(dim=1)[0], lambda x: x.sort(dim=1)[0], [X]),
    "topk": (lambda x: x.topk(2).values, lambda x: x.topk(2).values, [X]),
    "topk_smallest_dim1": (lambda x: anynn.topk(x, 3, dim=1, largest=False)[0],
                           lambda x: _torch().topk(x, 3, dim=1, largest=False)[0], [X]),
    "kthvalue": (lambda x: x.kthvalue(2).values, lambda x: x.kthvalue(2).values, [X]),
    "kthvalue_keepdim_dim0": (lambda x: anynn.kthvalue(x, 3, 0, keepdim=True)[0],
                              lambda x: _torch().kthvalue(x, 3, 0, keepdim=True)[0], [X]),
    "median_all": (lambda x: x.median(), lambda x: x.median(), [X]),
    "median_dim": (lambda x: anynn.median(x, 1).values, lambda x: _torch().median(x, 1).values, [ODD]),
    "median_even_dim": (lambda x: x.median(-1, keepdim=True).values, lambda x: x.median(-1, keepdim=True).values,
                        [ODD[:, :4]]),
    "argsort": OpCase(lambda x: x.argsort(1), lambda x: x.argsort(1), [X], forward_only=True, float32=False),
    "argsort_descending": OpCase(lambda x: anynn.argsort(x, descending=True),
                                 lambda x: _torch().argsort(x, descending=True), [X], forward_only=True,
                                 float32=False),
    "sort_indices": OpCase(lambda x: x.sort(0)[1], lambda x: x.sort(0)[1], [X], forward_only=True, float32=False),
    "topk_indices": OpCase(lambda x: x.topk(2, 1).indices, lambda x: x.topk(2, 1).indices, [X], forward_only=True,
                           float32=False),
    "kthvalue_indices": OpCase(lambda x: x.kthvalue(4).indices, lambda x: x.kthvalue(4).indices, [X],
                               forward_only=True, float32=False),
    "median_indices": OpCase(lambda x: x.median(0).indices, lambda x: x.median(0).indices, [ODD], forward_only=True,
                             float32=False),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_results_unpack_and_name_their_fields(backend):
    values, indices = anynn.tensor(X).sort(1)
    assert values.shape == indices.shape == (3, 4, 5) and indices.dtype is anynn.int64
    top = anynn.tensor(X).topk(1)
    assert top.values.shape == (3, 4, 1) and top[1] is top.indices


@pytest.mark.parametrize("descending", [False, True])
def test_ties_keep_their_order(backend, descending):
    """A stable sort, as torch.sort(stable=True)."""
    torch = torch_or_skip()
    ties = np.array([[2.0, 1.0, 2.0, 1.0, 3.0, 2.0]])
    ours = anynn.tensor(ties).sort(descending=descending)
    theirs = torch.tensor(ties).sort(descending=descending, stable=True)
    assert ours.indices.tolist() == theirs.indices.tolist()


def test_zero_dimensional_and_errors(backend):
    x = anynn.tensor(2.5)
    assert x.sort().values.item() == 2.5 and x.sort().indices.item() == 0
    with pytest.raises(ValueError, match=r"topk: k must be an int in \[0, 5\]"):
        anynn.tensor(X).topk(6)
    with pytest.raises(ValueError, match=r"kthvalue: k must be an int in \[1, 5\]"):
        anynn.tensor(X).kthvalue(0)
    with pytest.raises(IndexError, match="out of range"):
        anynn.tensor(X).sort(3)
