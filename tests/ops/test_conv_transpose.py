"""F.conv_transpose1d / F.conv_transpose2d and nn.ConvTranspose1d / nn.ConvTranspose2d, and F.unfold / F.fold
(nn.Unfold / nn.Fold), the other adjoint pair built on im2col: forward and every gradient equal PyTorch's
(float64), gradcheck, float32 kept, the same on every backend; the layers' parameters, init, repr and
output_size; the adjoint identity with conv2d; errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn import nn
from helpers import OpCase, assert_close, leaf, op_case_suite, torch_or_skip

# (N, C_in, H, W), out channels, kernel, stride, padding, output_padding, groups, dilation
CONV_T2D_CASES = [
    ((2, 3, 4, 5), 4, (3, 3), 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), 2, (3, 3), 2, 1, 1, 1, 1),
    ((2, 4, 3, 4), 6, (3, 2), (2, 3), (1, 0), (1, 2), 2, 1),
    ((1, 2, 4, 4), 3, (3, 3), 1, 2, 0, 1, 2),
    ((2, 4, 3, 3), 4, (2, 3), 2, 0, (0, 1), 4, (1, 2)),
    ((2, 2, 5, 4), 2, (4, 4), 2, 1, 0, 1, 1),  # DCGAN's upsampling layer
    ((3, 2, 1, 1), 5, (4, 4), 1, 0, 0, 1, 1),  # DCGAN's first layer: a 1x1 latent to 4x4
    ((2, 3, 5, 5), 3, (1, 1), 1, 0, 0, 1, 1),
]

# (N, C_in, L), out channels, kernel, stride, padding, output_padding, groups, dilation
CONV_T1D_CASES = [
    ((2, 3, 6), 4, 3, 1, 0, 0, 1, 1),
    ((2, 4, 5), 2, 3, 3, 1, 2, 2, 1),
    ((1, 2, 7), 3, 2, 2, 1, 1, 1, 2),
]


def _conv_t(name, case, seed, with_bias=True, gradcheck=False) -> OpCase:
    x_shape, out_ch, kernel, stride, padding, output_padding, groups, dilation = case
    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((x_shape[1], out_ch // groups) + kernel),
              rng.standard_normal(out_ch) if with_bias else None]
    return OpCase(getattr(F, name), f"nn.functional.{name}", arrays, gradcheck=gradcheck,
                  kwargs=dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                              dilation=dilation))


CASES = {
    **{f"conv_transpose2d {case}{' bias' if with_bias else ''}": _conv_t("conv_transpose2d", case, 0, with_bias)
       for case in CONV_T2D_CASES for with_bias in (True, False)},
    **{f"conv_transpose1d {case} bias": _conv_t("conv_transpose1d", case, 1) for case in CONV_T1D_CASES},
    # gradchecked (x, weight and bias) on small shapes, with the three other checks
    **{f"conv_transpose2d gradcheck {case}": _conv_t("conv_transpose2d", case, 2, gradcheck=True) for case in [
        ((2, 2, 3, 3), 2, (2, 3), 2, 1, 1, 1, 1),
        ((1, 4, 2, 3), 4, (3, 2), (1, 2), 0, (0, 1), 2, (2, 1)),
    ]},
    "conv_transpose1d gradcheck": _conv_t("conv_transpose1d", ((2, 2, 4), 3, 3, 2, 1, 1, 1, 1), 3, gradcheck=True),
    **{f"unfold {shape} {kw}": OpCase(F.unfold, "nn.functional.unfold",
                                      [np.random.default_rng(5).standard_normal(shape)], kwargs=kw)
       for shape, kw in [((2, 3, 5, 6), dict(kernel_size=2)),
                         ((2, 2, 5, 6), dict(kernel_size=(2, 3), padding=1, stride=2)),
                         ((3, 4, 5), dict(kernel_size=2, dilation=(2, 1), stride=(1, 2)))]},
    **{f"fold {shape} {size} {kw}": OpCase(F.fold, "nn.functional.fold",
                                           [np.random.default_rng(6).standard_normal(shape), size], kwargs=kw)
       for shape, size, kw in [((2, 12, 20), (5, 6), dict(kernel_size=2)),
                               ((2, 12, 9), (5, 6), dict(kernel_size=(2, 3), padding=1, stride=2)),
                               ((8, 4), (4, 5), dict(kernel_size=2, dilation=(2, 1), stride=(1, 2)))]},
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(backend):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same stride, padding, dilation and groups."""
    rng = np.random.default_rng(4)
    x, w = leaf(rng.standard_normal((2, 4, 9, 8))), leaf(rng.standard_normal((6, 2, 3, 3)))
    opts = dict(stride=2, padding=1, dilation=1, groups=2)
    y_host = rng.standard_normal(F.conv2d(x, w, **opts).shape)
    y = leaf(y_host)
    back = F.conv_transpose2d(y, w, output_padding=(0, 1), **opts)
    assert back.shape == x.shape
    lhs = float((F.conv2d(x, w, **opts) * y).sum().item())
    rhs = float((x * back).sum().item())
    assert math.isclose(lhs, rhs, rel_tol=1e-12)


