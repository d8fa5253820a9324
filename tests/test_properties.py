"""Property tests (hypothesis): over random geometries and shapes, anynn agrees with PyTorch in float64.

- conv2d, max_pool2d, avg_pool2d: for every drawn configuration, either PyTorch refuses it and anynn raises a
  ValueError naming the op, or both accept it and anynn's output is finite, has PyTorch's shape (the output-size
  formula) and values, and its gradients equal PyTorch's. Invalid configurations are drawn on purpose. The one
  non-finite output is PyTorch's too: a dilated max-pool window that sees only padding is -inf (gradient 0).
- reshape / permute / broadcasting arithmetic: gradients are the upstream gradient summed over the broadcast
  axes and routed back through the reshape and permutation (computed here with NumPy, not by anynn).
- cross_entropy and mse_loss over random shapes, reductions, weights, ignored targets and smoothing.

Each example runs on one backend drawn from those selected by ``ANYNN_TEST_BACKENDS`` (default all) that can run
here, so every backend is exercised without multiplying the examples.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install hypothesis")
torch = pytest.importorskip("torch", reason="PyTorch is the numerical oracle; pip install torch==2.13.0")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import anynn  # noqa: E402
from anynn import backends as B  # noqa: E402
from anynn.nn import functional as F  # noqa: E402

from helpers import F64  # noqa: E402


def _backends() -> list[str]:
    wanted = os.environ.get("ANYNN_TEST_BACKENDS")
    names = [B.canonical_name(n.strip()) for n in wanted.split(",") if n.strip()] if wanted else list(B.NAMES)
    return [n for n in names if B.why_unavailable(n) is None]


BACKENDS = _backends()
if not BACKENDS:
    pytest.skip("no selected backend can run here", allow_module_level=True)

backends = st.sampled_from(BACKENDS)
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _leaf(array: np.ndarray) -> anynn.Tensor:
    return anynn.tensor(array, dtype=anynn.float64, requires_grad=True)


def _torch_leaf(array: np.ndarray):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _close(actual, expected, what: str) -> None:
    actual = actual.numpy() if isinstance(actual, anynn.Tensor) else np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    np.testing.assert_allclose(actual, expected, err_msg=what, **F64)


def _named(op: str, run):
    """``run`` tagged with the op name its error messages must start with."""
    run.op = op
    return run


def _compare(name: str, run_anynn, run_torch, arrays: dict[str, np.ndarray], upstream_seed: int,
             grads_if_not_finite=None) -> None:
    """Run one op on anynn (backend ``name``) and on torch from the same host arrays.

    If torch refuses, anynn must raise a ValueError whose message starts with the op's name (``run_anynn.op``)
    and says why; otherwise the outputs and the gradients of every array must agree. ``run_*`` take the dict of
    leaves and return the output. When torch's output is not all finite, the expected gradients come from
    ``grads_if_not_finite(torch leaves, upstream)`` instead of torch's backward (see the max-pool test).
    """
    t_leaves = {k: _torch_leaf(v) for k, v in arrays.items()}
    try:
        t_out = run_torch(t_leaves)
    except (RuntimeError, ValueError) as refused:
        event("both refuse")
        with anynn.use_backend(name):
            leaves = {k: _leaf(v) for k, v in arrays.items()}
            with pytest.raises(ValueError) as info:
                run_anynn(leaves)
        message = str(info.value)
        assert message.startswith(run_anynn.op) and len(message) > 40, \
            f"torch refused ({refused}); anynn's message must name {run_anynn.op} and say why: {message}"
        return
    event("both accept")
    with anynn.use_backend(name):
        leaves = {k: _leaf(v) for k, v in arrays.items()}
        out = run_anynn(leaves)
        assert out.backend.name == name and out.dtype == anynn.float64
        finite = np.isfinite(t_out.detach().numpy())
        assert np.array_equal(np.isfinite(out.numpy()), finite), "finite exactly where torch's output is"
        assert finite.all() or grads_if_not_finite is not None, "only max-pool windows can be empty"
        _close(out, t_out, "output")
        g = np.random.default_rng(upstream_seed).standard_normal(tuple(t_out.shape))
        (out * anynn.tensor(g, dtype=anynn.float64)).sum().backward()
        if finite.all():
            (t_out * torch.tensor(g)).sum().backward()
            expected = {key: t.grad for key, t in t_leaves.items()}
        else:
            expected = grads_if_not_finite(t_leaves, g)
        for key, leaf in leaves.items():
            _close(leaf.grad, expected[key], f"gradient of {key}")


# ====================================================================== convolution
def _pair(draw, values):
    """An int or, as often, a pair of ints (collapsed to an int when both agree, as users write it)."""
    pair = (draw(values), draw(values)) if draw(st.booleans()) else (draw(values),) * 2
    return pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    x_channels = cin if draw(st.integers(0, 9)) else cin + 1  # sometimes the wrong channel count
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = draw(st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.sampled_from(["same", "valid"])))
    return dict(n=draw(st.integers(1, 2)), x_channels=x_channels, cin=cin, cout=cout, groups=groups, kernel=kernel,
                hw=(draw(st.integers(1, 8)), draw(st.integers(1, 8))),
                stride=_pair(draw, st.integers(1, 3)),
                dilation=_pair(draw, st.sampled_from([1, 1, 2, 3])),
                padding=padding, bias=draw(st.booleans()))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@settings(max_examples=200, **SETTINGS)
@given(cfg=conv_configs(), name=backends, seed=st.integers(0, 2 ** 16))
def test_conv2d_matches_torch_or_both_refuse(cfg, name, seed):
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.standard_normal((cfg["n"], cfg["x_channels"]) + cfg["hw"]),
              "w": rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"]) + cfg["kernel"])}
    if cfg["bias"]:
        arrays["b"] = rng.standard_normal(cfg["cout"])
    opts = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])

    def run(fn):
        return lambda t: fn(t["x"], t["w"], t.get("b"), **opts)

    _compare(name, _named("conv2d", run(F.conv2d)), run(torch.nn.functional.conv2d), arrays, seed)


def test_conv2d_error_names_the_op():
    with pytest.raises(ValueError, match=r"conv2d got input of spatial size \(2, 2\)"):
        F.conv2d(anynn.zeros(1, 1, 2, 2), anynn.zeros(1, 1, 3, 3))


# ====================================================================== pooling
@st.composite
def pool_configs(draw, average: bool):
    kernel = _pair(draw, st.integers(1, 4))
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    legal = draw(st.integers(0, 3)) > 0  # mostly padding <= kernel // 2 (PyTorch's rule); sometimes anything
    pads = tuple(draw(st.integers(0, k // 2 if legal else 2)) for k in (kh, kw))
    cfg = dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 9)),
                      draw(st.integers(1, 9))),
               kernel_size=kernel, stride=None if draw(st.booleans()) else _pair(draw, st.integers(1, 3)),
               padding=pads[0] if pads[0] == pads[1] and draw(st.booleans()) else pads, ceil_mode=draw(st.booleans()))
    if average:
        cfg["count_include_pad"] = draw(st.booleans())
        cfg["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    else:
        cfg["dilation"] = _pair(draw, st.integers(1, 3))
    return cfg


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # -inf where a dilated window sees only padding
@settings(max_examples=200, **SETTINGS)
@given(cfg=pool_configs(average=False), name=backends, seed=st.integers(0, 2 ** 16))
def test_max_pool2d_matches_torch_or_both_refuse(cfg, name, seed):
    shape = cfg.pop("shape")
    arrays = {"x": np.random.default_rng(seed).standard_normal(shape)}  # continuous values: no ties

    def routed_to_the_maxima(t, g):
        """Each window's upstream gradient added at torch's argmax; windows that see only padding (-inf) add
        nothing. torch 2.13's own CPU backward must not run here: it writes those windows' gradient out of
        bounds (their index points past the input), corrupting the heap."""
        out, index = torch.nn.functional.max_pool2d(t["x"].detach(), **cfg, return_indices=True)
        grad = np.zeros(shape)
        flat = grad.reshape(shape[0], shape[1], -1)
        keep = np.isfinite(out.numpy())
        for n, c, i, j in zip(*np.nonzero(keep)):
            flat[n, c, index[n, c, i, j]] += g[n, c, i, j]
        return {"x": grad}

    _compare(name, _named("max_pool2d", lambda t: F.max_pool2d(t["x"], **cfg)),
             lambda t: torch.nn.functional.max_pool2d(t["x"], **cfg), arrays, seed,
             grads_if_not_finite=routed_to_the_maxima)


@settings(max_examples=200, **SETTINGS)
@given(cfg=pool_configs(average=True), name=backends, seed=st.integers(0, 2 ** 16))
def test_avg_pool2d_matches_torch_or_both_refuse(cfg, name, seed):
    shape = cfg.pop("shape")
    arrays = {"x": np.random.default_rng(seed).standard_normal(shape)}
    _compare(name, _named("avg_pool2d", lambda t: F.avg_pool2d(t["x"], **cfg)),
             lambda t: torch.nn.functional.avg_pool2d(t["x"], **cfg), arrays, seed)


# ====================================================================== reshape, permute, broadcasting
def _sum_to(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` summed over the axes that broadcasting added or stretched, giving ``shape``."""
    lead = array.ndim - len(shape)
    array = array.sum(axis=tuple(range(lead))) if lead else array
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    return array.sum(axis=stretched, keepdims=True) if stretched else array


