"""Lazy layers: ``LazyLinear``, ``LazyConv1d``, ``LazyConv2d`` learn their input size from the first input.

Until then their weights are ``UninitializedParameter``s (no shape yet). The first forward materialises them
in place (the same Parameter objects, so an optimizer may already hold them), initialises them as the eager
layer would, and turns the module into that layer (``LazyLinear`` becomes a ``Linear``), as PyTorch does.
``load_state_dict`` materialises them too, to the checkpoint's shapes.
"""
from __future__ import annotations

from typing import Any

from anynn import dtypes as D
from anynn.autograd.factories import zeros
from anynn.autograd.grad_mode import no_grad
from anynn.ops._args import size_arg
from anynn.autograd.tensor import Tensor
from anynn.nn.conv import Conv1d, Conv2d
from anynn.nn.linear import Linear
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet; :meth:`materialize` gives it one (and makes it a Parameter)."""

    __slots__ = ()

    def __init__(self, requires_grad: bool = True, dtype: D.DType | str | None = None):
        super().__init__(zeros(0, dtype=dtype), requires_grad)

    def materialize(self, shape: tuple[int, ...]) -> None:
        """Give this parameter ``shape`` (zeros, on its backend and dtype), in place; it is a Parameter after."""
        backend = self._backend
        self.array = backend.xp.zeros(tuple(shape), dtype=self.array.dtype, device=backend.device)
        self._version = [0]
        self.__class__ = Parameter

    def __repr__(self) -> str:
        return "<UninitializedParameter>"


class LazyModuleMixin:
    """What a lazy layer shares: a forward pre-hook that materialises its parameters from the first input,
    then removes itself and turns the module into ``cls_to_become``."""

    cls_to_become: type[Module]

    def _lazy_setup(self) -> None:
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter) for p in self.parameters(recurse=False))

    def initialize_parameters(self, input: Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define initialize_parameters(input)")

    def reset_parameters(self) -> None:
        if not (self.__dict__.get("_standing_in") or self.has_uninitialized_params()):
            super().reset_parameters()


def _infer_parameters(module: Any, args: tuple) -> None:
    if not args or not isinstance(args[0], Tensor):
        raise TypeError(f"{type(module).__name__}: the first forward needs a Tensor input to infer its size from")
    if module.has_uninitialized_params():
        with no_grad():
            module.initialize_parameters(args[0])
    else:  # loaded from a state dict: the sizes come from the weights
        module._sizes_from_weight()
    module._initialize_hook.remove()
    del module._initialize_hook
    module.__class__ = module.cls_to_become


class LazyLinear(LazyModuleMixin, Linear):
    """A ``Linear`` whose ``in_features`` is the last dimension of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, *, dtype: D.DType | str | None = None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = size_arg("LazyLinear", "out_features", out_features)
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self._lazy_setup()

    def initialize_parameters(self, input: Tensor) -> None:
        if input.ndim == 0:
            raise ValueError("LazyLinear: got a 0-d input; expected (..., in_features)")
        self.in_features = input.shape[-1]
        self.weight.materialize((self.out_features, self.in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))
        self.reset_parameters()

    def _sizes_from_weight(self) -> None:
        self.in_features = self.weight.shape[1]


class _LazyConvNd(LazyModuleMixin):
    """Shared by LazyConv1d and LazyConv2d: ``in_channels`` is the second dimension of the first input."""

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *,
                 dtype: D.DType | str | None = None):
        # the eager layer's checks with a stand-in of ``groups`` input channels, whose weights (never initialised:
        # no random draws before the first forward, as in PyTorch) are then dropped
        object.__setattr__(self, "_standing_in", True)
        self.cls_to_become.__init__(self, groups, out_channels, kernel_size, stride, padding, dilation, groups,
                                    bias, padding_mode, dtype=dtype)
        del self._standing_in
        self.in_channels = 0
        dtype = self.weight.dtype
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)
        self._lazy_setup()

    def initialize_parameters(self, input: Tensor) -> None:
        if input.ndim != self._dims + 2:
            raise ValueError(f"{type(self).__name__}: expected a {self._dims + 2}-d input (N, C, ...), got shape "
                             f"{input.shape}")
        self.in_channels = input.shape[1]
        if self.in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({self.in_channels}) must be divisible by groups "
                             f"({self.groups})")
        self.weight.materialize((self.out_channels, self.in_channels // self.groups, *self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()

    def _sizes_from_weight(self) -> None:
        self.in_channels = self.weight.shape[1] * self.groups


class LazyConv1d(_LazyConvNd, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` comes from its first input."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvNd, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` comes from its first input."""

    cls_to_become = Conv2d


__all__ = ["LazyConv1d", "LazyConv2d", "LazyLinear", "LazyModuleMixin", "UninitializedParameter"]
