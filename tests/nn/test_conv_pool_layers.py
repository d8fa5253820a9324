"""Conv and pooling layers: PyTorch's parameter names, shapes, init, repr; outputs and gradients equal a torch
module holding the same weights (float64); errors name the layer."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
from anynn import nn
from anynn.ops.conv import ntuple
from helpers import assert_close, call_with_parameters, raises, torch_or_skip

CONV_CONFIGS = [
    ("Conv2d", (3, 16, 3), {}),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=2, padding=1, dilation=(2, 1), groups=2)),
    ("Conv2d", (4, 4, 3), dict(padding="same", groups=4, bias=False)),
    ("Conv2d", (2, 3, 5), dict(padding="valid")),
    ("Conv1d", (4, 8, 3), dict(stride=2, padding=1, groups=2)),
    ("Conv1d", (2, 3, 4), dict(padding="same", dilation=2, bias=False)),
]
POOL_CONFIGS = [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
    ("MaxPool2d", ((3, 2),), dict(stride=(2, 1), dilation=(1, 2))),
    ("MaxPool1d", (3,), dict(stride=2, padding=1)),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
    ("AvgPool2d", (2,), dict(divisor_override=3)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1)),
    ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveAvgPool2d", ((3, None),), {}),
    ("AdaptiveAvgPool2d", ((4, 3),), {}),
    ("AdaptiveAvgPool1d", (4,), {}),
]


def _ids(config):
    name, args, kwargs = config
    return f"{name}{args}{kwargs}"


@pytest.mark.parametrize("config", CONV_CONFIGS + POOL_CONFIGS, ids=_ids)
def test_repr_matches_torch(config):
    torch = torch_or_skip()
    name, args, kwargs = config
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=_ids)
def test_conv_parameters_match_torch(backend, config):
    torch = torch_or_skip()
    name, args, kwargs = config
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (key, p), (tkey, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert key == tkey and p.shape == tuple(tp.shape) and p.dtype == anynn.float32 and p.requires_grad
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "padding_mode"):
        assert getattr(ours, attr) == getattr(theirs, attr)


def test_conv_default_init_matches_torch_distribution(backend):
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight, and so the bias."""
    anynn.manual_seed(0)
    layer = nn.Conv2d(16, 32, 3)
    bound = 1.0 / math.sqrt(16 * 9)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound  # 4608 samples: std within 3%
    assert abs(w.mean()) < 0.05 * bound
    assert len(np.unique(b)) == 32


def _copy_into_torch(ours, theirs):
    torch = torch_or_skip()
    with torch.no_grad():
        for key, value in ours.state_dict().items():
            theirs.state_dict()[key].copy_(torch.tensor(value.numpy()))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's own copy warning
@pytest.mark.parametrize("config", CONV_CONFIGS, ids=_ids)
def test_conv_layer_matches_torch(backend, config):
    torch = torch_or_skip()
    name, args, kwargs = config
    ours = getattr(nn, name)(*args, **kwargs, dtype=anynn.float64)
    theirs = getattr(torch.nn, name)(*args, **kwargs, dtype=torch.float64)
    _copy_into_torch(ours, theirs)
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((2, args[0], 9, 8) if name == "Conv2d" else (2, args[0], 11))
    x = anynn.tensor(x_host, dtype=anynn.float64, requires_grad=True)
    tx = torch.tensor(x_host, requires_grad=True)
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout.detach().numpy())
    g = rng.standard_normal(tout.shape)
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, tp.grad.numpy())


@pytest.mark.parametrize("config", POOL_CONFIGS, ids=_ids)
def test_pool_layer_matches_torch(backend, config):
    torch = torch_or_skip()
    name, args, kwargs = config
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert list(ours.state_dict()) == []
    rng = np.random.default_rng(1)
    x_host = np.maximum(rng.standard_normal((2, 3, 9, 8) if name.endswith("2d") else (2, 3, 11)), 0.0)
    x = anynn.tensor(x_host, dtype=anynn.float64, requires_grad=True)
    tx = torch.tensor(x_host, requires_grad=True)
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout.detach().numpy())
    g = rng.standard_normal(tout.shape)
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


def test_conv_layer_gradcheck(backend):
    layer = nn.Conv2d(2, 2, (2, 3), stride=(1, 2), padding=1, groups=2, dtype=anynn.float64)
    x = anynn.tensor(np.random.default_rng(2).standard_normal((2, 2, 4, 5)), dtype=anynn.float64,
                     requires_grad=True)
    assert anynn.gradcheck(lambda x, w, b: anynn.nn.functional.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2),
                           [x, layer.weight, layer.bias])


def test_lenet_block_trains_on_float32(backend):
    """Conv -> ReLU -> MaxPool -> Flatten-by-reshape in float32: shapes, dtypes and a finite gradient."""
    anynn.manual_seed(0)
    conv, pool = nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2)
    x = anynn.tensor(np.random.default_rng(3).standard_normal((4, 1, 28, 28)), dtype=anynn.float32)
    out = pool(conv(x).relu())
    assert out.shape == (4, 6, 14, 14) and out.dtype == anynn.float32
    out.reshape(4, -1).sum().backward()
    assert conv.weight.grad.dtype == anynn.float32 and np.all(np.isfinite(conv.weight.grad.numpy()))
    assert x.grad is None


