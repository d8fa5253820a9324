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
from anynn.ops._args import describe, expect_tensor, number_arg


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


def _feature_dropout(input: Tensor, p: float, training: bool, batched: bool, who: Any) -> Tensor:
    """PyTorch's ``feature_dropout``: keep or drop each (sample, channel) as a unit, of the input seen with a
    batch axis in front when it is not ``batched`` (so an unbatched (C, ...) input drops whole channels)."""
    full = input.shape if batched else (1,) + input.shape
    if len(full) < 2:
        raise ValueError(f"{describe(who)} got input of shape {input.shape}: expected a channel dimension")
    if not training or p == 0.0:
        return input
    _check_input(input, who)
    if p == 1.0:
        return input * 0.0
    mask_shape = full[:2] + (1,) * (len(full) - 2)
    return Dropout.apply(input, p=float(p), mask_shape=mask_shape if batched else mask_shape[1:])


def _deprecated_rank(name: str, ndim: int, spatial: int, ranks: str) -> None:
    warnings.warn(f"{name}: Received a {ndim}-D input to {name}, which is deprecated and will result in an error "
                  "in a future release. To retain the behavior and silence this warning, please use dropout instead. "
                  f"Note that {name} exists to provide channel-wise dropout on inputs with {spatial} spatial "
                  "dimensions, a channel dimension, and an optional batch dimension (i.e. " + ranks + " inputs).",
                  UserWarning, stacklevel=3)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              _who: Any = "dropout1d") -> Tensor:
    """Channel-wise dropout (PyTorch's ``F.dropout1d``) of an (N, C, L) or unbatched (C, L) input."""
    check_p(p, _who)
    expect_tensor(_who, input)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{describe(_who)}: Expected 2D or 3D input, but received a {input.ndim}D input. Note "
                           "that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                           "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, input.ndim == 3, _who)


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
        _deprecated_rank("dropout2d", input.ndim, 2, "3D or 4D")
    return _feature_dropout(input, p, training, True, _who)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False,
              _who: Any = "dropout3d") -> Tensor:
    """Channel-wise dropout (PyTorch's ``F.dropout3d``) of an (N, C, D, H, W) or unbatched (C, D, H, W) input;
    other ranks are taken as unbatched, with PyTorch's deprecation warning."""
    check_p(p, _who)
    expect_tensor(_who, input)
    if input.ndim not in (4, 5):
        _deprecated_rank("dropout3d", input.ndim, 3, "4D or 5D")
    return _feature_dropout(input, p, training, input.ndim == 5, _who)


__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]
