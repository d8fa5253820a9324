"""Constant padding layers ``ZeroPad1d/2d/3d`` and ``ConstantPad1d/2d/3d`` (``anynn.ops.padding``)."""
from __future__ import annotations

from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module
from anynn.ops._args import number_arg
from anynn.ops.padding import padding_arg, pad

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d"]


class _ConstantPadNd(Module):
    """Pad the last ``_dims`` dimensions with ``value``; ``padding`` is (left, right[, top, bottom[, front,
    back]]) or one int for every side."""

    _dims = 0

    def __init__(self, padding: int | tuple[int, ...], value: float):
        super().__init__()
        number_arg(type(self).__name__, "value", value)
        self.padding = padding_arg(padding, self._dims, type(self).__name__)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return pad(input, self.padding, "constant", self.value, _who=self)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    _dims = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: int | tuple[int, ...]):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    _dims = 1


class ZeroPad2d(_ZeroPadNd):
    """Zero padding of (N, C, H, W) or (C, H, W) input: (left, right, top, bottom)."""

    _dims = 2


class ZeroPad3d(_ZeroPadNd):
    _dims = 3
