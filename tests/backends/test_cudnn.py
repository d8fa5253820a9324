"""cuDNN convolutions (anynn/backends/cudnn.py) on the CPU: what can be tested without a GPU.

* The descriptor logic: NCHW dims and element strides, the layouts cuDNN's engines take, padding split into
  pre/post, the output size against PyTorch's.
* The graph-building calls and their arguments, through a fake ``cudnn`` module that records them. Its
  ``execute`` reads and writes memory at the given arrays' pointers, through the dims and strides the graph
  declared, and computes there what cuDNN's graph would (with PyTorch on the CPU). So these tests prove that
  the graphs we build describe our arrays and geometry correctly; they do not prove cuDNN's results, which
  only a GPU can (``benchmarks/gpu_check.py`` compares cuDNN with im2col and PyTorch there).
* The fallback: a missing frontend, a missing library, no plan for a case, a grouped convolution: each
  declines (the op runs im2col) and says why once.
"""
from __future__ import annotations

import ctypes
import types
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from anynn.backends import cudnn  # noqa: E402  (after the importorskip)


# ====================================================================== descriptors
def test_packed_strides_and_layouts():
    assert cudnn.packed_strides((2, 3, 4, 5)) == (60, 20, 5, 1)
    assert cudnn.packed_strides((2, 3, 4, 5), "NHWC") == (60, 1, 15, 3)
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert cudnn.element_strides(x) == (60, 20, 5, 1)
    assert cudnn.cudnn_layout(x.shape, cudnn.element_strides(x)) == "NCHW"
    nhwc = np.zeros((2, 4, 5, 3), np.float64).transpose(0, 3, 1, 2)
    assert cudnn.element_strides(nhwc) == (60, 1, 15, 3)
    assert cudnn.cudnn_layout(nhwc.shape, cudnn.element_strides(nhwc)) == "NHWC"
    batch_last = np.zeros((3, 4, 5, 2), np.float32).transpose(3, 0, 1, 2)  # the im2col path's layout
    assert cudnn.cudnn_layout(batch_last.shape, cudnn.element_strides(batch_last)) is None
    assert cudnn.cudnn_layout((2, 3, 4, 5), (120, 40, 10, 2)) is None  # a strided view: not packed
    assert cudnn.cudnn_layout((1, 3, 1, 1), (7, 1, 9, 9)) == "NCHW"  # unit axes' strides do not matter


