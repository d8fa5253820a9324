"""PyTorch-style custom autograd Functions (``anynn.autograd.Function``), each class written once and run on
anynn (every backend) and on PyTorch with the same inputs: outputs, gradients and the errors must agree."""
from __future__ import annotations

import math
import types

import numpy as np
import pytest

import anynn
from helpers import assert_close, raises, torch_or_skip


def custom_functions(lib) -> types.SimpleNamespace:
    """The same custom Functions built on ``lib`` (anynn or torch), as a user writes them for PyTorch."""

    class MyReLU(lib.autograd.Function):
        """From PyTorch's "Learning PyTorch with Examples"."""

        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    class LegendrePolynomial3(lib.autograd.Function):
        """From PyTorch's "Learning PyTorch with Examples": P3(x) = (5x^3 - 3x) / 2."""

        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    class Exp(lib.autograd.Function):
        """Saves its output, as PyTorch's extending-autograd notes show (and imports from its module path)."""

        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, grad_output):
            y, = ctx.saved_tensors
            return grad_output * y

    class MulAdd(lib.autograd.Function):
        """Two outputs, a number argument and a None argument (both get None gradients)."""

        @staticmethod
        def forward(ctx, a, b, k, unused):
            ctx.k = k
            ctx.save_for_backward(a, b)
            return a * b, a + k * b

        @staticmethod
        def backward(ctx, grad_product, grad_sum):
            a, b = ctx.saved_tensors
            return grad_product * b + grad_sum, grad_product * a + ctx.k * grad_sum, None, None

    class SortValues(lib.autograd.Function):
        """A sort returning values and indices; the indices are marked non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            values, indices = x.sort(dim=-1)
            ctx.mark_non_differentiable(indices)
            ctx.save_for_backward(indices)
            return values, indices

        @staticmethod
        def backward(ctx, grad_values, grad_indices):
            indices, = ctx.saved_tensors
            return grad_values.new_zeros(grad_values.shape).scatter(-1, indices, grad_values)

    class SeenGrads(lib.autograd.Function):
        """Two outputs; records what backward was given (None or zeros) for an output no gradient reached."""

        materialize = True
        seen: list = []

        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(SeenGrads.materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g2, g3):
            SeenGrads.seen = [None if g is None else g.numpy().copy() for g in (g2, g3)]
            total = 0
            if g2 is not None:
                total = total + 2 * g2
            if g3 is not None:
                total = total + 3 * g3
            return total

    class Linear(lib.autograd.Function):
        """Records ``needs_input_grad`` and skips the gradients nobody wants."""

        needs: tuple = ()

        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x @ w.t()

        @staticmethod
        def backward(ctx, grad_output):
            Linear.needs = tuple(ctx.needs_input_grad)
            x, w = ctx.saved_tensors
            grad_x = grad_output @ w if ctx.needs_input_grad[0] else None
            grad_w = grad_output.t() @ x if ctx.needs_input_grad[1] else None
            return grad_x, grad_w

    class ScaleInPlace(lib.autograd.Function):
        """Changes its input in place and says so with mark_dirty."""

        @staticmethod
        def forward(ctx, x):
            x.mul_(3)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 3

    class Cube(lib.autograd.Function):
        """PyTorch 2's split form: forward without ctx, plus setup_context."""

        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, grad_output):
            x, = ctx.saved_tensors
            return grad_output * 3 * x ** 2

    class RowSum(lib.autograd.Function):
        """Returns a gradient of the broadcast shape; PyTorch sums it back to the input's shape."""

        @staticmethod
        def forward(ctx, bias, x):
            return x + bias

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output, grad_output

    class Identity(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 1

    return types.SimpleNamespace(**{k: v for k, v in locals().items() if isinstance(v, type)})


@pytest.fixture
def both():
    """(anynn's Functions, torch's Functions, torch)."""
    torch = torch_or_skip()
    return custom_functions(anynn), custom_functions(torch), torch


def pair(torch, array: np.ndarray, grad: bool = True):
    """The same float64 values as an anynn tensor and a torch tensor."""
    array = np.asarray(array, dtype=np.float64)
    return (anynn.tensor(array, dtype=anynn.float64, requires_grad=grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=grad))


def test_my_relu_matches_torch(backend, both):
    ours, theirs, torch = both
    values = np.random.default_rng(0).standard_normal((4, 5))
    x, tx = pair(torch, values)
    weights = np.random.default_rng(1).standard_normal((4, 5))
    y, ty = ours.MyReLU.apply(x), theirs.MyReLU.apply(tx)
    assert y.requires_grad and type(y) is anynn.Tensor
    (y * anynn.tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    assert_close(y, ty.detach().numpy())
    assert_close(x.grad, tx.grad.numpy())


def test_legendre_polynomial_training_matches_torch(backend, both):
    """The tutorial's loop: y = a + b P3(c + d x) fitted to sin(x), five SGD steps by hand."""
    ours, theirs, torch = both
    x_values = np.linspace(-math.pi, math.pi, 200)
    x, tx = pair(torch, x_values, grad=False)
    y, ty = pair(torch, np.sin(x_values), grad=False)
    params = [pair(torch, value) for value in (0.0, -1.0, 0.0, 0.3)]
    ours_params, theirs_params = [p for p, _ in params], [t for _, t in params]
    for _ in range(5):
        losses = []
        for lib, fn, (a, b, c, d), xs, ys in ((anynn, ours, ours_params, x, y), (torch, theirs, theirs_params, tx, ty)):
            y_pred = a + b * fn.LegendrePolynomial3.apply(c + d * xs)
            loss = (y_pred - ys).pow(2).sum()
            loss.backward()
            with lib.no_grad():
                for p in (a, b, c, d):
                    p -= 5e-6 * p.grad
                    p.grad = None
            losses.append(loss.item())
        assert math.isclose(losses[0], losses[1], rel_tol=1e-12)
    for p, tp in params:
        assert_close(p, tp.detach().numpy())


def test_function_saving_its_output_matches_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [0.5, -1.0, 2.0])
    y, ty = ours.Exp.apply(x), theirs.Exp.apply(tx)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(x.grad, tx.grad.numpy())


def test_output_changed_in_place_before_backward_raises_like_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [0.5, -1.0, 2.0])
    y, ty = ours.Exp.apply(x), theirs.Exp.apply(tx)
    y.add_(1)
    ty.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()
    with raises(RuntimeError, "modified by an inplace operation", "saved tensor 0"):
        y.sum().backward()


