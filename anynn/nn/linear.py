"""``Linear`` (fully connected) and ``Identity``."""
from __future__ import annotations

import math
from typing import Any

from anynn import amp
from anynn import dtypes as D
from anynn.autograd.factories import zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops._args import expect_tensor, size_arg
from anynn.ops.linear import linear


class Identity(Module):
    """Returns its input; arguments are accepted and ignored (a placeholder when swapping layers out)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    Initialised as PyTorch does: weight and bias uniform in (-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: D.DType | str | None = None):
        super().__init__()
        in_features = size_arg("Linear", "in_features", in_features)
        out_features = size_arg("Linear", "out_features", out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected (..., {self.in_features}); "
                             + _fix_hint(input.shape, self.in_features))
        if input.dtype is not self.weight.dtype and not amp.active:  # autocast casts both to one dtype
            raise TypeError(_dtype_hint(self, input.dtype, self.weight.dtype))
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _fix_hint(shape: tuple[int, ...], in_features: int) -> str:
    """What to do about an input whose last dimension is not ``in_features``."""
    features = math.prod(shape[1:])
    if len(shape) >= 3 and features == in_features:
        return "flatten it first (nn.Flatten)"
    if len(shape) == 4:
        return f"flatten it first (nn.Flatten) and set in_features to {features} (the product of {shape[1:]})"
    return f"make in_features match the previous layer's output size ({shape[-1] if shape else 1})"


def _dtype_hint(layer: Linear, got: D.DType, weight: D.DType) -> str:
    """What to do about an input whose dtype is not the weight's: scale integers, convert floats."""
    if not got.is_floating_point:
        return (f"{layer!r} got {got} input: expected a floating-point tensor ({weight}); convert it with "
                "x.float() (raw 0..255 images: x.float() / 255, or transforms.Normalize)")
    return (f"{layer!r} got {got} input but its weight is {weight}; convert one of them (x.to({weight}) or "
            f"model.to({got}))")


__all__ = ["Identity", "Linear"]
