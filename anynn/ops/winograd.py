"""Winograd convolution F(2x2, 3x3): a 3x3, stride-1 ``conv2d`` with 2.25x fewer multiplications than im2col.

Lavin & Gray (2015). Each 2x2 block of outputs ("tile") reads a 4x4 block of the padded input ``d``, and

    Y = A^T [ (G w G^T) * (B^T d B) ] A        (``*`` element-wise over the 4x4 entries)

with B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], G = [[1, 0, 0], [1/2, 1/2, 1/2],
[1/2, -1/2, 1/2], [0, 0, 1]], A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]. Summed over input channels, entry (a, b)
of the 4x4 product is one GEMM, so a layer is 16 GEMMs of (O, C) @ (C, tiles) instead of one of
(O, 9C) @ (9C, pixels), and the transformed input is 4/1 of the input instead of im2col's 9/1.

The backward pass is the exact backward of these three linear steps: the output gradient through A (``A dY
A^T``), the two GEMMs' gradients, and the input gradient through B (``B dV B^T``, tiles overlap by two rows and
columns, so their contributions are summed). The error is that of a few extra additions, ~1e-7 relative in
float32 (tests compare against PyTorch in float64).

Every transform here is standard-only; the numpy backend runs compiled twins of the four tile passes
(``anynn/backends/numba_kernels.py``), and ``conv2d`` picks this algorithm only where those exist (see
:func:`applies`): with the standard ops alone the extra passes cost more than the GEMMs save.
"""
from __future__ import annotations

from typing import Any

from anynn.autograd.function import Function
from anynn.backends.base import padded_batch_last
from anynn.ops._util import run_kernel

Pads = tuple[tuple[int, int], tuple[int, int]]
Tiles = tuple[int, int]

_G = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]]
#: Below this many input channels the 16 thin GEMMs lose to im2col's one (measured: 3 -> 32 channels is
#: 1.5x slower with Winograd, 32 -> 32 is 1.3x faster).
MIN_CHANNELS = 16


