"""Embedding lookup: rows of a weight matrix picked by integer indices.

The backward scatters each output row's gradient back to its index with ``backend.index_add``, which adds
repeated indices exactly (plain fancy-index assignment would keep only one of them).

Index *values* are not range-checked: that would read the indices back to the host (a GPU sync) on every
call. An out-of-range index raises inside the backend's ``take`` on NumPy and torch, but on other backends
(e.g. CuPy, which wraps indices) it may silently read the wrong row; only the dtype is checked here.
"""
from __future__ import annotations

from anynn.autograd.function import Function
from anynn.autograd.tensor import Tensor


class Embedding(Function):
    """``weight[indices]`` for an integer index array of any shape; output shape ``indices.shape + (dim,)``."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None):
        xp = ctx.xp
        flat = xp.reshape(indices, (-1,))
        ctx.save(flat)
        ctx.num_rows, ctx.padding_idx = weight.shape[0], padding_idx
        out = xp.take(weight, flat, axis=0)
        return xp.reshape(out, tuple(indices.shape) + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        flat = ctx.saved[0]
        rows = xp.reshape(grad, (flat.shape[0], grad.shape[-1]))
        gw = ctx.backend.index_add(ctx.num_rows, flat, rows)
        if ctx.padding_idx is not None:
            row_ids = xp.arange(ctx.num_rows, device=ctx.backend.device)
            gw = xp.where(xp.reshape(row_ids == ctx.padding_idx, (-1, 1)), 0.0, gw)
        return gw, None


def _normalize_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx must be within [-{num_embeddings}, {num_embeddings}) for an embedding "
                         f"with {num_embeddings} rows, got {padding_idx}")
    return padding_idx % num_embeddings


def check_indices(indices: Tensor, who: str) -> None:
    """Raise a TypeError naming ``who`` unless ``indices`` is an integer tensor (values are not checked)."""
    if not isinstance(indices, Tensor):
        raise TypeError(f"{who}: indices must be an integer anynn Tensor, got {type(indices).__name__}; "
                        "wrap them with anynn.tensor(..., dtype=anynn.int64)")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{who} got indices of dtype {indices.dtype}: expected an integer tensor (int64) of "
                        "row numbers; convert with .long()")


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` indices (``F.embedding``).

    The row at ``padding_idx`` gets no gradient. Index values are not range-checked (see the module docstring).
    """
    check_indices(input, "embedding")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    padding_idx = _normalize_padding_idx(padding_idx, weight.shape[0])
    return Embedding.apply(weight, input, padding_idx=padding_idx)


__all__ = ["embedding"]
