"""Convolution layers ``Conv1d`` and ``Conv2d``: PyTorch's arguments, parameter names, shapes and initialisation."""
from __future__ import annotations

import numbers
from typing import Any

from anynn import dtypes as D
from anynn.autograd.factories import zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops.conv import IntOrTuple, conv_pads, convolution


_HINTS = {"kernel_size": "a kernel needs at least one element (kernel_size=1 for a pointwise layer)",
          "stride": "stride=1 moves the window one element at a time",
          "dilation": "dilation=1 is an ordinary, undilated window",
          "output_size": "each output side needs at least one element"}


def int_tuple(name: str, arg: str, value: Any, dims: int) -> tuple[int, ...]:
    """``value`` (an int, or a tuple/list of ``dims`` ints) as a ``dims``-tuple, or a ValueError naming the layer
    (also for floats, strings and other non-sequences, which would otherwise fail inside ``tuple()``)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * dims
    if (isinstance(value, (tuple, list)) and len(value) == dims
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        return tuple(int(v) for v in value)
    raise ValueError(f"{name}: {arg} must be an int or a tuple of {dims} ints, got {value!r}")


def positive_sizes(name: str, **sizes: Any) -> None:
    """Raise a ValueError naming the layer ``name`` unless every entry of every size tuple is a positive int
    (checked when the layer is built, so a zero or negative size never reaches a forward pass)."""
    for arg, value in sizes.items():
        entries = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in entries):
            raise ValueError(f"{name}: {arg} must be an int or a tuple of ints, got {value!r}")
        if any(v < 1 for v in entries):
            raise ValueError(f"{name}: {arg} must be positive, got {value!r}; {_HINTS.get(arg, 'use 1 or more')}")


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d (``_dims`` spatial dimensions): weight (out, in/groups, *kernel), bias (out,)."""

    _dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple, stride: IntOrTuple = 1,
                 padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, dtype: D.DType | str | None = None):
        super().__init__()
        name = type(self).__name__
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r} is not supported; only 'zeros' is "
                                      "(pad the input yourself for reflect/replicate/circular)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, self._dims)
        self.stride = int_tuple(name, "stride", stride, self._dims)
        self.padding = padding if isinstance(padding, str) else int_tuple(name, "padding", padding, self._dims)
        self.dilation = int_tuple(name, "dilation", dilation, self._dims)
        positive_sizes(name, kernel_size=kernel_size, stride=stride, dilation=dilation)
        if not isinstance(padding, str) and min(self.padding) < 0:
            raise ValueError(f"{name}: padding must be non-negative, got {padding!r}")
        conv_pads(self.padding, self.kernel_size, self.dilation, self.stride, name)  # validate early
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(zeros(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(zeros(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weights, bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return convolution(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                           self._dims, self)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) input; weight (out_channels, in_channels/groups, kernel_size)."""

    _dims = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) input; weight (out_channels, in_channels/groups, kh, kw)."""

    _dims = 2


__all__ = ["Conv1d", "Conv2d"]
