"""Test helpers shared across the suite: host copies, PyTorch as the oracle, tolerances."""
from __future__ import annotations

import os

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


def backends_that_run() -> list[str]:
    """The selected backends (ANYNN_TEST_BACKENDS, default all) that can run on this machine."""
    from anynn import backends as B

    wanted = os.environ.get("ANYNN_TEST_BACKENDS")
    names = [B.canonical_name(n.strip()) for n in wanted.split(",") if n.strip()] if wanted else list(B.NAMES)
    return [n for n in names if B.why_unavailable(n) is None]


def forward_backward(fn, arrays, dtype=anynn.float64):
    """Output and input gradients of sum(fn(*x) * w) for fixed weights w."""
    xs = [leaf(a, dtype) for a in arrays]
    out = fn(*xs)
    weights = np.random.default_rng(7).standard_normal(out.shape)
    (out * anynn.tensor(weights, dtype=dtype)).sum().backward()
    return out, [x.grad for x in xs], weights


def op_case_suite(cases: dict):
    """The four checks for a table of op cases {name: (anynn fn, torch fn, input arrays)}: equal to PyTorch
    (float64 forward and every input gradient), gradcheck, float32 kept, and the same on every backend.
    A test module binds the returned functions to ``test_*`` names so pytest collects them."""

    @pytest.mark.parametrize("case", sorted(cases))
    def test_matches_torch(backend, case):
        torch = torch_or_skip()
        fn, torch_fn, arrays = cases[case]
        out, grads, weights = forward_backward(fn, arrays)
        ts = [torch_leaf(a) for a in arrays]
        ref = torch_fn(*ts)
        (ref * torch.tensor(weights)).sum().backward()
        assert out.shape == tuple(ref.shape)
        assert_close(out, ref.detach().numpy())
        for grad, t in zip(grads, ts):
            assert_close(grad, t.grad.numpy())

    @pytest.mark.parametrize("case", sorted(cases))
    def test_gradcheck(backend, case):
        fn, _, arrays = cases[case]
        assert anynn.gradcheck(fn, [leaf(a) for a in arrays])

    @pytest.mark.parametrize("case", sorted(cases))
    def test_float32_stays_float32(backend, case):
        fn, _, arrays = cases[case]
        out, grads, _ = forward_backward(fn, arrays, anynn.float32)
        assert out.dtype is anynn.float32
        assert all(g.dtype is anynn.float32 for g in grads)

    @pytest.mark.parametrize("case", sorted(cases))
    def test_same_results_on_every_backend(case):
        fn, _, arrays = cases[case]
        results = {}
        for name in backends_that_run():
            with anynn.use_backend(name):
                out, grads, _ = forward_backward(fn, arrays)
                results[name] = [out.numpy()] + [g.numpy() for g in grads]
        first, *others = results
        for name in others:
            for got, expected in zip(results[name], results[first]):
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=f"{name} vs {first}")

    return test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend


def call_with_parameters(module, x, params):
    """``module(x)`` with its own (direct) parameters replaced by ``params`` in named_parameters order, as
    torch.func.functional_call does, so gradcheck can perturb the weights; the originals are put back after."""
    names = [name for name, _ in module.named_parameters()]
    saved = dict(module._parameters)
    module._parameters.update(zip(names, params))
    try:
        return module(x)
    finally:
        module._parameters.update(saved)


def compare_with_torch(ours, theirs, arrays, seed=1):
    """Run both on the same float64 inputs (None: an absent optional input), backprop the same output gradient,
    and compare the output's shape and values and every input's gradient."""
    torch = torch_or_skip()
    mine = [leaf(a) if a is not None else None for a in arrays]
    ref = [torch_leaf(a) if a is not None else None for a in arrays]
    out, tout = ours(*mine), theirs(*ref)
    assert out.shape == tuple(tout.shape)
    assert_close(out, tout.detach().numpy())
    g = np.random.default_rng(seed).standard_normal(tout.shape)
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    for m, r in zip(mine, ref):
        if m is not None:
            assert_close(m.grad, r.grad.numpy())


def blobs(n: int, classes: int = 3, features: int = 8, seed: int = 0) -> tuple[anynn.Tensor, anynn.Tensor]:
    """``n`` points of separable Gaussian blobs (float32) and their labels (int64): a model that learns must
    reach high accuracy on them."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 3
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.standard_normal((n, features))
    return anynn.tensor(x.astype(np.float32)), anynn.tensor(labels.astype(np.int64))
