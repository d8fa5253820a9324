"""+ - * / ** @ and negation: PyTorch as the oracle (float64, forward and every input gradient), gradcheck on
every backend, float32 kept, and the same answers on every backend."""
from __future__ import annotations


import numpy as np
import pytest

import anynn
from helpers import op_case_suite, assert_close, leaf, torch_leaf, torch_or_skip

rng = np.random.default_rng(0)


def _normal(*shape):
    return rng.standard_normal(shape)


def _positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


# name: (anynn function, torch function, input arrays); every input is differentiated
CASES = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, [_normal(2, 3), _normal(2, 3)]),
    "add_broadcast": (lambda a, b: a + b, lambda a, b: a + b, [_normal(2, 1, 3), _normal(4, 1)]),
    "add_scalar_tensor": (lambda a, b: a + b, lambda a, b: a + b, [_normal(), _normal(2, 2)]),
    "sub_broadcast": (lambda a, b: a - b, lambda a, b: a - b, [_normal(3,), _normal(2, 3)]),
    "mul_broadcast": (lambda a, b: a * b, lambda a, b: a * b, [_normal(2, 3), _normal(2, 1)]),
    "div_broadcast": (lambda a, b: a / b, lambda a, b: a / b, [_normal(2, 3), _positive(3)]),
    "neg": (lambda a: -a, lambda a: -a, [_normal(2, 3)]),
    "pow_scalar_exponent": (lambda a: a ** 3, lambda a: a ** 3, [_normal(2, 3)]),
    "pow_fractional_exponent": (lambda a: a ** 1.5, lambda a: a ** 1.5, [_positive(4)]),
    "pow_tensor_exponent": (lambda a, b: a ** b, lambda a, b: a ** b, [_positive(2, 3), _normal(3)]),
    "rpow": (lambda a: 2.5 ** a, lambda a: 2.5 ** a, [_normal(4)]),
    "reflected_scalars": (lambda a: 2.0 - a * 3 + 1.5 / a + 4, lambda a: 2.0 - a * 3 + 1.5 / a + 4, [_positive(5)]),
    "matmul_2d": (lambda a, b: a @ b, lambda a, b: a @ b, [_normal(2, 3), _normal(3, 4)]),
    "matmul_vec_mat": (lambda a, b: a @ b, lambda a, b: a @ b, [_normal(3), _normal(3, 2)]),
    "matmul_mat_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [_normal(2, 3), _normal(3)]),
    "matmul_vec_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [_normal(3), _normal(3)]),
    "matmul_batched_broadcast": (lambda a, b: a @ b, lambda a, b: a @ b, [_normal(2, 1, 2, 3), _normal(3, 3, 2)]),
    "matmul_vec_batched": (lambda a, b: a @ b, lambda a, b: a @ b, [_normal(3), _normal(2, 3, 2)]),
    "matmul_function": (anynn.matmul, lambda a, b: a @ b, [_normal(2, 3), _normal(3, 2)]),
}


test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_pow_edge_gradients_match_torch(backend):
    """At a == 0 the exponent's gradient is 0 (not nan), and x ** 0 has gradient 0, as in PyTorch."""
    torch_or_skip()
    a_np, b_np = np.array([0.0, 0.0, 2.0]), np.array([2.0, 0.0, 0.5])
    a, b = leaf(a_np), leaf(b_np)
    ta, tb = torch_leaf(a_np), torch_leaf(b_np)
    with np.errstate(divide="ignore", invalid="ignore"):  # the masked-out branch computes 0 ** -1 and log(0)
        (a ** b).sum().backward()
    (ta ** tb).sum().backward()
    assert_close(a.grad, ta.grad.numpy())
    assert_close(b.grad, tb.grad.numpy())
    z = leaf(np.array([0.0, 3.0]))
    (z ** 0).sum().backward()
    assert_close(z.grad, [0.0, 0.0])


def test_scalar_operand_gets_no_gradient_and_no_upcast(backend):
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    for y in (x + 1, 1 - x, x * 2, 2 / x, x ** 2, 2 ** x, -x):
        assert y.dtype is anynn.float32 and y.requires_grad


def test_matmul_rejects_0d_and_scalars(backend):
    x = anynn.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="at least one dimension"):
        x @ anynn.tensor(2.0)
    with pytest.raises(TypeError, match="matmul"):
        x @ 2.0