def test_layer_errors_name_the_layer(backend):
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 16, kernel_size=\(3, 3\), stride=\(1, 1\)\) got input with 1 "
                                         r"channels: expected 3"):
        conv(anynn.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 16, kernel_size=\(3, 3\), stride=\(1, 1\)\) got input of shape "
                                         r"\(3, 8, 8\): expected 4-D input \(N, C, H, W\); for a single sample add a "
                                         r"batch dimension with x\.unsqueeze\(0\)"):
        conv(anynn.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 16, kernel_size=\(3, 3\), stride=\(1, 1\)\) got input of "
                                         r"spatial size \(2, 2\)"):
        conv(anynn.zeros(1, 3, 2, 2))
    conv1 = nn.Conv1d(2, 4, 3)
    with pytest.raises(ValueError, match=r"^Conv1d\(2, 4, kernel_size=\(3,\), stride=\(1,\)\) got input of shape "
                                         r"\(1, 2, 8, 8\): expected 3-D input \(N, C, L\)"):
        conv1(anynn.zeros(1, 2, 8, 8))
    pool = nn.MaxPool2d(3)
    with pytest.raises(ValueError, match=r"^MaxPool2d\(kernel_size=3, stride=3, padding=0, dilation=1, "
                                         r"ceil_mode=False\) got input of shape \(1, 1, 2, 2\): its padded spatial "
                                         r"size \(2, 2\) is smaller than the pooling window \(3, 3\)"):
        pool(anynn.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"^AvgPool2d\(kernel_size=2, stride=2, padding=0\) got input of shape "
                                         r"\(8, 8\): expected 4-D input"):
        nn.AvgPool2d(2)(anynn.zeros(8, 8))
    with pytest.raises(ValueError, match=r"^AdaptiveAvgPool2d\(output_size=2\) got input of shape \(3, 8, 8\)"):
        nn.AdaptiveAvgPool2d(2)(anynn.zeros(3, 8, 8))


def test_conv2d_given_3d_input_suggests_a_batch_dimension(backend):
    with raises(ValueError, "Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1)) got input of shape (1, 8, 8)",
                "expected 4-D input (N, C, H, W)", "x.unsqueeze(0)"):
        nn.Conv2d(1, 4, 3)(anynn.zeros(1, 8, 8))


def test_conv2d_channel_mismatch_names_both_counts(backend):
    with raises(ValueError, "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1)) got input with 1 channels: "
                            "expected 3", "input shape (2, 1, 8, 8)"):
        nn.Conv2d(3, 4, 3)(anynn.zeros(2, 1, 8, 8))


@pytest.mark.parametrize("layer, fragments", [
    (lambda: nn.Conv2d(1, 2, 5), ["Conv2d(1, 2, kernel_size=(5, 5)", "spatial size (3, 3) (padded: (3, 3)), smaller "
                                  "than the kernel (5, 5)", "more padding"]),
    (lambda: nn.Conv2d(1, 2, 7, padding=1), ["padding=(1, 1)", "(padded: (5, 5))", "spans (7, 7)"]),
    (lambda: nn.Conv2d(1, 2, 3, dilation=3), ["dilation=(3, 3)", "dilation (3, 3), which spans (7, 7)"]),
    (lambda: nn.MaxPool2d(4), ["MaxPool2d(kernel_size=4", "padded spatial size (3, 3) is smaller than the pooling "
                               "window (4, 4)", "use a smaller kernel, more padding or a larger input"]),
    (lambda: nn.MaxPool2d(2, dilation=3), ["MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=3",
                                           "pooling window (4, 4)"]),
    (lambda: nn.AvgPool2d((4, 2)), ["AvgPool2d(kernel_size=(4, 2)", "padded spatial size (3, 3)", "window (4, 2)"]),
], ids=["conv", "conv-padded", "conv-dilated", "maxpool", "maxpool-dilated", "avgpool"])
def test_window_larger_than_the_padded_input(backend, layer, fragments):
    with raises(ValueError, "got input", *fragments):
        layer()(anynn.zeros(2, 1, 3, 3))


def test_uint8_images_into_conv2d_are_refused(backend):
    images = anynn.zeros(2, 1, 8, 8, dtype=anynn.uint8)
    with raises(TypeError, "Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1)) got anynn.uint8 input: expected a "
                           "floating-point tensor", "x.float()"):
        nn.Conv2d(1, 4, 3)(images)


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) and out_channels \(4\) must both be divisible "
                                         r"by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"Conv2d: padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(NotImplementedError, match=r"padding_mode='reflect' is not supported"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"Conv1d: kernel_size must be an int or a tuple of 1 ints, got \(3, 3\)"):
        nn.Conv1d(3, 4, (3, 3))
    with pytest.raises(NotImplementedError, match=r"MaxPool2d: return_indices=True is not supported"):
        nn.MaxPool2d(2, return_indices=True)


