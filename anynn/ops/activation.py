"""Activations: the ReLU family, GELU, sigmoid/tanh and (log-)softmax, each an ArrayFunction with explicit backward.

``relu``, ``sigmoid`` and ``tanh`` reuse the core element-wise Functions (``Tensor.relu`` etc.).
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from anynn import amp
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._args import expect_tensor
from anynn.ops._fused import FusedOp
from anynn.ops._util import channel_view, finite_max, stable_log_softmax, unbroadcast
from anynn.ops.elementwise import Relu, Sigmoid, Tanh

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


# ------------------------------------------------------------------ ReLU family
class LeakyRelu(ArrayFunction):
    """``x`` where ``x > 0``, else ``negative_slope * x``: the fused pair ``LEAKY_RELU`` (one kernel each way on
    a backend that compiles it). The backward reads the input's sign, as PyTorch does: the output's sign is
    the input's only for a positive slope."""

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save(x)
        ctx.slope = negative_slope
        return LEAKY_RELU.forward(ctx, x, negative_slope)

    @staticmethod
    def backward(ctx, grad):
        return LEAKY_RELU.backward(ctx, grad, ctx.saved[0], ctx.slope)


def _leaky_relu(xp: Any, x: Any, negative_slope: float) -> Any:
    return xp.where(x > 0, x, x * negative_slope)


def _leaky_relu_backward(xp: Any, grad: Any, x: Any, negative_slope: float) -> Any:
    return xp.where(x > 0, grad, grad * negative_slope)


LEAKY_RELU = FusedOp("leaky_relu", forward=_leaky_relu, backward=_leaky_relu_backward)


class BiasRelu(ArrayFunction):
    """``relu(x + bias)`` with ``bias`` per channel (axis 1): a layer's bias add fused with the ReLU after it, as
    the pair ``BIAS_RELU`` (on a backend that compiles it, one kernel forward; backward one kernel for the input
    gradient and the bias gradient's per-channel sums together), where the standard path takes the bias add, the
    ReLU, its gradient and the bias gradient's sum as four launches."""

    @staticmethod
    def forward(ctx, x, bias):
        out = BIAS_RELU.forward(ctx, x, bias)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        gx, gb = BIAS_RELU.backward(ctx, grad, ctx.saved[0])
        return gx, gb


def _bias_relu(xp: Any, x: Any, bias: Any) -> Any:
    return xp.maximum(x + channel_view(xp, bias, x.ndim), 0.0)


def _bias_relu_backward(xp: Any, grad: Any, out: Any) -> tuple[Any, Any]:
    gx = xp.where(out > 0, grad, 0.0)
    return gx, xp.sum(gx, axis=(0,) + tuple(range(2, gx.ndim)))


BIAS_RELU = FusedOp("bias_relu", forward=_bias_relu, backward=_bias_relu_backward)


class Prelu(ArrayFunction):
    """Leaky ReLU with a learned slope per channel (axis 1) or one shared slope (``weight`` of shape (1,))."""

    @staticmethod
    def forward(ctx, x, weight):
        xp = ctx.xp
        if weight.shape[0] > 1:
            slope = channel_view(xp, weight, x.ndim)
        else:
            slope = xp.reshape(weight, (1,) * x.ndim)
        positive = x > 0
        ctx.save(x, positive, slope)
        return xp.where(positive, x, x * slope)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, positive, slope = ctx.saved
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = xp.where(positive, grad, grad * slope)
        if ctx.needs_input_grad[1]:
            gw = xp.reshape(unbroadcast(xp, xp.where(positive, 0.0, grad * x), tuple(slope.shape)), (-1,))
        return gx, gw


