"""Backend hooks: every backend's override equals ``base.Backend``'s standard-only default, and the defaults
are right (erf against math.erf, index_add against a sequential sum)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
from anynn.backends.base import Backend

HOOKS = ("index_add", "erf", "may_share_memory")


def _default(backend, hook: str):
    """The base class's standard-only implementation, bound to ``backend`` (its xp and device)."""
    return getattr(Backend, hook).__get__(backend)


def _array(backend, host, dtype=None):
    return backend.from_numpy(np.asarray(host), dtype)


def test_every_override_is_a_known_hook(backend):
    """A new override must come with a test here: list the hook methods a backend replaces."""
    public = {name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_")
              and not isinstance(value, type)}
    replaced = {name for name in public if getattr(type(backend), name) is not getattr(Backend, name)}
    known = set(HOOKS) | {"from_numpy", "to_numpy", "manual_seed", "randn", "rand", "randint", "permutation",
                          "get_rng_state", "set_rng_state", "synchronize", "is_native", "asarray",
                          "is_out_of_memory"}  # the last: tests/backends/test_cupy_backend.py
    assert replaced <= known, f"{sorted(replaced - known)}: a new hook needs a test here"


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



def test_may_share_memory_sees_views_and_tells_copies_apart(backend):
    """autograd's in-place check asks this hook whether a saved array is (a view of) a changed tensor's storage."""
    base = backend.from_numpy(np.arange(12.0).reshape(3, 4))
    view = backend.xp.reshape(base, (12,))
    copy = backend.xp.asarray(base, copy=True)
    assert backend.may_share_memory(base, view) and backend.may_share_memory(base, base[1:, :])
    assert not backend.may_share_memory(base, copy)
    assert _default(backend, "may_share_memory")(base, view)  # the base class: DLPack host views, or True
