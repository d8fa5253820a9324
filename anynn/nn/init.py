"""Parameter initialisers (``anynn.nn.init``), PyTorch's names, signatures and formulas; each fills a tensor in
place (under ``no_grad``) from its backend's seeded generator and returns it.

Fans are PyTorch's: ``fan_in = shape[1] * prod(shape[2:])``, ``fan_out = shape[0] * prod(shape[2:])``. The
truncated normal is drawn as PyTorch draws it, by the inverse of the normal CDF (here ``erfinv`` from the
backend's ``erf`` and Newton steps), so any interval works, not only those near the mean.
"""
from __future__ import annotations

import math
import warnings

from anynn import dtypes as D
from anynn.autograd.grad_mode import no_grad
from anynn.autograd.tensor import Tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a non-linearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
              "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in/out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Tensor, data) -> Tensor:
    """Write ``data`` (a backend array of the tensor's shape) into ``tensor``'s storage: views of it (an
    optimizer's flat buffers) see the new values, and its version counter moves."""
    with no_grad():
        return tensor.copy_(Tensor._make(data, tensor.backend))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b)."""
    with no_grad():
        return tensor.uniform_(a, b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2)."""
    with no_grad():
        return tensor.normal_(mean, std)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Tensor:
    """Fill with N(mean, std^2) truncated to [a, b] (PyTorch's method: uniform draws mapped through the inverse
    normal CDF of the interval, computed in float64)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values "
                      "may be incorrect.", stacklevel=2)
    backend, xp = tensor.backend, tensor.xp
    lo, hi = _normal_cdf((a - mean) / std), _normal_cdf((b - mean) / std)
    u = backend.rand(tensor.shape, D.float64) * (2 * hi - 2 * lo) + (2 * lo - 1)
    values = xp.clip(erfinv(backend, u) * (std * math.sqrt(2.0)) + mean, a, b)
    return _fill(tensor, xp.astype(values, backend.dtype(tensor.dtype)))


def _normal_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def erfinv(backend, y):
    """The inverse error function of a float64 array: M. Giles' approximation ("Approximating the erfinv
    function", 2010) refined by two Newton steps on the backend's ``erf``; +-inf at +-1, as PyTorch gives.

    Relative error against PyTorch's erfinv: below 2e-13 for |y| <= 1 - 1e-6, 4e-11 at 1 - 1e-8, 3e-5 at
    1 - 1e-12 (erf's rounding near 1 limits Newton there); the uniform draws of ``trunc_normal_`` come that close
    to +-1 only for intervals reaching beyond 5 standard deviations."""
    xp = backend.xp
    inside = (1.0 - y) * (1.0 + y)
    w = -xp.log(xp.where(inside > 0, inside, xp.ones_like(inside)))  # +-1 are set to +-inf below, without log(0)
    central, tail = w - 2.5, xp.sqrt(w) - 3.0
    p = xp.full_like(y, 2.81022636e-08)
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
              0.246640727, 1.50140941):
        p = c + p * central
    q = xp.full_like(y, -0.000200214257)
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
              1.00167406, 2.83297682):
        q = c + q * tail
    x = xp.where(xp.abs(y) == 1.0, xp.copysign(xp.full_like(y, math.inf), y), xp.where(w < 5.0, p, q) * y)
    finite = xp.isfinite(x)
    safe = xp.where(finite, x, xp.zeros_like(x))
    for _ in range(2):
        step = (backend.erf(safe) - y) / (2.0 / math.sqrt(math.pi) * xp.exp(-safe * safe))
        safe = safe - step
    return xp.where(finite, safe, x)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val`` (cast to the tensor's kind, so integer buffers such as num_batches_tracked work too)."""
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal): keeps a Linear layer's inputs."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: Only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    backend = tensor.backend
    rows, cols = tensor.shape
    return _fill(tensor, backend.xp.eye(rows, cols, dtype=backend.dtype(tensor.dtype), device=backend.device))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta (a 1 at the kernel's centre linking output
    channel ``d`` of each group to input channel ``d``): keeps the inputs of as many channels as possible."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: Only tensors with 3, 4, or 5 dimensions are supported, got shape {tensor.shape}")
    out_channels, in_channels, *spatial = tensor.shape
    if out_channels % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({out_channels}) must be divisible by groups ({groups})")
    per_group = out_channels // groups
    xp, backend = tensor.xp, tensor.backend
    o = xp.reshape(xp.arange(out_channels, device=backend.device), (out_channels, 1))
    i = xp.reshape(xp.arange(in_channels, device=backend.device), (1, in_channels))
    delta = o % per_group == i  # channel d of each group to channel d; i < per_group follows
    for size in spatial:  # and only at the kernel's centre
        delta = xp.expand_dims(delta, axis=-1) & (xp.arange(size, device=backend.device) == size // 2)
    return _fill(tensor, xp.astype(delta, backend.dtype(tensor.dtype)))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. (2015), "MSRA": U(-b, b) with b = gain * sqrt(3 / fan). A tensor with no elements is left as is."""
    if tensor.numel() == 0:
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. (2015), "MSRA": N(0, std^2) with std = gain / sqrt(fan). A tensor with no elements is left as is."""
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix of the tensor flattened to (shape[0], rest), the Q of the
    QR factorisation of a normal draw with R's diagonal signs folded in (uniform over orthogonal matrices)."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: Only tensors with 2 or more dimensions are supported, got shape "
                         f"{tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    xp, backend = tensor.xp, tensor.backend
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = backend.randn((rows, cols), tensor.dtype)
    if rows < cols:
        flat = xp.matrix_transpose(flat)
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.linalg.diagonal(r))
    if rows < cols:
        q = xp.matrix_transpose(q)
    return _fill(tensor, xp.reshape(q, tensor.shape) * gain)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01) -> Tensor:
    """Martens (2010): N(0, std^2) with ``ceil(sparsity * rows)`` zeros at random rows of every column."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: Only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    xp, backend = tensor.xp, tensor.backend
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    values = backend.randn((rows, cols), tensor.dtype) * std
    rank = xp.argsort(xp.argsort(backend.rand((rows, cols), D.float64), axis=0), axis=0)  # a permutation per column
    return _fill(tensor, xp.where(rank < num_zeros, xp.zeros_like(values), values))


def default_weight_and_bias_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default for Linear and Conv: kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


def _deprecated(name: str, fn):
    def alias(*args, **kwargs):
        warnings.warn(f"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`.", FutureWarning,
                      stacklevel=2)
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Deprecated spelling of :func:`{name}_` (as in PyTorch)."
    return alias


uniform, normal, constant = (_deprecated(n, globals()[n + "_"]) for n in ("uniform", "normal", "constant"))
xavier_uniform, xavier_normal = (_deprecated(n, globals()[n + "_"]) for n in ("xavier_uniform", "xavier_normal"))
kaiming_uniform, kaiming_normal = (_deprecated(n, globals()[n + "_"]) for n in ("kaiming_uniform", "kaiming_normal"))
orthogonal, sparse = (_deprecated(n, globals()[n + "_"]) for n in ("orthogonal", "sparse"))
eye, dirac = (_deprecated(n, globals()[n + "_"]) for n in ("eye", "dirac"))
