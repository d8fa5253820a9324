"""Backend hooks: every backend's override equals ``base.Backend``'s standard-only default, and the defaults
are right (erf against math.erf, index_add against a sequential sum, col2im as the adjoint of im2col)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
from anynn.backends.base import Backend

HOOKS = ("im2col", "col2im", "index_add", "erf")


def _default(backend, hook: str):
    """The base class's standard-only implementation, bound to ``backend`` (its xp and device)."""
    return getattr(Backend, hook).__get__(backend)


def _array(backend, host, dtype=None):
    return backend.from_numpy(np.asarray(host), dtype)


def test_every_override_is_a_known_hook(backend):
    """A new override must come with a test here: list the hook methods a backend replaces."""
    replaced = {name for name in HOOKS if getattr(type(backend), name) is not getattr(Backend, name)}
    assert replaced <= set(HOOKS)


@pytest.mark.parametrize("impl", ["override", "default"])
def test_erf_matches_math_erf(backend, impl):
    erf = backend.erf if impl == "override" else _default(backend, "erf")
    x = np.concatenate([np.linspace(-6.0, 6.0, 24001), [0.0, 0.46875, -0.5, 0.5, 4.0, -4.0, 1e-300, -1e-12]])
    got = backend.to_numpy(erf(_array(backend, x, anynn.float64)))
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("impl", ["override", "default"])
def test_erf_keeps_float32(backend, impl):
    erf = backend.erf if impl == "override" else _default(backend, "erf")
    x = np.linspace(-5.0, 5.0, 101, dtype=np.float32)
    got = erf(_array(backend, x))
    assert backend.dtype_of(got.dtype) is anynn.float32
    np.testing.assert_allclose(backend.to_numpy(got), [math.erf(v) for v in x.astype(np.float64)], atol=2e-7)


@pytest.mark.parametrize("impl", ["override", "default"])
def test_index_add_with_repeated_indices_is_exact(backend, impl):
    index_add = backend.index_add if impl == "override" else _default(backend, "index_add")
    index = np.array([3, 0, 3, 3, 5, 0, 3, 1, 3])
    values = np.arange(9 * 2 * 2, dtype=np.float64).reshape(9, 2, 2) - 10.0  # integers: every order is exact
    expected = np.zeros((7, 2, 2))
    np.add.at(expected, index, values)
    got = index_add(7, _array(backend, index), _array(backend, values))
    np.testing.assert_array_equal(backend.to_numpy(got), expected)
    flat = index_add(4, _array(backend, np.array([1, 1, 2])), _array(backend, np.array([1.0, 2.0, 4.0])))
    np.testing.assert_array_equal(backend.to_numpy(flat), [0.0, 3.0, 4.0, 0.0])


def test_index_add_override_equals_default(backend):
    rng = np.random.default_rng(0)
    index = _array(backend, rng.integers(0, 50, 400))
    for dtype in (anynn.float64, anynn.float32):
        values = _array(backend, rng.standard_normal((400, 3)), dtype)
        got = backend.to_numpy(backend.index_add(50, index, values))
        expected = backend.to_numpy(_default(backend, "index_add")(50, index, values))
        assert got.dtype == expected.dtype == np.dtype(dtype.name)
        tol = dict(rtol=1e-12, atol=1e-12) if dtype is anynn.float64 else dict(rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got, expected, **tol)


def test_index_add_with_no_rows_picked(backend):
    for impl in (backend.index_add, _default(backend, "index_add")):
        got = impl(3, _array(backend, np.zeros(0, dtype=np.int64)), _array(backend, np.zeros((0, 2))))
        np.testing.assert_array_equal(backend.to_numpy(got), np.zeros((3, 2)))


# kernel, stride, dilation on a (5, 5, 5, 5) input: every axis has the same size, so these tests hold whichever
# axes the im2col layout treats as channels, spatial and batch (only the two implementations' agreement counts)
CONFIGS = [((2, 3), (1, 2), (1, 1)), ((3, 3), (1, 1), (1, 1)), ((2, 2), (2, 2), (1, 1)), ((2, 2), (1, 1), (2, 1)),
           ((1, 1), (3, 1), (1, 1))]
SIZE = 5


def _out_hw(kernel, stride, dilation):
    return tuple((SIZE - d * (k - 1) - 1) // s + 1 for k, s, d in zip(kernel, stride, dilation))


@pytest.mark.parametrize("config", CONFIGS)
def test_im2col_override_equals_default(backend, config):
    kernel, stride, dilation = config
    x = _array(backend, np.random.default_rng(1).standard_normal((SIZE,) * 4))
    args = (kernel, stride, dilation, _out_hw(*config))
    got = backend.to_numpy(backend.im2col(x, *args))
    expected = backend.to_numpy(_default(backend, "im2col")(x, *args))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("config", CONFIGS)
def test_col2im_override_equals_default(backend, config):
    kernel, stride, dilation = config
    out_hw = _out_hw(*config)
    rows = kernel[0] * kernel[1] * SIZE
    cols = _array(backend, np.random.default_rng(2).standard_normal((rows, SIZE * out_hw[0] * out_hw[1])))
    args = ((SIZE,) * 4, kernel, stride, dilation, out_hw)
    got = backend.to_numpy(backend.col2im(cols, *args))
    expected = backend.to_numpy(_default(backend, "col2im")(cols, *args))
    assert got.shape == expected.shape == (SIZE,) * 4
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("impl", ["override", "default"])
@pytest.mark.parametrize("config", CONFIGS)
def test_col2im_is_the_adjoint_of_im2col(backend, config, impl):
    """<im2col(x), c> == <x, col2im(c)>: the pair is a correct forward/backward whatever the layout."""
    hooks = {h: getattr(backend, h) if impl == "override" else _default(backend, h) for h in ("im2col", "col2im")}
    kernel, stride, dilation = config
    out_hw = _out_hw(*config)
    rng = np.random.default_rng(3)
    x_host = rng.standard_normal((SIZE,) * 4)
    patches = backend.to_numpy(hooks["im2col"](_array(backend, x_host), kernel, stride, dilation, out_hw))
    c_host = rng.standard_normal(patches.shape)
    back = backend.to_numpy(hooks["col2im"](_array(backend, c_host), (SIZE,) * 4, kernel, stride, dilation, out_hw))
    np.testing.assert_allclose(np.sum(patches * c_host), np.sum(x_host * back), rtol=1e-12)
