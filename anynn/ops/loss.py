"""Loss functions with PyTorch's names, signatures and defaults: ``F.cross_entropy``, ``F.mse_loss``, ...

Every loss is one ``ArrayFunction`` with an explicit backward. Cross-entropy fuses a stable log-softmax with the
negative log-likelihood, so its gradient is simply ``(softmax - smoothed one-hot) * scaling`` and extreme logits
(1e4 next to -1e4) give finite losses and gradients.

Checking targets
    Dtypes and shapes are host metadata, so they are always checked, and a wrong one raises an error naming the
    loss, what it expected, what it got and how to fix it. Checking *values* (a class index outside
    ``[0, C)``, BCE probabilities outside ``[0, 1]``) must read the data (see :mod:`anynn.ops._checks`):

    - on host backends (NumPy, array_api_strict, torch on the CPU) both run at once, as in PyTorch on the CPU;
    - on GPU backends a class index is checked without a sync: an out-of-range index is never used to read
      memory (it is clamped, and its loss and gradient are NaN), the loss output is kept as the flag, and the
      IndexError naming the loss, the step and the label is raised at the next synchronisation point
      (``anynn.ops._checks.raise_deferred_errors()``, which ``fit`` calls at its log points and epoch ends).
      BCE probabilities are not checked there (that would need a sync per step);
    - ``ANYNN_DEBUG=1`` (or ``anynn.ops._checks.CHECK_VALUES = True``) checks both at once everywhere.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

from anynn import amp
from anynn import dtypes as D
from anynn.autograd.function import ArrayFunction, Context
from anynn.autograd.tensor import Tensor
from anynn.ops._args import (check_beta, check_class_target, check_class_weight, check_delta, check_elementwise_weight,
                             check_pair, check_reduction, class_count, number_arg)
from anynn.ops._checks import DEFERRED_NOTE, check_now, defer
from anynn.ops._fused import FusedOp
from anynn.ops._util import cast, channel_view, shape_of, stable_log_softmax, stable_sigmoid, unbroadcast

_NAN = float("nan")

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss", "l1_loss",
           "mse_loss", "multi_margin_loss", "nll_loss", "smooth_l1_loss"]


# ---------------------------------------------------------------- shared helpers (arrays)
def _reduce(xp: Any, loss: Any, reduction: str, denom: Any) -> Any:
    """'none': the per-element loss; 'sum': its sum; 'mean': the sum over ``denom`` (a count or a weight sum)."""
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    return total if reduction == "sum" else total / denom


def _upstream(grad: Any, reduction: str, denom: Any) -> Any:
    """The incoming gradient per loss element: the 'mean' denominator divided out (0-d for 'sum'/'mean')."""
    return grad / denom if reduction == "mean" else grad


def _class_hits(ctx: Context, index: Any, ndim: int, c: int) -> Any:
    """Boolean one-hot (N, C, d1, ...) of class indices (N, d1, ...), by broadcasting, without a scatter."""
    xp = ctx.xp
    classes = xp.arange(c, dtype=index.dtype, device=ctx.backend.device)
    return xp.expand_dims(index, axis=1) == channel_view(xp, classes, ndim)


def _pick_classes(ctx: Context, x: Any, target: Any, weight: Any,
                  ignore_index: int | None) -> tuple[Any, Any, Any, Any]:
    """Entries ``x[n, target[n], ...]`` by ``take_along_axis``, and each sample's weight (0 where ignored).

    An index outside [0, C) that is not ``ignore_index`` is clamped (never read out of bounds) and its weight
    set to NaN, so its loss and gradient are NaN rather than silently wrong.
    Returns (picked, sample weight, clamped index, boolean mask of the samples that count).
    """
    xp = ctx.xp
    int64 = ctx.backend.dtype(D.int64)
    target = cast(xp, target, int64)
    c = x.shape[1]
    in_range = (target >= 0) & (target < c)
    if ignore_index is None:
        ignored, used = None, in_range
    else:
        ignored = target == ignore_index
        used = in_range & ~ignored
    safe = xp.where(used, target, 0)
    picked = xp.squeeze(xp.take_along_axis(x, xp.expand_dims(safe, axis=1), axis=1), axis=1)
    if weight is None:
        w = xp.astype(used, x.dtype)
    else:
        w = xp.reshape(xp.take(weight, xp.reshape(safe, (-1,))), tuple(safe.shape))
        w = xp.where(used, w, 0.0)
    w = xp.where(in_range if ignored is None else in_range | ignored, w, _NAN)
    return picked, w, safe, used


def _batched(xp: Any, *arrays: Any) -> list[Any]:
    """Unbatched inputs ((C,) and a 0-d target) as a batch of one."""
    return [None if a is None else xp.expand_dims(a, axis=0) for a in arrays]


# ---------------------------------------------------------------- cross-entropy family
def softmax_cross_entropy(xp: Any, x: Any, target: Any, ignore_index: int, label_smoothing: float) -> tuple:
    """Standard twin of the fused softmax cross-entropy of (N, C) logits and (N,) int64 class indices.

    Returns (per-sample loss, log-probabilities, per-sample weight): the weight is 1 for a target in [0, C), 0
    for ``ignore_index`` and NaN for any other index, which is clamped (never used to read memory) and poisons
    its sample's loss and gradient. The loss is ``-weight * sum_c q_c log p_c`` with
    ``q = (1 - eps) one_hot + eps / C``.
    """
    c, eps = x.shape[1], label_smoothing
    shifted = x - xp.max(x, axis=1, keepdims=True)  # the plain row max, as the compiled kernels subtract it
    logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
    safe = xp.clip(target, 0, c - 1)
    valid = safe == target
    ignored = target == ignore_index
    weight = xp.where(valid | ignored, xp.astype(~ignored, x.dtype), _NAN)
    nll = xp.squeeze(xp.take_along_axis(logp, xp.expand_dims(safe, axis=1), axis=1), axis=1)
    if eps > 0:
        nll = (1.0 - eps) * nll + (eps / c) * xp.sum(logp, axis=1)
    return -weight * nll, logp, weight


def softmax_cross_entropy_grad(xp: Any, g: Any, logp: Any, target: Any, weight: Any, label_smoothing: float) -> Any:
    """Standard twin of the fused softmax cross-entropy's input gradient: ``(softmax - q) * g * weight``."""
    c, eps = logp.shape[1], label_smoothing
    hits = xp.astype(xp.arange(c, dtype=target.dtype, device=target.device) == xp.expand_dims(target, axis=1),
                     logp.dtype)
    q = hits if eps == 0 else (1.0 - eps) * hits + eps / c
    return (xp.exp(logp) - q) * xp.expand_dims(g * weight, axis=1)


