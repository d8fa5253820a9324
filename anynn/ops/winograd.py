"""Winograd convolution F(m x m, 3x3): a 3x3 stride-1 ``conv2d`` with 2.25x (m = 2) or 4x (m = 4) fewer
multiplications than im2col.

Lavin & Gray (2015). Each m x m block of outputs ("tile") reads an a x a block (a = m + 2) of the padded input
``d``, and

    Y = A^T [ (G w G^T) * (B^T d B) ] A        (``*`` element-wise over the a x a entries)

with the matrices in ``TRANSFORMS``. Summed over input channels, entry (i, j) of the a x a product is one GEMM,
so a layer is a*a GEMMs of (O, C) @ (C, tiles) instead of one of (O, 9C) @ (9C, pixels), and the transformed
input is a*a/m^2 times the input (4x for m = 2, 2.25x for m = 4) instead of im2col's 9x.

The backward pass is the exact backward of these linear steps: the output gradient through A (``A dY A^T``),
the GEMMs' gradients, and the input gradient through B (``B dV B^T``; neighbouring tiles overlap by two rows
and columns, so their contributions are summed).

Rounding: F(2x2) only adds a few additions (float32 error about im2col's); F(4x4) multiplies by up to 8 and
divides by 24 (float32 error 3e-6 to 5e-6 of the output's scale, 5-20x im2col's: far below the 1e-3 of the
TF32 convolutions PyTorch runs on NVIDIA GPUs by default). A tile mixes all its inputs, so an inf or NaN input
makes its whole tile's outputs NaN (im2col: only the 3x3 outputs that read it, and inf stays inf), and float32
inputs near 1e37 can overflow in the transform. ``conv2d`` uses m = 4 for outputs of at least 8x8 (``tile_for``).

Every transform here is standard-only; the numpy backend runs compiled twins of the four tile passes
(``anynn/backends/numba/winograd.py``), and ``conv2d`` picks this algorithm only where those exist and the layer
is large enough (see :func:`plan`): with the standard ops alone the extra passes cost more than the GEMMs save.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from anynn.autograd.function import ArrayFunction
from anynn.ops._args import check_input
from anynn.ops._fused import FusedOp
from anynn.ops._util import Pads
from anynn.ops.im2col import padded_batch_last

Tiles = tuple[int, int]
Matrix = tuple[tuple[float, ...], ...]

#: Output tile size m -> (B^T, G, A^T), interpolation points 0, +-1 (and +-2 for m = 4), then infinity. Column
#: 1 of both A^T is all ones, so plane (1, 1) of the output gradient's transform is each tile's sum.
TRANSFORMS: dict[int, tuple[Matrix, Matrix, Matrix]] = {
    2: (((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        ((1, 0, 0), (1 / 2, 1 / 2, 1 / 2), (1 / 2, -1 / 2, 1 / 2), (0, 0, 1)),
        ((1, 1, 1, 0), (0, 1, -1, -1))),
    4: (((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0),
         (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
        ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
         (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
        ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))),
}
#: When conv2d uses Winograd (numpy backend, 2 cores, fwd+bwd vs im2col; ``plan`` has the rules). Its tile passes
#: loop over the batch innermost, so they need a batch that fills vector lanes (N=4: 1.3x slower, N=16: 1.1x
#: faster) and enough tiles to run on all cores (32x64x16x16: 1.6x slower; 64x64x16x16: 1.4x faster); with 3
#: input channels (vgg_small's first layer) the thin GEMMs lose to im2col's one (1.5x slower).
MIN_CHANNELS = 16
MIN_BATCH = 16
MIN_TRANSFORMED = 1 << 21  # values in the transformed input (a*a*C*tiles): where the tile passes go parallel


def plan(backend: Any, x_shape: tuple[int, ...], weight_shape: tuple[int, ...], stride: tuple[int, ...],
         dilation: tuple[int, ...], pads: Pads, groups: int, dtype: Any) -> int | None:
    """The output tile size ``conv2d`` should run this convolution with by Winograd, or None for im2col.

    Winograd needs a dense 3x3 stride-1 undilated 2-D convolution in float32/float64, and a backend with the
    compiled tile passes; it pays off only for enough channels, batch and tiles (``MIN_*`` above).
    """
    if not (len(x_shape) == 4 and tuple(weight_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1 and dtype.name in ("float32", "float64")
            and INPUT_TILES.compiled(backend)):
        return None
    n, c = x_shape[0], x_shape[1]
    out_hw = output_size(x_shape, pads)
    tile = tile_for(out_hw)
    th, tw = tile_grid(out_hw, tile)
    if c < MIN_CHANNELS or n < MIN_BATCH or (tile + 2) ** 2 * c * n * th * tw < MIN_TRANSFORMED:
        return None
    return tile


def tile_for(out_hw: tuple[int, int]) -> int:
    """The output tile size for an output of ``out_hw``: 4 (fewest multiplications) unless the output is under
    8x8, where 4x4 tiles would mostly cover padding."""
    return 4 if min(out_hw) >= 8 else 2


def output_size(x_shape: tuple[int, ...], pads: Pads) -> tuple[int, int]:
    """(OH, OW) of a 3x3 stride-1 convolution of (N, C, H, W) input zero-padded by ``pads``."""
    return x_shape[2] + sum(pads[0]) - 2, x_shape[3] + sum(pads[1]) - 2


def tile_grid(out_hw: tuple[int, int], tile: int) -> Tiles:
    """Tile rows and columns covering ``out_hw`` (the last ones partly used where ``tile`` does not divide it)."""
    return -(-out_hw[0] // tile), -(-out_hw[1] // tile)


class WinogradConv2d(ArrayFunction):
    """3x3 stride-1 cross-correlation of (N, C, H, W) input with (O, C, 3, 3) weights by Winograd F(m x m, 3x3),
    m = ``tile`` (2 or 4).

    Tiles are ordered (tile row, tile column, batch), the batch innermost as in ``ConvNd``, so the output is
    batch-last (O, OH, OW, N) memory seen as (N, O, OH, OW), the layout the element-wise ops keep.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, pads, tile):
        xp = ctx.xp
        out_hw = output_size(x.shape, pads)
        tiles = tile_grid(out_hw, tile)
        bt, g, at = TRANSFORMS[tile]
        u = weight_tiles(xp, weight, g)
        v = INPUT_TILES.forward(ctx, x, bt, pads, tiles)
        out = OUTPUT_TILES.forward(ctx, xp.matmul(u, v), at, bias, out_hw, tiles)
        ctx.save(u, v)
        ctx.geometry = (tuple(x.shape), pads, tiles, tile)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        u, v = ctx.saved
        x_shape, pads, tiles, tile = ctx.geometry
        bt, g, at = TRANSFORMS[tile]
        need_x, need_w, need_b = ctx.needs_input_grad
        dm = OUTPUT_TILES.backward(ctx, grad, at, tiles)
        gx = gw = gb = None
        if need_w:
            gw = weight_grad(xp, xp.matmul(dm, xp.matrix_transpose(v)), g)
        if need_b:  # plane (1, 1) of A dY A^T is each tile's sum (column 1 of A^T is all ones)
            gb = xp.sum(dm[len(bt) + 1, ...], axis=1)
        if need_x:
            dv = xp.matmul(xp.matrix_transpose(u), dm)
            gx = INPUT_TILES.backward(ctx, dv, bt, x_shape, pads, tiles)
        return gx, gw, gb


