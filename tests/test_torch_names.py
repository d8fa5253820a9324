"""PyTorch's top-level names: dtype aliases, ``anynn.device``, ``anynn.cuda``, ``anynn.utils.data``; compared
with real torch where both have the name."""
from __future__ import annotations

import pickle

import pytest

import anynn
from anynn import backends as B
from helpers import torch_or_skip


ALIASES = ("float", "double", "half", "long", "int", "short", "bool", "float16", "float32", "float64", "int8",
           "int16", "int32", "int64", "uint8")


@pytest.mark.parametrize("name", ALIASES)
def test_dtype_aliases_name_what_torch_names(name):
    torch = torch_or_skip()
    ours, theirs = getattr(anynn, name), getattr(torch, name)
    assert ours.name == str(theirs).removeprefix("torch.")
    assert ours.is_floating_point == theirs.is_floating_point
    assert ours.is_signed == theirs.is_signed
    assert ours.itemsize == theirs.itemsize
    assert anynn.dtypes.as_dtype(theirs) is ours


def test_aliases_leave_the_builtins_working_in_the_package():
    assert anynn.clip(anynn.tensor([-2.0, 0.5, 3.0]), 0, 1).tolist() == [0.0, 0.5, 1.0]
    assert anynn.float is anynn.float32 and anynn.bool is anynn.bool_


def test_tensor_dtype_casts_accept_the_aliases(backend):
    x = anynn.tensor([1.5, 2.5])
    assert x.to(anynn.double).dtype == anynn.float64
    assert x.to(anynn.long).tolist() == [1, 2]
    assert anynn.zeros(2, dtype=anynn.short).dtype == anynn.int16  # (array-api-strict has no float16)


# ------------------------------------------------------------------------------- device
@pytest.mark.parametrize("spec", ["cpu", "cuda", "cuda:0", "cuda:3", ("cuda", 1)])
def test_device_parses_and_prints_like_torch(spec):
    torch = torch_or_skip()
    ours = anynn.device(*spec) if isinstance(spec, tuple) else anynn.device(spec)
    theirs = torch.device(*spec) if isinstance(spec, tuple) else torch.device(spec)
    assert (ours.type, ours.index) == (theirs.type, theirs.index)
    assert str(ours) == str(theirs) and repr(ours) == repr(theirs)
    assert ours == theirs and ours == str(theirs) and anynn.device(theirs) == ours
    assert hash(ours) == hash(str(theirs))


def test_a_bare_index_is_a_gpu():
    assert anynn.device(2) == anynn.device("cuda:2")  # torch.device(2): accelerator 2 (cuda:2 on NVIDIA GPUs)


def test_device_equality_follows_torch():
    torch = torch_or_skip()
    for a, b in (("cuda", "cuda:0"), ("cpu", "cuda"), ("cuda:0", "cuda:1")):
        assert (anynn.device(a) == anynn.device(b)) == (torch.device(a) == torch.device(b))
    assert anynn.device("cpu") != 3.5 and anynn.device("cpu") != "not a device:x"
    assert pickle.loads(pickle.dumps(anynn.device("cuda:2"))) == "cuda:2"
    assert f"[{anynn.device('cuda:1'):>7}]" == f"[{'cuda:1':>7}]" == f"[{torch.device('cuda:1')!s:>7}]"
    with pytest.raises(AttributeError):
        anynn.device("cpu").index = 1


@pytest.mark.parametrize("bad", ["cuda:x", "", "cuda:-1", ":0"])
def test_device_rejects_what_torch_rejects(bad):
    torch = torch_or_skip()
    with pytest.raises(RuntimeError):
        torch.device(bad)
    with pytest.raises(ValueError, match="anynn.device"):
        anynn.device(bad)


def test_device_rejects_two_indices():
    with pytest.raises(ValueError, match="already has an index"):
        anynn.device("cuda:1", 1)