SOFTMAX_CROSS_ENTROPY = FusedOp("softmax_cross_entropy", forward=softmax_cross_entropy,
                                backward=softmax_cross_entropy_grad)


class SoftmaxCrossEntropy(ArrayFunction):
    """Cross-entropy of (N, C) logits and (N,) class indices without class weights: the common case, as one
    fused pair (``SOFTMAX_CROSS_ENTROPY``), so a backend can run each direction as one kernel."""

    @staticmethod
    def forward(ctx, x, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        xp = ctx.xp
        int64 = ctx.backend.dtype(D.int64)
        target = cast(xp, target, int64)
        loss, logp, weight = SOFTMAX_CROSS_ENTROPY.forward(ctx, x, target, ignore_index, label_smoothing)
        ctx.reduction, ctx.eps = reduction, label_smoothing
        denom = xp.sum(weight) if reduction == "mean" else None
        ctx.save(logp, target, weight, denom)
        return _reduce(xp, loss, reduction, denom)

    @staticmethod
    def backward(ctx, grad):
        logp, target, weight, denom = ctx.saved
        g = _upstream(grad, ctx.reduction, denom)
        return SOFTMAX_CROSS_ENTROPY.backward(ctx, g, logp, target, weight, ctx.eps), None


class CrossEntropy(ArrayFunction):
    """log-softmax + negative log-likelihood over axis 1, fused; class indices or class probabilities.

    With class indices each sample's loss is ``-sum_c q_c log p_c`` where ``q`` is the (weighted, smoothed)
    one-hot target; 'mean' divides by the summed weights of the non-ignored targets (as PyTorch). With
    probabilities ``q = weight * (target * (1 - eps) + eps / C)`` and 'mean' divides by the number of samples.
    The input gradient is ``(softmax * sum(q) - q) * scaling``; probability targets get a gradient too.
    """

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index=-100, reduction="mean", label_smoothing=0.0, probs=False):
        xp = ctx.xp
        ctx.in_shape, ctx.unbatched = tuple(x.shape), x.ndim == 1
        ctx.reduction, ctx.eps, ctx.probs = reduction, label_smoothing, probs
        ctx.dtypes = (x.dtype, target.dtype)
        if ctx.unbatched:
            x, target = _batched(xp, x, target)
        c, eps = x.shape[1], label_smoothing
        logp = stable_log_softmax(xp, x, axis=1)
        weight = None if weight is None else cast(xp, weight, x.dtype)
        w = None if weight is None else channel_view(xp, weight, x.ndim)
        if probs:
            q = target if eps == 0 else target * (1.0 - eps) + eps / c
            if w is not None:
                q = q * w
            loss = -xp.sum(q * logp, axis=1)
            denom = math.prod(loss.shape)
            ctx.save(logp, q, w, denom)
        else:
            picked, wy, index, used = _pick_classes(ctx, logp, target, weight, ignore_index)
            loss = -wy * picked
            if eps > 0:
                smooth = -xp.sum(logp if w is None else logp * w, axis=1)
                loss = (1.0 - eps) * loss + (eps / c) * xp.where(used, smooth, 0.0)
            denom = xp.sum(wy)
            ctx.save(logp, index, wy, used, w, denom)
        out = _reduce(xp, loss, reduction, denom)
        return xp.reshape(out, ()) if ctx.unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        g = _upstream(grad, ctx.reduction, ctx.saved[-1])
        if ctx.reduction == "none" and not ctx.unbatched:
            g = xp.expand_dims(g, axis=1)
        if ctx.probs:
            gx, gt = CrossEntropy._probability_grads(ctx, g)
        else:
            gx, gt = CrossEntropy._index_grad(ctx, g), None
        gx = cast(xp, gx, ctx.dtypes[0])
        gt = None if gt is None else cast(xp, gt, ctx.dtypes[1])
        if ctx.unbatched:
            gx = xp.reshape(gx, ctx.in_shape)
            gt = None if gt is None else xp.reshape(gt, ctx.in_shape)
        return gx, gt, None

    @staticmethod
    def _probability_grads(ctx, g):
        xp = ctx.xp
        logp, q, w, _ = ctx.saved
        gx = g * (xp.exp(logp) * xp.sum(q, axis=1, keepdims=True) - q)
        gt = (-(1.0 - ctx.eps) * g) * (logp if w is None else logp * w)
        return gx, gt

    @staticmethod
    def _index_grad(ctx, g):
        xp = ctx.xp
        logp, index, wy, used, w, _ = ctx.saved
        c, eps = logp.shape[1], ctx.eps
        on_target = (1.0 - eps) * wy
        total = on_target
        if eps > 0:
            spread = (eps / c) * xp.astype(used, logp.dtype)
            total = on_target + spread * (float(c) if w is None else xp.sum(w))
        hits = _class_hits(ctx, index, logp.ndim, c)
        gx = xp.exp(logp) * xp.expand_dims(total, axis=1) - xp.where(hits, xp.expand_dims(on_target, axis=1), 0.0)
        if eps > 0:
            spread = xp.expand_dims(spread, axis=1)
            gx = gx - (spread if w is None else spread * w)
        return g * gx


