"""Embedding lookup: rows of a weight matrix picked by integer indices.

The backward scatters each output row's gradient back to its index with ``backend.index_add``, which adds
repeated indices exactly (plain fancy-index assignment would keep only one of them).

Index values are range-checked by :func:`check_index_range`. On host backends (NumPy, array_api_strict, torch
on the CPU) the check runs at once: an index outside ``[0, num_embeddings)`` raises an IndexError naming the
layer, the valid range and the bad value (PyTorch also refuses -1; NumPy alone would silently read the last
row). On a GPU, reading the indices back would stall the device on every call, so the check is *deferred*: the
indices are clamped (never read out of bounds), the batch's smallest and largest index stay on the device, and
:func:`raise_deferred_index_errors` (one home for labels and indices: :mod:`anynn.ops._checks`) reads them and
raises the same error at the next synchronisation point (``fit`` calls it at its log points and epoch ends).
"""
from __future__ import annotations

from typing import Any

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._checks import DEFERRED_NOTE, check_now, defer, on_host, raise_deferred_errors  # noqa: F401


class Embedding(ArrayFunction):
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


def _normalize_padding_idx(padding_idx: int | None, num_embeddings: int, who: str = "embedding") -> int | None:
    if padding_idx is None:
        return None
    if not isinstance(padding_idx, int) or isinstance(padding_idx, bool):
        raise TypeError(f"{who}: padding_idx must be an int row number or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{who}: padding_idx must be within [-{num_embeddings}, {num_embeddings}) for an embedding "
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


def _range_message(who: str, num_rows: int, value: int, where: str = "") -> str:
    if value < 0:
        fix = ("negative indices are not allowed (unlike Python lists, -1 is not the last row); map padding or "
               "unknown ids to a row of their own (e.g. padding_idx=0)")
    else:
        fix = (f"make num_embeddings at least {value + 1} (one row per id, ids counted from 0), or check the id "
               "mapping")
    return (f"{who} got index {value}{where}: expected indices in [0, {num_rows - 1}] (num_embeddings={num_rows}); "
            f"{fix}")


def check_index_range(indices: Tensor, num_rows: int, who: str) -> Tensor:
    """Raise IndexError naming ``who`` unless every index is in ``[0, num_rows)``; returns the indices to use.

    On host backends the check runs now. On device backends (CuPy, torch on CUDA) it is deferred
    (:mod:`anynn.ops._checks`): the returned indices are clamped into the range, the batch's minimum and maximum
    stay on the device (two launches, no sync), and :func:`raise_deferred_index_errors` raises the same error at
    the next synchronisation point, so a training step never waits for it.
    """
    if indices.numel() == 0:
        return indices
    backend = indices.backend
    xp = backend.xp
    flat = xp.reshape(indices.array, (-1,))
    if check_now(backend):
        error = _first_bad_index(xp, flat, num_rows, who, "")
        if error is not None:
            raise error
        return indices
    lo, hi = xp.min(flat), xp.max(flat)

    def check(where: str) -> IndexError | None:
        if 0 <= int(lo) and int(hi) < num_rows:
            return None
        return _first_bad_index(xp, flat, num_rows, who, f" ({DEFERRED_NOTE}; the bad index was in {where})")

    defer(check)
    clamped = xp.clip(flat, 0, num_rows - 1)
    return Tensor._make(xp.reshape(clamped, tuple(indices.shape)), backend)


def _first_bad_index(xp: Any, flat: Any, num_rows: int, who: str, note: str) -> IndexError | None:
    """The error for the first index of ``flat`` outside ``[0, num_rows)`` (reads the data), or None."""
    bad = (flat < 0) | (flat >= num_rows)
    if not bool(xp.any(bad)):
        return None
    first = int(xp.nonzero(bad)[0][0])
    value = int(flat[first])
    where = f" at flat position {first}" if flat.shape[0] > 1 else ""
    return IndexError(_range_message(who, num_rows, value, where + note))


def raise_deferred_index_errors() -> None:
    """Run the deferred value checks (embedding indices and class labels alike; one home:
    :func:`anynn.ops._checks.raise_deferred_errors`) and raise the first error found."""
    raise_deferred_errors()


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, _who: str = "embedding") -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` indices (``F.embedding``).

    The row at ``padding_idx`` gets no gradient. Index values must be in ``[0, num_embeddings)`` (checked; on a
    GPU at the next synchronisation point, see the module docstring).
    """
    check_indices(input, _who)
    if weight.ndim != 2:
        raise ValueError(f"{_who}: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    padding_idx = _normalize_padding_idx(padding_idx, weight.shape[0], _who)
    input = check_index_range(input, weight.shape[0], _who)
    return Embedding.apply(weight, input, padding_idx=padding_idx)


__all__ = ["check_index_range", "embedding", "raise_deferred_index_errors"]
