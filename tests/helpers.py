"""Test helpers shared across the suite: host copies, PyTorch as the oracle, tolerances."""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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


def raises(exc: type[BaseException], *fragments: str):
    """``pytest.raises`` whose message must contain every fragment literally (no regex escaping needed)."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


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


@dataclass(frozen=True)
class Fixed:
    """An op input passed as a constant (no gradient): a floating array in the run's float dtype, any other
    array (class indices) in its own dtype."""

    array: np.ndarray


@dataclass(frozen=True)
class OpCase:
    """One declared op case for ``op_case_suite``, as Chainer's FunctionTestCase declares one.

    - ``inputs``: positional inputs. A NumPy array is a differentiable input (float64 leaves against PyTorch and
      in gradcheck, float32 leaves in the float32 check); ``Fixed(array)`` a constant tensor; anything else
      (``None`` for an absent input, a shape, a number) is passed to both functions as it is.
    - ``kwargs``: keyword arguments for both functions; an array among them is a constant, as ``Fixed``.
    - ``torch_fn``: PyTorch's function, or its dotted name under ``torch`` (``"nn.functional.conv2d"``), looked
      up when the test runs, so that collecting needs no PyTorch.
    - ``tol``: the tolerance of the PyTorch comparison (forward and every gradient).
    - ``forward_only``: compare outputs only (no gradients, no gradcheck), for ops without a backward.
    - ``gradcheck``: False leaves gradcheck to other cases (large inputs, or ties where the op has a kink);
      ``gradcheck_inputs`` checks other inputs than ``inputs`` (points away from kinks, a smaller shape).
    - ``float32``: False for ops whose output is not floating.
    - ``marks``: pytest marks for this case's tests (e.g. ``pytest.mark.filterwarnings``).
    """

    fn: Callable
    torch_fn: Callable | str
    inputs: Sequence
    kwargs: dict = field(default_factory=dict)
    tol: dict = field(default_factory=lambda: dict(F64))
    forward_only: bool = False
    gradcheck: bool = True
    gradcheck_inputs: Sequence | None = None
    float32: bool = True
    marks: tuple = ()


def _as_case(case) -> OpCase:
    return case if isinstance(case, OpCase) else OpCase(*case)


def _differentiable(value) -> bool:
    return isinstance(value, np.ndarray)


def _constant(value, dtype):
    """An anynn constant for a fixed input or keyword argument (non-arrays pass through)."""
    value = value.array if isinstance(value, Fixed) else value
    if not isinstance(value, np.ndarray):
        return value
    return anynn.tensor(value, dtype=dtype) if np.issubdtype(value.dtype, np.floating) else anynn.tensor(value)


def _torch_constant(value):
    value = value.array if isinstance(value, Fixed) else value
    return torch_or_skip().tensor(value) if isinstance(value, np.ndarray) else value


def _bind(fn, inputs, kwargs, make_leaf, make_constant):
    """``fn`` as a function of its differentiable inputs only (constants and keyword arguments bound), and those
    inputs as leaves."""
    fixed = {i: make_constant(a) for i, a in enumerate(inputs) if not _differentiable(a)}
    bound_kwargs = {k: make_constant(v) for k, v in kwargs.items()}

    def call(*leaves):
        given = iter(leaves)
        return fn(*[fixed[i] if i in fixed else next(given) for i in range(len(inputs))], **bound_kwargs)

    return call, [make_leaf(a) for a in inputs if _differentiable(a)]


def _ours(case: OpCase, dtype=anynn.float64, inputs=None):
    return _bind(case.fn, case.inputs if inputs is None else inputs, case.kwargs,
                 (lambda a: _constant(a, dtype)) if case.forward_only else (lambda a: leaf(a, dtype)),
                 lambda a: _constant(a, dtype))


def _theirs(case: OpCase):
    torch_fn = case.torch_fn
    if isinstance(torch_fn, str):
        torch_fn = torch_or_skip()
        for name in case.torch_fn.split("."):
            torch_fn = getattr(torch_fn, name)
    return _bind(torch_fn, case.inputs, case.kwargs, _torch_constant if case.forward_only else torch_leaf,
                 _torch_constant)


def _run(case: OpCase, dtype=anynn.float64):
    """Output and differentiable inputs' gradients of sum(fn(...) * w) for fixed weights w (no gradients for a
    forward-only case)."""
    call, leaves = _ours(case, dtype)
    out = call(*leaves)
    if case.forward_only:
        return out, [], None
    weights = np.random.default_rng(7).standard_normal(out.shape)
    (out * anynn.tensor(weights, dtype=dtype)).sum().backward()
    return out, [x.grad for x in leaves], weights


def op_case_suite(cases: dict):
    """The four checks for a table of op cases ``{name: OpCase(...)}`` (or the short form ``{name: (anynn fn,
    torch fn, input arrays)}``): equal to PyTorch (float64 forward, its dtype and every input gradient),
    gradcheck, float32 kept, and the same on every backend. A test module binds the returned functions to
    ``test_*`` names so pytest collects them."""
    cases = {name: _as_case(case) for name, case in cases.items()}

    def params(keep=lambda case: True):
        return [pytest.param(name, marks=cases[name].marks, id=name) for name in sorted(cases) if keep(cases[name])]

    @pytest.mark.parametrize("case", params())
    def test_matches_torch(backend, case):
        case = cases[case]
        out, grads, weights = _run(case)
        call, ts = _theirs(case)
        ref = call(*ts)
        assert out.shape == tuple(ref.shape)
        assert host(out).dtype == ref.detach().numpy().dtype
        assert_close(out, ref.detach().numpy(), **case.tol)
        if case.forward_only:
            return
        (ref * torch_or_skip().tensor(weights)).sum().backward()
        for grad, t in zip(grads, ts):
            assert grad is not None
            assert_close(grad, t.grad.numpy(), **case.tol)

    @pytest.mark.parametrize("case", params(lambda case: case.gradcheck and not case.forward_only))
    def test_gradcheck(backend, case):
        case = cases[case]
        assert anynn.gradcheck(*_ours(case, inputs=case.gradcheck_inputs))

    @pytest.mark.parametrize("case", params(lambda case: case.float32))
    def test_float32_stays_float32(backend, case):
        out, grads, _ = _run(cases[case], anynn.float32)
        assert out.dtype is anynn.float32
        assert all(g.dtype is anynn.float32 for g in grads)

    @pytest.mark.parametrize("case", params())
    def test_same_results_on_every_backend(case):
        results = {}
        for name in backends_that_run():
            with anynn.use_backend(name):
                out, grads, _ = _run(cases[case])
                results[name] = [out.numpy()] + [g.numpy() for g in grads]
        first, *others = results
        for name in others:
            for got, expected in zip(results[name], results[first]):
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=f"{name} vs {first}")

    return test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend


def error_case_suite(cases: dict):
    """One test for a table of bad calls ``{name: (make, exception class, regex)}``: ``make()`` (on the numpy
    backend) raises that exception with a message the regex finds (anchor it with ^ and $ to pin all of it).
    A test module binds the returned function to a ``test_*`` name so pytest collects it."""

    @pytest.mark.parametrize("case", list(cases))
    def test_bad_call_is_named(case):
        make, exc, pattern = cases[case]
        with anynn.use_backend("numpy"), pytest.raises(exc) as err:
            make()
        assert re.search(pattern, str(err.value)), f"{case}: {type(err.value).__name__}: {err.value}"

    return test_bad_call_is_named


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
