"""Test helpers shared across the suite: host copies, PyTorch as the oracle, tolerances."""
from __future__ import annotations

import numpy as np
import pytest

import anynn

F64 = dict(rtol=1e-10, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-6)


def host(x) -> np.ndarray:
    """A NumPy copy of a Tensor (or pass a NumPy array through)."""
    return x.numpy() if isinstance(x, anynn.Tensor) else np.asarray(x)


def assert_close(actual, expected, **tol) -> None:
    np.testing.assert_allclose(host(actual), host(expected), **(tol or F64))


def torch_or_skip():
    """PyTorch for oracle comparisons; tests that need it are skipped with the reason when it is absent."""
    return pytest.importorskip("torch", reason="PyTorch is the numerical oracle; pip install torch==2.13.0")


def leaf(array: np.ndarray, dtype=anynn.float64) -> anynn.Tensor:
    """A leaf tensor on the current backend from a host array, requiring grad."""
    return anynn.tensor(array, dtype=dtype, requires_grad=True)


def torch_leaf(array: np.ndarray):
    torch = torch_or_skip()
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)
