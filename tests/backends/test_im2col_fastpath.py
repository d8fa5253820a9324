"""The im2col/col2im hooks: each backend's fast path equals the standard-only default in base.py, and col2im
is exactly the adjoint of im2col (<im2col(x), c> == <x, col2im(c)>) on random shapes."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.backends.base import Backend


def _random_geometry(seed):
    """A random (C, H, W, N) input shape and a kernel/stride/dilation that fit it."""
    rng = np.random.default_rng(seed)
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=2))
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    c, n = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    h, w = (int(s + rng.integers(0, 6)) for s in span)
    out_hw = tuple((size - sp) // s + 1 for size, sp, s in zip((h, w), span, stride))
    return (c, h, w, n), kernel, stride, dilation, out_hw


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_im2col_equals_standard_default(backend, seed):
    shape, kernel, stride, dilation, out_hw = _random_geometry(seed)
    x = backend.from_numpy(np.random.default_rng(100 + seed).standard_normal(shape))
    fast = backend.im2col(x, kernel, stride, dilation, out_hw)
    standard = Backend.im2col(backend, x, kernel, stride, dilation, out_hw)
    c, n = shape[0], shape[3]
    assert tuple(fast.shape) == (c * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * n)
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(standard))


@pytest.mark.parametrize("seed", SEEDS)
def test_col2im_equals_standard_default(backend, seed):
    shape, kernel, stride, dilation, out_hw = _random_geometry(seed)
    rows, cols = shape[0] * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * shape[3]
    c = backend.from_numpy(np.random.default_rng(200 + seed).standard_normal((rows, cols)))
    fast = backend.col2im(c, shape, kernel, stride, dilation, out_hw)
    standard = Backend.col2im(backend, c, shape, kernel, stride, dilation, out_hw)
    assert tuple(fast.shape) == shape
    np.testing.assert_allclose(backend.to_numpy(fast), backend.to_numpy(standard), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("seed", SEEDS)
def test_col2im_is_the_adjoint_of_im2col(backend, seed):
    shape, kernel, stride, dilation, out_hw = _random_geometry(seed)
    rng = np.random.default_rng(300 + seed)
    x_host = rng.standard_normal(shape)
    c_host = rng.standard_normal((shape[0] * kernel[0] * kernel[1], out_hw[0] * out_hw[1] * shape[3]))
    cols = backend.to_numpy(backend.im2col(backend.from_numpy(x_host), kernel, stride, dilation, out_hw))
    back = backend.to_numpy(backend.col2im(backend.from_numpy(c_host), shape, kernel, stride, dilation, out_hw))
    np.testing.assert_allclose(np.sum(cols * c_host), np.sum(x_host * back), rtol=1e-12)


def test_im2col_patch_layout(backend):
    """Row (c, i, j), column (oh, ow, n) holds x[c, oh*s + i*d, ow*s + j*d, n]: the layout conv relies on."""
    shape, kernel, stride, dilation, out_hw = (2, 7, 6, 3), (2, 3), (2, 1), (2, 1), (2, 4)
    x_host = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    cols = backend.to_numpy(backend.im2col(backend.from_numpy(x_host), kernel, stride, dilation, out_hw))
    expected = np.empty((2, 2, 3, 2, 4, 3))
    for c in range(2):
        for i in range(2):
            for j in range(3):
                for oh in range(2):
                    for ow in range(4):
                        expected[c, i, j, oh, ow] = x_host[c, oh * 2 + i * 2, ow + j, :]
    np.testing.assert_array_equal(cols, expected.reshape(12, 24))


def test_im2col_keeps_float32(backend):
    x = backend.from_numpy(np.ones((2, 5, 5, 3), dtype=np.float32))
    cols = backend.im2col(x, (3, 3), (1, 1), (1, 1), (3, 3))
    assert backend.dtype_of(cols.dtype) is anynn.float32
    back = backend.col2im(cols, (2, 5, 5, 3), (3, 3), (1, 1), (1, 1), (3, 3))
    assert backend.dtype_of(back.dtype) is anynn.float32