def test_ntuple_refuses_non_iterables_with_its_own_message():
    with pytest.raises(ValueError, match=r"^conv2d: stride must be an int or a tuple of 2 ints, got None$"):
        ntuple(None, 2, "stride", "conv2d")
    assert ntuple([1, 2], 2, "stride", "conv2d") == (1, 2)



@pytest.mark.parametrize("name,args,kwargs,shape", [
    ("Conv2d", (2, 4, 3), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2), (2, 2, 4, 5)),
    ("Conv2d", (2, 2, 2), dict(padding="same", bias=False), (1, 2, 3, 3)),
    ("Conv1d", (2, 2, 3), dict(stride=2, padding=1), (2, 2, 5)),
], ids=["Conv2d", "Conv2d-same-nobias", "Conv1d"])
def test_conv_module_gradcheck_with_parameters(backend, name, args, kwargs, shape):
    """The module's forward, with the input and every parameter (weight, bias) finite-differenced."""
    layer = getattr(nn, name)(*args, **kwargs).double()
    params = list(layer.parameters())
    assert len(params) == (1 if kwargs.get("bias") is False else 2)
    x = anynn.tensor(np.random.default_rng(12).standard_normal(shape), dtype=anynn.float64, requires_grad=True)
    assert anynn.gradcheck(lambda x, *ps: call_with_parameters(layer, x, ps), [x] + params)


@pytest.mark.parametrize("build,message", [
    (lambda: nn.Conv2d(2, 2, 0), r"^Conv2d: kernel_size must be positive, got 0; a kernel needs at least one "
                                 r"element \(kernel_size=1 for a pointwise layer\)"),
    (lambda: nn.Conv1d(2, 2, 0), r"^Conv1d: kernel_size must be positive, got 0"),
    (lambda: nn.Conv2d(2, 2, (3, -1)), r"^Conv2d: kernel_size must be positive, got \(3, -1\)"),
    (lambda: nn.Conv2d(2, 2, 3, stride=0), r"^Conv2d: stride must be positive, got 0; stride=1 moves"),
    (lambda: nn.Conv1d(2, 2, 3, dilation=0), r"^Conv1d: dilation must be positive, got 0"),
    (lambda: nn.Conv2d(0, 2, 3), r"^Conv2d: in_channels must be a positive int, got 0"),
    (lambda: nn.Conv2d(2, -1, 3), r"^Conv2d: out_channels must be a positive int, got -1"),
    (lambda: nn.Conv2d(2, 2, 2.5), r"^Conv2d: kernel_size must be an int or a tuple of 2 ints, got 2\.5$"),
    (lambda: nn.Conv2d(2, 2, 3, padding=-1), r"^Conv2d: padding must be non-negative, got -1"),
    (lambda: nn.MaxPool2d(0), r"^MaxPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.MaxPool1d(-2), r"^MaxPool1d: kernel_size must be positive, got -2"),
    (lambda: nn.MaxPool2d(2, stride=0), r"^MaxPool2d: stride must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, dilation=(1, 0)), r"^MaxPool2d: dilation must be positive, got \(1, 0\)"),
    (lambda: nn.MaxPool2d(2, padding=-1), r"^MaxPool2d: padding must be non-negative, got -1"),
    (lambda: nn.MaxPool2d(2.5), r"^MaxPool2d: kernel_size must be an int or a tuple of 2 ints, got 2\.5"),
    (lambda: nn.AvgPool2d(0), r"^AvgPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.AvgPool2d(2, stride=-1), r"^AvgPool2d: stride must be positive, got -1"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), r"^AvgPool2d: divisor_override must be None or a positive int"),
    (lambda: nn.AvgPool1d(0), r"^AvgPool1d: kernel_size must be positive, got 0"),
    (lambda: nn.AvgPool1d(3, padding=2), r"^AvgPool1d: padding \(2,\) must be at most half the kernel size"),
    (lambda: nn.AdaptiveAvgPool2d(0), r"^AdaptiveAvgPool2d: output_size must be positive \(each output side needs "
                                      r"at least one element; None keeps the input's size\), got 0"),
    (lambda: nn.AdaptiveAvgPool2d((3, -1)), r"^AdaptiveAvgPool2d: output_size must be positive .* got \(3, -1\)"),
    (lambda: nn.AdaptiveAvgPool2d((3,)), r"^AdaptiveAvgPool2d: output_size must be an int or a tuple of 2"),
    (lambda: nn.AdaptiveAvgPool1d(0), r"^AdaptiveAvgPool1d: output_size must be positive"),
], ids=lambda v: "" if callable(v) else v.split(":")[0].strip("^"))
def test_zero_or_negative_sizes_are_refused_at_construction(build, message):
    """Conv2d(kernel_size=0) used to be accepted and return the bias; pools failed only when called."""
    with pytest.raises(ValueError, match=message):
        build()


def test_valid_edge_sizes_still_build():
    assert nn.AdaptiveAvgPool2d((3, None)).output_size == (3, None)
    assert nn.Conv2d(2, 2, 1).kernel_size == (1, 1)
    assert nn.MaxPool2d((2, 1), stride=(1, 2)).stride == (1, 2)
    assert nn.AvgPool1d((3,), padding=(1,)).padding == (1,)
