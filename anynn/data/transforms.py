"""Batch transforms that run on the device: a Tensor of shape (N, C, H, W) in, a Tensor out.

They use standard Array API functions on the whole batch (no per-sample Python loop) and draw their random
numbers from the tensor's backend generator, so ``anynn.manual_seed`` makes them reproducible. They are data
preparation, not part of a model: the results are plain tensors outside the autograd graph.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.ops._args import expect_tensor
from anynn.ops._util import channel_view


def _wrap(like: Tensor, array: Any) -> Tensor:
    return Tensor._make(array, like.backend)


def _check_batch(name: str, x: Any, min_ndim: int) -> None:
    """``x`` must be an anynn Tensor of at least ``min_ndim`` dimensions (a batch)."""
    expect_tensor(name, x)
    if x.ndim < min_ndim:
        raise ValueError(f"{name} got input of shape {x.shape}: expected a batch of at least {min_ndim} dims "
                         f"(N, C, H, W); add the batch axis with x.unsqueeze(0)")


def to_float(x: Tensor, dtype: D.DType = D.float32) -> Tensor:
    """uint8 pixels -> ``dtype`` in [0, 1] (divided by 255, like torchvision's ToTensor); floats are only cast."""
    _check_batch("to_float", x, 0)
    native = x.backend.dtype(dtype)
    if x.dtype is D.uint8:
        return _wrap(x, x.xp.astype(x.array, native) / 255.0)
    if x.dtype.is_floating_point:
        return x if x.dtype is dtype else _wrap(x, x.xp.astype(x.array, native))
    raise TypeError(f"to_float expects uint8 pixels or floats, got {x.dtype}")


class ToFloat:
    """Transform form of :func:`to_float`: uint8 -> float32 in [0, 1]."""

    def __init__(self, dtype: D.DType = D.float32):
        self.dtype = dtype

    def __call__(self, x: Tensor) -> Tensor:
        return to_float(x, self.dtype)

    def __repr__(self) -> str:
        return f"ToFloat(dtype={self.dtype!r})"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel (axis 1), like torchvision's Normalize."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = tuple(float(m) for m in _as_sequence(mean))
        self.std = tuple(float(s) for s in _as_sequence(std))
        if len(self.mean) != len(self.std):
            raise ValueError(f"{self!r}: mean and std need one value per channel each, got {len(self.mean)} "
                             f"and {len(self.std)}")
        if any(s == 0.0 for s in self.std):
            raise ValueError(f"{self!r}: std has a zero, which would divide by zero")
        self._constants: dict[tuple, tuple[Any, Any]] = {}

    def __call__(self, x: Tensor) -> Tensor:
        _check_batch(repr(self), x, 2)
        channels = len(self.mean)
        if x.shape[1] != channels:
            raise ValueError(f"{self!r} got input of shape {x.shape}: expected (N, {channels}, ...) with "
                             f"{channels} channel(s) on axis 1")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{self!r} got {x.dtype} input: convert it first (transforms.ToFloat())")
        mean, std = self._on_device(x)
        return _wrap(x, (x.array - mean) / std)

    def _on_device(self, x: Tensor) -> tuple[Any, Any]:
        """mean and std shaped (1, C, 1, ...) in x's dtype on x's device, made once per backend/dtype/rank."""
        key = (x.backend, x.dtype, x.ndim)
        if key not in self._constants:
            xp, native, device = x.xp, x.array.dtype, x.backend.device
            self._constants[key] = (channel_view(xp, xp.asarray(self.mean, dtype=native, device=device), x.ndim),
                                    channel_view(xp, xp.asarray(self.std, dtype=native, device=device), x.ndim))
        return self._constants[key]

    def __repr__(self) -> str:
        return f"Normalize(mean={list(self.mean)}, std={list(self.std)})"


class RandomCrop:
    """A random ``size`` window of each zero-padded image, each sample with its own offset.

    ``padding`` is an int (all sides), (left/right, top/bottom) or (left, top, right, bottom), as in
    torchvision. The crop is one gather: per-sample flat indices into the padded (H*W) plane, built from the
    random offsets with index arithmetic.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] = 0):
        self.size = _pair(size, "size")
        self.padding = _padding(padding)

    def __call__(self, x: Tensor) -> Tensor:
        _check_batch(repr(self), x, 4)
        xp, backend = x.xp, x.backend
        n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        left, top, right, bottom = self.padding
        hp, wp = h + top + bottom, w + left + right
        th, tw = self.size
        if th > hp or tw > wp:
            raise ValueError(f"{self!r} got input of shape {x.shape}: the padded image is {hp}x{wp}, smaller "
                             f"than the {th}x{tw} crop; use a smaller size or more padding")
        data = xp.reshape(x.array, (n, -1, h, w))
        padded = _pad(xp, data, top, left, hp, wp, backend.device)
        index = _window_index(xp, backend, n, (hp, wp), (th, tw))
        index = xp.broadcast_to(xp.reshape(index, (n, 1, th * tw)), (n, data.shape[1], th * tw))
        out = xp.take_along_axis(xp.reshape(padded, (n, data.shape[1], hp * wp)), index, axis=2)
        return _wrap(x, xp.reshape(out, tuple(x.shape[:-2]) + (th, tw)))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (one draw per sample)."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x: Tensor) -> Tensor:
        _check_batch(repr(self), x, 2)
        xp = x.xp
        draw = x.backend.rand((x.shape[0],), D.float32)
        flip = xp.reshape(draw < self.p, (x.shape[0],) + (1,) * (x.ndim - 1))
        return _wrap(x, xp.where(flip, xp.flip(x.array, axis=-1), x.array))

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply transforms in order: ``Compose([ToFloat(), Normalize(mean, std)])``."""

    def __init__(self, transforms: Sequence[Callable[[Tensor], Tensor]]):
        self.transforms = list(transforms)

    def __call__(self, x: Tensor) -> Tensor:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{body}\n])"


