"""A slice of a training epoch (a few batches of SGD with momentum) of mlp and lenet5: anynn vs PyTorch.

The same :class:`anynn.bench.AnynnRun` / :func:`anynn.bench.torch_run` pair as ``anynn bench`` uses, so these
numbers and the command's agree; ``anynn bench`` is the full-epoch measurement.
"""
from __future__ import annotations

import pytest

from anynn import backends as B
from anynn.bench import DEFAULT_BATCH, AnynnRun, image_shape, torch_run

BATCHES = 8


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_epoch_slice(benchmark, impl, batch, model):
    size = batch(DEFAULT_BATCH[image_shape(model)])
    images = BATCHES * size
    if impl.kind == "anynn":
        side = AnynnRun(model, impl.backend, images, size)
    else:  # the torch twin of the model built on numpy: same architecture and data, on impl.device
        side = torch_run(AnynnRun(model, B.backend_for("numpy"), images, size), device=impl.device)
    benchmark.group = f"{model} training, {BATCHES} batches of {size}"
    benchmark.extra_info["images"] = images
    benchmark.pedantic(side.train_epoch, rounds=5, warmup_rounds=1)
