"""Normalisation: ``batch_norm`` and ``layer_norm`` as fused Functions with the classic closed-form backward.

Both standardise ``x`` over some axes (``xhat = (x - mean) / sqrt(var + eps)``) and then scale and shift. With
statistics taken from the batch itself the input gradient is (Ioffe & Szegedy, 2015)::

    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

which costs two reductions instead of back-propagating through mean and var separately.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

from anynn import amp
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._fused import FusedOp
from anynn.ops._util import cast, channel_view


def _standardize(xp, x, axes: tuple[int, ...], eps: float):
    """(xhat, inv_std) over ``axes``, inv_std kept with size-1 axes for broadcasting."""
    mean = xp.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = xp.mean(centered * centered, axis=axes, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + eps)
    return centered * inv_std, inv_std


def _standardize_backward(xp, gxhat, xhat, inv_std, axes: tuple[int, ...]):
    """Input gradient of ``_standardize`` given the gradient of ``xhat`` (the formula in the module docstring)."""
    mean_g = xp.mean(gxhat, axis=axes, keepdims=True)
    mean_gx = xp.mean(gxhat * xhat, axis=axes, keepdims=True)
    return inv_std * (gxhat - mean_g - xhat * mean_gx)


# ------------------------------------------------------------------ batch norm
def _non_channel_axes(ndim: int) -> tuple[int, ...]:
    return (0,) + tuple(range(2, ndim))


# The four per-channel passes batch norm is made of; a backend may run each as one pass over memory.
def channel_moments(xp, x):
    """Per-channel mean and biased variance of an (N, C, ...) array, as two (C,) arrays."""
    axes = _non_channel_axes(x.ndim)
    return xp.mean(x, axis=axes), xp.var(x, axis=axes)


def channel_affine(xp, x, mean, scale, shift):
    """``(x - mean[c]) * scale[c] + shift[c]``."""
    view = channel_view
    return (x - view(xp, mean, x.ndim)) * view(xp, scale, x.ndim) + view(xp, shift, x.ndim)


def channel_grad_sums(xp, grad, x, mean):
    """Per-channel ``sum(grad)`` and ``sum(grad * (x - mean[c]))``."""
    axes = _non_channel_axes(x.ndim)
    return xp.sum(grad, axis=axes), xp.sum(grad * (x - channel_view(xp, mean, x.ndim)), axis=axes)


def batch_norm_input_grad(xp, grad, x, mean, p, q, r):
    """``grad * p[c] + (x - mean[c]) * q[c] + r[c]``: batch norm's input gradient in one expression."""
    view = channel_view
    return (grad * view(xp, p, x.ndim) + (x - view(xp, mean, x.ndim)) * view(xp, q, x.ndim)
            + view(xp, r, x.ndim))


class ChannelPasses(NamedTuple):
    """The four per-channel passes over the activations, each taking ``xp`` first; a backend may plug in
    compiled ones (a compiled pass may decline a case by returning None: the standard pass then runs)."""

    moments: Callable[..., Any] = channel_moments
    affine: Callable[..., Any] = channel_affine
    grad_sums: Callable[..., Any] = channel_grad_sums
    input_grad: Callable[..., Any] = batch_norm_input_grad


STANDARD_PASSES = ChannelPasses()


