"""Convolution layers ``Conv1d``, ``Conv2d``, ``ConvTranspose1d`` and ``ConvTranspose2d``: PyTorch's arguments,
parameter names, shapes and initialisation."""
from __future__ import annotations

import numbers

from anynn import dtypes as D
from anynn.autograd.factories import zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops._args import ntuple, positive_sizes
from anynn.ops.conv import IntOrTuple, conv_pads, convolution, fold, transposed_convolution, unfold


class _ConvNd(Module):
    """Shared by the convolutions (``_dims`` spatial dimensions): weight (out, in/groups, *kernel_size), or
    (in, out/groups, *kernel_size) when ``_transposed``; bias (out,)."""

    _dims = 0
    _transposed = False

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
        if self._transposed:
            self.weight = Parameter(zeros(in_channels, out_channels // groups, *self.kernel_size, dtype=dtype))
        else:
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
        if self._transposed and self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
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


class _ConvTransposeNd(_ConvNd):
    """Shared by ConvTranspose1d and ConvTranspose2d: the adjoint of the convolution with the same arguments, so it
    maps that convolution's output size back to its input size (``output_padding`` picks among the sizes a
    strided convolution maps to the same output; ``forward(input, output_size)`` picks it from a wanted size)."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple, stride: IntOrTuple = 1,
                 padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1, bias: bool = True,
                 dilation: IntOrTuple = 1, padding_mode: str = "zeros", *, dtype: D.DType | str | None = None):
        name = type(self).__name__
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of ints, got {padding!r} (transposed "
                             "convolutions take no 'same' or 'valid')")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only 'zeros' padding mode is supported (as in PyTorch), got {padding_mode!r}")
        output_padding = ntuple(output_padding, self._dims, "output_padding", name)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype)
        self.output_padding = output_padding

    def forward(self, input: Tensor, output_size: list[int] | tuple[int, ...] | None = None) -> Tensor:
        output_padding = self.output_padding if output_size is None else self._output_padding(input, output_size)
        return transposed_convolution(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                      self.groups, self.dilation, self._dims, self)

    def _output_padding(self, input: Tensor, output_size: list[int] | tuple[int, ...]) -> tuple[int, ...]:
        """The output_padding that makes the output ``output_size`` (its last ``_dims`` entries), PyTorch's rule."""
        wanted = tuple(output_size)[-self._dims:]
        if len(wanted) != self._dims:
            raise ValueError(f"{self!r}: output_size must have {self._dims} or {self._dims + 2} elements, got "
                             f"{output_size!r}")
        smallest = tuple((n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                         zip(input.shape[-self._dims:], self.stride, self.padding, self.dilation, self.kernel_size))
        if any(not lo <= want < lo + s for want, lo, s in zip(wanted, smallest, self.stride)):
            raise ValueError(f"{self!r}: requested an output size of {wanted}, but valid sizes range from "
                             f"{smallest} to {tuple(lo + s - 1 for lo, s in zip(smallest, self.stride))} (for an "
                             f"input of {tuple(input.shape[-self._dims:])})")
        return tuple(want - lo for want, lo in zip(wanted, smallest))


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C, L) input; weight (in_channels, out_channels/groups, kernel_size)."""

    _dims = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C, H, W) input (DCGAN's generator upsamples with it); weight
    (in_channels, out_channels/groups, kh, kw)."""

    _dims = 2


class Unfold(Module):
    """A convolution's patches: the sliding blocks of (N, C, H, W) input as (N, C*kh*kw, L) columns (im2col)."""

    def __init__(self, kernel_size: IntOrTuple, dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
                 stride: IntOrTuple = 1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride, _who=self)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """The adjoint of :class:`Unfold`: (N, C*kh*kw, L) blocks summed into (N, C, *output_size) (col2im)."""

    def __init__(self, output_size: IntOrTuple, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
                 padding: IntOrTuple = 0, stride: IntOrTuple = 1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride, _who=self)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Fold", "Unfold"]