def test_cpu_device_is_each_librarys_own_cpu(backend):
    from anynn.device import backend_on

    landed = backend_on("cpu", backend)
    expected = backend if backend.name in ("numpy", "array_api_strict", "torch") else B.backend_for("numpy")
    assert landed is expected
    assert backend_on(anynn.device("cpu"), backend) is expected


def test_cuda_without_a_gpu_says_why(backend):
    from anynn.device import backend_on

    if anynn.cuda.is_available():
        pytest.skip("a GPU is usable here: this test is about machines without one")
    with pytest.raises(B.BackendUnavailable, match="cannot move to cuda") as err:
        backend_on("cuda", backend)
    assert anynn.cuda.why_unavailable() in str(err.value)


# ---------------------------------------------------------------------------------- cuda
def test_cuda_namespace_answers_without_a_gpu(backend):
    if anynn.cuda.is_available():
        pytest.skip("a GPU is usable here: this test is about machines without one")
    library = "torch" if backend.name == "torch" else "cupy"
    assert anynn.cuda.why_unavailable() == B.why_unavailable(library, "cuda")
    assert anynn.cuda.device_count() == 0
    dev = anynn.device("cuda" if anynn.cuda.is_available() else "cpu")
    assert dev == "cpu"
    anynn.cuda.manual_seed(1)  # silently nothing, as in PyTorch
    anynn.cuda.manual_seed_all(1)
    with pytest.raises(B.BackendUnavailable, match="no GPU is usable here"):
        anynn.cuda.synchronize()
    with pytest.raises(B.BackendUnavailable, match="no GPU is usable here"):
        anynn.cuda.current_device()


def test_cuda_agrees_with_torch_about_this_machine():
    torch = torch_or_skip()
    with anynn.use_backend("torch"):
        assert anynn.cuda.is_available() == torch.cuda.is_available()
        assert anynn.cuda.device_count() == (torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_accelerator_answers_like_torch_on_this_machine():
    torch = torch_or_skip()
    with anynn.use_backend("torch"):
        assert anynn.accelerator.is_available() == torch.accelerator.is_available()
        assert anynn.accelerator.device_count() == torch.accelerator.device_count()
        ours, theirs = anynn.accelerator.current_accelerator(), torch.accelerator.current_accelerator()
        assert (ours is None) == (theirs is None) and (ours is None or ours == theirs)


def test_accelerator_follows_the_gpu_backend(backend):
    available = anynn.cuda.is_available()
    assert anynn.accelerator.is_available() == available
    assert anynn.accelerator.device_count() == anynn.cuda.device_count()
    assert anynn.accelerator.current_accelerator() == (anynn.device("cuda") if available else None)
    if not available:
        with pytest.raises(B.BackendUnavailable, match="no GPU is usable here"):
            anynn.accelerator.synchronize()


def test_set_default_device_keeps_the_library_for_cpu(backend):
    torch = torch_or_skip()
    assert anynn.get_default_device() == torch.get_default_device() and anynn.get_default_device() == "cpu"
    anynn.set_default_device("cpu")
    assert anynn.get_backend() is backend and anynn.zeros(2).backend is backend
    anynn.set_default_device(torch.device("cpu"))
    anynn.set_default_device(None)
    assert anynn.get_backend() is backend
    if not anynn.cuda.is_available():
        with pytest.raises(B.BackendUnavailable, match="cannot move to cuda"):
            anynn.set_default_device("cuda")
        assert anynn.get_backend() is backend


# ------------------------------------------------------------------------------ grad_fn
def _walk(loss):
    """Every node reachable from ``loss.grad_fn`` (breadth first), by next_functions."""
    seen, queue = [], [loss.grad_fn]
    while queue:
        node = queue.pop(0)
        seen.append(node)
        queue += [n for n, _ in node.next_functions if n is not None and n not in seen and n not in queue]
    return seen


def test_grad_fn_walks_the_graph_like_torch(backend):
    torch = torch_or_skip()
    from anynn import nn

    found = []
    for lib, layer in ((anynn, nn.Linear(2, 3)), (torch, torch.nn.Linear(2, 3))):
        x = lib.ones(4, 2, requires_grad=True)
        loss = layer(x).relu().sum()
        nodes = _walk(loss)
        leaves = [n.variable for n in nodes if type(n).__name__ == "AccumulateGrad"]
        assert any(leaf is x for leaf in leaves) and any(leaf is layer.weight for leaf in leaves)
        assert x.grad_fn is None and x.is_leaf and not loss.is_leaf
        assert repr(loss.grad_fn).startswith(f"<{loss.grad_fn.name()} object at ")
        found.append([n.name() for n in nodes[:2]])
    assert found[0] == found[1] == ["SumBackward0", "ReluBackward0"]


def test_grad_fn_of_one_output_of_several_is_the_call(backend):
    from anynn.autograd.custom_function import Function

    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, a, b):
            return a * 2 + b * 3

    x = anynn.tensor([3.0, 1.0], requires_grad=True)
    first, second = Split.apply(x)
    assert first.grad_fn == second.grad_fn and first.grad_fn.name() == "SplitBackward0"
    assert [type(n).__name__ for n, _ in first.grad_fn.next_functions] == ["AccumulateGrad"]
    assert first.grad_fn.next_functions[0][0].variable is x


