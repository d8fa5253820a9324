"""``Flatten`` (merge axes, e.g. feature maps into vectors for a Linear layer) and its inverse ``Unflatten``."""
from __future__ import annotations

import math
from typing import Sequence

from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"{self!r} got a {type(input).__module__}.{type(input).__name__}: expected an anynn "
                            "Tensor; wrap arrays with anynn.tensor(...)")
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (one entry may be -1): (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim % input.ndim
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
