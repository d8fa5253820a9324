"""``gradcheck``: compare backward() with central differences in float64, like ``torch.autograd.gradcheck``."""
from __future__ import annotations

import math
from typing import Callable, Sequence

from anynn import dtypes as D
from anynn.autograd.engine import grad as autograd_grad
from anynn.autograd.grad_mode import no_grad
from anynn.autograd.tensor import Tensor

Outputs = Tensor | Sequence[Tensor]


class GradcheckError(AssertionError):
    """Analytical and numerical gradients disagree; the message names the input, index and both values."""


def _projection(fn: Callable[..., Outputs], inputs: Sequence, weights: Sequence[Tensor]) -> Tensor:
    """L = sum_k sum(out_k * w_k): one scalar whose gradient mixes all rows of the Jacobian."""
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    total = (outputs[0] * weights[0]).sum()
    for out, w in zip(outputs[1:], weights[1:]):
        total = total + (out * w).sum()
    return total


def _weights_like(out: Tensor) -> Tensor:
    """Fixed, varied, non-zero weights (sin of a scaled ramp); drawn without touching any generator."""
    xp, backend = out.xp, out.backend
    ramp = xp.arange(out.numel(), dtype=backend.dtype(D.float64), device=backend.device)
    w = xp.sin(ramp * 1.37 + 0.5) + 0.1
    return Tensor._make(xp.reshape(w, out.shape), backend)


def gradcheck(fn: Callable[..., Outputs], inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """Check ``fn``'s gradients for every input with ``requires_grad`` by central differences.

    Inputs must be float64 (float32 rounding swamps finite differences). The outputs are projected onto
    fixed weights (as Chainer's ``check_backward`` does), so one backward pass gives every input's
    analytical gradient; the inputs' ``.grad`` are left as they were (as in PyTorch). Returns True or raises
    GradcheckError naming the input, the index and both values.
    """
    inputs = tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype is not D.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs (x.double()) so "
                            "finite differences are accurate")
    with no_grad():
        probe = fn(*inputs)
    probe = probe if isinstance(probe, (tuple, list)) else (probe,)
    weights = [_weights_like(out) for out in probe]

    grads = autograd_grad(_projection(fn, inputs, weights), [inputs[i] for i in checked], allow_unused=True)

    for i, g in zip(checked, grads):
        x = inputs[i]
        xp, backend = x.xp, x.backend
        flat = xp.reshape(x.array, (-1,))
        ramp = xp.arange(flat.shape[0], device=backend.device)
        grad = g.array if g is not None else xp.zeros_like(x.array)
        analytical = xp.reshape(grad, (-1,))
        for k in range(flat.shape[0]):
            bump = xp.astype(ramp == k, flat.dtype) * eps
            values = []
            for sign in (1.0, -1.0):
                trial = list(inputs)
                trial[i] = Tensor._make(xp.reshape(flat + sign * bump, x.shape), backend)
                with no_grad():
                    values.append(float(_projection(fn, trial, weights).item()))
            numerical = (values[0] - values[1]) / (2 * eps)
            got = float(analytical[k])
            if not math.isclose(got, numerical, rel_tol=rtol, abs_tol=atol) or not math.isfinite(got):
                index = _unravel(k, x.shape)
                raise GradcheckError(
                    f"gradcheck failed for input {i} (shape {x.shape}) at index {index}: "
                    f"numerical {numerical:.10g} vs analytical {got:.10g} (atol={atol}, rtol={rtol})")
    return True


def _unravel(k: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(k % size)
        k //= size
    return tuple(reversed(index))


__all__ = ["GradcheckError", "gradcheck"]
