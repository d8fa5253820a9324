"""The tape walk: gradient sums over shared tensors, accumulation, grad modes, retain_graph, deep graphs."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import anynn
from anynn.autograd import ArrayFunction
from helpers import assert_close, leaf


def test_broadcast_gradients_are_reduced_to_input_shape(backend):
    rng = np.random.default_rng(0)
    a = leaf(rng.standard_normal((2, 3, 4)))
    b = leaf(rng.standard_normal((3, 1)))
    c = leaf(rng.standard_normal(()))
    ((a + b) * c - b / 2.0).sum().backward()
    assert a.grad.shape == (2, 3, 4) and b.grad.shape == (3, 1) and c.grad.shape == ()
    assert_close(a.grad, np.full((2, 3, 4), c.numpy()))
    assert_close(b.grad, np.full((3, 1), 8 * c.numpy() - 4.0))
    assert_close(c.grad, (a.numpy() + b.numpy()).sum())


def test_gradients_accumulate_across_two_backward_calls(backend):
    x = leaf(np.array([1.0, 2.0, 3.0]))
    (x * x).sum().backward()
    first = x.grad
    (x * 3.0).sum().backward()
    assert x.grad is first, "accumulation keeps the same .grad tensor, as in PyTorch"
    assert_close(x.grad, 2 * np.array([1.0, 2.0, 3.0]) + 3.0)


def test_tensor_used_twice_gets_the_sum(backend):
    x = leaf(np.array([1.5, -2.0]))
    (x * x).sum().backward()
    assert_close(x.grad, 2 * np.array([1.5, -2.0]))


def test_diamond_graph_waits_for_every_path(backend):
    """x feeds the root directly and through q: the direct path must not be applied before q's."""
    x = leaf(np.array([1.0, 2.0]))
    q = x * 2.0
    (x + q).sum().backward()
    assert_close(x.grad, [3.0, 3.0])
    y = leaf(np.array([0.5, 3.0]))
    a = y.exp()
    b = a * y
    c = b + a.tanh() * y
    c.sum().backward()
    yv = np.array([0.5, 3.0])
    expected = np.exp(yv) * yv + np.exp(yv) + (1 - np.tanh(np.exp(yv)) ** 2) * np.exp(yv) * yv + np.tanh(np.exp(yv))
    assert_close(y.grad, expected)


def test_path_that_returns_no_gradient_still_releases_its_inputs(backend):
    """A node whose backward gives its input None must not block gradients from other paths."""

    class Blocked(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            return None

    x = leaf(np.array([1.0, 2.0]))
    a = x * 3.0
    (Blocked.apply(a) + a * 2.0).sum().backward()
    assert_close(x.grad, [6.0, 6.0])


def test_leaf_gradients_do_not_alias_each_other(backend):
    """Add passes one gradient array to both inputs; each leaf must get its own copy."""
    a = leaf(np.array([1.0, 2.0]))
    b = leaf(np.array([3.0, 4.0]))
    (a + b).sum().backward()
    a.grad.array = a.grad.array * 5.0
    assert_close(b.grad, [1.0, 1.0])
    assert a.grad.array is not b.grad.array


def test_no_grad_enable_grad_set_grad_enabled(backend):
    x = leaf(np.array([1.0]))
    with anynn.no_grad():
        assert not anynn.is_grad_enabled()
        y = x * 2.0
        with anynn.enable_grad():
            z = x * 2.0
    assert anynn.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf
    with anynn.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert anynn.is_grad_enabled()
    anynn.set_grad_enabled(False)
    try:
        assert not anynn.is_grad_enabled()
    finally:
        anynn.set_grad_enabled(True)
    assert (x * 2.0).requires_grad


def test_grad_mode_decorators():
    @anynn.no_grad()
    def with_parens():
        return anynn.is_grad_enabled()

    @anynn.no_grad
    def without_parens():
        return anynn.is_grad_enabled()

    @anynn.set_grad_enabled(False)
    def switched_off():
        return anynn.is_grad_enabled()

    assert anynn.is_grad_enabled(), "decorating with set_grad_enabled must not switch the mode by itself"
    assert with_parens() is False and without_parens() is False and switched_off() is False
    assert anynn.is_grad_enabled()


def test_grad_mode_survives_recursion_and_exceptions():
    @anynn.no_grad()
    def recurse(n):
        if n:
            recurse(n - 1)
        return anynn.is_grad_enabled()

    assert recurse(3) is False
    assert anynn.is_grad_enabled()
    with pytest.raises(ValueError):
        with anynn.no_grad():
            raise ValueError("boom")
    assert anynn.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    inside = threading.Event()
    release = threading.Event()

    def worker():
        with anynn.no_grad():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    seen.append(anynn.is_grad_enabled())
    release.set()
    thread.join()
    assert seen == [True], "no_grad in another thread must not switch recording off here"


def test_retain_graph_allows_a_second_backward(backend):
    x = leaf(np.array([1.0, 2.0]))
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    xv = np.array([1.0, 2.0])
    assert_close(x.grad, 2 * (np.exp(xv) * xv + np.exp(xv)))


def test_second_backward_without_retain_graph_raises_clearly(backend):
    x = leaf(np.array([1.0, 2.0]))
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    assert_close(x.grad, [2.0, 4.0])


def test_shared_subgraph_freed_by_first_backward_raises(backend):
    x = leaf(np.array([1.0, 2.0]))
    h = x * x
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2.0).sum().backward()