class NLL(ArrayFunction):
    """Negative log-likelihood of log-probabilities ``x`` (N, C, d1, ...) at class indices (N, d1, ...)."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index=-100, reduction="mean"):
        xp = ctx.xp
        ctx.in_shape, ctx.unbatched, ctx.reduction = tuple(x.shape), x.ndim == 1, reduction
        if ctx.unbatched:
            x, target = _batched(xp, x, target)
        weight = None if weight is None else cast(xp, weight, x.dtype)
        picked, wy, index, _ = _pick_classes(ctx, x, target, weight, ignore_index)
        denom = xp.sum(wy)
        ctx.save(index, wy, denom)
        ctx.batched_shape = tuple(x.shape)
        out = _reduce(xp, -wy * picked, reduction, denom)
        return xp.reshape(out, ()) if ctx.unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        index, wy, denom = ctx.saved
        g = _upstream(grad, ctx.reduction, denom)
        shape = ctx.batched_shape
        hits = _class_hits(ctx, index, len(shape), shape[1])
        gx = xp.where(hits, xp.expand_dims(-g * wy, axis=1), 0.0)
        return xp.reshape(gx, ctx.in_shape), None, None


class MultiMargin(ArrayFunction):
    """Multi-class hinge loss: ``sum_{i != y} max(0, margin - x_y + x_i)^p * w_y / C`` per sample."""

    @staticmethod
    def forward(ctx, x, target, weight, p=1, margin=1.0, reduction="mean"):
        xp = ctx.xp
        ctx.in_shape, ctx.unbatched, ctx.reduction, ctx.p = tuple(x.shape), x.ndim == 1, reduction, p
        if ctx.unbatched:
            x, target = _batched(xp, x, target)
        weight = None if weight is None else cast(xp, weight, x.dtype)
        c = x.shape[1]
        picked, wy, index, _ = _pick_classes(ctx, x, target, weight, ignore_index=None)
        z = (margin - xp.expand_dims(picked, axis=1)) + x
        active = (z > 0.0) & ~_class_hits(ctx, index, 2, c)
        h = xp.where(active, z if p == 1 else z * z, 0.0)
        loss = xp.sum(h, axis=1) * (wy / c)
        denom = loss.shape[0]
        ctx.save(z, active, index, wy)
        ctx.denom = denom
        out = _reduce(xp, loss, reduction, denom)
        return xp.reshape(out, ()) if ctx.unbatched and reduction == "none" else out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        z, active, index, wy = ctx.saved
        c = z.shape[1]
        g = _upstream(grad, ctx.reduction, ctx.denom)
        scale = g * (wy / c)
        slope = xp.astype(active, z.dtype) if ctx.p == 1 else xp.where(active, 2.0 * z, 0.0)
        slope = slope * xp.expand_dims(scale, axis=-1)
        back = xp.sum(slope, axis=1, keepdims=True)
        gx = slope - xp.where(_class_hits(ctx, index, 2, c), back, 0.0)
        return xp.reshape(gx, ctx.in_shape), None, None


# ---------------------------------------------------------------- element-wise losses
def _squared(xp, d, _):
    return d * d


def _squared_slope(xp, d, _):
    return 2.0 * d


def _absolute(xp, d, _):
    return xp.abs(d)


def _absolute_slope(xp, d, _):
    return xp.sign(d)


def _smooth_l1(xp, d, beta):
    a = xp.abs(d)
    if beta == 0:
        return a
    return xp.where(a < beta, (0.5 / beta) * d * d, a - 0.5 * beta)


def _smooth_l1_slope(xp, d, beta):
    if beta == 0:
        return xp.sign(d)
    return xp.where(xp.abs(d) < beta, d / beta, xp.sign(d))


def _huber(xp, d, delta):
    a = xp.abs(d)
    return xp.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


def _huber_slope(xp, d, delta):
    return xp.where(xp.abs(d) < delta, d, delta * xp.sign(d))


_DIFFERENCE: dict[str, tuple[Callable, Callable]] = {
    "mse": (_squared, _squared_slope),
    "l1": (_absolute, _absolute_slope),
    "smooth_l1": (_smooth_l1, _smooth_l1_slope),
    "huber": (_huber, _huber_slope),
}


class DifferenceLoss(ArrayFunction):
    """An element-wise loss of ``d = input - target`` ('mse', 'l1', 'smooth_l1', 'huber'), optionally weighted.

    Weighted 'mean' divides by the summed weights for 'mse'/'l1' and by the element count for 'huber', as
    PyTorch does; input, target and weight all get gradients.
    """

    @staticmethod
    def forward(ctx, x, t, weight, kind="mse", param=1.0, reduction="mean"):
        xp = ctx.xp
        value, _ = _DIFFERENCE[kind]
        d = x - t
        loss = value(xp, d, param)
        ctx.kind, ctx.param, ctx.reduction = kind, param, reduction
        ctx.dtypes = (x.dtype, t.dtype, getattr(weight, "dtype", None))
        ctx.shapes = (shape_of(x), shape_of(t), shape_of(weight))
        if weight is None:
            denom = math.prod(loss.shape)
            out = _reduce(xp, loss, reduction, denom)
            ctx.save(d, None, None, None, denom)
            return out
        weighted = loss * weight
        denom = xp.sum(weight) if kind in ("mse", "l1") else math.prod(weighted.shape)
        out = _reduce(xp, weighted, reduction, denom)
        ctx.save(d, weight, loss, out, denom)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        d, weight, loss, out, denom = ctx.saved
        g = _upstream(grad, ctx.reduction, denom)
        gd = g * _DIFFERENCE[ctx.kind][1](xp, d, ctx.param)
        gw = None
        if weight is not None:
            gd = gd * weight
            by_weight_sum = ctx.reduction == "mean" and ctx.kind in ("mse", "l1")
            gw = g * (loss - out) if by_weight_sum else g * loss
            gw = cast(xp, unbroadcast(xp, xp.broadcast_to(gw, tuple(d.shape)), ctx.shapes[2]), ctx.dtypes[2])
        gx = cast(xp, unbroadcast(xp, xp.broadcast_to(gd, tuple(d.shape)), ctx.shapes[0]), ctx.dtypes[0])
        gt = cast(xp, unbroadcast(xp, xp.broadcast_to(-gd, tuple(d.shape)), ctx.shapes[1]), ctx.dtypes[1])
        return gx, gt, gw


def _log_sigmoid(xp: Any, x: Any) -> Any:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for any finite x."""
    return xp.minimum(x, 0.0) - xp.log1p(xp.exp(-xp.abs(x)))


