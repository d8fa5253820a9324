"""Inverted dropout: zero each element (or whole channel) with probability ``p`` and scale the survivors by
``1 / (1 - p)`` so the expected activation is unchanged and evaluation needs no rescaling.

The mask comes from the tensor's backend generator (``backend.rand``), so ``anynn.manual_seed`` makes it
reproducible on a given backend. While a CUDA graph is being captured (and inside
``anynn.cuda_graphs.device_rng()``) it comes from the device's counter-based generator instead, whose counter the
step advances on the device, so every replay of the graph draws a new mask.
"""
from __future__ import annotations

import warnings
from typing import Any

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.cuda_graphs import device_generator, use_device_rng
from anynn.ops._args import expect_tensor, number_arg


class Dropout(ArrayFunction):
    """``x * mask``; ``mask`` is 0 or ``1/(1-p)``, of shape ``mask_shape`` (broadcast against ``x``)."""

    @staticmethod
    def forward(ctx, x, p=0.5, mask_shape=None):
        xp = ctx.xp
        backend = ctx.backend
        shape = tuple(x.shape) if mask_shape is None else mask_shape
        if use_device_rng():
            keep = device_generator(backend).keep_mask(shape, p)
        else:
            keep = backend.rand(shape, backend.dtype_of(x.dtype)) >= p
        mask = xp.astype(keep, x.dtype) * (1.0 / (1.0 - p))
        ctx.save(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.saved[0]


def check_p(p: float, name: str) -> float:
    """``p`` as a float in [0, 1], else an error naming ``name`` (the layer or the function)."""
    number_arg(name, "p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def _check_input(input: Tensor, name: str) -> None:
    expect_tensor(name, input)
    if not input.dtype.is_floating_point:
        raise TypeError(f"{name} got input of dtype {input.dtype.name}: expected a floating-point tensor (dropout "
                        "scales the kept values by 1/(1-p)); convert it with input.float()")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
            _who: Any = "dropout") -> Tensor:
    """Element-wise inverted dropout (PyTorch's ``F.dropout``); the identity when not ``training`` or ``p=0``.

    ``inplace`` is accepted for compatibility; anynn never overwrites an input autograd may need.
    """
    check_p(p, _who)
    expect_tensor(_who, input)
    if not training or p == 0.0:
        return input
    _check_input(input, _who)
    if p == 1.0:
        return input * 0.0
    return Dropout.apply(input, p=float(p))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              _who: Any = "dropout2d") -> Tensor:
    """Channel-wise dropout (PyTorch's ``F.dropout2d``): zero whole feature maps of an (N, C, H, W) input.

    A 3-D input is treated as (N, C, L), as PyTorch does, so each (sample, channel) row is kept or dropped.
    Other ranks (2-D (N, C): each element) keep (sample, channel) as the unit, with PyTorch's deprecation warning.
    """
    check_p(p, _who)
    expect_tensor(_who, input)
    if input.ndim < 2:
        raise ValueError(f"{_who} got input of shape {input.shape}: expected 4-D (N, C, H, W) or 3-D (N, C, L)")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    if not training or p == 0.0:
        return input
    _check_input(input, _who)
    if p == 1.0:
        return input * 0.0
    mask_shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return Dropout.apply(input, p=float(p), mask_shape=mask_shape)


__all__ = ["dropout", "dropout2d"]
