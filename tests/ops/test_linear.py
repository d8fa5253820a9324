"""F.linear, mm, bmm, dot, matmul, outer, einsum and cdist: forward and gradients equal PyTorch's (float64),
gradcheck, dtypes and errors on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, compare_with_torch, leaf, op_case_suite, torch_or_skip



@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch(backend, x_shape, with_bias):
    torch = torch_or_skip()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((3, 4)), rng.standard_normal(3) if with_bias else None]
    compare_with_torch(F.linear, torch.nn.functional.linear, arrays)


def test_linear_gradcheck(backend):
    rng = np.random.default_rng(1)
    x, w, b = leaf(rng.standard_normal((2, 2, 3))), leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal(2))
    assert anynn.gradcheck(F.linear, [x, w, b])


def test_linear_skips_gradients_nobody_needs(backend):
    rng = np.random.default_rng(2)
    x_host = rng.standard_normal((4, 3))
    x = anynn.tensor(x_host)
    w = leaf(rng.standard_normal((2, 3)))
    F.linear(x, w).sum().backward()
    assert x.grad is None
    assert_close(w.grad, np.tile(x_host.sum(axis=0), (2, 1)))


def test_linear_keeps_float32(backend):
    rng = np.random.default_rng(3)
    x = leaf(rng.standard_normal((4, 3)), dtype=anynn.float32)
    w = leaf(rng.standard_normal((2, 3)), dtype=anynn.float32)
    b = leaf(rng.standard_normal(2), dtype=anynn.float32)
    out = F.linear(x, w, b)
    out.sum().backward()
    assert out.dtype == anynn.float32
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == anynn.float32


def test_linear_errors(backend):
    x, w = anynn.zeros(4, 5), anynn.zeros(2, 3)
    with pytest.raises(ValueError, match=r"input of shape \(4, 5\) does not fit weight of shape \(2, 3\): "
                                         r"expected \(\.\.\., 3\)"):
        F.linear(x, w)
    with pytest.raises(ValueError, match=r"weight must be 2-D"):
        F.linear(x, anynn.zeros(5))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(3,\)"):
        F.linear(anynn.zeros(4, 3), w, anynn.zeros(3))


_rng = np.random.default_rng(21)
A, B, V = _rng.standard_normal((3, 4)), _rng.standard_normal((4, 5)), _rng.standard_normal(4)
BA, BB = _rng.standard_normal((2, 3, 4)), _rng.standard_normal((2, 4, 5))
P, Q = _rng.standard_normal((2, 5, 3)), _rng.standard_normal((2, 4, 3))


def _torch():
    return torch_or_skip()


PRODUCTS = {
    "mm": (lambda a, b: anynn.mm(a, b), lambda a, b: _torch().mm(a, b), [A, B]),
    "mm_method": (lambda a, b: a.mm(b), lambda a, b: a.mm(b), [A, B]),
    "bmm": (lambda a, b: anynn.bmm(a, b), lambda a, b: _torch().bmm(a, b), [BA, BB]),
    "dot": (lambda a, b: anynn.dot(a, b), lambda a, b: _torch().dot(a, b), [V, V[::-1].copy()]),
    "matmul_broadcast": (lambda a, b: anynn.matmul(a, b), lambda a, b: _torch().matmul(a, b), [BA, B]),
    "matmul_vector": (lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), [BA, V]),
    "outer": (lambda a, b: anynn.outer(a, b), lambda a, b: _torch().outer(a, b), [V, V[:3].copy()]),
    "t_and_mT": (lambda a, b: a.t() @ b.mT[0], lambda a, b: a.t() @ b.mT[0], [A, P]),
    "einsum_matmul": (lambda a, b: anynn.einsum("ij,jk->ik", a, b), lambda a, b: _torch().einsum("ij,jk->ik", a, b),
                      [A, B]),
    "einsum_batched": (lambda a, b: anynn.einsum("bij,bjk->bik", a, b),
                       lambda a, b: _torch().einsum("bij,bjk->bik", a, b), [BA, BB]),
    "einsum_attention": (lambda q, k: anynn.einsum("bqd,bkd->bqk", q, k),
                         lambda q, k: _torch().einsum("bqd,bkd->bqk", q, k), [P, Q]),
    "einsum_implicit_transpose": (lambda a: anynn.einsum("ji", a), lambda a: _torch().einsum("ji", a), [A]),
    "einsum_sum_and_inner": (lambda a, v: anynn.einsum("ij,j->", a, v), lambda a, v: _torch().einsum("ij,j->", a, v),
                             [A, V]),
    "einsum_outer_list": (lambda a, b: anynn.einsum("i,j->ij", [a, b]), lambda a, b: _torch().einsum("i,j->ij", [a, b]),
                          [V, V[:2].copy()]),
    "einsum_ellipsis": (lambda a, b: anynn.einsum("...ij,jk->...ki", a, b),
                        lambda a, b: _torch().einsum("...ij,jk->...ki", a, b), [BA, B]),
    "einsum_three_operands": (lambda a, b, v: anynn.einsum("ij,jk,j->ki", a, b, v),
                              lambda a, b, v: _torch().einsum("ij,jk,j->ki", a, b, v), [A, B, V]),
    "einsum_broadcast_size_one": (lambda a, b: anynn.einsum("bij,bjk->bik", a, b),
                                  lambda a, b: _torch().einsum("bij,bjk->bik", a, b), [BA[:1], BB]),
    "cdist": (lambda a, b: anynn.cdist(a, b), lambda a, b: _torch().cdist(a, b), [P, Q]),
    "cdist_p1": (lambda a, b: anynn.cdist(a, b, p=1.0), lambda a, b: _torch().cdist(a, b, p=1.0), [P[0], Q[0]]),
    "cdist_p3": (lambda a, b: anynn.cdist(a, b, p=3.0), lambda a, b: _torch().cdist(a, b, p=3.0), [P, Q]),
    "cdist_inf": (lambda a, b: anynn.cdist(a, b, p=float("inf")), lambda a, b: _torch().cdist(a, b, p=float("inf")),
                  [P[0], Q[0]]),
}

(test_products_match_torch, test_products_gradcheck, test_products_float32_stays_float32,
 test_products_same_results_on_every_backend) = op_case_suite(PRODUCTS)


def test_cdist_gradient_is_zero_where_rows_coincide(backend):
    torch = torch_or_skip()
    rows = np.array([[1.0, 2.0], [0.5, -1.0]])
    x, t = leaf(rows), torch.tensor(rows, requires_grad=True)
    anynn.cdist(x, x).sum().backward()
    torch.cdist(t, t).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    assert_close(x.grad, t.grad.numpy())


PRODUCT_ERRORS = {
    "mm_shapes": (lambda: anynn.mm(anynn.ones(2, 3), anynn.ones(2, 3)), ValueError, r"mm: expected 2-D \(n, m\)"),
    "bmm_2d": (lambda: anynn.bmm(anynn.ones(2, 3), anynn.ones(3, 2)), ValueError, "bmm: expected 3-D"),
    "dot_2d": (lambda: anynn.dot(anynn.ones(2, 3), anynn.ones(3)), ValueError, "dot: expected two 1-D"),
    "matmul_dtypes": (lambda: anynn.matmul(anynn.ones(2, 3), anynn.ones(3, dtype=anynn.float64)), TypeError,
                      "one dtype"),
    "einsum_count": (lambda: anynn.einsum("ij,jk", anynn.ones(2, 3)), ValueError, "2 operand"),
    "einsum_diagonal": (lambda: anynn.einsum("ii->i", anynn.ones(2, 2)), ValueError, "diagonals"),
    "einsum_sizes": (lambda: anynn.einsum("ij,jk", anynn.ones(2, 3), anynn.ones(2, 3)), ValueError, "subscript 'j'"),
    "cdist_features": (lambda: anynn.cdist(anynn.ones(2, 3), anynn.ones(2, 4)), ValueError, "cdist: expected"),
}


@pytest.mark.parametrize("case", list(PRODUCT_ERRORS))
def test_product_errors_name_the_op(case):
    make, exc, pattern = PRODUCT_ERRORS[case]
    with anynn.use_backend("numpy"), pytest.raises(exc, match=pattern):
        make()