_BCE_EPS = 9.999999960041972e-13  # PyTorch's 1e-12 as its kernel stores it (rounded to float32)


def _clamped_log(xp: Any, x: Any) -> Any:
    """max(log(x), -100) without ever evaluating log(0) (NumPy would warn on every saturated sigmoid)."""
    positive = x > 0.0
    return xp.where(positive, xp.maximum(xp.log(xp.where(positive, x, 1.0)), -100.0), -100.0)


def _clamped_log1m(xp: Any, x: Any) -> Any:
    """max(log1p(-x), -100), likewise without evaluating log(0)."""
    below = x < 1.0
    return xp.where(below, xp.maximum(xp.log1p(-xp.where(below, x, 0.0)), -100.0), -100.0)


def _logit(xp: Any, x: Any) -> Any:
    """log(x / (1 - x)): -inf at 0 and inf at 1 (as PyTorch), without division-by-zero warnings."""
    inner = (x > 0.0) & (x < 1.0)
    safe = xp.where(inner, x, 0.5)
    out = xp.log(safe / (1.0 - safe))
    return xp.where(x >= 1.0, math.inf, xp.where(x <= 0.0, -math.inf, out))


class BinaryCrossEntropy(ArrayFunction):
    """``-w (t log x + (1 - t) log(1 - x))`` with both logs clamped to >= -100, as PyTorch."""

    @staticmethod
    def forward(ctx, x, t, weight, reduction="mean"):
        xp = ctx.xp
        loss = (t - 1.0) * _clamped_log1m(xp, x) - t * _clamped_log(xp, x)
        if weight is not None:
            loss = loss * weight
        denom = math.prod(loss.shape)
        ctx.reduction, ctx.denom, ctx.dtypes = reduction, denom, (x.dtype, t.dtype)
        ctx.save(x, t, weight)
        return _reduce(xp, loss, reduction, denom)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, t, weight = ctx.saved
        g = _upstream(grad, ctx.reduction, ctx.denom)
        if weight is not None:
            g = g * weight
        gx = g * (x - t) / xp.maximum((1.0 - x) * x, _BCE_EPS)
        gt = -g * _logit(xp, x)
        return cast(xp, gx, ctx.dtypes[0]), cast(xp, gt, ctx.dtypes[1]), None