def test_conv_transpose_skips_gradients_nobody_needs(backend):
    rng = np.random.default_rng(5)
    x, w = anynn.tensor(rng.standard_normal((2, 2, 3, 3)), dtype=anynn.float64), leaf(rng.standard_normal((2, 3, 3, 3)))
    F.conv_transpose2d(x, w, stride=2).sum().backward()
    assert x.grad is None and w.grad.shape == w.shape
    x, w = leaf(rng.standard_normal((2, 2, 3, 3))), anynn.tensor(rng.standard_normal((2, 3, 3, 3)), dtype=anynn.float64)
    F.conv_transpose2d(x, w, stride=2).sum().backward()
    assert w.grad is None and x.grad.shape == x.shape


LAYER_CONFIGS = [
    ("ConvTranspose2d", (4, 6, 3), {}),
    ("ConvTranspose2d", (4, 6, (3, 2)), dict(stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2))),
    ("ConvTranspose2d", (3, 2, 4), dict(stride=2, padding=1, bias=False)),
    ("ConvTranspose1d", (4, 8, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ("ConvTranspose1d", (2, 3, 4), dict(dilation=2, bias=False)),
]


def _ids(config):
    name, args, kwargs = config
    return f"{name}{args}{kwargs}"


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=_ids)
def test_layer_repr_and_parameters_match_torch(backend, config):
    torch = torch_or_skip()
    name, args, kwargs = config
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (key, p), (tkey, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert key == tkey and p.shape == tuple(tp.shape) and p.dtype == anynn.float32 and p.requires_grad
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "dilation",
                 "groups", "padding_mode"):
        assert getattr(ours, attr) == getattr(theirs, attr)


