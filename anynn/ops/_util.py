"""Small array helpers shared by the ops: shapes (un-broadcasting, axes, per-channel views) and the numerically
stable forms of sigmoid and (log-)softmax, each written once."""
from __future__ import annotations

from typing import Any

Pair = tuple[int, int]
#: Per-side padding of the two spatial axes, ``((top, bottom), (left, right))``.
Pads = tuple[Pair, Pair]
#: Per-side padding of any number of spatial axes, ``((before, after), ...)``.
SidePads = tuple[Pair, ...]


def unbroadcast(xp: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes broadcasting added or stretched, so it has ``shape`` again."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes)
    return xp.reshape(grad, tuple(shape))


def norm_axis(axis: int | tuple[int, ...] | list[int] | None, ndim: int) -> tuple[int, ...] | None:
    """``axis`` as a sorted tuple of non-negative ints (None stays None: all axes)."""
    if axis is None:
        return None
    if isinstance(axis, int):
        axis = (axis,)
    for a in axis:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
    return tuple(sorted(a % max(ndim, 1) for a in axis))


def shape_of(x: Any) -> tuple[int, ...]:
    """Shape of an array, or () for a Python scalar."""
    return tuple(getattr(x, "shape", ()))


def cast(xp: Any, a: Any, dtype: Any) -> Any:
    """``a`` in ``dtype``: ``a`` itself when it already is (no copy), else converted."""
    return a if a.dtype == dtype else xp.astype(a, dtype)


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast shape of ``a`` and ``b``, or None if they do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y) if 0 not in (x, y) else 0)
    return tuple(reversed(out))


def channel_view(xp: Any, vector: Any, ndim: int) -> Any:
    """A per-channel vector (C,) shaped (1, C, 1, ...) to broadcast against an (N, C, ...) array of ``ndim`` axes."""
    return xp.reshape(vector, (1, vector.shape[0]) + (1,) * (ndim - 2))


# ---------------------------------------------------------------- 2-D geometry (convolution and pooling)
def pad2d(xp: Any, x: Any, pads: Pads, value: float) -> Any:
    """``x`` (N, C, H, W) with ``pads = ((top, bottom), (left, right))`` rows/columns of ``value`` around it."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    n, c, h, w = x.shape
    out = xp.full((n, c, h + pt + pb, w + pl + pr), value, dtype=x.dtype, device=x.device)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def unpad2d(x: Any, pads: Pads, hw: tuple[int, int]) -> Any:
    """The interior of a padded (N, C, Hp, Wp) array: the inverse of :func:`pad2d` (a view)."""
    (pt, _), (pl, _) = pads
    if x.shape[2] == hw[0] and x.shape[3] == hw[1]:
        return x
    return x[:, :, pt:pt + hw[0], pl:pl + hw[1]]


def as_4d(x: Any, xp: Any) -> Any:
    """A 3-D (N, C, L) array as (N, C, 1, L), so 1-D ops reuse the 2-D code."""
    return xp.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2])) if x.ndim == 3 else x


# ---------------------------------------------------------------- numerically stable forms
def stable_sigmoid(xp: Any, x: Any) -> Any:
    """The logistic function without overflow: exp only ever sees -|x|."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def finite_max(xp: Any, x: Any, axis: Any) -> Any:
    """The max along ``axis`` (kept as size 1), with infinite maxima (all -inf rows, +inf entries) replaced by 0:
    what softmax, log-softmax and logsumexp subtract so that exp never overflows."""
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0.0)


def stable_log_softmax(xp: Any, x: Any, axis: int) -> Any:
    """log(softmax(x)) along ``axis``: ``x - max - log(sum(exp(x - max)))``, finite for any finite x."""
    shifted = x - finite_max(xp, x, axis)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


__all__ = ["Pads", "Pair", "SidePads", "as_4d", "broadcast_shape", "cast", "channel_view", "finite_max", "norm_axis",
           "pad2d", "shape_of", "stable_log_softmax", "stable_sigmoid", "unbroadcast", "unpad2d"]