class BinaryCrossEntropyWithLogits(ArrayFunction):
    """Sigmoid + binary cross-entropy in log-sum-exp form: ``(1 - t) x - (1 + (pw - 1) t) log_sigmoid(x)``."""

    @staticmethod
    def forward(ctx, x, t, weight, pos_weight, reduction="mean"):
        xp = ctx.xp
        log_sig = _log_sigmoid(xp, x)
        scale = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * t
        loss = (1.0 - t) * x - scale * log_sig
        if weight is not None:
            loss = loss * weight
        denom = math.prod(loss.shape)
        ctx.reduction, ctx.denom, ctx.dtypes = reduction, denom, (x.dtype, t.dtype)
        ctx.save(x, t, weight, pos_weight, log_sig)
        return _reduce(xp, loss, reduction, denom)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, t, weight, pos_weight, log_sig = ctx.saved
        g = _upstream(grad, ctx.reduction, ctx.denom)
        if weight is not None:
            g = g * weight
        if pos_weight is None:
            gx = g * (stable_sigmoid(xp, x) - t)
            gt = -g * x
        else:
            pt = pos_weight * t
            gx = g * ((pt + 1.0 - t) * stable_sigmoid(xp, x) - pt)
            gt = g * ((log_sig - x) - pos_weight * log_sig)
        return cast(xp, gx, ctx.dtypes[0]), cast(xp, gt, ctx.dtypes[1]), None, None