def test_ten_thousand_chained_ops(backend):
    x = leaf(np.array([0.5]))
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    assert_close(x.grad, [1.0001 ** 10_000], rtol=1e-9)


def test_deep_graph_is_freed_without_recursion_error(backend):
    x = leaf(np.array([1.0]))
    y = x
    for _ in range(50_000):
        y = y + 1.0
    del y  # dropping the only reference frees 50k nodes without hitting the C recursion limit


def test_backward_seed_and_errors(backend):
    x = leaf(np.array([1.0, 2.0]))
    y = x * 3.0
    with pytest.raises(RuntimeError, match="scalar output"):
        y.backward()
    y.backward(anynn.tensor([1.0, 0.5], dtype=anynn.float64))
    assert_close(x.grad, [3.0, 1.5])
    with pytest.raises(RuntimeError, match="shape"):
        (x * 3.0).backward(anynn.tensor([1.0, 2.0, 3.0], dtype=anynn.float64))
    with pytest.raises(RuntimeError, match="does not require grad"):
        anynn.tensor([1.0]).sum().backward()


def test_backward_on_a_leaf_gives_ones(backend):
    x = leaf(np.array(2.0))
    x.backward()
    assert_close(x.grad, 1.0)


def test_retain_grad_keeps_intermediate_gradient(backend):
    x = leaf(np.array([1.0, 2.0]))
    h = x * 2.0
    h.retain_grad()
    (h * h).sum().backward()
    assert_close(h.grad, [4.0, 8.0])
    assert_close(x.grad, [8.0, 16.0])
    assert (x * 1.0).grad is None


def test_detach_cuts_the_graph(backend):
    x = leaf(np.array([1.0, 2.0]))
    y = x * 2.0
    (y.detach() * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0])


def test_backward_with_wrong_gradient_shape_names_the_function(backend):
    class Bad(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, grad):
            return ctx.xp.sum(grad, axis=0)

    x = leaf(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="Bad.backward"):
        Bad.apply(x).sum().backward()


def test_backward_with_wrong_gradient_dtype_names_the_function(backend):
    class Upcast(ArrayFunction):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, grad):
            return ctx.xp.astype(grad, ctx.xp.float64)

    x = anynn.tensor([1.0, 2.0], dtype=anynn.float32, requires_grad=True)
    with pytest.raises(RuntimeError, match="Upcast.backward.*dtype"):
        Upcast.apply(x).sum().backward()


def test_needs_input_grad_lets_backward_skip_work(backend):
    calls = []

    class Probe(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            calls.append(ctx.needs_input_grad)
            return grad, None

    a = leaf(np.array([1.0]))
    b = anynn.tensor([2.0], dtype=anynn.float64)
    Probe.apply(a, b).sum().backward()
    assert calls == [(True, False)]
    assert_close(a.grad, [1.0])


def test_no_graph_is_recorded_without_requires_grad(backend):
    x = anynn.tensor([1.0, 2.0])
    y = (x * 2.0).exp()
    assert not y.requires_grad and y.is_leaf and y._node is None


def test_tensor_passed_as_a_keyword_is_refused(backend):
    class Scale(ArrayFunction):
        @staticmethod
        def forward(ctx, x, factor=2.0):
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            return grad * 2.0

    x = leaf(np.array([1.0]))
    with pytest.raises(TypeError, match="positional"):
        Scale.apply(x, factor=anynn.tensor([3.0], dtype=anynn.float64))
    assert_close(Scale.apply(x, factor=2.0), [2.0])
