"""Constant padding (``F.pad``): widen (or, with negative amounts, crop) the last dimensions of a tensor.

``pad`` lists amounts from the last dimension backwards, as in PyTorch: ``(left, right)`` pads the last one,
``(left, right, top, bottom)`` the last two. The forward pass writes the kept block of the input into a
filled output; the backward pass reads the same block of the gradient back.
"""
from __future__ import annotations

from typing import Any, Sequence

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._args import describe, expect_tensor

__all__ = ["pad"]


class ConstantPad(ArrayFunction):
    """``x`` with ``value`` around it: ``sides`` is one (before, after) pair per dimension (negative: cropped)."""

    @staticmethod
    def forward(ctx, x, *, sides, value):
        xp = ctx.xp
        kept, placed = _blocks(tuple(x.shape), sides)
        ctx.x_shape, ctx.blocks = tuple(x.shape), (kept, placed)
        out_shape = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, sides))
        out = xp.full(out_shape, value, dtype=x.dtype, device=x.device)
        out[placed] = x[kept]
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        kept, placed = ctx.blocks
        gx = xp.zeros(ctx.x_shape, dtype=grad.dtype, device=grad.device)
        gx[kept] = grad[placed]
        return gx


def _blocks(shape: tuple[int, ...], sides: tuple[tuple[int, int], ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """The input's kept block and where it lands in the output, as index tuples."""
    kept, placed = [], []
    for size, (lo, hi) in zip(shape, sides):
        start, stop = max(-lo, 0), size - max(-hi, 0)
        kept.append(slice(start, stop))
        placed.append(slice(max(lo, 0), max(lo, 0) + stop - start))
    return tuple(kept), tuple(placed)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None,
        _who: Any = "pad") -> Tensor:
    """PyTorch's ``F.pad`` in ``'constant'`` mode: ``pad`` = (last dim's before, after, the one before's ...)."""
    who = describe(_who)
    expect_tensor(_who, input)
    amounts = tuple(pad)
    if mode != "constant":
        raise NotImplementedError(f"{who}: mode={mode!r} is not supported; only 'constant' is (zero padding with "
                                  "value=None)")
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in amounts):
        raise TypeError(f"{who}: pad must be a sequence of ints, got {pad!r}")
    if len(amounts) % 2:
        raise ValueError(f"{who}: Padding length must be divisible by 2, got {len(amounts)} ({pad!r})")
    if len(amounts) > 2 * input.ndim:
        raise ValueError(f"{who}: Padding length should be less than or equal to two times the input dimension but "
                         f"got padding length {len(amounts)} and input of dimension {input.ndim}")
    pairs = [(amounts[i], amounts[i + 1]) for i in range(0, len(amounts), 2)][::-1]
    sides = ((0, 0),) * (input.ndim - len(pairs)) + tuple(pairs)
    out_shape = tuple(s + lo + hi for s, (lo, hi) in zip(input.shape, sides))
    kept = tuple(s + min(lo, 0) + min(hi, 0) for s, (lo, hi) in zip(input.shape, sides))
    if any(s < 0 for s in out_shape + kept):
        raise ValueError(f"{who}: padding {tuple(amounts)} of an input of shape {input.shape} crops more than "
                         f"there is (output size {out_shape}); crop less")
    fill = 0 if value is None else value
    fill = float(fill) if input.dtype.is_floating_point else (bool(fill) if input.dtype.name == "bool" else int(fill))
    return ConstantPad.apply(input, sides=sides, value=fill)


def padding_arg(padding: Any, dims: int, who: Any) -> tuple[int, ...]:
    """A padding layer's ``padding``: an int for every side, or 2 * ``dims`` ints (last dimension first)."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * (2 * dims)
    amounts = tuple(padding) if isinstance(padding, (tuple, list)) else None
    if amounts is None or len(amounts) != 2 * dims or not all(isinstance(a, int) for a in amounts):
        raise ValueError(f"{describe(who)}: padding must be an int or a tuple of {2 * dims} ints, got {padding!r}")
    return amounts