@st.composite
def broadcast_cases(draw):
    base = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    perm = tuple(draw(st.permutations(range(len(base)))))
    permuted = tuple(base[i] for i in perm)
    cuts = sorted(draw(st.sets(st.integers(1, len(permuted) - 1), max_size=len(permuted) - 1))) \
        if len(permuted) > 1 else []
    bounds = [0] + cuts + [len(permuted)]
    merged = tuple(math.prod(permuted[a:b]) for a, b in zip(bounds, bounds[1:]))  # adjacent axes merged
    other = tuple(draw(st.sampled_from([1, n])) for n in merged)
    other = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) + other  # extra leading axes broadcast y too
    other = other[draw(st.integers(0, len(other))):] if draw(st.booleans()) else other  # or fewer axes
    return base, perm, merged, other, draw(st.sampled_from(["add", "sub", "mul", "div"]))


@settings(max_examples=150, **SETTINGS)
@given(case=broadcast_cases(), name=backends, seed=st.integers(0, 2 ** 16))
def test_broadcast_gradients_are_sums_over_broadcast_axes(case, name, seed):
    base, perm, merged, other, op = case
    rng = np.random.default_rng(seed)
    x_host, w_host = rng.standard_normal(base), rng.uniform(0.5, 2.0, other) * rng.choice([-1.0, 1.0], other)
    with anynn.use_backend(name):
        x, w = _leaf(x_host), _leaf(w_host)
        y = x.permute(*perm).reshape(merged)
        z = {"add": lambda: y + w, "sub": lambda: y - w, "mul": lambda: y * w, "div": lambda: y / w}[op]()
        g = rng.standard_normal(z.shape)
        assert z.shape == np.broadcast_shapes(merged, other)
        (z * anynn.tensor(g, dtype=anynn.float64)).sum().backward()
        y_host = np.transpose(x_host, perm).reshape(merged)
        dz_dy, dz_dw = {"add": (1.0, 1.0), "sub": (1.0, -1.0), "mul": (w_host, y_host),
                        "div": (1.0 / w_host, -y_host / w_host ** 2)}[op]
        expected_w = _sum_to(g * dz_dw, other)
        expected_y = _sum_to(g * dz_dy, merged)
        expected_x = np.transpose(expected_y.reshape(tuple(base[i] for i in perm)), np.argsort(perm))
        _close(w.grad, expected_w.reshape(other), "gradient of the broadcast operand")
        _close(x.grad, expected_x, "gradient through reshape and permute")