def winograd_conv2d(x: Any, weight: Any, bias: Any = None, padding: int | tuple[int, int] = 0,
                    tile: int = 4) -> Any:
    """``conv2d(x, weight, bias, padding=padding)`` for 3x3 weights, always by Winograd with ``tile`` x
    ``tile`` output tiles (on any backend, with the standard transforms where no compiled ones exist): for tests
    and comparisons; ``conv2d`` chooses by itself."""
    check_input(x, 2, "winograd_conv2d")
    if tile not in TRANSFORMS:
        raise ValueError(f"winograd_conv2d: tile must be one of {sorted(TRANSFORMS)}, got {tile!r}")
    if weight.ndim != 4 or tuple(weight.shape[1:]) != (x.shape[1], 3, 3):
        raise ValueError(f"winograd_conv2d: weight of shape {weight.shape} should be (out_channels, "
                         f"{x.shape[1]}, 3, 3) for input of shape {x.shape}; use conv2d for other kernels")
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return WinogradConv2d.apply(x, weight, bias, pads=((ph, ph), (pw, pw)), tile=tile)


# ------------------------------------------------------------------ transforms (standard-only)
@lru_cache(maxsize=None)
def _kron(g: Matrix) -> Matrix:
    """kron(G, G): row (i, j), column (k, m) holds G[i][k] * G[j][m], so G w G^T is one matrix product with
    the 9 weights of each (O, C) pair (built once per tile size, not on every forward and backward)."""
    return tuple(tuple(gi[k] * gj[m] for k in range(3) for m in range(3)) for gi in g for gj in g)


def weight_tiles(xp: Any, weight: Any, g: Matrix) -> Any:
    """G w G^T for every (O, C) pair, as a*a contiguous planes (a*a, O, C): one (a*a, 9) @ (9, O*C) GEMM."""
    o, c, a = weight.shape[0], weight.shape[1], len(g)
    kron = xp.asarray(_kron(g), dtype=weight.dtype, device=weight.device)
    return xp.reshape(xp.matmul(kron, xp.matrix_transpose(xp.reshape(weight, (o * c, 9)))), (a * a, o, c))


def weight_grad(xp: Any, du: Any, g: Matrix) -> Any:
    """(a*a, O, C) gradient of :func:`weight_tiles` back to (O, C, 3, 3): one (O*C, a*a) @ (a*a, 9) GEMM."""
    o, c, a = du.shape[1], du.shape[2], len(g)
    kron = xp.asarray(_kron(g), dtype=du.dtype, device=du.device)
    return xp.reshape(xp.matmul(xp.matrix_transpose(xp.reshape(du, (a * a, o * c))), kron), (o, c, 3, 3))