def test_saved_input_changed_in_place_before_backward_raises_like_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [0.5, -1.0, 2.0])
    y, ty = ours.MyReLU.apply(x), theirs.MyReLU.apply(tx)
    with anynn.no_grad():
        x.mul_(-1)
    with torch.no_grad():
        tx.mul_(-1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()
    with raises(RuntimeError, "modified by an inplace operation", "is at version"):
        y.sum().backward()


@pytest.mark.parametrize("use", ["both", "product", "sum"])
def test_two_outputs_match_torch(backend, both, use):
    """Either output alone (the other's gradient comes in as zeros) or both; numbers and None pass through."""
    ours, theirs, torch = both
    rng = np.random.default_rng(2)
    (a, ta), (b, tb) = pair(torch, rng.standard_normal(3)), pair(torch, rng.standard_normal(3))
    grads = []
    for fn, args in ((ours, (a, b)), (theirs, (ta, tb))):
        product, total = fn.MulAdd.apply(*args, 2.5, None)
        loss = {"both": (product * 3).sum() + total.sum(), "product": product.sum(), "sum": (total * total).sum()}
        loss[use].backward()
        grads.append([t.grad for t in args])
    for mine, ref in zip(*grads):
        assert_close(mine, ref.numpy())


@pytest.mark.parametrize("materialize", [True, False])
def test_set_materialize_grads_matches_torch(backend, both, materialize):
    ours, theirs, torch = both
    x, tx = pair(torch, [1.0, -2.0])
    seen = []
    for fn, xs in ((ours, x), (theirs, tx)):
        fn.SeenGrads.materialize = materialize
        doubled, _ = fn.SeenGrads.apply(xs)
        doubled.sum().backward()
        seen.append(fn.SeenGrads.seen)
    assert_close(x.grad, tx.grad.numpy())
    assert_close(seen[0][0], seen[1][0])
    if materialize:
        assert_close(seen[0][1], seen[1][1])
        assert_close(seen[0][1], [0.0, 0.0])
    else:
        assert seen[0][1] is None and seen[1][1] is None


def test_mark_non_differentiable_indices_match_torch(backend, both):
    ours, theirs, torch = both
    values = np.random.default_rng(3).standard_normal((3, 5))
    x, tx = pair(torch, values)
    (v, i), (tv, ti) = ours.SortValues.apply(x), theirs.SortValues.apply(tx)
    assert v.requires_grad and not i.requires_grad and not ti.requires_grad
    assert i.dtype is anynn.int64
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    weights = np.random.default_rng(4).standard_normal((3, 5))
    (v * anynn.tensor(weights)).sum().backward()
    (tv * torch.tensor(weights)).sum().backward()
    assert_close(v, tv.detach().numpy())
    assert_close(x.grad, tx.grad.numpy())


@pytest.mark.parametrize("wanted", ["x", "w", "both"])
def test_needs_input_grad_matches_torch(backend, both, wanted):
    ours, theirs, torch = both
    rng = np.random.default_rng(5)
    x_values, w_values = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    x, tx = pair(torch, x_values, grad=wanted in ("x", "both"))
    w, tw = pair(torch, w_values, grad=wanted in ("w", "both"))
    ours.Linear.apply(x, w).sum().backward()
    theirs.Linear.apply(tx, tw).sum().backward()
    assert ours.Linear.needs == theirs.Linear.needs
    for mine, ref in ((x, tx), (w, tw)):
        if ref.requires_grad:
            assert_close(mine.grad, ref.grad.numpy())
        else:
            assert mine.grad is None


def test_mark_dirty_rebases_the_input_like_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [1.0, -2.0, 0.5])
    results = []
    for fn, leaf in ((ours, x), (theirs, tx)):
        h = leaf * 2
        out = fn.ScaleInPlace.apply(h)
        assert out is h, "a dirty input is returned as itself, its history continued"
        (out * out).sum().backward()
        results.append(out)
    assert_close(results[0], results[1].detach().numpy())
    assert_close(x.grad, tx.grad.numpy())


