"""Element-wise functions: exp, log, sqrt, trigonometry, rounding, tanh, sigmoid, relu, abs, clip, maximum/minimum,
where, casts, and the tests isnan/isinf/isfinite."""
from __future__ import annotations

import math

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._fused import FusedOp
from anynn.ops._util import shape_of, stable_sigmoid, unbroadcast


class Exp(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.exp(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved[0]


class Log(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.saved[0]


class Sqrt(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.sqrt(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad / (2.0 * ctx.saved[0])


class Tanh(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.tanh(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved[0]
        return grad * (1.0 - out * out)


class Sigmoid(ArrayFunction):
    """Logistic function without overflow: exp only ever sees -|x|."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        out = stable_sigmoid(xp, x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved[0]
        return grad * out * (1.0 - out)


class Relu(ArrayFunction):
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


class Abs(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.xp.sign(ctx.saved[0])


class Clip(ArrayFunction):
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


class Maximum(ArrayFunction):
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


class Where(ArrayFunction):
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


class Cast(ArrayFunction):
    """Change dtype; the gradient is cast back to the input's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.source = x.dtype
        return ctx.xp.astype(x, ctx.backend.dtype(dtype))

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.astype(grad, ctx.source)


class Log1p(ArrayFunction):
    """log(1 + x), accurate for small x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.log1p(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / (1.0 + ctx.saved[0])


class Expm1(ArrayFunction):
    """exp(x) - 1, accurate for small x."""

    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.expm1(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad * (ctx.saved[0] + 1.0)


class Sin(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.sin(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.xp.cos(ctx.saved[0])


class Cos(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.cos(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad * ctx.xp.sin(ctx.saved[0])


class Tan(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        out = ctx.xp.tan(x)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved[0]
        return grad * (1.0 + out * out)


class Asin(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.asin(x)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved[0]
        return grad / ctx.xp.sqrt(1.0 - x * x)


class Acos(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.acos(x)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved[0]
        return -grad / ctx.xp.sqrt(1.0 - x * x)


class Atan(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.atan(x)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved[0]
        return grad / (1.0 + x * x)


class Sinh(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.sinh(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.xp.cosh(ctx.saved[0])


class Cosh(ArrayFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.xp.cosh(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.xp.sinh(ctx.saved[0])


class Erf(ArrayFunction):
    """The error function (the backend's ``erf`` hook); its derivative is 2/sqrt(pi) * exp(-x^2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ctx.backend.erf(x)

    @staticmethod
    def backward(ctx, grad):
        x = ctx.saved[0]
        return grad * (2.0 / math.sqrt(math.pi)) * ctx.xp.exp(-x * x)


class Atan2(ArrayFunction):
    """The angle of the point (b, a), i.e. atan(a / b) in the right quadrant; tensors or scalars, broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return ctx.xp.atan2(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        xp = ctx.xp
        scale = grad / (a * a + b * b)
        return (unbroadcast(xp, scale * b, shape_of(a)) if hasattr(a, "shape") else None,
                unbroadcast(xp, -scale * a, shape_of(b)) if hasattr(b, "shape") else None)


class Rounding(ArrayFunction):
    """floor, ceil, round (half to even), trunc or sign: piecewise constant, so the gradient is zero, as in
    PyTorch."""

    @staticmethod
    def forward(ctx, x, how):
        return getattr(ctx.xp, how)(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.xp.zeros_like(grad)


def is_nan(x: Tensor) -> Tensor:
    """Boolean mask of NaN elements (no gradient)."""
    return Tensor._make(x.xp.isnan(x.array), x.backend)


def is_inf(x: Tensor) -> Tensor:
    """Boolean mask of +-inf elements (no gradient)."""
    return Tensor._make(x.xp.isinf(x.array), x.backend)


def is_finite(x: Tensor) -> Tensor:
    """Boolean mask of finite elements (no gradient)."""
    return Tensor._make(x.xp.isfinite(x.array), x.backend)


__all__ = ["Abs", "Acos", "Asin", "Atan", "Atan2", "Cast", "Clip", "Cos", "Cosh", "Erf", "Exp", "Expm1", "Log", "Log1p",
           "Maximum", "Relu", "Rounding", "Sigmoid", "Sin", "Sinh", "Sqrt", "Tan", "Tanh", "Where", "is_finite",
           "is_inf", "is_nan"]
