"""Vector lengths and distances along a dimension: ``F.normalize``, ``F.cosine_similarity`` and
``F.pairwise_distance``, composed from differentiable tensor ops (their gradients are autograd's)."""
from __future__ import annotations

from anynn.autograd.tensor import Tensor
from anynn.ops._args import expect_tensor

__all__ = ["cosine_similarity", "normalize", "pairwise_distance"]


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim`` (PyTorch's ``F.normalize``): unit vectors, zero stays zero."""
    expect_tensor("normalize", input)
    if out is not None:
        raise TypeError("normalize: out= is not supported; use the returned tensor")
    return input / input.norm(p, dim=dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between ``x1`` and ``x2`` (broadcast together) along ``dim``, as PyTorch
    computes it: each divided by its norm (at least ``eps``) first, so the result stays within [-1, 1].

    As in PyTorch, the clamp to ``eps`` is outside autograd: the gradient is the unclamped norm's."""
    expect_tensor("cosine_similarity", x1)
    expect_tensor("cosine_similarity", x2)
    n1, n2 = x1.norm(2, dim=dim, keepdim=True), x2.norm(2, dim=dim, keepdim=True)
    n1 = n1 + (n1.detach().clamp(min=eps) - n1.detach())
    n2 = n2 + (n2.detach().clamp(min=eps) - n2.detach())
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dimension (PyTorch's ``F.pairwise_distance``; ``eps`` keeps the
    gradient finite where the two are equal)."""
    expect_tensor("pairwise_distance", x1)
    expect_tensor("pairwise_distance", x2)
    return (x1 - x2 + eps).norm(p, dim=max(x1.ndim, x2.ndim) - 1, keepdim=keepdim)
