"""Activation layers: thin modules over ``anynn.ops.activation`` with PyTorch's names and ``repr``."""
from __future__ import annotations

from anynn import dtypes as D
from anynn.autograd.factories import full
from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops import activation as A
from anynn.ops._args import expect_tensor, number_arg, size_arg


def _inplace_repr(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted for compatibility; anynn never overwrites the input."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.relu(input)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x (Maas et al., 2013)."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        number_arg("LeakyReLU", "negative_slope", negative_slope)
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """Leaky ReLU whose slope is learned: one shared slope, or one per channel (He et al., 2015)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: D.DType | str | None = None):
        super().__init__()
        num_parameters = size_arg("PReLU", "num_parameters", num_parameters, minimum=1)
        number_arg("PReLU", "init", init)
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(full((num_parameters,), float(init), dtype=dtype))

    def reset_parameters(self) -> None:
        from anynn.nn import init as initializers

        initializers.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        n = self.num_parameters
        if n != 1 and (input.ndim < 2 or input.shape[1] != n):
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected {n} channels in dimension 1; "
                             f"set num_parameters to the channel count or to 1 for a shared slope")
        return A.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """x for x > 0, else alpha * (exp(x) - 1) (Clevert et al., 2015)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        number_arg("ELU", "alpha", alpha)
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x), exact (``approximate='none'``) or with the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.tanh(input)


class Softmax(Module):
    """Softmax along ``dim`` (give it: the implicit choice is deprecated, as in PyTorch)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.softmax(input, self.dim, _who=self)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably; pair with NLLLoss."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        return A.log_softmax(input, self.dim, _who=self)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = ["ELU", "GELU", "LeakyReLU", "LogSoftmax", "PReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]