class Elu(ArrayFunction):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)`` (``expm1`` for accuracy near 0)."""

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xp = ctx.xp
        positive = x > 0
        negative_part = alpha * xp.expm1(xp.minimum(x, 0.0))
        ctx.save(positive, negative_part)
        ctx.alpha = alpha
        return xp.where(positive, x, negative_part)

    @staticmethod
    def backward(ctx, grad):
        positive, negative_part = ctx.saved
        return ctx.xp.where(positive, grad, grad * (negative_part + ctx.alpha))


class Gelu(ArrayFunction):
    """``x * Phi(x)`` with the exact normal CDF (``backend.erf``) or PyTorch's tanh approximation."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        xp = ctx.xp
        ctx.save(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x)
            return 0.5 * x * (1.0 + xp.tanh(inner))
        return 0.5 * x * (1.0 + ctx.backend.erf(x * _SQRT_HALF))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x = ctx.saved[0]
        if ctx.approximate == "tanh":
            x2 = x * x
            t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x2 * x))
            d_inner = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * x2)
            return grad * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner)
        cdf = 0.5 * (1.0 + ctx.backend.erf(x * _SQRT_HALF))
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
        return grad * (cdf + x * pdf)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); ``inplace`` is accepted for compatibility (anynn never overwrites inputs)."""
    return Relu.apply(input)


def bias_relu(input: Tensor, bias: Tensor) -> Tensor:
    """``relu(input + bias)``, ``bias`` (C,) added along axis 1 of ``input`` (N, C, ...): a Linear or Conv layer's
    bias add fused with the ReLU that follows it (one kernel each way where the backend compiles it)."""
    if bias.ndim != 1 or input.ndim < 2 or input.shape[1] != bias.shape[0]:
        raise ValueError(f"bias_relu: bias of shape {tuple(bias.shape)} does not fit an input of shape "
                         f"{tuple(input.shape)}: expected a (C,) bias for an (N, C, ...) input")
    return BiasRelu.apply(input, bias)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyRelu.apply(input, negative_slope=float(negative_slope))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """Leaky ReLU with learned slopes: ``weight`` has 1 entry, or one per channel (axis 1 of ``input``)."""
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D (num_parameters,), got shape {weight.shape}")
    n = weight.shape[0]
    if n != 1 and (input.ndim < 2 or input.shape[1] != n):
        raise ValueError(f"prelu: weight has {n} slopes but the input of shape {input.shape} has "
                         f"{input.shape[1] if input.ndim >= 2 else 1} channel(s) in dimension 1; "
                         "use num_parameters=1 or match the channel count")
    return Prelu.apply(input, weight)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return Elu.apply(input, alpha=float(alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Unit (Hendrycks & Gimpel, 2016); ``approximate='tanh'`` is the fast variant."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate=approximate)


def sigmoid(input: Tensor) -> Tensor:
    return Sigmoid.apply(input)


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(input)


# ------------------------------------------------------------------ softmax
class Softmax(ArrayFunction):
    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.xp
        e = xp.exp(x - finite_max(xp, x, axis))
        out = e / xp.sum(e, axis=axis, keepdims=True)
        ctx.save(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        out = ctx.saved[0]
        return out * (grad - ctx.xp.sum(grad * out, axis=ctx.axis, keepdims=True))


class LogSoftmax(ArrayFunction):
    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = ctx.xp
        out = stable_log_softmax(xp, x, axis)
        ctx.save(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        out = ctx.saved[0]
        return grad - xp.exp(out) * xp.sum(grad, axis=ctx.axis, keepdims=True)


def _softmax_axis(name: Any, dim: int | None, ndim: int) -> int:
    """``dim`` checked and made non-negative; None picks PyTorch's legacy implicit dimension, with a warning."""
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated; pass dim= explicitly "
                      f"(using dim={dim})", stacklevel=3)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{name} got dim={dim!r}: expected an int (the dimension to normalise over)")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor with {ndim} dimension(s)")
    return dim % max(ndim, 1)


def softmax(input: Tensor, dim: int | None = None, _who: Any = "softmax") -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed after subtracting the maximum so it never overflows."""
    expect_tensor(_who, input)
    axis = _softmax_axis(_who, dim, input.ndim)
    if amp.active and amp.widens("softmax", input):
        return amp.in_float32("softmax", softmax, input, axis, _who)
    if input.ndim == 0:
        return input * 0.0 + 1.0
    if input.numel() == 0:  # nothing to normalise (NumPy's max has no identity for an empty axis)
        return input * 1.0
    return Softmax.apply(input, axis=axis)


def log_softmax(input: Tensor, dim: int | None = None, _who: Any = "log_softmax") -> Tensor:
    """x - logsumexp(x) along ``dim``; finite for any finite logits (1e4 included)."""
    expect_tensor(_who, input)
    axis = _softmax_axis(_who, dim, input.ndim)
    if amp.active and amp.widens("log_softmax", input):
        return amp.in_float32("log_softmax", log_softmax, input, axis, _who)
    if input.ndim == 0:
        return input * 0.0
    if input.numel() == 0:
        return input * 1.0
    return LogSoftmax.apply(input, axis=axis)


__all__ = ["elu", "gelu", "leaky_relu", "log_softmax", "prelu", "relu", "sigmoid", "softmax", "tanh"]
