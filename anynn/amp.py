"""Mixed precision, as ``torch.amp``: ``autocast`` and ``GradScaler``.

Inside ``with anynn.autocast("cuda"):`` (or ``"cpu"``) the products that dominate a step, ``linear``,
``matmul``/``mm``/``bmm`` and ``conv1d``/``conv2d``, cast their floating-point inputs and weights to float16 by
differentiable casts: the weights stay float32 (the *master* copy the optimizer updates) and their gradients come
back float32. Losses run in float32, and each op follows PyTorch's per-device list (``POLICY``)::

    scaler = anynn.amp.GradScaler("cuda")
    for x, y in loader:
        optimizer.zero_grad()
        with anynn.autocast("cuda"):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()    # the loss times 2**16, so small float16 gradients do not flush to 0
        scaler.step(optimizer)           # unscale; skip the step if any gradient is inf/NaN
        scaler.update()                  # halve the scale after an overflow, double it after 2000 clean steps

An autocast region covers the tensors of its device type only (``autocast("cuda")`` leaves CPU tensors alone,
as in PyTorch). Per backend:

- torch and CuPy on a GPU, torch and NumPy on the CPU: float16 (the default on every device here; PyTorch's CPU
  default is bfloat16, which anynn has no dtype for: NumPy and CuPy lack it, so one default gives the same
  numbers on every backend). NumPy computes float16 GEMMs without a BLAS: correct but slow, useful to test.
- array-api-strict: the standard has no float16, so autocast changes nothing there (float32 throughout); code
  written for a GPU still runs, and ``GradScaler`` works unchanged.

Ops opt in with two lines, so that a step without autocast pays one global read per op (``active``)::

    if amp.active:
        input, weight, bias = amp.cast_inputs("linear", input, weight, bias)

and ops with one data input and several return paths (softmax, the norms) call themselves in float32::

    if amp.active and amp.widens("layer_norm", input):
        return amp.in_float32("layer_norm", layer_norm, input, normalized_shape, weight, bias, eps)
"""
from __future__ import annotations

import functools
import sys
import threading
import types
import warnings
from collections import defaultdict
from typing import Any, Callable

from anynn import dtypes as D
from anynn.autograd.grad_mode import is_grad_enabled, no_grad
from anynn.autograd.tensor import Tensor

# ------------------------------------------------------------------ what each op does under autocast
LOWER = "lower"        # cast float32 inputs to the autocast dtype (float16)
FLOAT32 = "float32"    # cast float16 inputs to float32; the result is float32
WIDEN = "widen"        # compute in float32, return the input's dtype (PyTorch's float32 accumulation)
UNSAFE = "unsafe"      # refused: the op is not safe to autocast (PyTorch's list)

_LOSSES = ("cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy_with_logits", "multi_margin_loss")
#: Per device type, the policy of each op that autocast touches ("matmul" covers mm, bmm and einsum, "conv" conv1d
#: and conv2d), from PyTorch's lists (``torch.amp`` docs: "CUDA Ops that can autocast to float16", "CPU Ops that
#: can autocast to bfloat16") and checked against ``torch.autocast("cpu")``; ops not named run in the dtypes they
#: are given, and binary arithmetic promotes (float16 + float32 is float32) with or without autocast. On the CPU,
#: softmax and the norms keep their input's dtype; on CUDA softmax and layer_norm give float32.
POLICY: dict[str, dict[str, str]] = {
    "cuda": {"linear": LOWER, "matmul": LOWER, "conv": LOWER,
             "softmax": FLOAT32, "log_softmax": FLOAT32, "layer_norm": FLOAT32, "batch_norm": WIDEN,
             "binary_cross_entropy": UNSAFE, **dict.fromkeys(_LOSSES, FLOAT32)},
    "cpu": {"linear": LOWER, "matmul": LOWER, "conv": LOWER,
            "softmax": WIDEN, "log_softmax": WIDEN, "layer_norm": WIDEN, "batch_norm": WIDEN,
            "binary_cross_entropy": FLOAT32, **dict.fromkeys(_LOSSES, FLOAT32)},
}
DEVICE_TYPES = tuple(POLICY)
#: PyTorch's default autocast dtype per device type would be float16 on CUDA and bfloat16 on the CPU; anynn
#: has no bfloat16 (see the module docstring), so float16 on both.
DEFAULT_DTYPE = {"cuda": D.float16, "cpu": D.float16}
_LOWER_DTYPES = (D.float16,)

