"""Affine map ``y = x @ W.T + b`` (``F.linear``) as one Function with a hand-written backward."""
from __future__ import annotations

from anynn.autograd.function import Function
from anynn.autograd.tensor import Tensor


class Linear(Function):
    """``x @ W.T + b`` for ``x`` of shape (..., in); the backward flattens the leading axes into one GEMM."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        xp = ctx.xp
        ctx.save(x, weight)
        out = xp.matmul(x, xp.matrix_transpose(weight))
        return out if bias is None else out + bias

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, weight = ctx.saved
        out_features, in_features = weight.shape
        g2 = xp.reshape(grad, (-1, out_features))
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = xp.reshape(xp.matmul(g2, weight), tuple(x.shape))
        if ctx.needs_input_grad[1]:
            gw = xp.matmul(xp.matrix_transpose(g2), xp.reshape(x, (-1, in_features)))
        if ctx.needs_input_grad[2]:
            gb = xp.sum(g2, axis=0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` for any number of leading dimensions (PyTorch's ``F.linear``)."""
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit weight of shape {weight.shape}: "
                         f"expected (..., {weight.shape[1]})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if input.dtype is not weight.dtype or (bias is not None and bias.dtype is not weight.dtype):
        raise TypeError(f"linear: input ({input.dtype}), weight ({weight.dtype})"
                        + ("" if bias is None else f" and bias ({bias.dtype})")
                        + f" must share one floating-point dtype; convert the input with x.to({weight.dtype})")
    return Linear.apply(input, weight, bias)


__all__ = ["linear"]
