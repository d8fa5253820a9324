"""What the programs share: the stand-ins for downloaded data and for random initial weights.

Every program runs twice, once with real PyTorch and once with anynn (``import anynn as torch``), and the two
runs must compute the same numbers. So whatever a tutorial downloads (MNIST, CIFAR-10, a text corpus) is
replaced by small seeded NumPy arrays handed to ``torch.tensor``, and, where a result depends on the initial
weights, the program calls :func:`numpy_weights` once after building its model. Nothing else in a program is
changed from its source except sizes and epoch counts (to keep the suite fast).
"""
from __future__ import annotations

import zlib

import numpy as np


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def images(n: int, shape=(1, 28, 28), classes: int = 10, seed: int = 0):
    """``n`` random sparse images in [0, 1) (float32, about 20% nonzero like MNIST's strokes) and labels (int64)
    that a fixed random linear "teacher" assigns, so that the stand-in for MNIST-like datasets is learnable."""
    gen = rng(seed)
    x = (gen.random((n, *shape), dtype=np.float32) * (gen.random((n, *shape)) < 0.2)).astype(np.float32)
    teacher = rng(12345).standard_normal((int(np.prod(shape)), classes))
    y = np.argmax(x.reshape(n, -1) @ teacher, axis=1).astype(np.int64)
    return x, y


def numpy_weights(torch, model, seed: int = 0) -> None:
    """Give every entry of ``model.state_dict()`` a value drawn from NumPy (seeded by its name), so that real
    PyTorch and anynn start from the same weights: 1-D ``weight`` (norm scales) ones, running means zeros,
    running variances ones, anything else uniform in +-1/sqrt(fan_in)."""
    new = {}
    for name, value in model.state_dict().items():
        shape = tuple(value.shape)
        dtype = np.float64 if value.dtype == torch.float64 else np.float32
        if name.endswith("num_batches_tracked"):
            new[name] = torch.tensor(0)
            continue
        if name.endswith("running_var") or (len(shape) == 1 and name.endswith("weight")):
            array = np.ones(shape, dtype)
        elif name.endswith("running_mean"):
            array = np.zeros(shape, dtype)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else max(shape[0] if shape else 1, 1)
            bound = 1.0 / np.sqrt(fan_in)
            array = np.random.default_rng([seed, zlib.crc32(name.encode())]).uniform(-bound, bound, shape).astype(dtype)
        new[name] = torch.tensor(array)
    model.load_state_dict(new)
