"""Arithmetic: + - * / ** @ and negation, with broadcasting; Python scalars pass straight through."""
from __future__ import annotations

import math

from anynn.autograd.function import Function
from anynn.ops._util import shape_of, unbroadcast


def _grad_for(ctx, grad, like):
    """``grad`` reduced to the shape of input ``like`` (None for a Python scalar: it needs no gradient)."""
    if not hasattr(like, "shape"):
        return None
    return unbroadcast(ctx.xp, grad, shape_of(like))


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(shape_of(a) if hasattr(a, "shape") else None, shape_of(b) if hasattr(b, "shape") else None)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.saved
        xp = ctx.xp
        return (None if sa is None else unbroadcast(xp, grad, sa),
                None if sb is None else unbroadcast(xp, grad, sb))


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(shape_of(a) if hasattr(a, "shape") else None, shape_of(b) if hasattr(b, "shape") else None)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.saved
        xp = ctx.xp
        return (None if sa is None else unbroadcast(xp, grad, sa),
                None if sb is None else unbroadcast(xp, -grad, sb))


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return _grad_for(ctx, grad * b, a), _grad_for(ctx, grad * a, b)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        ga = grad / b
        return _grad_for(ctx, ga, a), _grad_for(ctx, -ga * a / b, b)


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """``a ** b`` for tensor/scalar in either position; the exponent's gradient uses log(a)."""

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
        if hasattr(a, "shape"):
            ga = _grad_for(ctx, grad * b * a ** (b - 1), a)
        if hasattr(b, "shape"):
            log_a = xp.log(a) if hasattr(a, "shape") else math.log(a)
            gb = _grad_for(ctx, grad * out * log_a, b)
        return ga, gb


class MatMul(Function):
    """``a @ b`` with NumPy's rules for 1-D operands and broadcast batch dimensions."""

    @staticmethod
    def forward(ctx, a, b):
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
        ga = unbroadcast(xp, xp.matmul(g, xp.matrix_transpose(b2)), tuple(a2.shape))
        gb = unbroadcast(xp, xp.matmul(xp.matrix_transpose(a2), g), tuple(b2.shape))
        return xp.reshape(ga, tuple(a.shape)), xp.reshape(gb, tuple(b.shape))
