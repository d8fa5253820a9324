"""F.linear: forward and gradients equal PyTorch's (float64), gradcheck, dtypes and errors on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, compare_with_torch, leaf, torch_or_skip



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
