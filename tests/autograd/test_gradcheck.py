"""anynn.gradcheck itself: it must pass correct gradients and catch wrong ones, with a useful message."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.autograd import ArrayFunction
from helpers import leaf


class WrongSquare(ArrayFunction):
    """x**2 with a backward that is off by a factor of 1.5 in element 1 only."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        (x,) = ctx.saved
        wrong = xp.arange(x.shape[0], device=ctx.backend.device) == 1
        return xp.where(wrong, grad * 3.0 * x, grad * 2.0 * x)


def test_passes_correct_gradients(backend):
    rng = np.random.default_rng(0)
    a, b = leaf(rng.standard_normal((2, 3))), leaf(rng.standard_normal((3,)))
    assert anynn.gradcheck(lambda a, b: (a * b).tanh() @ b, [a, b])


def test_catches_a_wrong_gradient_and_names_input_and_index(backend):
    x = leaf(np.array([0.5, -1.0, 2.0]))
    with pytest.raises(anynn.GradcheckError, match=r"input 0 .*index \(1,\)"):
        anynn.gradcheck(WrongSquare.apply, [x])


def test_several_outputs_and_inputs_without_grad(backend):
    rng = np.random.default_rng(1)
    x = leaf(rng.standard_normal((2, 2)))
    fixed = anynn.tensor(rng.standard_normal((2, 2)), dtype=anynn.float64)
    assert anynn.gradcheck(lambda x, f, k: (x * f * k, (x + f).exp().sum(0)), [x, fixed, 3.0])
    assert fixed.grad is None


def test_rejects_float32_and_inputs_without_grad(backend):
    with pytest.raises(TypeError, match="float64"):
        anynn.gradcheck(lambda x: x * 2.0, [anynn.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad"):
        anynn.gradcheck(lambda x: x * 2.0, [anynn.tensor([1.0], dtype=anynn.float64)])