def batch_norm_train(xp, x, weight, bias, running_mean, running_var, momentum, eps, passes=STANDARD_PASSES):
    """Standard twin of batch norm's fused training forward: normalise with the batch's statistics and blend
    them into the running ones. Returns (out, mean, inv_std, new running mean, new running var); the running
    pair is None when none is tracked. ``momentum``: a float or a 0-d array (``1 / num_batches_tracked``).

    Weight and 1/std fold into one per-channel scale, and the running variance takes the *unbiased* batch
    variance (as PyTorch). The new running arrays are fresh (not written in place), so earlier
    ``state_dict()`` snapshots stay intact.
    """
    mean, var = passes.moments(xp, x)
    inv_std = (var + eps) ** -0.5
    scale = inv_std if weight is None else inv_std * weight
    shift = xp.zeros_like(scale) if bias is None else bias
    out = passes.affine(xp, x, mean, scale, shift)
    if running_mean is None:
        return out, mean, inv_std, None, None
    count = math.prod(x.shape) // x.shape[1]
    keep = 1.0 - momentum
    new_mean = running_mean * keep + mean * momentum
    new_var = running_var * keep + var * (momentum * (count / (count - 1)))
    return out, mean, inv_std, cast(xp, new_mean, running_mean.dtype), cast(xp, new_var, running_var.dtype)


