"""F.dropout / F.dropout2d: mask statistics, inverted scaling, identity in eval, reproducible masks with
anynn.manual_seed, gradients equal to the mask, gradcheck and errors, on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
import anynn.nn.functional as F
from helpers import assert_close, leaf


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_statistics(backend, p):
    n = 20000
    out = F.dropout(anynn.ones(n, dtype=anynn.float64), p=p).numpy()
    dropped = out == 0.0
    # fraction dropped within 5 standard deviations of p; survivors scaled to keep the mean
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert_close(out[~dropped], np.full((~dropped).sum(), 1.0 / (1.0 - p)))
    assert abs(out.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)


def test_dropout_gradient_is_the_mask(backend):
    x = leaf(np.random.default_rng(0).standard_normal((50, 40)) + 3.0)
    out = F.dropout(x, p=0.4)
    out.sum().backward()
    mask = out.numpy() / x.numpy()
    assert set(np.unique(np.round(mask, 12))) <= {0.0, round(1 / 0.6, 12)}
    assert_close(x.grad, mask)


def test_dropout_is_identity_in_eval_and_for_p0(backend):
    x = anynn.tensor(np.random.default_rng(1).standard_normal((3, 4)))
    assert F.dropout(x, p=0.5, training=False) is x
    assert F.dropout(x, p=0.0) is x
    assert F.dropout2d(x.reshape(1, 3, 4), p=0.5, training=False).shape == (1, 3, 4)


def test_dropout_p1_zeroes_everything(backend):
    x = leaf(np.random.default_rng(2).standard_normal((3, 4)))
    out = F.dropout(x, p=1.0)
    out.sum().backward()
    assert_close(out, np.zeros((3, 4)))
    assert_close(x.grad, np.zeros((3, 4)))


def test_dropout_mask_is_reproducible_with_manual_seed(backend):
    x = anynn.ones(8, 16, dtype=anynn.float32)
    anynn.manual_seed(123)
    first = F.dropout(x, p=0.5).numpy()
    second = F.dropout(x, p=0.5).numpy()
    anynn.manual_seed(123)
    again = F.dropout(x, p=0.5).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


def test_dropout_keeps_float32(backend):
    x = leaf(np.ones((4, 5)), dtype=anynn.float32)
    out = F.dropout(x, 0.3)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == anynn.float32


def test_dropout_gradcheck(backend):
    x = leaf(np.random.default_rng(3).standard_normal((3, 4)))

    def reseeded(t):  # the same mask on every call, so finite differences see one function
        anynn.manual_seed(7)
        return F.dropout(t, p=0.4)

    assert anynn.gradcheck(reseeded, [x])


@pytest.mark.parametrize("shape", [(6, 5, 3, 4), (6, 5, 7)])
def test_dropout2d_drops_whole_channels(backend, shape):
    x = leaf(np.random.default_rng(4).uniform(1.0, 2.0, shape))
    out = F.dropout2d(x, p=0.5)
    out.sum().backward()
    ratio = (out.numpy() / x.numpy()).reshape(shape[0], shape[1], -1)
    assert np.all(ratio == ratio[..., :1])  # constant over each channel's positions
    assert set(np.unique(np.round(ratio, 12))) <= {0.0, 2.0}
    assert 0 < (ratio[..., 0] == 0).sum() < shape[0] * shape[1]
    assert_close(x.grad.numpy().reshape(ratio.shape), ratio)


def test_dropout_errors(backend):
    x = anynn.zeros(2, 3)
    with pytest.raises(ValueError, match=r"dropout: dropout probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, p=1.5)
    with pytest.raises(ValueError, match=r"dropout2d got input of shape \(3,\): expected 4-D \(N, C, H, W\) or "
                                         r"3-D \(N, C, L\)"):
        F.dropout2d(anynn.zeros(3))


@pytest.mark.parametrize("layer", [False, True])
def test_dropout2d_on_2d_input_warns_and_drops_elements(backend, layer):
    """PyTorch accepts a 2-D (N, C) input with a deprecation warning and drops single elements (each (n, c))."""
    x = leaf(np.random.default_rng(5).uniform(1.0, 2.0, (40, 30)))
    drop = anynn.nn.Dropout2d(0.5) if layer else (lambda t: F.dropout2d(t, p=0.5))
    with pytest.warns(UserWarning, match=r"^dropout2d: Received a 2-D input to dropout2d, which is deprecated and "
                                         r"will result in an error in a future release\. To retain the behavior"):
        out = drop(x)
    out.sum().backward()
    ratio = out.numpy() / x.numpy()
    assert set(np.unique(np.round(ratio, 12))) <= {0.0, 2.0}
    assert 0.35 < (ratio == 0).mean() < 0.65
    assert not np.all(ratio == ratio[:, :1]) and not np.all(ratio == ratio[:1, :])  # neither whole rows nor columns
    assert_close(x.grad.numpy(), ratio)


@pytest.mark.parametrize("fn, shape, unit", [
    ("dropout1d", (6, 5, 7), 2), ("dropout1d", (9, 7), 1),  # batched (N, C, L): (n, c); unbatched (C, L): c
    ("dropout3d", (4, 5, 2, 3, 2), 2), ("dropout3d", (9, 2, 3, 2), 1),
])
def test_dropout1d_and_3d_drop_whole_channels(backend, fn, shape, unit):
    """As PyTorch: a batched input drops (sample, channel) units, an unbatched one whole channels."""
    x = leaf(np.random.default_rng(6).uniform(1.0, 2.0, shape))
    out = getattr(F, fn)(x, p=0.5)
    out.sum().backward()
    ratio = (out.numpy() / x.numpy()).reshape(int(np.prod(shape[:unit])), -1)
    assert np.all(ratio == ratio[:, :1])
    assert set(np.unique(np.round(ratio, 12))) <= {0.0, 2.0}
    assert 0 < (ratio[:, 0] == 0).sum() < ratio.shape[0]
    assert_close(x.grad.numpy().reshape(ratio.shape), ratio)
    layer = getattr(anynn.nn, fn.capitalize())(0.5)
    assert layer(x).shape == shape and layer.eval()(x) is x


def test_dropout1d_and_3d_ranks_as_pytorch(backend):
    with pytest.raises(RuntimeError, match=r"^dropout1d: Expected 2D or 3D input, but received a 4D input"):
        F.dropout1d(anynn.zeros(2, 3, 4, 5))
    x = leaf(np.random.default_rng(7).uniform(1.0, 2.0, (8, 5, 6)))
    with pytest.warns(UserWarning, match=r"^dropout3d: Received a 3-D input to dropout3d, which is deprecated"):
        out = F.dropout3d(x, p=0.5)
    ratio = (out.numpy() / x.numpy()).reshape(8, -1)  # taken as unbatched (C, D, H): whole channels
    assert np.all(ratio == ratio[:, :1]) and 0 < (ratio[:, 0] == 0).sum() < 8