@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=_ids)
def test_layer_matches_torch_with_loaded_weights(backend, config):
    """A torch layer's state_dict loads into ours (same layout), and both give the same output and gradients."""
    torch = torch_or_skip()
    name, args, kwargs = config
    theirs = getattr(torch.nn, name)(*args, **kwargs, dtype=torch.float64)
    ours = getattr(nn, name)(*args, **kwargs, dtype=anynn.float64)
    ours.load_state_dict({k: anynn.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((2, args[0], 5, 4) if name.endswith("2d") else (2, args[0], 6))
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


def test_layer_default_init_uses_pytorch_fan_in(backend):
    """The weight is (in, out/groups, kh, kw), so PyTorch's fan_in is out/groups*kh*kw: U(-1/sqrt(fan_in), ...)."""
    anynn.manual_seed(0)
    layer = nn.ConvTranspose2d(32, 16, 3)
    bound = 1.0 / math.sqrt(16 * 9)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (32, 16, 3, 3)
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound


def test_layer_output_size_picks_output_padding(backend):
    torch = torch_or_skip()
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(2, 3, 3, stride=2,
                                                                                              padding=1)
    x = anynn.zeros(1, 2, 5, 5)
    for size in ([9, 9], [10, 9], (1, 3, 10, 10)):
        assert ours(x, output_size=size).shape == tuple(theirs(torch.zeros(1, 2, 5, 5), output_size=size).shape)
    with pytest.raises(ValueError, match=r"requested an output size of \(11, 9\), but valid sizes range from "
                                         r"\(9, 9\) to \(10, 10\)"):
        ours(x, output_size=[11, 9])


@pytest.mark.parametrize("name, args", [("Unfold", (2,)), ("Unfold", ((2, 3), 1, 1, 2)), ("Fold", ((4, 5), 2)),
                                        ("Fold", ((5, 6), (2, 3), 1, 1, 2))])
def test_fold_layers_match_torch(backend, name, args):
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    if name == "Unfold":
        shape = (2, 3, 5, 6)
    else:  # the blocks that unfolding a (2, 3, *output_size) input with the same arguments gives
        shape = tuple(F.unfold(anynn.zeros(2, 3, *args[0]), *args[1:]).shape)
    x_host = np.random.default_rng(7).standard_normal(shape)
    assert_close(ours(leaf(x_host)), theirs(torch.tensor(x_host)).numpy())


def test_fold_and_unfold_errors(backend):
    with pytest.raises(ValueError, match=r"^unfold: spatial size \(2, 2\) with kernel_size=\(3, 3\).* is empty"):
        F.unfold(anynn.zeros(1, 2, 2, 2), 3)
    with pytest.raises(ValueError, match=r"^Unfold\(kernel_size=0, .*\): kernel_size, stride and dilation must be "
                                         r"positive"):
        nn.Unfold(0)(anynn.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"^fold: Expected size of input's dimension 1 to be divisible by the product "
                                         r"of kernel_size"):
        F.fold(anynn.zeros(1, 7, 20), (5, 6), 2)
    with pytest.raises(ValueError, match=r"calculated number of sliding blocks 3 \* 5 = 15, but got "
                                         r"input.size\(2\)=20"):
        F.fold(anynn.zeros(1, 8, 20), (4, 6), 2)


def test_conv_transpose_errors(backend):
    w = anynn.zeros(3, 4, 3, 3)
    with pytest.raises(ValueError, match=r"conv_transpose2d got input with 4 channels: expected 3"):
        F.conv_transpose2d(anynn.zeros(1, 4, 5, 5), w)
    with pytest.raises(ValueError, match=r"conv_transpose2d: groups=2 must be positive and divide in_channels \(3\)"):
        F.conv_transpose2d(anynn.zeros(1, 3, 5, 5), w, groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: bias of shape \(3,\) should be \(4,\)"):
        F.conv_transpose2d(anynn.zeros(1, 3, 5, 5), w, anynn.zeros(3))
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than either stride \(2, 2\) or "
                                         r"dilation \(1, 1\)"):
        F.conv_transpose2d(anynn.zeros(1, 3, 5, 5), w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"the output size \(-1, -1\) .* is not positive"):
        F.conv_transpose2d(anynn.zeros(1, 3, 1, 1), w, padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d got input of shape \(3, 5, 5\): expected 4-D input"):
        F.conv_transpose2d(anynn.zeros(3, 5, 5), w)
    with pytest.raises(TypeError, match=r"got anynn.float64 input but its weight is anynn.float32"):
        F.conv_transpose2d(anynn.zeros(1, 3, 5, 5, dtype=anynn.float64), w)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d: padding must be an int or a tuple of ints, got 'same'"):
        nn.ConvTranspose2d(2, 2, 3, padding="same")
    with pytest.raises(ValueError, match=r"^ConvTranspose2d\(3, 4, kernel_size=\(3, 3\), stride=\(1, 1\)\) got input "
                                         r"with 2 channels: expected 3"):
        nn.ConvTranspose2d(3, 4, 3)(anynn.zeros(1, 2, 5, 5))
