"""Arithmetic: + - * / ** @ and negation, with broadcasting; Python scalars pass straight through."""
from __future__ import annotations

import math

from anynn.autograd.function import ArrayFunction
from anynn.ops._util import unbroadcast


def _wants(ctx, i: int, value) -> bool:
    """True if positional input ``i`` (``value`` in the forward) is an array that wants a gradient."""
    return hasattr(value, "shape") and ctx.needs_input_grad[i]


_NUMBERS = (int, float, bool)


def _reduced(xp, grad, shape):
    """``grad`` summed back to an input's ``shape``; None for a Python scalar's (None)."""
    return None if shape is None else unbroadcast(xp, grad, shape)


class Add(ArrayFunction):
    @staticmethod
    def forward(ctx, a, b):
        # shapes, not arrays (changing an input in place later is harmless); None for a Python number
        ctx.shapes = (None if type(a) in _NUMBERS else a.shape, None if type(b) in _NUMBERS else b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.shapes
        return _reduced(ctx.xp, grad, a), _reduced(ctx.xp, grad, b)


class Sub(ArrayFunction):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (None if type(a) in _NUMBERS else a.shape, None if type(b) in _NUMBERS else b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.shapes
        return _reduced(ctx.xp, grad, a), None if b is None else _reduced(ctx.xp, -grad, b)


class Mul(ArrayFunction):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        xp = ctx.xp
        return (unbroadcast(xp, grad * b, a.shape) if _wants(ctx, 0, a) else None,
                unbroadcast(xp, grad * a, b.shape) if _wants(ctx, 1, b) else None)


class Div(ArrayFunction):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        xp = ctx.xp
        ga = grad / b
        return (unbroadcast(xp, ga, a.shape) if _wants(ctx, 0, a) else None,
                unbroadcast(xp, -ga * a / b, b.shape) if _wants(ctx, 1, b) else None)


class Neg(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(ArrayFunction):
    """``a ** b`` for tensor/scalar in either position. As in PyTorch, the base's gradient is 0 where b == 0
    and the exponent's gradient (which uses log(a)) is 0 where a == 0 and b >= 0."""

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        xp = ctx.xp
        ga = gb = None
        if _wants(ctx, 0, a):
            if hasattr(b, "shape"):
                ga = unbroadcast(xp, grad * xp.where(b == 0, 0.0, b * a ** (b - 1)), a.shape)
            else:
                ga = grad * (b * a ** (b - 1)) if b != 0 else xp.zeros_like(grad)
        if _wants(ctx, 1, b):
            if hasattr(a, "shape"):
                term = xp.where((a == 0) & (b >= 0), 0.0, out * xp.log(a))
            else:
                term = out * math.log(a) if a != 0 else xp.where(b >= 0, 0.0, out * -math.inf)
            gb = unbroadcast(xp, grad * term, b.shape)
        return ga, gb


class MatMul(ArrayFunction):
    """``a @ b`` with NumPy's rules for 1-D operands and broadcast batch dimensions."""

    @staticmethod
    def forward(ctx, a, b):
        if not (hasattr(a, "shape") and hasattr(b, "shape")):
            raise TypeError("matmul: both operands must be tensors (use * to scale by a number)")
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least one dimension, got shapes {tuple(a.shape)} "
                             f"and {tuple(b.shape)}; use * for a 0-d tensor")
        ctx.save(a, b)
        return ctx.xp.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        xp = ctx.xp
        a2 = xp.reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = xp.reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        g = grad
        if a.ndim == 1:
            g = xp.expand_dims(g, axis=-2 if b.ndim > 1 else 0)
        if b.ndim == 1:
            g = xp.expand_dims(g, axis=-1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = xp.reshape(unbroadcast(xp, xp.matmul(g, xp.matrix_transpose(b2)), tuple(a2.shape)), tuple(a.shape))
        if ctx.needs_input_grad[1]:
            gb = xp.reshape(unbroadcast(xp, xp.matmul(xp.matrix_transpose(a2), g), tuple(b2.shape)), tuple(b.shape))
        return ga, gb


__all__ = ["Add", "Div", "MatMul", "Mul", "Neg", "Pow", "Sub"]