GEOMETRIES = [  # window, stride, dilation, pads ((top, bottom), (left, right))
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))),
    ((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1))),
    ((1, 1), (2, 2), (1, 1), ((0, 0), (0, 0))),
    ((3, 2), (1, 2), (2, 1), ((2, 2), (0, 1))),  # dilated, asymmetric padding ('same' padding makes these)
    ((5, 5), (1, 1), (1, 1), ((0, 0), (0, 0))),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_output_size_matches_pytorch(geometry):
    window, stride, dilation, pads = geometry
    x = torch.zeros(2, 3, 9, 8)
    padded = F.pad(x, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
    want = F.conv2d(padded, torch.zeros(4, 3, *window), stride=stride, dilation=dilation).shape[2:]
    assert cudnn.output_hw((9, 8), window, stride, dilation, pads) == tuple(want)


def test_conv_spec_splits_padding_and_keys_the_cache():
    spec = cudnn.conv_spec("fprop", (2, 4, 9, 8), (288, 72, 8, 1), (6, 4, 3, 2), (24, 6, 2, 1), (2, 6, 9, 4),
                           (216, 36, 4, 1), (1, 2), (2, 1), ((2, 2), (0, 1)), "float32", bias=True, tf32=True)
    assert spec.pre_padding == (2, 0) and spec.post_padding == (2, 1)
    assert spec.stride == (1, 2) and spec.dilation == (2, 1) and spec.bias and spec.tf32
    assert cudnn.groups_of(spec) == 1
    same = cudnn.conv_spec("fprop", (2, 4, 9, 8), (288, 72, 8, 1), (6, 4, 3, 2), (24, 6, 2, 1), (2, 6, 9, 4),
                           (216, 36, 4, 1), (1, 2), (2, 1), ((2, 2), (0, 1)), "float32", bias=True, tf32=True)
    assert hash(same) == hash(spec) and same == spec
    half = cudnn.conv_spec("wgrad", (2, 4, 9, 8), (288, 1, 32, 4), (6, 2, 3, 2), (12, 6, 2, 1), (2, 6, 9, 4),
                           (216, 36, 4, 1), (1, 2), (2, 1), ((2, 2), (0, 1)), "float16", tf32=True)
    assert not half.tf32 and cudnn.groups_of(half) == 2  # TF32 concerns float32 only
    with pytest.raises(ValueError, match="expected spatial size"):
        cudnn.conv_spec("fprop", (2, 4, 9, 8), (288, 72, 8, 1), (6, 4, 3, 3), (36, 9, 3, 1), (2, 6, 9, 8),
                        (432, 72, 8, 1), (1, 1), (1, 1), ((0, 0), (0, 0)), "float32")
    with pytest.raises(ValueError, match="dtype"):
        cudnn.conv_spec("fprop", (1, 1, 1, 1), (1,) * 4, (1, 1, 1, 1), (1,) * 4, (1, 1, 1, 1), (1,) * 4, (1, 1),
                        (1, 1), ((0, 0), (0, 0)), "int32")


# ====================================================================== a fake frontend
class _Enum(types.SimpleNamespace):
    pass


DTYPES = {"FLOAT": np.float32, "DOUBLE": np.float64, "HALF": np.float16}


class FakeTensor:
    def __init__(self, graph, name, dim=None, stride=None, data_type=None):
        self.graph, self.name, self.dim, self.stride, self.data_type = graph, name, dim, stride, data_type
        self.output = False

    def set_output(self, value):
        self.output = value
        return self

    def set_dim(self, dim):
        self.dim = list(dim)
        return self

    def set_stride(self, stride):
        self.stride = list(stride)
        return self

    def set_data_type(self, data_type):
        self.data_type = data_type
        return self


def _view(array, dim, stride, dtype):
    """The memory of ``array``'s first element seen through ``dim`` and element ``stride`` (not through the
    array's own shape and strides), as cuDNN reads and writes it at the array's device pointer."""
    ptr = array.__array_interface__["data"][0]
    itemsize = np.dtype(dtype).itemsize
    span = 1 + sum((d - 1) * s for d, s in zip(dim, stride))
    flat = np.frombuffer((ctypes.c_char * (span * itemsize)).from_address(ptr), dtype=dtype, count=span)
    return np.lib.stride_tricks.as_strided(flat, shape=dim, strides=[s * itemsize for s in stride])


class FakeGraph:
    """Records every call; ``execute`` computes the graph's result at the given arrays' pointers with PyTorch."""

    def __init__(self, frontend, **kwargs):
        self.frontend, self.kwargs, self.calls, self.tensors = frontend, kwargs, [], []
        frontend.graphs.append(self)

    def tensor(self, name, dim, stride, data_type):
        t = FakeTensor(self, name, list(dim), list(stride), data_type)
        self.tensors.append(t)
        return t

    def _node(self, op, inputs, **params):
        self.calls.append((op, inputs, params))
        out = FakeTensor(self, op + "_out")
        self.node = (op, inputs, params, out)
        return out

    def conv_fprop(self, image, weight, **params):
        return self._node("conv_fprop", {"image": image, "weight": weight}, **params)

    def conv_dgrad(self, loss, filter, **params):
        return self._node("conv_dgrad", {"loss": loss, "filter": filter}, **params)

    def conv_wgrad(self, image, loss, **params):
        return self._node("conv_wgrad", {"image": image, "loss": loss}, **params)

    def bias(self, input, bias, name=""):
        self.calls.append(("bias", {"input": input, "bias": bias}, {}))
        out = FakeTensor(self, "bias_out")
        self.bias_node = (input, bias, out)
        return out

    def deselect_numeric_notes(self, notes):
        self.calls.append(("deselect_numeric_notes", notes, {}))

    def build(self, heuristics):
        self.calls.append(("build", heuristics, {}))
        if self.frontend.refuse:
            raise self.frontend.NotSupported("no engine for this graph")

    def get_workspace_size(self):
        return 64

    def execute(self, pack, workspace, handle=None):
        self.frontend.executed.append((self, pack, workspace, handle))
        dtype = DTYPES[self.kwargs["io_data_type"]]

        def read(t):
            return torch.from_numpy(np.array(_view(pack[t], t.dim, t.stride, dtype)))

        def write(t, value):
            _view(pack[t], t.dim, t.stride, dtype)[...] = value.numpy()

        op, inputs, params, out = self.node
        (pt, pl), (pb, pr) = params["pre_padding"], params["post_padding"]
        stride, dilation = params["stride"], params["dilation"]
        if op == "conv_fprop":
            x = F.pad(read(inputs["image"]), (pl, pr, pt, pb))
            y = F.conv2d(x, read(inputs["weight"]), stride=stride, dilation=dilation)
            if hasattr(self, "bias_node"):
                y = y + read(self.bias_node[1])
                out = self.bias_node[2]
            write(out, y)
        elif op == "conv_dgrad":
            w = read(inputs["filter"])
            n, _, h, wd = out.dim
            padded = torch.nn.grad.conv2d_input((n, w.shape[1], h + pt + pb, wd + pl + pr), w, read(inputs["loss"]),
                                                stride=stride, dilation=dilation)
            write(out, padded[:, :, pt:pt + h, pl:pl + wd])
        else:
            x = F.pad(read(inputs["image"]), (pl, pr, pt, pb))
            write(out, torch.nn.grad.conv2d_weight(x, out.dim, read(inputs["loss"]), stride=stride,
                                                   dilation=dilation))


def fake_frontend(refuse=False):
    module = types.SimpleNamespace(graphs=[], executed=[], handles=[], refuse=refuse)
    module.NotSupported = type("cudnnGraphNotSupportedError", (RuntimeError,), {})
    module.data_type = _Enum(FLOAT="FLOAT", DOUBLE="DOUBLE", HALF="HALF")
    module.heur_mode = _Enum(A="A", FALLBACK="FALLBACK")
    module.numerical_note = _Enum(TENSOR_CORE="TENSOR_CORE", DOWN_CONVERT_INPUTS="DOWN_CONVERT_INPUTS",
                                  NONDETERMINISTIC="NONDETERMINISTIC")
    module.pygraph = lambda **kwargs: FakeGraph(module, **kwargs)
    module.create_handle = lambda: module.handles.append(object()) or module.handles[-1]
    return module


def _arrays(dtype, layout, geometry, bias=True):
    window, stride, dilation, pads = geometry
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    if layout == "NHWC":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "batch-last":
        x = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    w = rng.standard_normal((4, 3) + window).astype(dtype)
    b = rng.standard_normal(4).astype(dtype) if bias else None
    return x, w, b, cudnn.output_hw((9, 8), window, stride, dilation, pads)


def _torch_conv(x, w, b, geometry):
    window, stride, dilation, pads = geometry
    padded = F.pad(torch.from_numpy(np.ascontiguousarray(x)), (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
    return F.conv2d(padded, torch.from_numpy(w), None if b is None else torch.from_numpy(b), stride=stride,
                    dilation=dilation)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "batch-last"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_graphs_describe_the_arrays_and_geometry(dtype, geometry, layout):
    """Forward (bias fused), weight and input gradients through the fake: the declared dims/strides/padding
    read our arrays as PyTorch's convolution of the same values, and results land where we read them."""
    window, stride, dilation, pads = geometry
    frontend = fake_frontend()
    conv = cudnn.Convolutions(frontend)
    x, w, b, out_hw = _arrays(dtype, layout, geometry)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y = conv.forward(x, w, b, stride, dilation, pads, out_hw, 1)
    want = _torch_conv(x, w, b, geometry)
    np.testing.assert_allclose(y, want.numpy(), **tol)
    graph = frontend.graphs[-1]
    assert graph.kwargs["io_data_type"] == ("FLOAT" if dtype == np.float32 else "DOUBLE")
    op, inputs, params = graph.calls[0]
    assert op == "conv_fprop" and params["stride"] == list(stride) and params["dilation"] == list(dilation)
    assert params["pre_padding"] == [pads[0][0], pads[1][0]] and params["post_padding"] == [pads[0][1], pads[1][1]]
    image = inputs["image"]
    assert image.dim == [2, 3, 9, 8]
    expected_layout = "NCHW" if layout == "batch-last" else layout  # batch-last is copied to NCHW
    assert image.stride == list(cudnn.packed_strides((2, 3, 9, 8), expected_layout))
    assert [c[0] for c in graph.calls] == ["conv_fprop", "bias", "deselect_numeric_notes", "build"]
    assert graph.bias_node[1].dim == [1, 4, 1, 1]

    grad = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dw = conv.weight_grad(x, grad, w.shape, stride, dilation, pads)
    dx = conv.input_grad(grad, w, x.shape, stride, dilation, pads)
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    _torch_conv_autograd = F.conv2d(F.pad(xt, (pads[1][0], pads[1][1], pads[0][0], pads[0][1])), wt, stride=stride,
                                    dilation=dilation)
    _torch_conv_autograd.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(dw, wt.grad.numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    assert [g.calls[0][0] for g in frontend.graphs] == ["conv_fprop", "conv_wgrad", "conv_dgrad"]
    assert len(frontend.handles) == 1 and all(e[3] is frontend.handles[0] for e in frontend.executed)


def test_graphs_are_cached_by_shape_and_tf32_is_a_switch(monkeypatch):
    frontend = fake_frontend()
    conv = cudnn.Convolutions(frontend)
    geometry = GEOMETRIES[0]
    x, w, b, out_hw = _arrays(np.float32, "NCHW", geometry)
    for _ in range(3):
        conv.forward(x, w, b, *geometry[1:], out_hw, 1)
    assert len(frontend.graphs) == 1 and len(frontend.executed) == 3
    notes = [c for c in frontend.graphs[0].calls if c[0] == "deselect_numeric_notes"][0][1]
    assert set(notes) == {"NONDETERMINISTIC", "TENSOR_CORE", "DOWN_CONVERT_INPUTS"}  # TF32 off by default
    monkeypatch.setenv(cudnn.TF32_ENV, "1")
    conv.forward(x, w, b, *geometry[1:], out_hw, 1)
    assert len(frontend.graphs) == 2  # another key: TF32 allowed
    notes = [c for c in frontend.graphs[1].calls if c[0] == "deselect_numeric_notes"][0][1]
    assert notes == ["NONDETERMINISTIC"]
    conv.forward(x[:1], w, None, *geometry[1:], out_hw, 1)  # another batch size, no bias: a third graph
    assert len(frontend.graphs) == 3 and [c[0] for c in frontend.graphs[2].calls][:2] == ["conv_fprop",
                                                                                          "deselect_numeric_notes"]


def test_fallback_without_a_plan_says_why_once():
    frontend = fake_frontend(refuse=True)
    conv = cudnn.Convolutions(frontend)
    geometry = GEOMETRIES[1]
    x, w, b, out_hw = _arrays(np.float32, "NCHW", geometry)
    with pytest.warns(RuntimeWarning, match="no fprop plan.*im2col"):
        assert conv.forward(x, w, b, *geometry[1:], out_hw, 1) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert conv.forward(x, w, b, *geometry[1:], out_hw, 1) is None  # cached refusal, said once
    assert len(frontend.graphs) == 1 and not frontend.executed


def test_fallback_where_the_frontend_cannot_load(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_cudnn(name, *args):
        if name == "cudnn":
            raise ImportError("No module named 'cudnn'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_cudnn)
    conv = cudnn.Convolutions()
    geometry = GEOMETRIES[0]
    x, w, b, out_hw = _arrays(np.float32, "NCHW", geometry)
    with pytest.warns(RuntimeWarning, match="cannot load.*anynn\\[cudnn\\]"):
        assert conv.forward(x, w, b, *geometry[1:], out_hw, 1) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert conv.weight_grad(x, np.zeros((2, 4) + out_hw, np.float32), w.shape, *geometry[1:]) is None


def test_cases_cudnn_is_not_asked_for():
    frontend = fake_frontend()
    conv = cudnn.Convolutions(frontend)
    geometry = GEOMETRIES[0]
    x, w, b, out_hw = _arrays(np.float32, "NCHW", geometry)
    assert conv.forward(x, w[:, :1].copy(), None, *geometry[1:], out_hw, 3) is None  # grouped: im2col
    assert conv.forward(x.astype(np.int32), w.astype(np.int32), None, *geometry[1:], out_hw, 1) is None
    assert conv.forward(x, w.astype(np.float64), None, *geometry[1:], out_hw, 1) is None
    assert conv.forward(x, w, b.astype(np.float64), *geometry[1:], out_hw, 1) is None
    assert not frontend.graphs


def test_the_cupy_backend_registers_cudnn_only_when_asked(monkeypatch):
    from anynn.backends.cupy import _with_cudnn

    monkeypatch.delenv(cudnn.ENABLE_ENV, raising=False)
    assert dict(_with_cudnn({})) == {}
    monkeypatch.setenv(cudnn.ENABLE_ENV, "1")
    pair = _with_cudnn({})["conv2d_direct"]
    assert pair.forward is cudnn.conv_forward and pair.backward is cudnn.conv_weight_grad
    assert _with_cudnn({})["conv2d_input_grad"].forward is cudnn.conv_input_grad


def test_conv2d_through_the_fast_path_protocol_with_the_fake(monkeypatch):
    """anynn's conv2d (forward and both gradients) on a NumPy backend whose ``conv2d_direct`` pair is the cuDNN
    wrapper over the fake: the op hands the wrapper the arrays and geometry it needs, and equals PyTorch."""
    import anynn
    from anynn import backends as B
    from anynn.backends.base import FusedKernels

    conv = cudnn.Convolutions(fake_frontend())
    backend = B.backend_for("numpy")
    monkeypatch.setattr(backend, "fused", {**backend.fused, "conv2d_direct": FusedKernels(conv.forward,
                                                                                          conv.weight_grad),
                                           "conv2d_input_grad": FusedKernels(conv.input_grad, None)})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    with anynn.use_backend(backend):
        xs, ws, bs = (anynn.tensor(a, requires_grad=True) for a in (x, w, b))
        out = anynn.nn.functional.conv2d(xs, ws, bs, stride=2, padding=1)
        out.sum().backward()
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    want = F.conv2d(xt, wt, bt, stride=2, padding=1)
    want.sum().backward()
    assert len(conv._plans) == 3  # the forward and both gradients ran as cuDNN graphs
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in ((xs, xt), (ws, wt), (bs, bt)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_the_input_gradient_twin_equals_torch():
    """conv2d_input_grad's standard twin (what runs where no backend compiles it) is the adjoint of conv2d."""
    from anynn.ops.conv import direct_conv_input_grad

    rng = np.random.default_rng(1)
    grad = rng.standard_normal((2, 4, 5, 4))
    w = rng.standard_normal((4, 3, 3, 3))
    got = direct_conv_input_grad(np, grad, w, (2, 3, 9, 8), (2, 2), (1, 1), ((1, 1), (1, 1)))
    want = torch.nn.grad.conv2d_input((2, 3, 9, 8), torch.from_numpy(w), torch.from_numpy(grad), stride=2,
                                      padding=1)
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-10, atol=1e-10)
