"""Convolution: ``conv1d`` and ``conv2d`` as im2col plus one GEMM per pass (forward, weight and input gradient).

Where the backend has compiled fast paths, large dense 3x3 stride-1 layers run as Winograd F(4x4 or 2x2, 3x3)
instead (``anynn/ops/winograd.py``), and tiny first layers as a direct loop (``ConvNd``).

The patches of the padded input are laid out once as a ``(C*kh*kw, OH*OW*N)`` matrix ``cols`` by
``im2col`` (``anynn/ops/im2col.py``), so the forward pass is ``W @ cols``, the weight gradient ``(cols @ grad.T).T``
and the input gradient ``W.T @ grad`` folded back by ``col2im``. Groups batch each matmul over a leading
group axis. A 1-D convolution is the 2-D one with a height of 1.

The transposed convolution (``conv_transpose2d``, "deconvolution") is the adjoint of the convolution with the
same weight: its forward pass is the convolution's input gradient (``W.T @ x`` folded back by ``col2im``), its
input gradient the convolution's forward (im2col and ``W @ cols``), its weight gradient the convolution's weight
gradient with the roles of input and output swapped.
"""
from __future__ import annotations

from typing import Any

from anynn import amp
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops import winograd
from anynn.ops._args import check_input, describe, expect_tensor, ntuple
from anynn.ops._fused import FusedOp
from anynn.ops._util import Pads, Pair, SidePads, as_4d
from anynn.ops.im2col import IM2COL, col2im, im2col

IntOrTuple = int | tuple[int, ...]


# ------------------------------------------------------------------ the ArrayFunction
class ConvNd(ArrayFunction):
    """Cross-correlation of (N, C, H, W) or (N, C, L) input with (O, C/groups, kh, kw) or (O, C/groups, k)
    weights; forward and both gradients are one (grouped: one batched) GEMM each, except on the direct path below.

    Internally the batch is the innermost axis: im2col lays the zero-padded input's patches out as
    (C*kh*kw, OH*OW*N), whose rows are long contiguous runs, and the output is the GEMM result (O, OH, OW, N)
    seen as (N, O, OH, OW) without a copy. Element-wise ops keep that layout, so the next conv's im2col reads it
    cheaply; col2im hands the input gradient back in the same layout.

    A backend may register a compiled ``conv2d_direct`` loop for tiny layers (LeNet-5's first conv: 25 products
    per output, 6 outputs; the backend decides): then the forward pass and the weight gradient read the input
    itself, without im2col, and only the input gradient uses col2im.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, pads, dilation, groups):
        xp = ctx.xp
        ctx.x_shape, ctx.w_shape = tuple(x.shape), tuple(weight.shape)
        x, weight = as_4d(x, xp), as_4d(weight, xp)
        n, _, h, w = x.shape
        o, cg, kh, kw = weight.shape
        (pt, pb), (pl, pr) = pads
        oh = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (w + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        ctx.geometry = (tuple(x.shape), (kh, kw), stride, dilation, pads, (oh, ow))
        w3 = xp.reshape(weight, (groups, o // groups, cg * kh * kw))
        out = DIRECT.try_forward(ctx, x, weight, bias, stride, dilation, pads, (oh, ow), groups)
        if out is not None:  # a compiled loop over the input itself (few products per output)
            ctx.save(x, w3)
        else:
            cols = IM2COL.forward(ctx, x, (kh, kw), stride, dilation, pads, (oh, ow))
            out = gemm_output(xp, w3, cols, bias, (n, o, oh, ow))
            ctx.save(cols, w3)
        return out if len(ctx.x_shape) == 4 else xp.reshape(out, (n, o, ow))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        saved, w3 = ctx.saved  # ``saved``: the im2col matrix, or the input itself after a direct forward
        x_shape, window, stride, dilation, pads, out_hw = ctx.geometry
        groups, o, taps = w3.shape[0], w3.shape[0] * w3.shape[1], w3.shape[0] * w3.shape[2]
        g = xp.reshape(xp.permute_dims(as_4d(grad, xp), (1, 2, 3, 0)), (o, -1))
        g3 = _split(xp, g, groups)
        need_x, need_w, need_b = ctx.needs_input_grad
        gx = gw = gb = None
        if need_w and DIRECT.ran_compiled(ctx):
            gw = DIRECT.backward(ctx, saved, as_4d(grad, xp), (o, x_shape[1]) + window, stride, dilation, pads)
            gw = xp.reshape(gw, ctx.w_shape)
        elif need_w:
            gw = xp.reshape(gemm_weight_grad(xp, saved, g3), ctx.w_shape)
        if need_b:
            gb = xp.sum(g, axis=1)
        if need_x and DIRECT.ran_compiled(ctx) and groups == 1:
            gx = INPUT_GRAD.try_run(ctx.backend, as_4d(grad, xp), xp.reshape(w3, (o, x_shape[1]) + window),
                                    x_shape, stride, dilation, pads)
            if gx is not None:
                gx = xp.reshape(gx, ctx.x_shape)
        if need_x and gx is None:
            dcols = xp.reshape(_per_group(xp, xp.matrix_transpose(w3), g3), (taps, -1))
            gx = xp.reshape(IM2COL.backward(ctx, dcols, x_shape, window, stride, dilation, pads, out_hw), ctx.x_shape)
        return gx, gw, gb


def gemm_output(xp: Any, w3: Any, cols: Any, bias: Any, out_shape: tuple[int, int, int, int]) -> Any:
    """``W @ cols`` (+ bias) as the (N, O, OH, OW) output, batch-last in memory."""
    n, o, oh, ow = out_shape
    out = xp.reshape(_per_group(xp, w3, _split(xp, cols, w3.shape[0])), (o, -1))
    if bias is not None:
        out += xp.reshape(bias, (o, 1))  # in place: ``out`` is the GEMM's fresh result
    return xp.permute_dims(xp.reshape(out, (o, oh, ow, n)), (3, 0, 1, 2))


def gemm_weight_grad(xp: Any, cols: Any, g3: Any) -> Any:
    """The (groups, O/groups, C/groups*kh*kw) weight gradient as ``(cols @ g.T).T``: the long M axis as the
    GEMM's inner dimension, faster than ``g @ cols.T``."""
    groups = g3.shape[0]
    return xp.matrix_transpose(_per_group(xp, _split(xp, cols, groups), xp.matrix_transpose(g3)))