# ====================================================================== losses
@st.composite
def cross_entropy_cases(draw):
    unbatched = draw(st.integers(0, 5)) == 0
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    extra = () if unbatched else tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape = (c,) if unbatched else (n, c) + extra
    probabilities = draw(st.booleans())
    ignore = draw(st.sampled_from([None, -100] if probabilities else [None, -100, 0]))  # torch: >= 0 only for indices
    return dict(shape=shape, probabilities=probabilities, reduction=draw(st.sampled_from(["none", "mean", "sum"])),
                weighted=draw(st.booleans()), ignore=ignore,
                label_smoothing=draw(st.sampled_from([0.0, 0.0, 0.1, 0.7])), scale=draw(st.sampled_from([1.0, 1e3])))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0/0 when every target is ignored
@settings(max_examples=200, **SETTINGS)
@given(case=cross_entropy_cases(), name=backends, seed=st.integers(0, 2 ** 16))
def test_cross_entropy_matches_torch(case, name, seed):
    rng = np.random.default_rng(seed)
    shape, c = case["shape"], case["shape"][0 if len(case["shape"]) == 1 else 1]
    logits = rng.standard_normal(shape) * case["scale"]
    class_axis = 0 if len(shape) == 1 else 1
    index_shape = shape[:class_axis] + shape[class_axis + 1:]
    if case["probabilities"]:
        p = rng.uniform(0.0, 1.0, shape)
        target = p / p.sum(axis=class_axis, keepdims=True)
    else:
        target = rng.integers(0, c, index_shape)
        if case["ignore"] is not None and target.size:
            target.reshape(-1)[0] = case["ignore"]  # at least one ignored entry
    weight = rng.uniform(0.5, 2.0, c) if case["weighted"] else None
    opts = dict(reduction=case["reduction"], label_smoothing=case["label_smoothing"])
    if case["ignore"] is not None:
        opts["ignore_index"] = case["ignore"]

    t_logits = _torch_leaf(logits)
    t_target = _torch_leaf(target) if case["probabilities"] else torch.tensor(target)
    expected = torch.nn.functional.cross_entropy(
        t_logits, t_target, weight=None if weight is None else torch.tensor(weight), **opts)
    with anynn.use_backend(name):
        x = _leaf(logits)
        y = _leaf(target) if case["probabilities"] else anynn.tensor(target, dtype=anynn.int64)
        loss = F.cross_entropy(x, y, weight=None if weight is None else anynn.tensor(weight, dtype=anynn.float64),
                               **opts)
        got = loss.numpy()
        finite = np.isfinite(expected.detach().numpy())
        assert np.array_equal(np.isfinite(got), finite), "finite exactly where torch is (NaN: every target ignored)"
        np.testing.assert_allclose(got, expected.detach().numpy(), equal_nan=True, **F64)
        if not finite.all():
            return
        g = rng.standard_normal(tuple(expected.shape))
        (loss * anynn.tensor(g, dtype=anynn.float64)).sum().backward()
        (expected * torch.tensor(g)).sum().backward()
        _close(x.grad, t_logits.grad, "gradient of the logits")
        if case["probabilities"]:
            _close(y.grad, t_target.grad, "gradient of the probability target")


@settings(max_examples=60, **SETTINGS)
@given(shape=st.lists(st.integers(1, 4), max_size=4).map(tuple), reduction=st.sampled_from(["none", "mean", "sum"]),
       name=backends, seed=st.integers(0, 2 ** 16))
def test_mse_loss_matches_torch(shape, reduction, name, seed):
    rng = np.random.default_rng(seed)
    arrays = {"input": rng.standard_normal(shape) * 10, "target": rng.standard_normal(shape)}
    _compare(name, _named("F.mse_loss", lambda t: F.mse_loss(t["input"], t["target"], reduction=reduction)),
             lambda t: torch.nn.functional.mse_loss(t["input"], t["target"], reduction=reduction), arrays, seed)