#: How many enabled autocast regions are open, in all threads: while 0, ops skip autocast after one read.
active = 0
_active_lock = threading.Lock()


class _State(threading.local):
    """This thread's autocast settings (PyTorch keeps them per thread too)."""

    def __init__(self) -> None:
        self.enabled = dict.fromkeys(DEVICE_TYPES, False)
        self.dtype = dict(DEFAULT_DTYPE)
        self.cache_enabled = True
        self.nesting = 0
        self.cache: dict[tuple[int, bool, str], tuple[Tensor, Any, int, Tensor]] = {}


_state = _State()


def _check_device_type(who: str, device_type: Any) -> str:
    if device_type not in POLICY:
        raise ValueError(f"{who}: unsupported device_type {device_type!r}; expected one of {list(DEVICE_TYPES)} "
                         "(an autocast region covers the tensors on that type of device)")
    return device_type


def _autocast_dtype(who: str, dtype: Any) -> D.DType:
    """The anynn dtype ``dtype`` names; bfloat16, which anynn lacks, gets a clear error."""
    if str(dtype).rsplit(".", 1)[-1] == "bfloat16":
        raise TypeError(f"{who}: dtype bfloat16 is not available: anynn has no bfloat16 dtype (NumPy and CuPy have "
                        "none), so autocast computes in float16; pass dtype=anynn.float16 or leave dtype out")
    return D.as_dtype(dtype)


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether autocast is on for ``device_type`` in this thread (``torch.is_autocast_enabled``)."""
    return _state.enabled[_check_device_type("is_autocast_enabled", device_type)]


def get_autocast_dtype(device_type: str) -> D.DType:
    """The dtype autocast casts to on ``device_type`` in this thread (``torch.get_autocast_dtype``)."""
    return _state.dtype[_check_device_type("get_autocast_dtype", device_type)]


def is_autocast_cache_enabled() -> bool:
    return _state.cache_enabled


def clear_autocast_cache() -> None:
    """Forget the cached casts of weights (done when the outermost autocast region exits)."""
    _state.cache.clear()


class autocast:
    """Run the ops of ``POLICY`` in ``dtype`` on tensors of ``device_type`` (``torch.autocast``); a context
    manager and a decorator, nestable (``enabled=False`` inside turns it off for a region).

    ``cache_enabled``: a weight (a leaf that requires grad) is cast once per region and the cast reused by
    every op in it, as in PyTorch; the cache is dropped when the outermost region exits, and a cached cast is
    redone if its weight changed since.
    """

    def __init__(self, device_type: str, dtype: D.DType | None = None, enabled: bool = True,
                 cache_enabled: bool | None = None):
        self.device = _check_device_type("autocast", device_type)
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None else _autocast_dtype("autocast", dtype)
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be a bool, got {enabled!r}")
        if enabled and self.fast_dtype not in _LOWER_DTYPES:  # PyTorch warns and turns the region off, too
            warnings.warn(f"In {device_type} autocast, but the target dtype {self.fast_dtype} is not supported "
                          "(expected anynn.float16). Disabling autocast.", stacklevel=2)
            enabled = False
        self._enabled = enabled
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else bool(cache_enabled)

    def __enter__(self) -> "autocast":
        global active
        state = _state
        self._prev = (state.enabled[self.device], state.dtype[self.device], state.cache_enabled)
        state.enabled[self.device] = self._enabled
        state.dtype[self.device] = self.fast_dtype
        state.cache_enabled = self._cache_enabled
        state.nesting += 1
        if self._enabled:
            with _active_lock:
                active += 1
        return self

    def __exit__(self, *exc: Any) -> bool:
        global active
        state = _state
        state.nesting -= 1
        if state.nesting == 0:
            state.cache.clear()
        state.enabled[self.device], state.dtype[self.device], state.cache_enabled = self._prev
        if self._enabled:
            with _active_lock:
                active -= 1
        return False

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return fn(*args, **kwargs)
        return wrapper


# ------------------------------------------------------------------ the hook the ops call
def _device_type(t: Tensor) -> str:
    """The autocast device type of ``t``: 'cuda' for GPU tensors, 'cpu' for every host backend."""
    return "cuda" if t.device.type == "cuda" else "cpu"


def _policy(t: Any, kind: str) -> tuple[str | None, str]:
    """The policy for ``kind`` on ``t``'s device type, or None where autocast is off there or ``t`` is not a
    tensor autocast may cast (floating point, not float64, as PyTorch's "eligible")."""
    if not isinstance(t, Tensor):
        return None, ""
    device_type = _device_type(t)
    if not _state.enabled[device_type] or not t.dtype.is_floating_point or t.dtype is D.float64:
        return None, device_type
    return POLICY[device_type].get(kind), device_type


def _lower(t: Tensor, dtype: D.DType) -> Tensor:
    """``t`` cast to ``dtype``, from the region's cache for weights (leaves that require grad)."""
    if not (_state.cache_enabled and t.requires_grad and t.is_leaf):
        return t.to(dtype)
    key = (id(t), is_grad_enabled(), dtype.name)
    hit = _state.cache.get(key)
    if hit is not None and hit[1] is t.array and hit[2] == t._version[0]:
        return hit[3]
    cast = t.to(dtype)
    _state.cache[key] = (t, t.array, t._version[0], cast)
    return cast


def _has(t: Tensor, dtype: D.DType) -> bool:
    try:
        t.backend.dtype(dtype)
    except TypeError:
        return False
    return True


def cast_inputs(kind: str, *tensors: Any) -> tuple:
    """``tensors`` as op ``kind`` takes them under the autocast regions open in this thread (see ``POLICY``);
    None and non-tensors pass through. Called by ops only while ``active`` is non-zero."""
    out = []
    for t in tensors:
        policy, device_type = _policy(t, kind)
        if policy is None:
            out.append(t)
        elif policy == LOWER:
            dtype = _state.dtype[device_type]
            out.append(t if t.dtype is dtype or not _has(t, dtype) else _lower(t, dtype))
        elif policy == UNSAFE:
            raise RuntimeError(f"{kind} is unsafe to autocast on {device_type} (as in PyTorch): it takes "
                               "probabilities that float16 rounds poorly near 0 and 1. Use "
                               "binary_cross_entropy_with_logits (BCEWithLogitsLoss) on the raw scores, which is "
                               f"safe, or run {kind} outside the autocast region on .float() inputs")
        else:  # FLOAT32: lower-precision inputs computed in float32
            out.append(t.to(D.float32) if t.dtype in _LOWER_DTYPES else t)
    return tuple(out)


def widens(kind: str, input: Any) -> bool:
    """Whether op ``kind`` computes ``input`` (a float16 tensor) in float32 under this thread's autocast."""
    return input.dtype in _LOWER_DTYPES and _policy(input, kind)[0] in (FLOAT32, WIDEN)


def in_float32(kind: str, fn: Callable, input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``fn(input, *args, **kwargs)`` with ``input`` cast to float32 (weights given in float32 stay so); the
    result back in ``input``'s dtype where the policy is WIDEN. For ops with one data input (softmax, the
    norms), whose several return paths would each need a cast: the op calls itself through this once
    ``widens`` says so, and the float32 call does not come back here."""
    out = fn(input.to(D.float32), *args, **kwargs)
    return out.to(input.dtype) if _policy(input, kind)[0] == WIDEN else out


# ------------------------------------------------------------------ loss scaling
class _Stage:
    READY, UNSCALED, STEPPED = "ready", "unscaled", "stepped"


def _fresh_optimizer_state() -> dict[str, Any]:
    return {"stage": _Stage.READY, "found_inf": None}


class GradScaler:
    """Dynamic loss scaling (``torch.amp.GradScaler``), with PyTorch's semantics step for step.

    ``scale(loss)`` multiplies by the scale (``init_scale`` at first); ``unscale_(optimizer)`` divides the
    gradients by it and notes whether any is inf/NaN; ``step(optimizer)`` unscales if not done yet and runs the
    optimizer's step only when none was (one host read of that flag per step, as in PyTorch); ``update()``
    multiplies the scale by ``backoff_factor`` after an overflow (and restarts the growth count), or by
    ``growth_factor`` after ``growth_interval`` clean steps in a row. The scale and the count live on the
    device of the loss (a float32 and an int32 0-d array), and are updated there without a host read.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        self._device = _check_device_type("GradScaler", str(device).split(":")[0])
        self._enabled = bool(enabled)
        if self._enabled and self._device == "cuda":
            from anynn import cuda

            if not cuda.is_available():
                warnings.warn("GradScaler is enabled, but CUDA is not available. Disabling.", stacklevel=2)
                self._enabled = False
        if not growth_factor > 1.0:
            raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if not (isinstance(growth_interval, int) and growth_interval > 0):
            raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}")
        self._init_scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._scale: Tensor | None = None
        self._growth_tracker: Tensor | None = None
        self._per_optimizer_states: defaultdict[int, dict[str, Any]] = defaultdict(_fresh_optimizer_state)

    def is_enabled(self) -> bool:
        return self._enabled

    def _lazy_init(self, like: Tensor) -> None:
        """Create the scale and the growth count on ``like``'s backend and device (PyTorch: on first use)."""
        backend = like.backend
        xp = backend.xp
        self._scale = Tensor._make(xp.full((), self._init_scale, dtype=backend.dtype(D.float32),
                                           device=backend.device), backend)
        self._growth_tracker = Tensor._make(xp.full((), self._init_growth_tracker, dtype=backend.dtype(D.int32),
                                                    device=backend.device), backend)

    def _check_started(self, who: str) -> None:
        if self._scale is None:
            raise RuntimeError(f"GradScaler.{who}: the scale has not been created yet; call scaler.scale(loss) "
                               f"(and backward) before {who}()")

    # --------------------------------------------------------------- scale
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or a list/tuple/dict of them, nested) multiplied by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init(outputs)
            return outputs * self._scale.to(outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: outputs must be a Tensor or an iterable of Tensors, got "
                        f"{type(outputs).__name__}")

    # --------------------------------------------------------------- unscale
    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and record on the device
        whether any was inf/NaN. At most once per ``update()``; ``step`` calls it if you did not (call it
        yourself before clipping gradients)."""
        if not self._enabled:
            return
        self._check_started("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == _Stage.UNSCALED:
            raise RuntimeError("GradScaler.unscale_() has already been called on this optimizer since the last "
                               "update()")
        if state["stage"] == _Stage.STEPPED:
            raise RuntimeError("GradScaler.unscale_() is being called after step(); call it between backward() "
                               "and step()")
        scale = self._scale
        xp, backend = scale.xp, scale.backend
        wide = backend.dtype(D.float64) if _has(scale, D.float64) else None
        # PyTorch's inverse: 1 / scale in float64, rounded to float32
        inv = xp.astype(1.0 / (scale.array if wide is None else xp.astype(scale.array, wide)),
                        backend.dtype(D.float32))
        found = xp.zeros((), dtype=backend.dtype(D.float32), device=backend.device)
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype is D.float16:
                        raise ValueError("GradScaler.unscale_: attempting to unscale float16 gradients; keep "
                                         "the parameters in float32 (autocast casts them for the ops that gain "
                                         "from float16) and let the optimizer update those master weights")
                    if g.backend is not backend:
                        raise RuntimeError(f"GradScaler.unscale_: a gradient lives on {g.backend.name} "
                                           f"{g.device}, the scale on {backend.name} {scale.device}; keep the "
                                           "model and the loss on one device")
                    bad = xp.any(xp.logical_not(xp.isfinite(g.array)))
                    found = xp.where(bad, xp.ones_like(found), found)
                    g.array = g.array * xp.astype(inv, g.array.dtype)
        state["found_inf"] = found
        state["stage"] = _Stage.UNSCALED

    # --------------------------------------------------------------- step
    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step(*args, **kwargs)`` unless a gradient was inf/NaN (then skipped); returns its
        result, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: closure use is not supported while the scaler is enabled (as in "
                               "PyTorch); compute the loss, scale and backward it before step()")
        self._check_started("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == _Stage.STEPPED:
            raise RuntimeError("GradScaler.step() has already been called since the last update()")
        if state["stage"] == _Stage.READY:
            self.unscale_(optimizer)
        result = None
        if not bool(state["found_inf"]):  # the one host read per step
            result = optimizer.step(*args, **kwargs)
        state["stage"] = _Stage.STEPPED
        return result

    # --------------------------------------------------------------- update
    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Set the scale for the next iteration: ``new_scale`` if given, else backed off after an inf/NaN in any
        optimizer's gradients since the last update, or grown after ``growth_interval`` clean steps."""
        if not self._enabled:
            return
        self._check_started("update")
        scale, tracker = self._scale, self._growth_tracker
        xp, backend = scale.xp, scale.backend
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise ValueError("GradScaler.update: new_scale should be a float or a 1-element tensor that "
                                     "does not require grad")
                scale.array = xp.reshape(xp.astype(new_scale.to(scale.device).array, scale.array.dtype), ())
            else:
                scale.array = xp.full((), float(new_scale), dtype=scale.array.dtype, device=backend.device)
        else:
            founds = [s["found_inf"] for s in self._per_optimizer_states.values() if s["found_inf"] is not None]
            if not founds:
                raise RuntimeError("GradScaler.update: no inf checks were recorded before update(); call "
                                   "scaler.step(optimizer) (or unscale_) first")
            found = founds[0]
            for more in founds[1:]:
                found = found + more
            scale.array, tracker.array = self._updated(xp, backend, scale.array, tracker.array, found > 0)
        self._per_optimizer_states = defaultdict(_fresh_optimizer_state)

    def _updated(self, xp: Any, backend: Any, scale: Any, tracker: Any, found: Any) -> tuple[Any, Any]:
        """PyTorch's ``_amp_update_scale_`` without a branch on the host: the products in float64 (where the
        backend has it) rounded to float32, as its kernel computes them."""
        f32 = scale.dtype
        wide = xp.astype(scale, backend.dtype(D.float64)) if _has(self._scale, D.float64) else scale
        backed_off = xp.astype(wide * self._backoff_factor, f32)
        grown = xp.astype(wide * self._growth_factor, f32)
        successful = tracker + 1
        grow = xp.logical_and(xp.logical_not(found), successful == self._growth_interval)
        new_scale = xp.where(found, backed_off, xp.where(xp.logical_and(grow, xp.isfinite(grown)), grown, scale))
        new_tracker = xp.where(xp.logical_or(found, grow), xp.zeros_like(tracker), successful)
        return new_scale, new_tracker

    # --------------------------------------------------------------- settings and state
    def get_scale(self) -> float:
        """The current scale as a Python float (a host read); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def state_dict(self) -> dict[str, Any]:
        """``scale``, the factors, the interval and ``_growth_tracker`` (PyTorch's keys); empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: the source state dict is empty, possibly because it "
                               "was saved from a scaler that was not enabled")
        self._init_scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._scale is not None:
            xp, backend = self._scale.xp, self._scale.backend
            self._scale.array = xp.full((), self._init_scale, dtype=self._scale.array.dtype, device=backend.device)
            self._growth_tracker.array = xp.full((), self._init_growth_tracker,
                                                 dtype=self._growth_tracker.array.dtype, device=backend.device)


