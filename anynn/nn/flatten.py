"""``Flatten`` (merge axes, e.g. feature maps into vectors for a Linear layer) and its inverse ``Unflatten``."""
from __future__ import annotations

import math
import numbers
from typing import Sequence

from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module
from anynn.ops._args import expect_tensor


def _dim_arg(who: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{who} got {name}={value!r}: expected an int (a dimension; negative counts from the end)")
    return int(value)


def _axis(layer: Module, name: str, dim: int, ndim: int) -> int:
    """``dim`` made non-negative for an ``ndim``-D input (a 0-d input counts as 1-D, as in PyTorch)."""
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(f"{layer!r} got input with {ndim} dimension(s): {name}={dim} is out of range (expected "
                         f"{-rank}..{rank - 1})")
    return dim % rank


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = _dim_arg("Flatten", "start_dim", start_dim)
        self.end_dim = _dim_arg("Flatten", "end_dim", end_dim)

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        start = _axis(self, "start_dim", self.start_dim, input.ndim)
        end = _axis(self, "end_dim", self.end_dim, input.ndim)
        if start > end:
            raise ValueError(f"{self!r} got input with {input.ndim} dimension(s): start_dim {self.start_dim} comes "
                             f"after end_dim {self.end_dim}; swap them")
        if input.ndim == 0:
            return input.reshape((1,))
        shape = input.shape
        return input.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (one entry may be -1): (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        super().__init__()
        self.dim = _dim_arg("Unflatten", "dim", dim)
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in unflattened_size):
            raise TypeError(f"Unflatten got unflattened_size={unflattened_size!r}: expected a tuple of ints, e.g. "
                            "(1, 28, 28)")
        size = tuple(int(s) for s in unflattened_size)
        if not size:
            raise ValueError("Unflatten got unflattened_size=(): expected at least one size, e.g. (1, 28, 28)")
        if size.count(-1) > 1 or any(s < -1 for s in size):
            raise ValueError(f"Unflatten got unflattened_size={size}: expected sizes >= 0 with at most one -1 (the "
                             "size to infer)")
        self.unflattened_size = size

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        if input.ndim == 0:
            raise ValueError(f"{self!r} got a 0-d input: expected a tensor with dimension {self.dim} to split")
        dim = _axis(self, "dim", self.dim, input.ndim)
        size = self.unflattened_size
        known = math.prod(s for s in size if s != -1)
        fits = input.shape[dim] == known if -1 not in size else known > 0 and input.shape[dim] % known == 0
        if not fits:
            raise ValueError(f"{self!r} got input of shape {input.shape}: dimension {self.dim} has size "
                             f"{input.shape[dim]}, which cannot be split into {size}")
        return input.reshape(input.shape[:dim] + size + input.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


__all__ = ["Flatten", "Unflatten"]
