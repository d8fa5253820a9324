"""Element-wise functions: exp, log, sqrt, tanh, sigmoid, relu, abs, clip, maximum/minimum, where, casts."""
from __future__ import annotations

from anynn.autograd.function import Function
from anynn.ops._fused import FusedOp
from anynn.ops._util import shape_of, unbroadcast


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.exp(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.sqrt(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad / (2.0 * ctx.saved[0])


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.tanh(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved[0]
        return grad * (1.0 - out * out)


class Sigmoid(Function):
    """Logistic function without overflow: exp only ever sees -|x|."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        e = xp.exp(-xp.abs(x))
        out = xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved[0]
        return grad * out * (1.0 - out)


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        out = RELU.forward(ctx, x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return RELU.backward(ctx, grad, ctx.saved[0])


def _relu(xp, x):
    return xp.maximum(x, 0.0)


def _relu_backward(xp, grad, out):
    return xp.where(out > 0, grad, 0.0)


RELU = FusedOp("relu", forward=_relu, backward=_relu_backward)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.xp.sign(ctx.saved[0])


class Clip(Function):
    """Clamp to [lo, hi]; the gradient passes where lo <= x <= hi (PyTorch's ``clamp``)."""

    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        ctx.save(x)
        ctx.lo, ctx.hi = lo, hi
        return ctx.xp.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved[0]
        xp = ctx.xp
        if ctx.lo is not None:
            grad = xp.where(x >= ctx.lo, grad, 0.0)
        if ctx.hi is not None:
            grad = xp.where(x <= ctx.hi, grad, 0.0)
        return grad


class Maximum(Function):
    """Element-wise max (or min with ``smallest=True``) of tensors or scalars; ties split the gradient evenly,
    as PyTorch does."""

    @staticmethod
    def forward(ctx, a, b, smallest=False):
        ctx.save(a, b)
        ctx.smallest = smallest
        return ctx.xp.minimum(a, b) if smallest else ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        xp = ctx.xp
        a_wins = a < b if ctx.smallest else a > b
        ga = xp.where(a_wins, grad, xp.where(a == b, grad * 0.5, 0.0))
        return (unbroadcast(xp, ga, shape_of(a)) if hasattr(a, "shape") else None,
                unbroadcast(xp, grad - ga, shape_of(b)) if hasattr(b, "shape") else None)


class Where(Function):
    """``cond ? a : b``; ``cond`` is a boolean tensor and gets no gradient."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save(cond, shape_of(a) if hasattr(a, "shape") else None, shape_of(b) if hasattr(b, "shape") else None)
        return ctx.xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        cond, sa, sb = ctx.saved
        xp = ctx.xp
        return (None,
                None if sa is None else unbroadcast(xp, xp.where(cond, grad, 0.0), sa),
                None if sb is None else unbroadcast(xp, xp.where(cond, 0.0, grad), sb))


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.source = x.dtype
        return ctx.xp.astype(x, ctx.backend.dtype(dtype))

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.astype(grad, ctx.source)


__all__ = ["Abs", "Cast", "Clip", "Exp", "Log", "Maximum", "Relu", "Sigmoid", "Sqrt", "Tanh", "Where"]