# ---------------------------------------------------------------- arguments and values (metadata: anynn/ops/_args.py)
def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    result = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{result}' instead.",
                  stacklevel=3)
    return result


def _check_class_values(who: Any, target: Tensor, classes: int, ignore_index: int | None) -> bool:
    """Check now that every class index is in [0, C) or equal to ``ignore_index``, where that costs no device
    sync (host backends, or CHECK_VALUES); returns False where the check must be deferred (:func:`_defer_labels`)."""
    if not check_now(target.backend):
        return False
    error = _class_value_error(who, target.backend, target.array, classes, ignore_index, "")
    if error is not None:
        raise error
    return True


def _class_value_error(who: Any, backend: Any, y: Any, classes: int, ignore_index: int | None,
                       note: str) -> IndexError | None:
    """The error naming the first class index outside [0, C) (reads the data), or None if there is none."""
    xp = backend.xp
    int64 = backend.dtype(D.int64)
    y = cast(xp, y, int64)  # uint8 labels meet ignore_index=-100
    bad = (y < 0) | (y >= classes)
    if ignore_index is not None:
        bad = bad & (y != ignore_index)
    if not bool(xp.any(bad)):
        return None
    flat = xp.reshape(bad, (-1,))
    first = int(xp.argmax(xp.astype(flat, backend.dtype(D.int8))))
    value = int(xp.reshape(y, (-1,))[first])
    allowed = f"[0, {classes - 1}]" + (f" or ignore_index={ignore_index}" if ignore_index is not None else "")
    return IndexError(f"{who} got target class {value} with {classes} classes: class indices must be in {allowed}; "
                      f"check the labels (1-based? padding?) and the number of outputs of the model{note}")


