"""Convolution layers ``Conv1d`` and ``Conv2d``: PyTorch's arguments, parameter names, shapes and initialisation."""
from __future__ import annotations

import numbers

from anynn import dtypes as D
from anynn.autograd.factories import zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops._args import ntuple, positive_sizes
from anynn.ops.conv import IntOrTuple, conv_pads, convolution


class _ConvNd(Module):
    """Shared by Conv1d and Conv2d (``_dims`` spatial dimensions): weight (out, in/groups, *kernel_size), bias
    (out,)."""

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
        self.kernel_size = ntuple(kernel_size, self._dims, "kernel_size", name)
        self.stride = ntuple(stride, self._dims, "stride", name)
        self.padding = padding if isinstance(padding, str) else ntuple(padding, self._dims, "padding", name)
        self.dilation = ntuple(dilation, self._dims, "dilation", name)
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