def _combine(coefs: Sequence[float], arrays: Sequence[Any]) -> Any:
    """sum(coef * array), skipping zero coefficients and multiplying by none of +-1."""
    total = None
    for coef, array in zip(coefs, arrays):
        if coef == 0:
            continue
        term = array if coef == 1 else -array if coef == -1 else array * coef
        total = term if total is None else total + term
    return total


def _column(matrix: Matrix, j: int) -> list[float]:
    return [row[j] for row in matrix]


def input_tiles(xp: Any, x: Any, bt: Matrix, pads: Pads, tiles: Tiles) -> Any:
    """B^T d B for every a x a input tile: (N, C, H, W) -> (a*a, C, TH*TW*N)."""
    n, c, h, w = x.shape
    (th, tw), a = tiles, len(bt)
    m = a - 2
    (pt, _), (pl, _) = pads
    xt = padded_batch_last(xp, x, ((pt, m * th + 2 - h - pt), (pl, m * tw + 2 - w - pl)))
    d = [[xt[:, r:r + m * (th - 1) + 1:m, j:j + m * (tw - 1) + 1:m, :] for j in range(a)] for r in range(a)]
    rows = [[_combine(bt[i], [d[r][j] for r in range(a)]) for j in range(a)] for i in range(a)]
    planes = [_combine(bt[j], rows[i]) for i in range(a) for j in range(a)]
    return xp.reshape(xp.stack(planes), (a * a, c, th * tw * n))


def output_from_tiles(xp: Any, mm: Any, at: Matrix, bias: Any, out_hw: tuple[int, int], tiles: Tiles) -> Any:
    """A^T M A (+ bias) for every tile: (a*a, O, TH*TW*N) -> (N, O, OH, OW), batch-last in memory."""
    o, (th, tw), m, a = mm.shape[1], tiles, len(at), len(at[0])
    n = mm.shape[2] // (th * tw)
    p = xp.reshape(mm, (a, a, o, th, tw, n))
    rows = [[_combine(at[i], [p[r, j, ...] for r in range(a)]) for j in range(a)] for i in range(m)]
    out = [[_combine(at[j], rows[i]) for j in range(m)] for i in range(m)]  # out[i][j]: (O, TH, TW, N)
    y = xp.stack([xp.stack(out[i], axis=3) for i in range(m)], axis=2)  # (O, TH, m, TW, m, N)
    y = xp.reshape(y, (o, m * th, m * tw, n))[:, :out_hw[0], :out_hw[1], :]
    if bias is not None:
        y = y + xp.reshape(bias, (o, 1, 1, 1))
    return xp.permute_dims(y, (3, 0, 1, 2))


def grad_output_tiles(xp: Any, grad: Any, at: Matrix, tiles: Tiles) -> Any:
    """A dY A^T for every m x m output tile (zeros past a partly used edge tile): (N, O, OH, OW) ->
    (a*a, O, TH*TW*N)."""
    n, o, oh, ow = grad.shape
    (th, tw), m, a = tiles, len(at), len(at[0])
    gt = padded_batch_last(xp, grad, ((0, m * th - oh), (0, m * tw - ow)))
    y = [[gt[:, r::m, j::m, :] for j in range(m)] for r in range(m)]
    rows = [[_combine(_column(at, i), [y[r][j] for r in range(m)]) for j in range(m)] for i in range(a)]
    planes = [_combine(_column(at, j), rows[i]) for i in range(a) for j in range(a)]
    return xp.reshape(xp.stack(planes), (a * a, o, th * tw * n))


def grad_input_from_tiles(xp: Any, dv: Any, bt: Matrix, x_shape: tuple[int, int, int, int], pads: Pads,
                          tiles: Tiles) -> Any:
    """B dV B^T for every tile, overlapping tiles summed, padding dropped: (a*a, C, TH*TW*N) -> (N, C, H, W)."""
    n, c, h, w = x_shape
    (th, tw), a = tiles, len(bt)
    m = a - 2
    (pt, _), (pl, _) = pads
    p = xp.reshape(dv, (a, a, c, th, tw, n))
    rows = [[_combine(_column(bt, i), [p[r, j, ...] for r in range(a)]) for j in range(a)] for i in range(a)]
    acc = xp.zeros((c, m * th + 2, m * tw + 2, n), dtype=dv.dtype, device=dv.device)
    for i in range(a):
        for j in range(a):  # one strided slice holds no index twice, so += is exact
            acc[:, i:i + m * (th - 1) + 1:m, j:j + m * (tw - 1) + 1:m, :] += _combine(_column(bt, j), rows[i])
    return xp.permute_dims(acc[:, pt:pt + h, pl:pl + w, :], (3, 0, 1, 2))


#: The tile passes as fused pairs: the input transform with its adjoint (the input gradient), and the output
#: transform with its adjoint (the output gradient's tiles).
INPUT_TILES = FusedOp("winograd_input", forward=input_tiles, backward=grad_input_from_tiles)
OUTPUT_TILES = FusedOp("winograd_output", forward=output_from_tiles, backward=grad_output_tiles)

__all__ = ["INPUT_TILES", "OUTPUT_TILES", "TRANSFORMS", "WinogradConv2d", "plan", "tile_for", "winograd_conv2d"]