def _defer_labels(who: Any, out: Tensor, target: Tensor, classes: int, ignore_index: int | None) -> Tensor:
    """On a GPU backend, check the labels at the next synchronisation point (:mod:`anynn.ops._checks`) without
    a launch or a sync now: a bad label makes its loss NaN, so the loss itself is the flag, and the labels are
    read only when it is not finite. Only arrays are kept (never the tensors, whose graph would stay alive)."""
    backend, loss, labels = out.backend, out.array, target.array

    def check(where: str) -> IndexError | None:
        total = backend.xp.sum(loss) if loss.ndim else loss
        if math.isfinite(float(total)):
            return None
        return _class_value_error(who, backend, labels, classes, ignore_index,
                                  f" ({DEFERRED_NOTE}; the bad label was in {where})")

    defer(check)
    return out


def _check_unit_interval(who: Any, name: str, value: Tensor, fix: str) -> None:
    """All entries within [0, 1], where that costs no device sync (host backends, or CHECK_VALUES); on GPU
    backends values outside are not checked (their clamped logs give a finite loss)."""
    if value.numel() == 0 or not check_now(value.backend):
        return
    xp = value.xp
    low, high = float(xp.min(value.array)), float(xp.max(value.array))
    if not (0.0 <= low and high <= 1.0):
        raise ValueError(f"{who} got {name} values in [{low:g}, {high:g}]: expected probabilities in [0, 1]; {fix}")


