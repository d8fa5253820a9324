"""Dropout layers (Srivastava et al., 2014): active in training mode, the identity after ``model.eval()``."""
from __future__ import annotations

from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module
from anynn.ops.dropout import check_p, dropout, dropout1d, dropout2d, dropout3d


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        check_p(p, type(self).__name__)
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted dropout)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, _who=self)


class Dropout1d(_DropoutNd):
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p``."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout1d(input, self.p, self.training, _who=self)


class Dropout2d(_DropoutNd):
    """Zero whole channels of an (N, C, H, W) input with probability ``p`` (Tompson et al., 2015)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, _who=self)


class Dropout3d(_DropoutNd):
    """Zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout3d(input, self.p, self.training, _who=self)


__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]
