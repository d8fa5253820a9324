"""Property test (hypothesis, issue 16): random bad arguments to every layer, loss and optimizer, in the
constructor and in the call, either work as PyTorch does or raise an error of anynn's naming the class.

Never a raw library error (NumPy's "negative dimensions are not allowed", a KeyError or IndexError from deep
inside, an AttributeError). For each class, each constructor argument is either its default or a value drawn
from a pool that mixes good values with zero, negative, NaN, wrong-type and wrong-length ones; the call gets
an input (and target) of a random shape and dtype, sometimes not a tensor at all. Then:

- anynn raises: the message must name the class (``Linear``, ``CrossEntropyLoss``, ``Adam``).
- anynn works: PyTorch, given the same arguments, must work too and give an output of the same shape
  (optimizers: the same updated values). Refusals of PyTorch's that concern only the input's type or dtype
  (anynn promotes dtypes and computes integer activations) are counted as hypothesis events, not failures.

Where the failure lies in a file owned elsewhere, the class is marked xfail(strict=True) with the file named,
so the mark has to go when that file is fixed.
"""
from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="property tests need hypothesis: pip install hypothesis")
torch = pytest.importorskip("torch", reason="PyTorch is the oracle; pip install torch==2.13.0")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import anynn  # noqa: E402
from anynn import nn, optim  # noqa: E402

SETTINGS = dict(deadline=None, database=None, max_examples=40,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

SKIPPED = {"Module", "Sequential", "ModuleList", "ModuleDict", "Identity", "RNNBase", "RNNCellBase"}
LAYERS = sorted(n for n in dir(nn) if inspect.isclass(getattr(nn, n)) and issubclass(getattr(nn, n), nn.Module)
                and n not in SKIPPED and hasattr(torch.nn, n))
LOSSES = [n for n in LAYERS if n.endswith("Loss")]
LAYERS = [n for n in LAYERS if n not in LOSSES]
OPTIMIZERS = sorted(n for n in dir(optim) if inspect.isclass(getattr(optim, n))
                    and issubclass(getattr(optim, n), optim.Optimizer) and n != "Optimizer")

# Known failures in files this test's author does not own: class -> (file, what goes wrong).
KNOWN: dict[str, tuple[str, str]] = {}

BAD_SCALARS = [0, -1, -2.5, float("nan"), float("inf"), "3", None, True, (2, 2), [1]]
SIZES = st.one_of(st.integers(1, 4), st.sampled_from([0, -1, 2.5, "2", None, True, (2,)]))
WINDOWS = st.one_of(st.integers(-1, 4), st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
                    st.sampled_from([(2,), (1, 2, 3), 1.5, "same", "valid", "2", None]))
FRACTIONS = st.one_of(st.floats(-0.5, 1.5, allow_nan=False), st.sampled_from(BAD_SCALARS))
DIMS = st.one_of(st.integers(-5, 4), st.sampled_from([None, 1.0, "1"]))
FLAGS = st.one_of(st.booleans(), st.sampled_from([0, 1, "yes", None]))
REDUCTIONS = st.sampled_from(["mean", "sum", "none", "avg", "elementwise_mean", 3, None])

BY_NAME = {
    **dict.fromkeys(["in_features", "out_features", "in_channels", "out_channels", "num_features", "input_size",
                     "hidden_size", "num_embeddings", "embedding_dim", "num_parameters", "num_layers", "groups",
                     "divisor_override"], SIZES),
    **dict.fromkeys(["kernel_size", "stride", "padding", "dilation", "output_size"], WINDOWS),
    **dict.fromkeys(["p", "dropout", "momentum", "eps", "label_smoothing", "alpha", "negative_slope", "init",
                     "margin", "delta", "beta"], FRACTIONS),
    **dict.fromkeys(["dim", "start_dim", "end_dim", "padding_idx", "ignore_index"], DIMS),
    **dict.fromkeys(["bias", "affine", "track_running_stats", "elementwise_affine", "batch_first",
                     "bidirectional", "ceil_mode", "count_include_pad"], FLAGS),
    "reduction": REDUCTIONS,
    "approximate": st.sampled_from(["none", "tanh", "exact", 0]),
    "nonlinearity": st.sampled_from(["tanh", "relu", "sigmoid", None]),
    "normalized_shape": st.one_of(st.integers(-1, 4), st.lists(st.integers(0, 4), max_size=3).map(tuple)),
    "unflattened_size": st.one_of(st.lists(st.integers(-1, 4), max_size=3).map(tuple), st.sampled_from([4, None])),
    "padding_mode": st.sampled_from(["zeros", "reflect", "bogus"]),
}
LEFT_ALONE = {"self", "size_average", "reduce", "inplace", "dtype", "_weight", "_freeze", "weight", "pos_weight",
              "max_norm", "norm_type", "scale_grad_by_freq", "sparse", "return_indices", "args", "kwargs", "modules"}


def _kwargs(cls, draw) -> dict:
    out = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in LEFT_ALONE or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        strategy = BY_NAME.get(name, st.sampled_from(BAD_SCALARS))
        if param.default is inspect.Parameter.empty or draw(st.integers(0, 2)) == 0:
            out[name] = draw(strategy)
    return out


def _input(draw, integer_ok: bool = False):
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=5)))
    dtype = draw(st.sampled_from(["float32", "float64", "int64"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    values = rng.integers(-1, 5, size=shape) if dtype == "int64" else rng.standard_normal(shape)
    host = np.asarray(values, dtype=dtype)
    kind = draw(st.sampled_from(["tensor"] * 8 + ["numpy", "list"]))
    return host, kind


def _as_anynn(host, kind):
    return {"tensor": lambda: anynn.tensor(host, dtype=getattr(anynn, host.dtype.name)),
            "numpy": lambda: host, "list": lambda: host.tolist()}[kind]()


def _as_torch(host, kind):
    return torch.from_numpy(host.copy()) if kind == "tensor" else None  # torch refuses non-tensors too


def _run(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(), None
        except Exception as err:  # noqa: BLE001 - the error is what is checked
            return None, err


def _names_the_class(err: BaseException, name: str) -> bool:
    return name in str(err)


def _check(name: str, where: str, err: BaseException) -> None:
    assert _names_the_class(err, name), (
        f"{where} raised {type(err).__name__}: {err!s:.300} -- the message does not name {name}")


def _check_module(name: str, kwargs: dict, args_host) -> None:
    ours_cls, theirs_cls = getattr(nn, name), getattr(torch.nn, name)
    ours, err = _run(lambda: ours_cls(**kwargs))
    if err is not None:
        _check(name, f"{name}(**{kwargs!r})", err)
        return
    out, err = _run(lambda: ours(*[_as_anynn(h, k) for h, k in args_host]))
    if err is not None:
        named = type(ours).__name__  # a lazy layer has become its cls_to_become (LazyLinear -> Linear), as in PyTorch
        _check(named, f"{name}(**{kwargs!r}) called on {[(h.shape, h.dtype.name, k) for h, k in args_host]}", err)
        return
    theirs, terr = _run(lambda: theirs_cls(**kwargs))
    assert terr is None, f"anynn accepted {name}(**{kwargs!r}), PyTorch refuses it: {terr!s:.200}"
    targs = [_as_torch(h, k) for h, k in args_host]
    tout, terr = _run(lambda: theirs(*targs))
    if terr is not None and INPUT_LENIENCY.search(str(terr)):
        event(f"{name}: anynn accepts an input PyTorch refuses for its type or dtype")  # a documented leniency
        return
    assert terr is None, (f"anynn accepted {name}(**{kwargs!r}) on {[(h.shape, h.dtype.name, k) for h, k in args_host]}"
                          f", PyTorch refuses it: {terr!s:.200}")
    shape = lambda o: tuple(o.shape) if hasattr(o, "shape") else tuple(shape(v) for v in o)  # noqa: E731
    assert shape(out) == shape(tout), f"{name}(**{kwargs!r}): output shape {shape(out)} vs PyTorch {shape(tout)}"


# PyTorch refusals that are about the input's type or dtype (integer inputs to activations, a float64 input to a
# float32 layer, a NumPy array): anynn computes these (promoting dtypes, converting arrays), by design.
INPUT_LENIENCY = re.compile(r"not implemented for|dtype|Double|Float|Long|must be Tensor|NoneType|Type promoting")


def _marks(name: str):
    if name in KNOWN:
        file, why = KNOWN[name]
        return [pytest.mark.xfail(strict=True, reason=f"{file}: {why}")]
    return []


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in LAYERS])
@settings(**SETTINGS)
@given(data=st.data())
def test_layer_bad_arguments(name, data):
    with anynn.use_backend("numpy"):
        kwargs = _kwargs(getattr(nn, name), data.draw)
        _check_module(name, kwargs, [_input(data.draw)])


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in LOSSES])
@settings(**SETTINGS)
@given(data=st.data())
def test_loss_bad_arguments(name, data):
    with anynn.use_backend("numpy"):
        kwargs = _kwargs(getattr(nn, name), data.draw)
        _check_module(name, kwargs, [_input(data.draw), _input(data.draw)])


