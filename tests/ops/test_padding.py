"""F.pad (constant mode) and the ZeroPad/ConstantPad layers: equal to PyTorch (forward, gradient, float32 kept,
every backend), gradcheck, negative amounts crop, reprs, errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from anynn import nn
from helpers import OpCase, assert_close, leaf, op_case_suite, torch_or_skip

_rng = np.random.default_rng(0)

# input shape, pad, value
PAD_CASES = [
    ((2, 3, 4, 5), (1, 2), None),
    ((2, 3, 4, 5), (1, 1, 2, 0), None),
    ((2, 3, 4, 5), (0, 1, 2, 1, 1, 0), 1.5),
    ((3, 4), (2, 1, 1, 3), -0.5),
    ((2, 3, 4, 5), (-1, 2, 1, -2), None),  # negative amounts crop
    ((2, 6), (-2, -3), None),
    ((4,), (3, 0), 2.0),
]

CASES = {f"pad {shape} {amounts} value={value}": OpCase(F.pad, "nn.functional.pad", [_rng.standard_normal(shape)],
                                                        kwargs=dict(pad=amounts, value=value))
         for shape, amounts, value in PAD_CASES}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_pad_integer_tensors_like_pytorch(backend):
    torch = torch_or_skip()
    x = np.arange(6).reshape(2, 3)
    ours = F.pad(anynn.tensor(x), (1, 1), value=2.7)
    assert ours.dtype is anynn.int64
    np.testing.assert_array_equal(ours.numpy(), torch.nn.functional.pad(torch.tensor(x), (1, 1), value=2.7).numpy())


LAYERS = [("ZeroPad1d", (2,)), ("ZeroPad2d", (2,)), ("ZeroPad2d", ((1, 0, 2, 3),)), ("ZeroPad3d", (1,)),
          ("ConstantPad1d", (2, 3.5)), ("ConstantPad2d", ((1, 2, 0, 1), -1.0)),
          ("ConstantPad3d", ((1, 2, 0, 0, 1, 1), 0.0))]


@pytest.mark.parametrize("name, args", LAYERS, ids=lambda v: str(v))
def test_layers_match_torch(backend, name, args):
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs) and ours.padding == theirs.padding
    dims = int(name[-2])
    x_host = _rng.standard_normal((2, 3, 4, 5, 3)[:dims + 2])
    x, tx = leaf(x_host), torch.tensor(x_host, requires_grad=True)
    out, tout = ours(x), theirs(tx)
    assert_close(out, tout.detach().numpy())
    g = _rng.standard_normal(tout.shape)
    out.backward(anynn.tensor(g, dtype=anynn.float64))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


def test_pad_errors(backend):
    x = anynn.zeros(2, 3)
    with pytest.raises(ValueError, match=r"pad: Padding length must be divisible by 2, got 3"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"pad: Padding length should be less than or equal to two times the input "
                                         r"dimension but got padding length 6 and input of dimension 2"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"crops more than there is \(output size \(2, -1\)\)"):
        F.pad(x, (-2, -2))
    with pytest.raises(ValueError, match=r"^ZeroPad1d\(\(1, -1\)\): padding \(1, -1\) of an input of shape "
                                         r"\(0,\) crops"):
        nn.ZeroPad1d((1, -1))(anynn.zeros(0))
    with pytest.raises(NotImplementedError, match=r"pad: mode='reflect' is not supported"):
        F.pad(x, (1, 1), mode="reflect")
    with pytest.raises(ValueError, match=r"^ZeroPad2d: padding must be an int or a tuple of 4 ints, got \(1, 2\)"):
        nn.ZeroPad2d((1, 2))