def direct_conv(xp: Any, x: Any, weight: Any, bias: Any, stride: Pair, dilation: Pair, pads: Pads, out_hw: Pair,
                groups: int) -> Any:
    """Standard twin of the compiled direct convolution: im2col and one GEMM."""
    o, cg, kh, kw = weight.shape
    cols = im2col(xp, x, (kh, kw), stride, dilation, pads, out_hw)
    w3 = xp.reshape(weight, (groups, o // groups, cg * kh * kw))
    return gemm_output(xp, w3, cols, bias, (x.shape[0], o) + tuple(out_hw))


def direct_conv_weight_grad(xp: Any, x: Any, grad: Any, weight_shape: tuple[int, ...], stride: Pair,
                            dilation: Pair, pads: Pads) -> Any:
    """Standard twin of the compiled direct convolution's weight gradient (ungrouped): im2col and one GEMM."""
    o = weight_shape[0]
    cols = im2col(xp, x, tuple(weight_shape[2:]), stride, dilation, pads, tuple(grad.shape[2:]))
    g = xp.reshape(xp.permute_dims(grad, (1, 2, 3, 0)), (1, o, -1))
    return xp.reshape(gemm_weight_grad(xp, cols, g), weight_shape)


DIRECT = FusedOp("conv2d_direct", forward=direct_conv, backward=direct_conv_weight_grad)


def direct_conv_input_grad(xp: Any, grad: Any, weight: Any, x_shape: tuple[int, ...], stride: Pair,
                           dilation: Pair, pads: Pads) -> Any:
    """Standard twin of a compiled input gradient after a direct forward (ungrouped): ``W.T @ grad``, folded
    back onto the input by col2im."""
    o, c, kh, kw = weight.shape
    g = xp.reshape(xp.permute_dims(grad, (1, 2, 3, 0)), (o, -1))
    dcols = xp.matrix_transpose(xp.reshape(weight, (o, c * kh * kw))) @ g
    return col2im(xp, dcols, tuple(x_shape), (kh, kw), stride, dilation, pads, tuple(grad.shape[2:]))


#: the input gradient as one compiled pass (cuDNN's dgrad), for a forward that ran ``conv2d_direct``
INPUT_GRAD = FusedOp("conv2d_input_grad", forward=direct_conv_input_grad)


def _split(xp: Any, a: Any, groups: int) -> Any:
    """(groups*p, m) rows as (groups, p, m) (a view)."""
    return xp.reshape(a, (groups, a.shape[0] // groups, a.shape[1]))


def _per_group(xp: Any, a: Any, b: Any) -> Any:
    """(G, p, q) @ (G, q, m) -> (G, p, m) as one GEMM: a plain 2-D one when G is 1, else a batched one."""
    if a.shape[0] == 1:
        product = xp.matmul(a[0, ...], b[0, ...])
        return xp.reshape(product, (1, product.shape[0], product.shape[1]))
    return xp.matmul(a, b)


class ConvTransposeNd(ArrayFunction):
    """Transposed convolution of (N, C_in, H, W) or (N, C_in, L) input with (C_in, C_out/groups, kh, kw) or
    (C_in, C_out/groups, k) weights: :class:`ConvNd`'s passes run the other way round (see the module docstring).

    ``out_hw`` is the output's spatial size (PyTorch's, output_padding included); ``pads`` crop the output as a
    convolution of that output would pad it.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, pads, dilation, groups, out_hw):
        xp = ctx.xp
        ctx.x_shape, ctx.w_shape = tuple(x.shape), tuple(weight.shape)
        x, weight = as_4d(x, xp), as_4d(weight, xp)
        n, c_in, h, w = x.shape
        _, og, kh, kw = weight.shape
        c_out = og * groups
        w3 = xp.reshape(weight, (groups, c_in // groups, og * kh * kw))
        x2 = xp.reshape(xp.permute_dims(x, (1, 2, 3, 0)), (c_in, -1))  # (C_in, H*W*N): a conv's output gradient
        dcols = xp.reshape(_per_group(xp, xp.matrix_transpose(w3), _split(xp, x2, groups)), (c_out * kh * kw, -1))
        out_shape = (n, c_out) + tuple(out_hw)
        ctx.geometry = (out_shape, (kh, kw), stride, dilation, pads, (h, w))
        out = IM2COL.backward(ctx, dcols, out_shape, (kh, kw), stride, dilation, pads, (h, w))
        if bias is not None:
            out = out + xp.reshape(bias, (1, c_out, 1, 1))
        ctx.save(x2, w3)
        return out if len(ctx.x_shape) == 4 else xp.reshape(out, (n, c_out, out_hw[1]))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x2, w3 = ctx.saved
        out_shape, window, stride, dilation, pads, in_hw = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        grad = as_4d(grad, xp)
        gx = gw = gb = None
        if need_x or need_w:
            cols = IM2COL.forward(ctx, grad, window, stride, dilation, pads, in_hw)
            if need_x:
                n, c_in = out_shape[0], x2.shape[0]
                gx = xp.reshape(gemm_output(xp, w3, cols, None, (n, c_in) + tuple(in_hw)), ctx.x_shape)
            if need_w:
                gw = xp.reshape(gemm_weight_grad(xp, cols, _split(xp, x2, w3.shape[0])), ctx.w_shape)
        if need_b:
            gb = xp.sum(grad, axis=(0, 2, 3))
        return gx, gw, gb


class Unfold(ArrayFunction):
    """im2col as an op: the sliding (kh, kw) blocks of an (N, C, H, W) input as (N, C*kh*kw, OH*OW) columns;
    its gradient sums them back (col2im)."""

    @staticmethod
    def forward(ctx, x, *, window, stride, dilation, pads, out_hw):
        xp = ctx.xp
        ctx.geometry = (tuple(x.shape), window, stride, dilation, pads, out_hw)
        cols = IM2COL.forward(ctx, x, window, stride, dilation, pads, out_hw)
        return xp.permute_dims(xp.reshape(cols, (cols.shape[0], -1, x.shape[0])), (2, 0, 1))

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x_shape, window, stride, dilation, pads, out_hw = ctx.geometry
        dcols = xp.reshape(xp.permute_dims(grad, (1, 2, 0)), (grad.shape[1], -1))
        return IM2COL.backward(ctx, dcols, x_shape, window, stride, dilation, pads, out_hw)


class Fold(ArrayFunction):
    """col2im as an op, the adjoint of :class:`Unfold`: (N, C*kh*kw, OH*OW) blocks summed into (N, C, H, W)."""

    @staticmethod
    def forward(ctx, cols, *, x_shape, window, stride, dilation, pads, out_hw):
        xp = ctx.xp
        ctx.geometry = (x_shape, window, stride, dilation, pads, out_hw)
        dcols = xp.reshape(xp.permute_dims(cols, (1, 2, 0)), (cols.shape[1], -1))
        return IM2COL.backward(ctx, dcols, x_shape, window, stride, dilation, pads, out_hw)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x_shape, window, stride, dilation, pads, out_hw = ctx.geometry
        cols = IM2COL.forward(ctx, grad, window, stride, dilation, pads, out_hw)
        return xp.permute_dims(xp.reshape(cols, (cols.shape[0], -1, x_shape[0])), (2, 0, 1))


# ------------------------------------------------------------------ padding and checks
def conv_pads(padding: IntOrTuple | str, window: tuple[int, ...], dilation: tuple[int, ...],
              stride: tuple[int, ...], who: Any) -> SidePads:
    """Per-side zero padding, PyTorch's rules: 'valid' is none; 'same' keeps the size (stride 1 only),
    putting the odd extra row/column at the end."""
    n = len(window)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ValueError(f"{describe(who)}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{describe(who)}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride}); use an explicit padding")
        totals = [d * (k - 1) for k, d in zip(window, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = ntuple(padding, n, "padding", who)
    if any(p < 0 for p in pads):
        raise ValueError(f"{describe(who)}: padding must be non-negative, got {padding!r}")
    return tuple((p, p) for p in pads)


def _check_conv(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int, dims: int, who: Any) -> None:
    check_input(x, dims, who)
    if weight.ndim != dims + 2:
        raise ValueError(f"{describe(who)}: weight of shape {weight.shape} should be {dims + 2}-D "
                         f"(out_channels, in_channels/groups, {'k' if dims == 1 else 'kh, kw'})")
    if groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"{describe(who)}: groups={groups} must be positive and divide out_channels "
                         f"({weight.shape[0]})")
    expected = weight.shape[1] * groups
    if x.shape[1] != expected:
        raise ValueError(f"{describe(who)} got input with {x.shape[1]} channels: expected {expected} "
                         f"(input shape {x.shape}, weight shape {weight.shape}, groups={groups})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{describe(who)}: bias of shape {bias.shape} should be ({weight.shape[0]},)")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise TypeError(f"{describe(who)} got {x.dtype} input but its weight is {weight.dtype}"
                        + ("" if bias is None else f" and its bias {bias.dtype}")
                        + f"; convert one of them (x.to({weight.dtype}) or model.to({x.dtype}))")


def convolution(x: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrTuple, padding: IntOrTuple | str,
                dilation: IntOrTuple, groups: int, dims: int, who: Any) -> Tensor:
    """Checked ``dims``-D convolution; ``who`` (a layer, or an op's name) is named in every error."""
    if amp.active:
        x, weight, bias = amp.cast_inputs("conv", x, weight, bias)
    _check_conv(x, weight, bias, groups, dims, who)
    window = tuple(weight.shape[2:])
    stride = ntuple(stride, dims, "stride", who)
    dilation = ntuple(dilation, dims, "dilation", who)
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation):
        raise ValueError(f"{describe(who)}: stride and dilation must be positive, got {stride} and {dilation}")
    pads = conv_pads(padding, window, dilation, stride, who)
    size = x.shape[2:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(window, dilation))
    if any(p < k for p, k in zip(padded, span)):
        raise ValueError(f"{describe(who)} got input of spatial size {size} (padded: {padded}), smaller than the "
                         f"kernel {window} with dilation {dilation}, which spans {span}; use a larger input or "
                         "more padding")
    if dims == 1:
        stride, dilation, pads = (1,) + stride, (1,) + dilation, ((0, 0),) + pads
    elif (tile := winograd.plan(x._backend, x.shape, weight.shape, stride, dilation, pads, groups, x.dtype)):
        return winograd.WinogradConv2d.apply(x, weight, bias, pads=pads, tile=tile)
    return ConvNd.apply(x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of (N, C, H, W) input, as ``torch.nn.functional.conv2d``."""
    return convolution(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation of (N, C, L) input, as ``torch.nn.functional.conv1d``."""
    return convolution(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def _check_conv_transpose(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int, dims: int, who: Any) -> None:
    check_input(x, dims, who)
    if weight.ndim != dims + 2:
        raise ValueError(f"{describe(who)}: weight of shape {weight.shape} should be {dims + 2}-D "
                         f"(in_channels, out_channels/groups, {'k' if dims == 1 else 'kh, kw'})")
    if groups < 1 or weight.shape[0] % groups:
        raise ValueError(f"{describe(who)}: groups={groups} must be positive and divide in_channels "
                         f"({weight.shape[0]})")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"{describe(who)} got input with {x.shape[1]} channels: expected {weight.shape[0]} "
                         f"(input shape {x.shape}, weight shape {weight.shape}: (in_channels, out_channels/groups, "
                         "...))")
    out_channels = weight.shape[1] * groups
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{describe(who)}: bias of shape {bias.shape} should be ({out_channels},)")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != weight.dtype):
        raise TypeError(f"{describe(who)} got {x.dtype} input but its weight is {weight.dtype}"
                        + ("" if bias is None else f" and its bias {bias.dtype}")
                        + f"; convert one of them (x.to({weight.dtype}) or model.to({x.dtype}))")


def transposed_convolution(x: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrTuple, padding: IntOrTuple,
                           output_padding: IntOrTuple, groups: int, dilation: IntOrTuple, dims: int,
                           who: Any) -> Tensor:
    """Checked ``dims``-D transposed convolution; ``who`` (a layer, or an op's name) is named in every error.

    Output size per axis: ``(size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``.
    """
    if amp.active:
        x, weight, bias = amp.cast_inputs("conv", x, weight, bias)
    _check_conv_transpose(x, weight, bias, groups, dims, who)
    window = tuple(weight.shape[2:])
    stride = ntuple(stride, dims, "stride", who)
    dilation = ntuple(dilation, dims, "dilation", who)
    padding = ntuple(padding, dims, "padding", who)
    output_padding = ntuple(output_padding, dims, "output_padding", who)
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation):
        raise ValueError(f"{describe(who)}: stride and dilation must be positive, got {stride} and {dilation}")
    if any(p < 0 for p in padding + output_padding):
        raise ValueError(f"{describe(who)}: padding and output_padding must be non-negative, got {padding} and "
                         f"{output_padding}")
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{describe(who)}: output_padding {output_padding} must be smaller than either stride "
                         f"{stride} or dilation {dilation} on every axis")
    out_size = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                     for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, window, output_padding))
    if any(o < 1 for o in out_size):
        raise ValueError(f"{describe(who)} got input of spatial size {x.shape[2:]}: the output size {out_size} "
                         f"(kernel {window}, stride {stride}, padding {padding}, dilation {dilation}) is not "
                         "positive; use less padding")
    pads = tuple((p, p) for p in padding)
    if dims == 1:
        stride, dilation, pads, out_size = (1,) + stride, (1,) + dilation, ((0, 0),) + pads, (1,) + out_size
    return ConvTransposeNd.apply(x, weight, bias, stride=stride, pads=pads, dilation=dilation, groups=groups,
                                 out_hw=out_size)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """2-D transposed convolution of (N, C_in, H, W) input with (C_in, C_out/groups, kh, kw) weights, as
    ``torch.nn.functional.conv_transpose2d`` (note its argument order: groups before dilation)."""
    return transposed_convolution(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                                  "conv_transpose2d")


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """1-D transposed convolution of (N, C_in, L) input with (C_in, C_out/groups, k) weights, as
    ``torch.nn.functional.conv_transpose1d``."""
    return transposed_convolution(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                                  "conv_transpose1d")


def _blocks_geometry(size: tuple[int, ...], kernel_size: IntOrTuple, dilation: IntOrTuple, padding: IntOrTuple,
                     stride: IntOrTuple, who: Any) -> tuple:
    """Checked window, stride, dilation, per-side pads and block grid (OH, OW) of fold/unfold over ``size``."""
    window = ntuple(kernel_size, 2, "kernel_size", who)
    stride_, dilation_, padding_ = (ntuple(v, 2, name, who) for v, name in
                                    ((stride, "stride"), (dilation, "dilation"), (padding, "padding")))
    if min(window + stride_ + dilation_) < 1 or min(padding_) < 0:
        raise ValueError(f"{describe(who)}: kernel_size, stride and dilation must be positive and padding "
                         f"non-negative, got kernel_size={window}, stride={stride_}, dilation={dilation_}, "
                         f"padding={padding_}")
    grid = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d in zip(size, window, stride_, padding_, dilation_))
    if min(grid) < 1:
        raise ValueError(f"{describe(who)}: spatial size {tuple(size)} with kernel_size={window}, "
                         f"dilation={dilation_}, padding={padding_} gives the block grid {grid}, which is empty; "
                         "use a smaller kernel or more padding")
    return window, stride_, dilation_, tuple((p, p) for p in padding_), grid