def test_mark_dirty_on_a_leaf_that_requires_grad_raises_like_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        theirs.ScaleInPlace.apply(tx)
    with raises(RuntimeError, "leaf Variable that requires grad", "ScaleInPlace"):
        ours.ScaleInPlace.apply(x)


def test_setup_context_form_matches_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [1.5, -0.5])
    ours.Cube.apply(x).sum().backward()
    theirs.Cube.apply(tx).sum().backward()
    assert_close(x.grad, tx.grad.numpy())


def test_broadcast_shaped_gradient_is_summed_like_torch(backend, both):
    ours, theirs, torch = both
    rng = np.random.default_rng(6)
    bias, tbias = pair(torch, rng.standard_normal(3))
    x, tx = pair(torch, rng.standard_normal((4, 3)))
    (ours.RowSum.apply(bias, x) ** 2).sum().backward()
    (theirs.RowSum.apply(tbias, tx) ** 2).sum().backward()
    assert bias.grad.shape == (3,)
    assert_close(bias.grad, tbias.grad.numpy())
    assert_close(x.grad, tx.grad.numpy())


def test_returning_an_input_gives_a_new_tensor_like_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [1.0, 2.0])
    y, ty = ours.Identity.apply(x), theirs.Identity.apply(tx)
    assert y is not x and ty is not tx
    assert y.requires_grad and not y.is_leaf and x.is_leaf
    (y * 3).sum().backward()
    (ty * 3).sum().backward()
    assert_close(x.grad, tx.grad.numpy())


def test_under_no_grad_nothing_is_recorded_like_torch(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [1.0, -2.0])
    with anynn.no_grad():
        y = ours.MyReLU.apply(x)
    with torch.no_grad():
        ty = theirs.MyReLU.apply(tx)
    assert not y.requires_grad and not ty.requires_grad
    assert_close(y, ty.numpy())


def test_custom_function_in_a_larger_graph_used_twice(backend, both):
    ours, theirs, torch = both
    x, tx = pair(torch, [0.3, -1.2, 2.0])
    for fn, xs in ((ours, x), (theirs, tx)):
        p = fn.LegendrePolynomial3.apply(xs.tanh())
        (p * p.sin() + fn.Exp.apply(p)).sum().backward()
    assert_close(x.grad, tx.grad.numpy())


def test_gradcheck_on_custom_functions(backend):
    fns = custom_functions(anynn)
    rng = np.random.default_rng(7)
    x = anynn.tensor(rng.standard_normal((3, 4)), dtype=anynn.float64, requires_grad=True)
    w = anynn.tensor(rng.standard_normal((2, 4)), dtype=anynn.float64, requires_grad=True)
    assert anynn.autograd.gradcheck(fns.LegendrePolynomial3.apply, (x,))
    assert anynn.autograd.gradcheck(fns.Exp.apply, (x,))
    assert anynn.autograd.gradcheck(fns.Linear.apply, (x, w))
    y = anynn.tensor(rng.standard_normal((3, 4)), dtype=anynn.float64, requires_grad=True)
    assert anynn.autograd.gradcheck(lambda a, b: fns.MulAdd.apply(a, b, 0.5, None), (x, y))
    assert anynn.autograd.gradcheck(lambda a: fns.SortValues.apply(a)[0], (x,))


