"""Device-side batch transforms: values, dtypes, statistics of the random ones, errors."""
from __future__ import annotations

import numpy as np
import pytest

import anynn
from anynn.data import transforms as T


def _images(n=4, c=3, h=5, w=6, dtype=np.uint8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, c, h, w)).astype(dtype)


def test_to_float_scales_uint8(backend):
    host = _images()
    out = T.to_float(anynn.tensor(host))
    assert out.dtype == anynn.float32 and out.backend is backend
    np.testing.assert_allclose(out.numpy(), host.astype(np.float32) / np.float32(255), rtol=0, atol=0)
    assert T.ToFloat(anynn.float64)(anynn.tensor(host)).dtype == anynn.float64
    already = anynn.tensor(host.astype(np.float32))
    assert T.to_float(already) is already
    with pytest.raises(TypeError, match="uint8 pixels or floats"):
        T.to_float(anynn.tensor(host.astype(np.int64)))


@pytest.mark.parametrize("dtype", [anynn.float32, anynn.float64])
def test_normalize_per_channel(backend, dtype):
    host = np.random.default_rng(1).random((3, 2, 4, 4))
    x = anynn.tensor(host, dtype=dtype)
    norm = T.Normalize((0.5, 0.25), (0.2, 0.4))
    out = norm(x)
    assert out.dtype == dtype
    expected = (host.astype(dtype.name) - np.array([0.5, 0.25], dtype=dtype.name)[:, None, None]) \
        / np.array([0.2, 0.4], dtype=dtype.name)[:, None, None]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6 if dtype == anynn.float32 else 1e-14)
    np.testing.assert_allclose(norm(x).numpy(), out.numpy())  # cached constants give the same result


def test_normalize_errors(backend):
    norm = T.Normalize((0.5,), (0.5,))
    with pytest.raises(ValueError, match=r"Normalize\(mean=\[0.5\], std=\[0.5\]\) got input of shape \(2, 3, 4, 4\)"):
        norm(anynn.tensor(np.zeros((2, 3, 4, 4)), dtype=anynn.float32))
    with pytest.raises(TypeError, match="ToFloat"):
        norm(anynn.tensor(np.zeros((2, 1, 4, 4), dtype=np.uint8)))
    with pytest.raises(ValueError, match="zero"):
        T.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="one value per channel"):
        T.Normalize((0.5, 0.5), (0.5,))


def _match_offsets(out: np.ndarray, padded: np.ndarray) -> list[tuple[int, int]]:
    """For each sample, the (top, left) offsets where its crop equals the padded-image window."""
    th, tw = out.shape[-2:]
    hp, wp = padded.shape[-2:]
    found = []
    for i in range(out.shape[0]):
        hits = [(oy, ox) for oy in range(hp - th + 1) for ox in range(wp - tw + 1)
                if np.array_equal(padded[i, :, oy:oy + th, ox:ox + tw], out[i])]
        assert len(hits) == 1, f"sample {i}: crop matches {len(hits)} windows of the padded image"
        found.append(hits[0])
    return found


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_random_crop_is_a_window_of_the_padded_image(backend, dtype):
    host = (np.arange(30 * 2 * 4 * 5).reshape(30, 2, 4, 5) % 250 + 1).astype(dtype)
    crop = T.RandomCrop((3, 4), padding=(2, 1))  # 2 left/right, 1 top/bottom, as in torchvision
    out = crop(anynn.tensor(host))
    assert out.shape == (30, 2, 3, 4) and out.dtype == anynn.tensor(host).dtype and out.backend is backend
    padded = np.pad(host, ((0, 0), (0, 0), (1, 1), (2, 2)))
    offsets = _match_offsets(out.numpy(), padded)
    assert len(set(offsets)) > 1  # samples draw their own offsets


def test_random_crop_offsets_are_uniform(backend):
    n = 450
    host = (np.arange(n * 16).reshape(n, 1, 4, 4) % 200 + 1).astype(np.float32)
    out = T.RandomCrop(4, padding=1)(anynn.tensor(host)).numpy()
    padded = np.pad(host, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = _match_offsets(out, padded)
    counts = {o: offsets.count(o) for o in set(offsets)}
    assert len(counts) == 9  # every one of the 3 x 3 offsets occurs
    assert all(20 <= c <= 80 for c in counts.values()), counts  # expected 50 each, sd 6.7


def test_random_crop_without_padding_and_errors(backend):
    host = _images(n=6, h=5, w=5)
    out = T.RandomCrop(5)(anynn.tensor(host))
    np.testing.assert_array_equal(out.numpy(), host)
    with pytest.raises(ValueError, match=r"padded image is 7x7, smaller than the 8x8 crop"):
        T.RandomCrop(8, padding=1)(anynn.tensor(host))
    with pytest.raises(ValueError, match="at least 4 dims"):
        T.RandomCrop(2)(anynn.tensor(host[0]))
    with pytest.raises(ValueError, match="padding"):
        T.RandomCrop(2, padding=(1, 2, 3))


def test_random_crop_is_reproducible_under_manual_seed(backend):
    x = anynn.tensor(_images(n=16))
    crop = T.RandomCrop(4, padding=2)
    anynn.manual_seed(3)
    first = crop(x).numpy()
    anynn.manual_seed(3)
    np.testing.assert_array_equal(crop(x).numpy(), first)


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_horizontal_flip_probability(backend, p):
    n = 2000
    host = np.random.default_rng(2).random((n, 1, 2, 3)).astype(np.float32)
    out = T.RandomHorizontalFlip(p)(anynn.tensor(host)).numpy()
    flipped = np.all(out == host[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == host, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)  # each sample is either mirrored or untouched
    assert abs(flipped.mean() - p) < 0.05  # sd of the fraction is about 0.011


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_horizontal_flip_extremes(backend, p):
    host = _images()
    out = T.RandomHorizontalFlip(p)(anynn.tensor(host)).numpy()
    np.testing.assert_array_equal(out, host[..., ::-1] if p == 1.0 else host)
    assert out.dtype == np.uint8


def test_compose_runs_in_order(backend):
    host = _images(n=8, c=1, h=6, w=6)
    pipeline = T.Compose([T.ToFloat(), T.RandomCrop(6, padding=1), T.RandomHorizontalFlip(),
                          T.Normalize((0.5,), (0.5,))])
    out = pipeline(anynn.tensor(host))
    assert out.shape == (8, 1, 6, 6) and out.dtype == anynn.float32 and out.backend is backend
    assert float(out.min()) >= -1.0 and float(out.max()) <= 1.0
    assert "RandomCrop(size=(6, 6), padding=(1, 1, 1, 1))" in repr(pipeline)


def test_transforms_reject_non_tensors():
    with pytest.raises(TypeError, match="anynn.Tensor"):
        T.RandomHorizontalFlip()(np.zeros((2, 1, 3, 3)))