# ---------------------------------------------------------------- functional API (PyTorch's signatures)
# Each loss checks its arguments and names ``_who`` in its errors: the function's name, or the loss layer
# (anynn.nn.loss) that calls it.
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0, _who: Any = "F.cross_entropy") -> Tensor:
    """Cross-entropy between logits ``input`` (N, C, d1, ...) and class indices (N, d1, ...) or probabilities.

    Fused and stable (one log-softmax); ``weight`` rescales classes, ``ignore_index`` targets add nothing and
    are left out of the 'mean' denominator, ``label_smoothing`` mixes in the uniform distribution. Class
    indices are range-checked (at once on host backends, at the next synchronisation point on GPUs; see the
    module docstring).
    """
    who = _who
    if amp.active:
        input, target, weight = amp.cast_inputs("cross_entropy", input, target, weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
    classes = class_count(who, input)
    check_reduction(who, reduction)
    number_arg(who, "label_smoothing", label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{who} got label_smoothing={label_smoothing}: expected a value in [0.0, 1.0]")
    probs = check_class_target(who, input, target, allow_probabilities=True)
    if probs and ignore_index >= 0:
        raise ValueError(f"{who} got ignore_index={ignore_index} with class-probability targets: ignore_index "
                         "applies only to class indices (as in PyTorch); drop those samples, or pass class indices")
    check_class_weight(who, weight, classes)
    checked = probs or _check_class_values(who, target, classes, ignore_index)
    if weight is None and not probs and input.ndim == 2:
        out = SoftmaxCrossEntropy.apply(input, target, ignore_index=ignore_index, reduction=reduction,
                                        label_smoothing=float(label_smoothing))
    else:
        out = CrossEntropy.apply(input, target, weight, ignore_index=ignore_index, reduction=reduction,
                                 label_smoothing=float(label_smoothing), probs=probs)
    return out if checked else _defer_labels(who, out, target, classes, ignore_index)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
             _who: Any = "F.nll_loss") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (e.g. from log_softmax) at class indices."""
    who = _who
    if amp.active:
        input, weight = amp.cast_inputs("nll_loss", input, weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
    classes = class_count(who, input)
    check_reduction(who, reduction)
    check_class_target(who, input, target, allow_probabilities=False)
    check_class_weight(who, weight, classes)
    checked = _check_class_values(who, target, classes, ignore_index)
    out = NLL.apply(input, target, weight, ignore_index=ignore_index, reduction=reduction)
    return out if checked else _defer_labels(who, out, target, classes, ignore_index)


def _promote_integers(input: Any, target: Any) -> tuple[Any, Any]:
    """An integer or boolean tensor meeting a floating one takes its dtype, as PyTorch promotes (``mse_loss(x,
    labels)`` with int64 labels)."""
    if isinstance(input, Tensor) and isinstance(target, Tensor):
        if input.dtype.is_floating_point and not target.dtype.is_floating_point:
            return input, target.to(input.dtype)
        if target.dtype.is_floating_point and not input.dtype.is_floating_point:
            return input.to(target.dtype), target
    return input, target


def _difference_loss(who: Any, kind: str, input: Tensor, target: Tensor, weight: Tensor | None, param: float,
                     reduction: str) -> Tensor:
    """The checked element-wise loss ``kind`` of ``input - target`` (see ``DifferenceLoss``)."""
    if amp.active:
        input, target, weight = amp.cast_inputs(f"{kind}_loss", input, target, weight)
    check_reduction(who, reduction)
    input, target = _promote_integers(input, target)
    check_pair(who, input, target, same_shape=False)
    check_elementwise_weight(who, "weight", weight, input, exact=True)
    return DifferenceLoss.apply(input, target, weight, kind=kind, param=float(param), reduction=reduction)


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Tensor | None = None, _who: Any = "F.mse_loss") -> Tensor:
    """Mean squared error; a ``weight`` of the input's shape makes 'mean' a weighted mean."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return _difference_loss(_who, "mse", input, target, weight, 0.0, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean", weight: Tensor | None = None, _who: Any = "F.l1_loss") -> Tensor:
    """Mean absolute error; a ``weight`` of the input's shape makes 'mean' a weighted mean."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return _difference_loss(_who, "l1", input, target, weight, 0.0, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: str = "mean", beta: float = 1.0, _who: Any = "F.smooth_l1_loss") -> Tensor:
    """Squared error (halved, over ``beta``) below ``beta``, absolute error above it."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_beta(_who, beta)
    return _difference_loss(_who, "smooth_l1", input, target, None, beta, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None, _who: Any = "F.huber_loss") -> Tensor:
    """Halved squared error below ``delta``, ``delta``-scaled absolute error above it."""
    check_delta(_who, delta)
    return _difference_loss(_who, "huber", input, target, weight, delta, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean", _who: Any = "F.binary_cross_entropy") -> Tensor:
    """Binary cross-entropy of probabilities ``input``; logs clamped to >= -100 so 0 and 1 stay finite."""
    who = _who
    if amp.active:
        input, target, weight = amp.cast_inputs("binary_cross_entropy", input, target, weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(who, reduction)
    check_pair(who, input, target, same_shape=True)
    check_elementwise_weight(who, "weight", weight, input, exact=False)
    _check_unit_interval(who, "input", input, "apply sigmoid first, or use BCEWithLogitsLoss on the raw scores")
    _check_unit_interval(who, "target", target, "targets are probabilities of the positive class")
    return BinaryCrossEntropy.apply(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None,
                                     _who: Any = "F.binary_cross_entropy_with_logits") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step; ``pos_weight`` scales the positive term per class."""
    who = _who
    if amp.active:
        input, target, weight, pos_weight = amp.cast_inputs("binary_cross_entropy_with_logits", input, target,
                                                            weight, pos_weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_reduction(who, reduction)
    check_pair(who, input, target, same_shape=True)
    check_elementwise_weight(who, "weight", weight, input, exact=False)
    check_elementwise_weight(who, "pos_weight", pos_weight, input, exact=False)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction=reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                      reduction: str = "mean", _who: Any = "F.multi_margin_loss") -> Tensor:
    """Multi-class hinge (SVM) loss on scores (N, C) with class indices (N,)."""
    who = _who
    if amp.active:
        input, weight = amp.cast_inputs("multi_margin_loss", input, weight)
    reduction = legacy_reduction(size_average, reduce, reduction)
    classes = class_count(who, input)
    check_reduction(who, reduction)
    if p not in (1, 2):
        raise ValueError(f"{who} got p={p}: only p == 1 and p == 2 are supported")
    if input.ndim > 2:
        raise ValueError(f"{who} got input of shape {input.shape}: expected (N, C) or (C,)")
    check_class_target(who, input, target, allow_probabilities=False)
    check_class_weight(who, weight, classes)
    checked = _check_class_values(who, target, classes, None)
    out = MultiMargin.apply(input, target, weight, p=int(p), margin=float(margin), reduction=reduction)
    return out if checked else _defer_labels(who, out, target, classes, None)
