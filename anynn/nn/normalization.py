"""Normalisation layers: ``BatchNorm1d/2d/3d`` (running statistics as buffers) and ``LayerNorm``."""
from __future__ import annotations

from typing import Sequence

from anynn import dtypes as D
from anynn.autograd.factories import ones, zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops._args import expect_tensor, number_arg, size_arg
from anynn.ops.norm import batch_norm, layer_norm


class _BatchNorm(Module):
    """Shared BatchNorm logic; subclasses name the input ranks they accept in ``_ranks`` and ``_layout``."""

    _ranks: tuple[int, ...] = ()
    _layout: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype: D.DType | str | None = None):
        super().__init__()
        who = type(self).__name__
        num_features = size_arg(who, "num_features", num_features)
        number_arg(who, "eps", eps)
        if momentum is not None:
            number_arg(who, "momentum", momentum)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", zeros((), dtype=D.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input(self, input: Tensor) -> None:
        expect_tensor(self, input)
        if self.training and not self.eps > 0:
            raise ValueError(f"{self!r}: eps must be positive in training (it keeps the division by the batch "
                             f"standard deviation finite), got eps={self.eps}; use the default 1e-05")
        if input.ndim not in self._ranks:
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected {self._layout} with "
                             f"C={self.num_features}; {self._rank_hint(input.ndim)}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected {self.num_features} channels in "
                             f"dimension 1, got {input.shape[1]}; set num_features={input.shape[1]} or check the "
                             "previous layer's output channels")

    def _rank_hint(self, ndim: int) -> str:
        suggestion = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(ndim)
        if suggestion is None:
            return "batch normalisation needs a batch dimension and a channel dimension"
        return f"for a {ndim}-D input use nn.{suggestion}"

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        if self.training and input.numel() == 0:
            return input * 1.0  # an empty batch: nothing to normalise, no statistics to update (as PyTorch)
        if self.training and input.numel() // self.num_features <= 1:
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected more than 1 value per channel "
                             "when training (the batch variance of one value is 0); use a batch larger than 1, "
                             "or model.eval()")
        factor: float | Tensor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = self.num_batches_tracked
            tracked.array = tracked.array + 1
            if self.momentum is None:  # cumulative average: 1/n, computed on the device (no host sync)
                factor = 1.0 / tracked.to(input.dtype)
        use_batch_stats = self.training or self.running_mean is None
        keep_stats = not self.training or self.track_running_stats
        return batch_norm(input, self.running_mean if keep_stats else None,
                          self.running_var if keep_stats else None, self.weight, self.bias,
                          use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over N (and L), per channel C (Ioffe & Szegedy, 2015)."""

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W, per channel C (Ioffe & Szegedy, 2015)."""

    _ranks = (4,)
    _layout = "4-D input (N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs over N, D, H and W, per channel C."""

    _ranks = (5,)
    _layout = "5-D input (N, C, D, H, W)"


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` dimensions (Ba et al., 2016)."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: D.DType | str | None = None):
        super().__init__()
        if isinstance(normalized_shape, (list, tuple)):
            shape = tuple(size_arg("LayerNorm", "normalized_shape", n) for n in normalized_shape)
        else:
            shape = (size_arg("LayerNorm", "normalized_shape", normalized_shape),)
        if not shape:
            raise ValueError("LayerNorm got normalized_shape=(): expected at least one size, the trailing dimensions "
                             "to normalise over, e.g. LayerNorm(512) for inputs of shape (*, 512)")
        number_arg("LayerNorm", "eps", eps)
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(shape, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        expect_tensor(self, input)
        n = len(self.normalized_shape)
        if input.ndim < n or input.shape[input.ndim - n:] != self.normalized_shape:
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected (*, "
                             f"{', '.join(map(str, self.normalized_shape))}); its trailing dimensions must equal "
                             "normalized_shape")
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm"]