def batch_norm_train_grad(xp, grad, x, mean, inv_std, weight, passes=STANDARD_PASSES):
    """Standard twin of batch norm's fused training backward: (input, weight, bias) gradients (Ioffe and
    Szegedy's closed form, from the two per-channel sums ``sum(grad)`` and ``sum(grad * (x - mean))``)."""
    sum_g, sum_gc = passes.grad_sums(xp, grad, x, mean)
    gw = sum_gc * inv_std
    scale = inv_std if weight is None else inv_std * weight
    k = scale * (-1.0 / (math.prod(grad.shape) // grad.shape[1]))
    gx = passes.input_grad(xp, grad, x, mean, scale, k * (gw * inv_std), k * sum_g)
    return gx, gw, sum_g


#: Batch norm in training as one fused pair; in eval mode its statistics are constants, and the normalisation
#: map (with its backward) and the gradient sums run as the two pairs below.
BATCH_NORM = FusedOp("batch_norm", forward=batch_norm_train, backward=batch_norm_train_grad)
STATS = FusedOp("batch_norm_stats", forward=channel_moments, backward=channel_grad_sums)
AFFINE = FusedOp("batch_norm_affine", forward=channel_affine, backward=batch_norm_input_grad)


class BatchNorm(ArrayFunction):
    """Per-channel (axis 1) normalisation, then ``* weight + bias``.

    With ``mean``/``var`` None the batch's own statistics are used (training), as the fused pair
    ``BATCH_NORM``; ``running=(mean, var, momentum)`` arrays are blended with them in the same forward, and
    the new running arrays are appended to the list ``updated`` for the caller to bind. Otherwise the given
    (running) statistics are constants.

    Everything is per-channel vectors plus four passes over the activations (moments and one affine map
    forward; two gradient sums and one affine map backward), since these are among the largest arrays of a
    convolutional network: weight and 1/std fold into one scale, ``x`` itself is saved (no centered copy),
    and the two sums the parameter gradients need also give the input gradient
    (``mean(dxhat) = weight * sum(grad) / M``, ``mean(dxhat * xhat) = weight * gw / M``).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps=1e-5, running=None, updated=None):
        xp = ctx.xp
        ctx.batch_stats = mean is None
        if ctx.batch_stats:
            running_mean, running_var, momentum = running or (None, None, None)
            out, mean, inv_std, new_mean, new_var = BATCH_NORM.forward(ctx, x, weight, bias, running_mean,
                                                                       running_var, momentum, eps)
            if new_mean is not None:
                updated.extend((new_mean, new_var))
            ctx.save(x, mean, inv_std, weight)
            return out
        inv_std = (var + eps) ** -0.5
        scale = inv_std if weight is None else inv_std * weight
        shift = xp.zeros_like(scale) if bias is None else bias
        ctx.save(x, mean, inv_std, scale)
        return AFFINE.forward(ctx, x, mean, scale, shift)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if ctx.batch_stats:
            x, mean, inv_std, weight = ctx.saved
            gx, gw, gb = BATCH_NORM.backward(ctx, grad, x, mean, inv_std, weight)
            return (gx if need_x else None), (gw if need_w else None), (gb if need_b else None), None, None
        x, mean, inv_std, scale = ctx.saved  # constant statistics: the input gradient is just the scale
        gx = gw = gb = None
        if need_w or need_b:
            sum_g, sum_gc = STATS.backward(ctx, grad, x, mean)
            gw = sum_gc * inv_std if need_w else None
            gb = sum_g if need_b else None
        if need_x:
            zero = xp.zeros_like(scale)
            gx = AFFINE.forward(ctx, grad, zero, scale, zero)
        return gx, gw, gb, None, None


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float | Tensor = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalisation over axis 1 of an (N, C, ...) input (PyTorch's ``F.batch_norm``).

    ``training=True`` normalises with the batch's statistics and, when running buffers are given, updates
    them in place: ``running_mean`` with the mean, ``running_var`` with the *unbiased* variance (as PyTorch),
    by an exponential average with factor ``momentum`` (a float, or a 0-d tensor such as BatchNorm's
    ``1 / num_batches_tracked``, so no value is read back from the device). ``training=False`` uses the
    running statistics.
    """
    if amp.active and amp.widens("batch_norm", input):
        return amp.in_float32("batch_norm", batch_norm, input, running_mean, running_var, weight, bias, training,
                              momentum, eps)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got shape {input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {t.shape} but the input has {channels} channels "
                             f"(shape {input.shape}); expected ({channels},)")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training:
        if running_mean is None:
            raise ValueError("batch_norm: training=False needs running_mean and running_var to normalise with")
        return BatchNorm.apply(input, weight, bias, running_mean, running_var, eps=eps)
    count = math.prod(input.shape) // max(channels, 1)
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape "
                         f"{input.shape}; use a batch larger than 1 (or eval mode)")
    if running_mean is None:
        return BatchNorm.apply(input, weight, bias, None, None, eps=eps)
    updated: list = []
    factor = momentum.array if isinstance(momentum, Tensor) else momentum
    out = BatchNorm.apply(input, weight, bias, None, None, eps=eps,
                          running=(running_mean.array, running_var.array, factor), updated=updated)
    running_mean.array, running_var.array = updated
    return out


# ------------------------------------------------------------------ layer norm
class LayerNorm(ArrayFunction):
    """Normalisation over the trailing ``len(weight.shape)`` axes of each sample, then ``* weight + bias``."""

    @staticmethod
    def forward(ctx, x, weight, bias, ndims=1, eps=1e-5):
        xp = ctx.xp
        ctx.axes = tuple(range(x.ndim - ndims, x.ndim))
        ctx.lead = tuple(range(x.ndim - ndims))
        xhat, inv_std = _standardize(xp, x, ctx.axes, eps)
        ctx.save(xhat, inv_std, weight)
        out = xhat if weight is None else xhat * weight
        return out if bias is None else out + bias

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        xhat, inv_std, weight = ctx.saved
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gxhat = grad if weight is None else grad * weight
            gx = _standardize_backward(xp, gxhat, xhat, inv_std, ctx.axes)
        if ctx.needs_input_grad[1]:
            gw = _sum_over(xp, grad * xhat, ctx.lead)
        if ctx.needs_input_grad[2]:
            gb = _sum_over(xp, grad, ctx.lead)
        return gx, gw, gb


def _sum_over(xp, a, axes: tuple[int, ...]):
    return xp.sum(a, axis=axes) if axes else a


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample over its trailing ``normalized_shape`` axes (PyTorch's ``F.layer_norm``)."""
    if amp.active and amp.widens("layer_norm", input):
        return amp.in_float32("layer_norm", layer_norm, input, normalized_shape, weight, bias, eps)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: normalized_shape={shape} needs an input of shape (*, "
                         f"{', '.join(map(str, shape))}), got {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {t.shape}, expected normalized_shape {shape}")
    return LayerNorm.apply(input, weight, bias, ndims=len(shape), eps=eps)


__all__ = ["batch_norm", "layer_norm"]
