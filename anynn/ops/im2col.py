"""im2col and col2im: a convolution's input patches as one GEMM operand, and the adjoint that sums them back.

Both are the fused pair ``IM2COL`` (``anynn/ops/_fused.py``): a backend may register compiled versions; these
standard-only twins copy one strided slice per window offset (a loop over kh*kw, never over the batch or the
output positions). Layout: rows (c, i, j), columns (oh, ow, n), the batch innermost, so every copied row is a
contiguous run of OW*N values (stride 1) rather than OW.
"""
from __future__ import annotations

from typing import Any

from anynn.ops._fused import FusedOp
from anynn.ops._util import Pads, Pair



def im2col(xp: Any, x: Any, window: Pair, stride: Pair, dilation: Pair, pads: Pads, out_hw: Pair) -> Any:
    """The patches of an (N, C, H, W) input, zero-padded by ``pads``, as a (C*kh*kw, OH*OW*N) array."""
    xt = padded_batch_last(xp, x, pads)
    c, n = xt.shape[0], xt.shape[3]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window, stride, dilation, out_hw
    patches = [xt[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw, :]
               for i in range(kh) for j in range(kw)]
    return xp.reshape(xp.stack(patches, axis=1), (c * kh * kw, oh * ow * n))


def col2im(xp: Any, cols: Any, x_shape: tuple[int, int, int, int], window: Pair, stride: Pair, dilation: Pair,
           pads: Pads, out_hw: Pair) -> Any:
    """Adjoint of :func:`im2col`: sum (C*kh*kw, OH*OW*N) patches back into the (N, C, H, W) input's gradient
    (batch-last in memory; what fell on the padding is dropped).

    Each window offset's strided slice holds no index twice, so ``+=`` per offset is exact.
    """
    n, c, h, w = x_shape
    (pt, pb), (pl, pr) = pads
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = window, stride, dilation, out_hw
    cols = xp.reshape(cols, (c, kh, kw, oh, ow, n))
    out = xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=cols.dtype, device=cols.device)
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            out[:, rows, j * dw:j * dw + sw * (ow - 1) + 1:sw, :] += cols[:, i, j, ...]
    return xp.permute_dims(out[:, pt:pt + h, pl:pl + w, :], (3, 0, 1, 2))


def padded_batch_last(xp: Any, x: Any, pads: Pads) -> Any:
    """(N, C, H, W) as a zero-padded, contiguous (C, H, W, N) array: the one copy of a conv's input."""
    n, c, h, w = x.shape
    (pt, pb), (pl, pr) = pads
    xt = xp.permute_dims(x, (1, 2, 3, 0))
    if pt == pb == pl == pr == 0:
        return xp.reshape(xp.reshape(xt, (-1,)), (c, h, w, n))  # a copy unless already laid out so
    out = xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=x.dtype, device=x.device)
    out[:, pt:pt + h, pl:pl + w, :] = xt
    return out


IM2COL = FusedOp("im2col", forward=im2col, backward=col2im)

__all__ = ["IM2COL", "col2im", "im2col", "padded_batch_last"]