# ------------------------------------------------------------------------ legacy typed constructors
@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "ShortTensor",
                                  "ByteTensor", "CharTensor", "BoolTensor"])
def test_legacy_typed_constructors_match_torch(backend, name):
    torch = torch_or_skip()
    ours, theirs = getattr(anynn, name), getattr(torch, name)
    data = [1, 0, 2] if name != "BoolTensor" else [True, False, True]
    made, expected = ours(data), theirs(data)
    assert made.dtype.name == str(expected.dtype).removeprefix("torch.") and made.tolist() == expected.tolist()
    assert ours(2, 3).shape == tuple(theirs(2, 3).shape) and ours().shape == tuple(theirs().shape)
    assert isinstance(made, ours) and not isinstance(anynn.zeros(1, dtype=anynn.int16 if name != "ShortTensor"
                                                                 else anynn.int32), ours)
    assert anynn.LongTensor([1.7, -1.7]).tolist() == torch.LongTensor([1.7, -1.7]).tolist()
    with pytest.raises(TypeError, match="expected a tensor of"):
        anynn.FloatTensor(anynn.zeros(2, dtype=anynn.int64))


# --------------------------------------------------------------------------- Tensor.to forms
def test_tensor_to_takes_torchs_forms(backend):
    torch = torch_or_skip()
    import numpy as np

    x = anynn.tensor([1.5, -2.5])
    for dtype in (np.float64, np.dtype("float64"), torch.float64, "float64", anynn.double):
        assert x.to(dtype).dtype == anynn.float64
    moved = x.to("cpu", anynn.float64)
    assert moved.backend is backend and moved.dtype == anynn.float64
    assert x.to(torch.device("cpu"), torch.int64).tolist() == torch.tensor([1.5, -2.5]).to("cpu", torch.int64).tolist()
    like = anynn.zeros(1, dtype=anynn.int32, backend="torch")
    assert x.to(like).backend is like.backend and x.to(like).dtype == anynn.int32
    assert x.to(device="cpu", non_blocking=True) is x and x.cpu() is x
    for bad in (object(), 3.5):
        with pytest.raises(TypeError, match="cannot move to"):
            x.to(bad)
    with pytest.raises(TypeError, match="two dtypes"):
        x.to(anynn.float64, anynn.float32)


def test_device_predicates(backend):
    t = anynn.ones(2)
    assert t.is_cpu is (backend.name != "cupy") and t.is_cuda is (backend.name == "cupy")
    assert t.is_xpu is False and t.is_mps is False and t.is_meta is False