OPT_VALUES = st.one_of(st.floats(-0.5, 1.5, allow_nan=False), st.sampled_from(BAD_SCALARS + [(0.9, 0.999)]))


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in OPTIMIZERS])
@settings(**SETTINGS)
@given(data=st.data())
def test_optimizer_bad_arguments(name, data):
    kwargs = {}
    for arg, param in inspect.signature(getattr(optim, name).__init__).parameters.items():
        if arg in ("self", "params", "foreach") or data.draw(st.integers(0, 2)) != 0:
            continue
        kwargs[arg] = data.draw(FLAGS if isinstance(param.default, bool) else OPT_VALUES)
    start = np.array([0.5, -1.0, 2.0])
    with anynn.use_backend("numpy"):
        p = anynn.nn.Parameter(anynn.tensor(start, dtype=anynn.float64))
        opt, err = _run(lambda: getattr(optim, name)([p], **kwargs))
        if err is not None:
            _check(name, f"{name}(**{kwargs!r})", err)
            return

        def step():
            for _ in range(2):
                opt.zero_grad()
                (p * p).sum().backward()
                opt.step()

        _, err = _run(step)
        if err is not None:
            _check(name, f"{name}(**{kwargs!r}).step()", err)
            return
    tp = torch.nn.Parameter(torch.tensor(start))
    topt, terr = _run(lambda: getattr(torch.optim, name)([tp], **kwargs))
    assert terr is None, f"anynn accepted {name}(**{kwargs!r}), PyTorch refuses it: {terr!s:.200}"

    def tstep():
        for _ in range(2):
            topt.zero_grad()
            (tp * tp).sum().backward()
            topt.step()

    _, terr = _run(tstep)
    assert terr is None, f"anynn stepped {name}(**{kwargs!r}), PyTorch refuses to: {terr!s:.200}"
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-9, equal_nan=True,
                               err_msg=f"{name}(**{kwargs!r})")
