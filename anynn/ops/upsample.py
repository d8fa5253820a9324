"""Resizing by interpolation (``F.interpolate``): ``nearest``, ``nearest-exact`` and the (bi/tri)linear modes.

Each mode is separable, so the resize is one small matrix per spatial axis: a column per output position
holding the weights of the input positions it reads (a single 1 for the nearest modes, two weights summing to 1
for linear). The output is the input times those matrices, one axis at a time, so autograd's matmul backward is
the interpolation's adjoint (it sums each output's gradient back into the inputs it read).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from anynn.autograd.tensor import Tensor
from anynn.ops._args import describe, expect_tensor

__all__ = ["interpolate", "pixel_shuffle", "pixel_unshuffle", "upsample"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact") + tuple(_LINEAR)


def _weights(xp: Any, dtype: Any, device: Any, size_in: int, size_out: int, scale: float | None, mode: str,
             align_corners: bool) -> Any:
    """The (size_in, size_out) interpolation matrix of one axis, PyTorch's source positions; ``scale`` is the
    user's scale factor, if given (PyTorch then uses 1/scale_factor as the step rather than size_in/size_out)."""
    dst = xp.astype(xp.arange(size_out, device=device), xp.float64)
    step = 1.0 / scale if scale is not None else size_in / size_out
    rows = xp.astype(xp.arange(size_in, device=device), xp.int64)[:, None]
    if mode in ("nearest", "nearest-exact"):
        src = dst * step if mode == "nearest" else (dst + 0.5) * step
        index = xp.clip(xp.astype(xp.floor(src), xp.int64), 0, size_in - 1)
        return xp.astype(rows == index[None, :], dtype)
    if align_corners:
        src = dst * ((size_in - 1) / (size_out - 1)) if size_out > 1 else dst * 0.0
    else:
        src = xp.clip((dst + 0.5) * step - 0.5, 0.0, None)
    low = xp.astype(xp.floor(src), xp.int64)
    high = xp.clip(low + 1, 0, size_in - 1)
    frac = src - xp.astype(low, xp.float64)
    matrix = (xp.astype(rows == low[None, :], xp.float64) * (1.0 - frac)[None, :]
              + xp.astype(rows == high[None, :], xp.float64) * frac[None, :])
    return xp.astype(matrix, dtype)


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False, _who: Any = "interpolate") -> Tensor:
    """Resize the spatial dimensions of an (N, C, L), (N, C, H, W) or (N, C, D, H, W) input to ``size`` or by
    ``scale_factor``, as PyTorch's ``F.interpolate`` for the nearest and linear modes."""
    who = describe(_who)
    expect_tensor(_who, input)
    if mode not in _MODES:
        raise NotImplementedError(f"{who}: mode={mode!r} is not supported; use one of {', '.join(_MODES)}")
    if antialias:
        raise NotImplementedError(f"{who}: antialias=True is not supported")
    dims = input.ndim - 2
    if dims < 1 or dims > 3 or (mode in _LINEAR and _LINEAR[mode] != dims):
        expected = f"{_LINEAR[mode] + 2}-D" if mode in _LINEAR else "3-D, 4-D or 5-D"
        raise ValueError(f"{who} (mode={mode!r}) got input of shape {input.shape}: expected {expected} input "
                         "(N, C, spatial...)")
    if mode in ("nearest", "nearest-exact") and align_corners is not None:
        raise ValueError(f"{who}: align_corners option can only be set with the interpolating modes: linear | "
                         "bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{who}: give exactly one of size and scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    spatial = tuple(input.shape[2:])
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        scales: tuple[float | None, ...] = (None,) * dims
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
        sizes = tuple(math.floor(s * f) for s, f in zip(spatial, scales))
        if recompute_scale_factor:
            scales = (None,) * dims
    if len(sizes) != dims or len(scales) != dims:
        raise ValueError(f"{who}: size/scale_factor must have {dims} entries for input of shape "
                         f"{input.shape}, got size={size!r}, scale_factor={scale_factor!r}")
    if any(s < 1 for s in sizes):
        raise ValueError(f"{who}: the output size {sizes} must be positive (input {spatial})")
    xp, out = input.xp, input
    for axis, (n_in, n_out, scale) in enumerate(zip(spatial, sizes, scales)):
        matrix = _weights(xp, input.array.dtype, input.array.device, n_in, n_out, scale, mode, bool(align_corners))
        moved = out.transpose(2 + axis, -1)
        out = (moved @ Tensor._make(matrix, input.backend)).transpose(2 + axis, -1)
    return out


def upsample(input: Tensor, size: int | Sequence[int] | None = None,
             scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """``interpolate`` under its old name (PyTorch's deprecated ``F.upsample``)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def pixel_shuffle(input: Tensor, upscale_factor: int, _who: Any = "pixel_shuffle") -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r): each group of r*r channels becomes an r x r block of pixels (Shi et
    al., 2016: sub-pixel convolution), as PyTorch's ``F.pixel_shuffle``."""
    expect_tensor(_who, input)
    r = upscale_factor
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"{describe(_who)}: upscale_factor must be an int, got {r!r} of type {type(r).__name__}")
    if input.ndim < 3 or r < 1 or input.shape[-3] % (r * r):
        raise ValueError(f"{describe(_who)} got input of shape {input.shape} and upscale_factor={r!r}: expected at "
                         "least 3 dimensions (*, C, H, W) with C divisible by upscale_factor**2")
    *batch, c, h, w = input.shape
    n = len(batch)
    x = input.reshape(tuple(batch) + (c // (r * r), r, r, h, w))
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(tuple(batch) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int, _who: Any = "pixel_unshuffle") -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W): the inverse of :func:`pixel_shuffle`."""
    expect_tensor(_who, input)
    r = downscale_factor
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"{describe(_who)}: downscale_factor must be an int, got {r!r} of type {type(r).__name__}")
    if (input.ndim < 3 or r < 1 or input.shape[-1] % r or input.shape[-2] % r):
        raise ValueError(f"{describe(_who)} got input of shape {input.shape} and downscale_factor={r!r}: expected "
                         "at least 3 dimensions (*, C, H, W) with H and W divisible by downscale_factor")
    *batch, c, h, w = input.shape
    n = len(batch)
    x = input.reshape(tuple(batch) + (c, h // r, r, w // r, r))
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(tuple(batch) + (c * r * r, h // r, w // r))
