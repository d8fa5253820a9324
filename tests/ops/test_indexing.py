"""gather, scatter, scatter_add, index_select, masked_fill, one_hot, bincount and x[index] with index tensors,
lists, ranges and boolean masks: PyTorch as the oracle (float64 forward and every gradient), gradcheck on every
backend, float32 kept, the same answers on every backend, and errors that name the op."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.ops._checks import raise_deferred_errors
from helpers import Fixed, assert_close, op_case_suite, torch_or_skip

rng = np.random.default_rng(11)
X = rng.standard_normal((3, 4, 5))
M = rng.standard_normal((4, 3))
IDX1 = rng.integers(0, 4, (3, 2, 5))  # along dim 1, repeats included
IDX_SMALL = rng.integers(0, 5, (2, 3, 2))  # smaller than X outside dim 2
SRC = rng.standard_normal((3, 2, 5))
# distinct positions along dim 1 for every (i, k): scatter's result does not depend on the order of writes
UNIQUE = np.stack([np.stack([rng.permutation(4)[:2] for _ in range(5)], axis=1) for _ in range(3)])
MASK = rng.random((4, 5)) > 0.5
ROWS = np.array([2, 0, 2, 3])


def _torch():
    return torch_or_skip()


CASES = {
    "gather_dim1": (lambda x, i: x.gather(1, i), lambda x, i: x.gather(1, i), [X, Fixed(IDX1)]),
    "gather_function_last_dim_smaller_index": (lambda x, i: anynn.gather(x, -1, i),
                                               lambda x, i: _torch().gather(x, -1, i), [X, Fixed(IDX_SMALL)]),
    "gather_dim0": (lambda x, i: x.gather(0, i), lambda x, i: x.gather(0, i), [M, Fixed(np.array([[3, 0, 1]]))]),
    "scatter_add": (lambda x, i, s: x.scatter_add(1, i, s), lambda x, i, s: x.scatter_add(1, i, s),
                    [X, Fixed(IDX1), SRC]),
    "scatter_add_function": (lambda x, i, s: anynn.scatter_add(x, 1, i, s),
                             lambda x, i, s: _torch().scatter_add(x, 1, i, s), [X, Fixed(IDX1), SRC]),
    "scatter": (lambda x, i, s: x.scatter(1, i, s), lambda x, i, s: x.scatter(1, i, s), [X, Fixed(UNIQUE), SRC]),
    # PyTorch reads only the corner of a larger src (its own backward of this case fails on a shape check, so the
    # oracle cuts src itself)
    "scatter_larger_src": (lambda x, i, s: anynn.scatter(x, 1, i, s),
                           lambda x, i, s: _torch().scatter(x, 1, i, s[:, :1]), [X, Fixed(UNIQUE[:, :1]), SRC]),
    "scatter_value": (lambda x, i: x.scatter(1, i, 2.5) * x, lambda x, i: x.scatter(1, i, 2.5) * x,
                      [X, Fixed(IDX1)]),
    "index_select": (lambda x, i: x.index_select(2, i), lambda x, i: x.index_select(2, i),
                     [X, Fixed(np.array([4, 0, 4, 1]))]),
    "index_select_function_dim0": (lambda x, i: anynn.index_select(x, 0, i),
                                   lambda x, i: _torch().index_select(x, 0, i), [M, Fixed(ROWS)]),
    "masked_fill": (lambda x, m: x.masked_fill(m, -1.5), lambda x, m: x.masked_fill(m, -1.5), [X, Fixed(MASK)]),
    "masked_fill_function_inf": (lambda x, m: anynn.masked_fill(x, m, float("-inf")).softmax(-1),
                                 lambda x, m: _torch().masked_fill(x, m, float("-inf")).softmax(-1),
                                 [X, Fixed(MASK[:, :1] & np.array([[True, False, True, False, True]]))]),
    "masked_fill_tensor_value": (lambda x, v, m: x.masked_fill(m, v), lambda x, v, m: x.masked_fill(m, v),
                                 [X, np.array(0.75), Fixed(MASK)]),
    "diagonal": (lambda x: x.diagonal(), lambda x: x.diagonal(), [M]),
    "diagonal_offset_dims": (lambda x: anynn.diagonal(x, 1, 2, 0), lambda x: _torch().diagonal(x, 1, 2, 0), [X]),
    "diagonal_negative_offset": (lambda x: x.diagonal(-2), lambda x: x.diagonal(-2), [M]),
    "diag_of_matrix": (lambda x: anynn.diag(x, 1), lambda x: _torch().diag(x, 1), [M]),
    "diag_of_vector": (lambda v: v.diag(), lambda v: v.diag(), [M[:, 0].copy()]),
    "diag_of_vector_offset": (lambda v: anynn.diag(v, -1), lambda v: _torch().diag(v, -1), [M[:, 0].copy()]),
    "trace": (lambda x: x.trace(), lambda x: x.trace(), [M]),
    "masked_select_broadcast": (lambda x, m: x.masked_select(m), lambda x, m: x.masked_select(m),
                                [X, Fixed(MASK[0])]),
    "getitem_two_lists": (lambda x: x[[0, 2], [1, 3]], lambda x: x[[0, 2], [1, 3]], [X]),
    "getitem_slice_then_list": (lambda x: x[:, [3, 0, 3]], lambda x: x[:, [3, 0, 3]], [X]),
    "getitem_range_and_tensor": (lambda x, y: x[range(4), y], lambda x, y: x[range(4), y],
                                 [M, Fixed(np.array([2, 0, 1, 2]))]),
    "getitem_separated_lists": (lambda x: x[[0, 1], :, [4, 2]], lambda x: x[[0, 1], :, [4, 2]], [X]),
    "getitem_int_and_list": (lambda x: x[1, [0, 3]], lambda x: x[1, [0, 3]], [X]),
    "getitem_ellipsis_list": (lambda x: x[..., [4, -1]], lambda x: x[..., [4, -1]], [X]),
    "getitem_broadcast_lists": (lambda x: x[[[0], [2]], [1, 2, 3]], lambda x: x[[[0], [2]], [1, 2, 3]], [X]),
    "getitem_mask": (lambda x, m: x[m], lambda x, m: x[m], [X[0], Fixed(MASK)]),
    "getitem_mask_leading_axes": (lambda x, m: x[m], lambda x, m: x[m], [X, Fixed(X[:, :, 0] > 0)]),
    "getitem_slice_then_mask": (lambda x, m: x[:, m], lambda x, m: x[:, m], [X, Fixed(MASK)]),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_one_hot_and_bincount_match_torch(backend):
    torch = torch_or_skip()
    labels = np.array([[0, 3], [2, 2]])
    ours = anynn.one_hot(anynn.tensor(labels))
    theirs = torch.nn.functional.one_hot(torch.tensor(labels))
    assert ours.dtype is anynn.int64 and ours.tolist() == theirs.tolist()
    assert anynn.one_hot(anynn.tensor(labels), num_classes=6).tolist() == \
        torch.nn.functional.one_hot(torch.tensor(labels), num_classes=6).tolist()
    counts = np.array([1, 1, 4, 0, 4, 4])
    assert anynn.bincount(anynn.tensor(counts)).tolist() == torch.bincount(torch.tensor(counts)).tolist()
    assert anynn.bincount(anynn.tensor(counts), minlength=8).tolist() == \
        torch.bincount(torch.tensor(counts), minlength=8).tolist()
    weights = np.linspace(0.5, 3.0, 6)
    ours = anynn.bincount(anynn.tensor(counts), anynn.tensor(weights, dtype=anynn.float64))
    assert_close(ours, torch.bincount(torch.tensor(counts), torch.tensor(weights)).numpy())
    assert anynn.bincount(anynn.tensor(counts)).dtype is anynn.int64


def test_scatter_add_counts_every_repeat(backend):
    """Repeated indices add (integers, so the sum is exact in any order), as torch.scatter_add."""
    torch = torch_or_skip()
    index = np.array([[0, 0, 2, 0, 2]])
    src = np.arange(1.0, 6.0).reshape(1, 5)
    ours = anynn.zeros(1, 3, dtype=anynn.float64).scatter_add(1, anynn.tensor(index), anynn.tensor(src))
    theirs = torch.zeros(1, 3, dtype=torch.float64).scatter_add(1, torch.tensor(index), torch.tensor(src))
    assert ours.tolist() == theirs.tolist()


def test_scatter_with_repeats_keeps_the_last_write(backend):
    x = anynn.zeros(4, dtype=anynn.float64).scatter(0, anynn.tensor([1, 3, 1]), anynn.tensor([5.0, 6.0, 7.0]))
    assert x.tolist() == [0.0, 7.0, 0.0, 6.0]


ERRORS = {
    "gather_float_index": (lambda t: t.gather(1, anynn.tensor([[0.0]])), TypeError, "gather.*integer"),
    "gather_out_of_range": (lambda t: t.gather(1, anynn.tensor([[3]])), IndexError, "gather: index 3 is out of bounds"),
    "gather_wrong_ndim": (lambda t: t.gather(1, anynn.tensor([0])), ValueError, "as many dimensions"),
    "gather_negative": (lambda t: t.gather(0, anynn.tensor([[-1]])), IndexError, "index -1 is out of bounds"),
    "scatter_no_src": (lambda t: t.scatter(1, anynn.tensor([[0]])), TypeError, "give src"),
    "index_select_2d": (lambda t: t.index_select(0, anynn.tensor([[0]])), ValueError, "must be 1-D"),
    "index_select_range": (lambda t: t.index_select(1, anynn.tensor([3])), IndexError, "index_select: index 3"),
    "masked_fill_not_bool": (lambda t: t.masked_fill(anynn.tensor([1, 0, 1]), 0.0), TypeError, "boolean"),
    "masked_fill_grows": (lambda t: t.masked_fill(anynn.ones(2, 2, 3).bool(), 0.0), ValueError, "does not broadcast"),
    "one_hot_float": (lambda t: anynn.one_hot(t), TypeError, "one_hot.*integer"),
    "one_hot_too_few_classes": (lambda t: anynn.one_hot(anynn.tensor([3]), 3), IndexError, "index 3 is out"),
    "bincount_negative": (lambda t: anynn.bincount(anynn.tensor([-1, 2])), ValueError, "non-negative"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_name_the_op(backend, case):
    make, exc, pattern = ERRORS[case]
    with pytest.raises(exc, match=pattern):
        make(anynn.tensor(M[:2]))
        raise_deferred_errors()  # where value checks wait for a synchronisation point (GPUs)
