"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d`` with PyTorch's arguments and repr."""
from __future__ import annotations

import numbers
from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module
from anynn.ops._args import ntuple, positive_sizes
from anynn.ops.conv import IntOrTuple
from anynn.ops.pool import adaptive_avg_pool, avg_pool, max_pool


class _MaxPoolNd(Module):
    _dims = 0

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 dilation: IntOrTuple = 1, return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        if return_indices:
            raise NotImplementedError(f"{type(self).__name__}: return_indices=True is not supported "
                                      "(anynn has no MaxUnpool)")
        _check_window(type(self).__name__, self._dims, kernel_size, stride, padding, dilation)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return max_pool(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                        self._dims, self)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L) input; stride defaults to ``kernel_size``."""

    _dims = 1


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W) input; stride defaults to ``kernel_size``."""

    _dims = 2


class AvgPool1d(Module):
    """Mean over sliding windows of (N, C, L) input; stride defaults to ``kernel_size``."""

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        _check_window("AvgPool1d", 1, kernel_size, stride, padding)
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                        None, 1, self)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_window(name: str, dims: int, kernel_size: IntOrTuple, stride: IntOrTuple | None,
                  padding: IntOrTuple, dilation: IntOrTuple = 1) -> None:
    """At construction: kernel_size, stride and dilation positive ints (or tuples of ``dims``), padding >= 0."""
    window = ntuple(kernel_size, dims, "kernel_size", name)
    if stride is not None:
        ntuple(stride, dims, "stride", name)
    ntuple(dilation, dims, "dilation", name)
    positive_sizes(name, kernel_size=kernel_size, stride=kernel_size if stride is None else stride, dilation=dilation)
    pads = ntuple(padding, dims, "padding", name)
    if any(p < 0 for p in pads):
        raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
    if any(p > k // 2 for k, p in zip(window, pads)):
        raise ValueError(f"{name}: padding {pads} must be at most half the kernel size {window}; reduce the padding")


def _single(value: IntOrTuple) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


class AvgPool2d(Module):
    """Mean over sliding windows of (N, C, H, W) input; stride defaults to ``kernel_size``. With
    ``count_include_pad`` padded zeros count in the divisor; ``divisor_override`` replaces it."""

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        _check_window("AvgPool2d", 2, kernel_size, stride, padding)
        if divisor_override is not None and (not isinstance(divisor_override, numbers.Integral)
                                             or isinstance(divisor_override, bool) or divisor_override < 1):
            raise ValueError(f"AvgPool2d: divisor_override must be None or a positive int, got {divisor_override!r}")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                        self.divisor_override, 2, self)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptiveAvgPoolNd(Module):
    _dims = 0

    def __init__(self, output_size: Any):
        super().__init__()
        name = type(self).__name__
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * self._dims
        if len(sizes) != self._dims:
            raise ValueError(f"{name}: output_size must be an int or a tuple of {self._dims} (ints, or None to keep "
                             f"that size), got {output_size!r}")
        if any(v is not None and not (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1)
               for v in sizes):
            raise ValueError(f"{name}: output_size must be positive (each output side needs at least one element; "
                             f"None keeps the input's size), got {output_size!r}")
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool(input, self.output_size, self._dims, self)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average (N, C, L) input down to exactly ``output_size`` (PyTorch's window boundaries)."""

    _dims = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average (N, C, H, W) input down to exactly ``output_size`` (an int, or a pair; None keeps that size)."""

    _dims = 2


__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d"]