def unfold(input: Tensor, kernel_size: IntOrTuple, dilation: IntOrTuple = 1, padding: IntOrTuple = 0,
           stride: IntOrTuple = 1, _who: Any = "unfold") -> Tensor:
    """The sliding blocks of an (N, C, H, W) or (C, H, W) input as (N, C*kh*kw, L) columns (PyTorch's
    ``F.unfold``, im2col)."""
    expect_tensor(_who, input)
    if input.ndim not in (3, 4) or min(input.shape[-3:]) < 1:
        raise ValueError(f"{describe(_who)} got input of shape {input.shape}: expected 4-D (N, C, H, W) or 3-D "
                         "(C, H, W) input with non-zero C, H and W")
    if not input.dtype.is_floating_point:
        raise TypeError(f"{describe(_who)} got {input.dtype} input: expected a floating-point tensor")
    window, stride, dilation, pads, grid = _blocks_geometry(input.shape[-2:], kernel_size, dilation, padding,
                                                            stride, _who)
    x = input if input.ndim == 4 else input.reshape((1,) + input.shape)
    out = Unfold.apply(x, window=window, stride=stride, dilation=dilation, pads=pads, out_hw=grid)
    return out if input.ndim == 4 else out.reshape(out.shape[1:])


def fold(input: Tensor, output_size: IntOrTuple, kernel_size: IntOrTuple, dilation: IntOrTuple = 1,
         padding: IntOrTuple = 0, stride: IntOrTuple = 1, _who: Any = "fold") -> Tensor:
    """Sum (N, C*kh*kw, L) or (C*kh*kw, L) blocks into an (N, C, *output_size) tensor, overlaps added (PyTorch's
    ``F.fold``, col2im; the adjoint of :func:`unfold`)."""
    expect_tensor(_who, input)
    if input.ndim not in (2, 3) or min(input.shape[-2:]) < 1:
        raise ValueError(f"{describe(_who)} got input of shape {input.shape}: expected 3-D (N, C*kh*kw, L) or 2-D "
                         "(C*kh*kw, L) input with non-zero sizes")
    if not input.dtype.is_floating_point:
        raise TypeError(f"{describe(_who)} got {input.dtype} input: expected a floating-point tensor")
    size = ntuple(output_size, 2, "output_size", _who)
    if min(size) < 1:
        raise ValueError(f"{describe(_who)}: output_size must be positive, got {size}")
    window, stride, dilation, pads, grid = _blocks_geometry(size, kernel_size, dilation, padding, stride, _who)
    taps = window[0] * window[1]
    if input.shape[-2] % taps:
        raise ValueError(f"{describe(_who)}: Expected size of input's dimension {input.ndim - 2} to be divisible by "
                         f"the product of kernel_size, but got input.size({input.ndim - 2})={input.shape[-2]} and "
                         f"kernel_size={window}")
    if input.shape[-1] != grid[0] * grid[1]:
        raise ValueError(f"{describe(_who)}: Given output_size={size}, kernel_size={window}, dilation={dilation}, "
                         f"padding={tuple(p for p, _ in pads)}, stride={stride}, expected size of input's dimension "
                         f"{input.ndim - 1} to match the calculated number of sliding blocks {grid[0]} * {grid[1]} = "
                         f"{grid[0] * grid[1]}, but got input.size({input.ndim - 1})={input.shape[-1]}")
    cols = input if input.ndim == 3 else input.reshape((1,) + input.shape)
    x_shape = (cols.shape[0], cols.shape[1] // taps) + size
    out = Fold.apply(cols, x_shape=x_shape, window=window, stride=stride, dilation=dilation, pads=pads, out_hw=grid)
    return out if input.ndim == 3 else out.reshape(out.shape[1:])


__all__ = ["ConvNd", "ConvTransposeNd", "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "unfold"]