# ------------------------------------------------------------------ torch.cuda.amp, deprecated in PyTorch
def _deprecated_autocast(enabled: bool = True, dtype: D.DType = D.float16, cache_enabled: bool = True) -> autocast:
    warnings.warn("anynn.cuda.amp.autocast(args...) is deprecated; use anynn.amp.autocast('cuda', args...)",
                  FutureWarning, stacklevel=2)
    return autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


def _deprecated_grad_scaler(*args: Any, **kwargs: Any) -> GradScaler:
    warnings.warn("anynn.cuda.amp.GradScaler(args...) is deprecated; use anynn.amp.GradScaler('cuda', args...)",
                  FutureWarning, stacklevel=2)
    return GradScaler("cuda", *args, **kwargs)


#: ``anynn.cuda.amp`` (``torch.cuda.amp``): the two old names, each warning that it is deprecated; registered
#: as a module so that ``from anynn.cuda.amp import autocast`` works.
cuda_amp = types.ModuleType("anynn.cuda.amp", "Deprecated aliases of anynn.amp (torch.cuda.amp).")
cuda_amp.autocast = _deprecated_autocast
cuda_amp.GradScaler = _deprecated_grad_scaler
sys.modules.setdefault("anynn.cuda.amp", cuda_amp)

__all__ = ["GradScaler", "POLICY", "autocast", "cast_inputs", "clear_autocast_cache", "get_autocast_dtype",
           "in_float32", "is_autocast_cache_enabled", "is_autocast_enabled", "widens"]