def test_backward_through_a_freed_custom_node_raises(backend):
    fns = custom_functions(anynn)
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    y = fns.Exp.apply(x).sum()
    y.backward()
    with raises(RuntimeError, "retain_graph=True"):
        y.backward()
    z = fns.Exp.apply(x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert_close(x.grad, 3 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_wrong_gradients_are_named_errors(backend):
    class TooFew(anynn.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return grad

    class WrongShape(anynn.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.reshape(-1)[:1]

    class NotATensor(anynn.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.numpy()

    a = anynn.tensor([1.0, 2.0], requires_grad=True)
    with raises(RuntimeError, "TooFew.backward returned 1 gradients", "forward took 2 arguments"):
        TooFew.apply(a, a).sum().backward()
    with raises(RuntimeError, "WrongShape.backward returned a gradient of shape [1]", "input has shape [2]"):
        WrongShape.apply(a).sum().backward()
    with raises(TypeError, "NotATensor.backward returned a ndarray", "return a Tensor"):
        NotATensor.apply(a).sum().backward()
    with raises(RuntimeError, "saved_tensors is available inside backward only"):
        anynn.autograd.function.FunctionCtx(()).saved_tensors
    with raises(RuntimeError, "TooFew.apply(...)"):
        TooFew()(a, a)


def test_readme_custom_function_example_runs_as_printed(backend, capsys):
    """The README's MyReLU snippet (run with ``import anynn as torch``) prints the gradient its comment says."""
    import os
    import re
    from pathlib import Path

    readme = Path(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read_text(encoding="utf-8")
    section = readme.split("### Custom autograd Functions, PyTorch's way", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)
    assert_close(namespace["x"].grad, [0.0, 1.0, 0.0, 1.0])
    assert capsys.readouterr().out.startswith("tensor([0., 1., 0., 1.]")


def test_outputs_used_twice_and_feeding_each_other_match_torch(backend, both):
    """The two outputs of one call meet again downstream, one of them through another custom Function."""
    ours, theirs, torch = both
    rng = np.random.default_rng(8)
    (a, ta), (b, tb) = pair(torch, rng.standard_normal(4)), pair(torch, rng.standard_normal(4))
    for fn, x, y in ((ours, a, b), (theirs, ta, tb)):
        product, total = fn.MulAdd.apply(x, y, -1.5, None)
        second, _ = fn.MulAdd.apply(product, fn.Exp.apply(total), 0.5, None)
        (second * product + total * total).sum().backward()
    assert_close(a.grad, ta.grad.numpy())
    assert_close(b.grad, tb.grad.numpy())


def test_anomaly_mode_checks_custom_functions_with_several_outputs(backend):
    fns = custom_functions(anynn)
    a = anynn.tensor([1.0, 2.0], dtype=anynn.float64, requires_grad=True)
    b = anynn.tensor([3.0, 4.0], dtype=anynn.float64, requires_grad=True)
    with anynn.autograd.detect_anomaly():
        product, total = fns.MulAdd.apply(a, b, 2.0, None)
        (product + total).sum().backward()
        assert_close(a.grad, [4.0, 5.0])
        with raises(anynn.autograd.AnomalyError, "Exp produced NaN/inf"), np.errstate(over="ignore"):
            fns.Exp.apply(anynn.tensor([1000.0], dtype=anynn.float64, requires_grad=True))


def test_a_dropped_output_frees_its_graph_without_the_garbage_collector(backend):
    """A saved output is kept without a reference cycle through its node, so GPU memory is released as soon as
    the graph is dropped, as for built-in ops."""
    import gc
    import weakref

    fns = custom_functions(anynn)
    x = anynn.tensor([1.0, 2.0], requires_grad=True)
    enabled = gc.isenabled()
    gc.disable()
    try:
        y = fns.Exp.apply(x)
        p, q = fns.MulAdd.apply(x, y, 1.0, None)
        refs = [weakref.ref(t) for t in (y, p, q)]
        del y, p, q
        assert all(r() is None for r in refs)
    finally:
        if enabled:
            gc.enable()


def test_integer_outputs_and_grad_fn(backend):
    ours = custom_functions(anynn)
    x = anynn.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    values, indices = ours.SortValues.apply(x)
    assert values.grad_fn is not None and indices.grad_fn is None
    with raises(RuntimeError, "does not require grad"):
        indices.sum().backward()
    y = ours.Exp.apply(x)
    assert not y.is_leaf and y.grad_fn is not None