def applies(backend: Any, x_shape: tuple[int, ...], weight_shape: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], groups: int, dtype: Any) -> bool:
    """Whether ``conv2d`` should run as Winograd F(2x2, 3x3): a dense 3x3 stride-1 undilated 2-D convolution
    in float32/float64 with enough channels, on a backend that has the compiled tile passes."""
    return (len(x_shape) == 4 and tuple(weight_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1 and x_shape[1] >= MIN_CHANNELS
            and dtype.name in ("float32", "float64") and "winograd_input" in backend.kernels)


class WinogradConv2d(Function):
    """3x3 stride-1 cross-correlation of (N, C, H, W) input with (O, C, 3, 3) weights by Winograd F(2x2, 3x3).

    Tiles are ordered (tile row, tile column, batch), the batch innermost as in ``ConvNd``, so the output is
    batch-last (O, OH, OW, N) memory seen as (N, O, OH, OW), the layout the element-wise ops keep.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, pads):
        xp = ctx.xp
        n, c, h, w = x.shape
        (pt, pb), (pl, pr) = pads
        out_hw = (h + pt + pb - 2, w + pl + pr - 2)
        tiles = ((out_hw[0] + 1) // 2, (out_hw[1] + 1) // 2)
        u = weight_tiles(xp, weight)
        v = run_kernel(ctx, "winograd_input", input_tiles, x, pads, tiles)
        out = run_kernel(ctx, "winograd_output", output_from_tiles, xp.matmul(u, v), bias, out_hw, tiles)
        ctx.save(u, v)
        ctx.geometry = (tuple(x.shape), pads, tiles)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        u, v = ctx.saved
        x_shape, pads, tiles = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        dm = run_kernel(ctx, "winograd_grad_output", grad_output_tiles, grad, tiles)
        gx = gw = gb = None
        if need_w:
            gw = weight_grad(xp, xp.matmul(dm, xp.matrix_transpose(v)))
        if need_b:  # plane (1, 1) of A dY A^T is each tile's sum (A's row 1 is [1, 1])
            gb = xp.sum(dm[5, ...], axis=1)
        if need_x:
            dv = xp.matmul(xp.matrix_transpose(u), dm)
            gx = run_kernel(ctx, "winograd_grad_input", grad_input_from_tiles, dv, x_shape, pads, tiles)
        return gx, gw, gb


def winograd_conv2d(x: Any, weight: Any, bias: Any = None, padding: int | tuple[int, int] = 0) -> Any:
    """``conv2d(x, weight, bias, padding=padding)`` for 3x3 weights, always by Winograd (on any backend, with
    the standard transforms where no compiled ones exist): for tests and comparisons; ``conv2d`` chooses."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return WinogradConv2d.apply(x, weight, bias, pads=((ph, ph), (pw, pw)))


# ------------------------------------------------------------------ transforms (standard-only)
def weight_tiles(xp: Any, weight: Any) -> Any:
    """G w G^T for every (O, C) pair, as 16 contiguous planes (16, O, C) (a strided stack would keep NumPy's
    batched matmul off BLAS)."""
    o, c = weight.shape[0], weight.shape[1]
    g = xp.asarray(_G, dtype=weight.dtype, device=weight.device)
    u = xp.matmul(xp.matmul(g, weight), xp.matrix_transpose(g))
    planes = xp.permute_dims(xp.reshape(u, (o, c, 16)), (2, 0, 1))
    return xp.reshape(xp.reshape(planes, (-1,)), (16, o, c))  # flattening copies in (16, O, C) order


def weight_grad(xp: Any, du: Any) -> Any:
    """(16, O, C) gradient of :func:`weight_tiles` back to (O, C, 3, 3): G^T dU G."""
    o, c = du.shape[1], du.shape[2]
    g = xp.asarray(_G, dtype=du.dtype, device=du.device)
    du = xp.reshape(xp.permute_dims(du, (1, 2, 0)), (o, c, 4, 4))
    return xp.matmul(xp.matmul(xp.matrix_transpose(g), du), g)


def _bt_rows(r0: Any, r1: Any, r2: Any, r3: Any) -> list[Any]:
    return [r0 - r2, r1 + r2, r2 - r1, r1 - r3]


def _at_rows(r0: Any, r1: Any, r2: Any, r3: Any) -> list[Any]:
    return [r0 + r1 + r2, r1 - r2 - r3]


def _a_rows(r0: Any, r1: Any) -> list[Any]:
    return [r0, r0 + r1, r0 - r1, -r1]


def _b_rows(r0: Any, r1: Any, r2: Any, r3: Any) -> list[Any]:
    return [r0, r1 - r2 + r3, r1 + r2 - r0, -r3]


def input_tiles(xp: Any, x: Any, pads: Pads, tiles: Tiles) -> Any:
    """B^T d B for every 4x4 input tile: (N, C, H, W) -> (16, C, TH*TW*N)."""
    n, c, h, w = x.shape
    th, tw = tiles
    (pt, _), (pl, _) = pads
    xt = padded_batch_last(xp, x, ((pt, 2 * th + 2 - h - pt), (pl, 2 * tw + 2 - w - pl)), x.device)
    d = [[xt[:, a:a + 2 * th - 1:2, b:b + 2 * tw - 1:2, :] for b in range(4)] for a in range(4)]
    rows = [_bt_rows(*[d[a][b] for a in range(4)]) for b in range(4)]  # rows[b][a']
    planes = [plane for a in range(4) for plane in _bt_rows(*[rows[b][a] for b in range(4)])]
    return xp.reshape(xp.stack(planes), (16, c, th * tw * n))


def output_from_tiles(xp: Any, m: Any, bias: Any, out_hw: tuple[int, int], tiles: Tiles) -> Any:
    """A^T M A (+ bias) for every tile: (16, O, TH*TW*N) -> (N, O, OH, OW), batch-last in memory."""
    o, th, tw = m.shape[1], tiles[0], tiles[1]
    n = m.shape[2] // (th * tw)
    p = xp.reshape(m, (4, 4, o, th, tw, n))
    rows = [_at_rows(*[p[a, b, ...] for a in range(4)]) for b in range(4)]  # rows[b][i]
    out = [_at_rows(*[rows[b][i] for b in range(4)]) for i in range(2)]  # out[i][j]: (O, TH, TW, N)
    y = xp.stack([xp.stack(out[i], axis=3) for i in range(2)], axis=2)  # (O, TH, 2, TW, 2, N)
    y = xp.reshape(y, (o, 2 * th, 2 * tw, n))[:, :out_hw[0], :out_hw[1], :]
    if bias is not None:
        y = y + xp.reshape(bias, (o, 1, 1, 1))
    return xp.permute_dims(y, (3, 0, 1, 2))


def grad_output_tiles(xp: Any, grad: Any, tiles: Tiles) -> Any:
    """A dY A^T for every 2x2 output tile (zeros past an odd edge): (N, O, OH, OW) -> (16, O, TH*TW*N)."""
    n, o, oh, ow = grad.shape
    th, tw = tiles
    gt = padded_batch_last(xp, grad, ((0, 2 * th - oh), (0, 2 * tw - ow)), grad.device)
    y = [[gt[:, i::2, j::2, :] for j in range(2)] for i in range(2)]
    rows = [_a_rows(y[0][j], y[1][j]) for j in range(2)]  # rows[j][a]
    planes = [plane for a in range(4) for plane in _a_rows(rows[0][a], rows[1][a])]
    return xp.reshape(xp.stack(planes), (16, o, th * tw * n))


def grad_input_from_tiles(xp: Any, dv: Any, x_shape: tuple[int, int, int, int], pads: Pads, tiles: Tiles) -> Any:
    """B dV B^T for every tile, overlapping tiles summed, padding dropped: (16, C, TH*TW*N) -> (N, C, H, W)."""
    n, c, h, w = x_shape
    th, tw = tiles
    (pt, _), (pl, _) = pads
    p = xp.reshape(dv, (4, 4, c, th, tw, n))
    rows = [_b_rows(*[p[a, b, ...] for a in range(4)]) for b in range(4)]  # rows[b][a']
    acc = xp.zeros((c, 2 * th + 2, 2 * tw + 2, n), dtype=dv.dtype, device=dv.device)
    for a in range(4):
        for b, part in enumerate(_b_rows(*[rows[j][a] for j in range(4)])):
            acc[:, a:a + 2 * th - 1:2, b:b + 2 * tw - 1:2, :] += part  # one slice holds no index twice
    return xp.permute_dims(acc[:, pt:pt + h, pl:pl + w, :], (3, 0, 1, 2))


__all__ = ["WinogradConv2d", "applies", "winograd_conv2d"]