def _pad(xp: Any, x: Any, top: int, left: int, hp: int, wp: int, device: Any) -> Any:
    """``x`` (N, C, H, W) placed at (top, left) in zeros of shape (N, C, hp, wp)."""
    n, c, h, w = x.shape
    if (h, w) == (hp, wp):
        return x
    out = xp.zeros((n, c, hp, wp), dtype=x.dtype, device=device)
    out[:, :, top:top + h, left:left + w] = x
    return out


def _window_index(xp: Any, backend: Any, n: int, plane: tuple[int, int], window: tuple[int, int]) -> Any:
    """(N, th, tw) flat indices into an (hp, wp) plane of windows at random per-sample offsets."""
    (hp, wp), (th, tw) = plane, window
    int64 = backend.dtype(D.int64)
    oy = xp.reshape(backend.randint(0, hp - th + 1, (n,)), (n, 1, 1))
    ox = xp.reshape(backend.randint(0, wp - tw + 1, (n,)), (n, 1, 1))
    rows = xp.reshape(xp.arange(th, dtype=int64, device=backend.device), (1, th, 1))
    cols = xp.reshape(xp.arange(tw, dtype=int64, device=backend.device), (1, 1, tw))
    return (oy + rows) * wp + (ox + cols)


def _as_sequence(values: float | Sequence[float]) -> Sequence[float]:
    return (values,) if isinstance(values, (int, float)) else values


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < 1 for v in pair):
        raise ValueError(f"RandomCrop: {name} must be a positive int or (height, width), got {value!r}")
    return pair


def _padding(value: int | Sequence[int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from torchvision's int / 2-sequence / 4-sequence forms."""
    pads = (value,) * 4 if isinstance(value, int) else tuple(value)
    if len(pads) == 2:
        pads = pads * 2
    if len(pads) != 4 or any(not isinstance(p, int) or p < 0 for p in pads):
        raise ValueError(f"RandomCrop: padding must be a non-negative int, (left/right, top/bottom) or "
                         f"(left, top, right, bottom), got {value!r}")
    return pads


__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip", "ToFloat", "to_float"]
