"""What both runners of a comparison (anynn's :class:`~anynn.bench.runner.AnynnRun` and its PyTorch twin) are
given and how both are timed: the data shapes, the optimizer settings, the batches, eval mode, and the two clocks
(a training epoch, batched inference).

Everything here works on either library's modules and tensors (``modules()``, ``training``, ``shape``), so the
two sides cannot drift apart: the same batches are cut, the same ones are used for inference, and the clock
starts and stops at the same synchronisation points.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, ContextManager, Iterator, Sequence

LR = 0.01
MOMENTUM = 0.9
NUM_CLASSES = 10
INFER_IMAGES = 10_000  # inference latency is measured on at most a test set's worth of images
MNIST_SHAPED = ("softmax_regression", "mlp", "lenet5", "lenet5_bn")
FASHION, CIFAR = (1, 28, 28), (3, 32, 32)
DATASET_SIZE = {FASHION: 60_000, CIFAR: 50_000}
DEFAULT_BATCH = {FASHION: 256, CIFAR: 128}


def image_shape(model: str) -> tuple[int, int, int]:
    """(channels, height, width) of the data a model is benchmarked on."""
    return FASHION if model in MNIST_SHAPED else CIFAR


def batch_bounds(images: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a last, partial batch of a single image is dropped (a BatchNorm1d cannot train
    on it). A batch size of 1 is kept: it is what a batch-1 benchmark asks for."""
    bounds = [(s, min(s + batch_size, images)) for s in range(0, images, batch_size)]
    return [(s, e) for s, e in bounds if e - s >= 2 or batch_size == 1]


def infer_batches(batches: Sequence[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """The leading (x, y) batches that hold at most :data:`INFER_IMAGES` images (at least one batch)."""
    chosen, count = [], 0
    for batch in batches:
        if chosen and count + batch[0].shape[0] > INFER_IMAGES:
            break
        chosen.append(batch)
        count += batch[0].shape[0]
    return chosen


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Eval mode for a block (an anynn or a torch module), restoring each sub-module's own train/eval flag
    afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def time_epoch(step: Callable[[Any, Any], Any], batches: Sequence[tuple[Any, Any]],
               synchronize: Callable[[], None]) -> tuple[float, Any]:
    """Seconds for one pass of ``step`` over the batches, synchronising only before and after (so GPU work stays
    queued as in real training), and the last step's loss."""
    loss = None
    synchronize()
    began = time.perf_counter()
    for x, y in batches:
        loss = step(x, y)
    synchronize()
    return time.perf_counter() - began, loss


def time_inference(model: Any, batches: Sequence[tuple[Any, Any]], no_grad: Callable[[], ContextManager],
                   synchronize: Callable[[], None]) -> float:
    """Milliseconds per image of batched eval-mode forward passes without autograd over :func:`infer_batches`,
    after one untimed warm-up pass."""
    chosen = infer_batches(batches)
    with eval_mode(model), no_grad():
        model(chosen[0][0])
        synchronize()
        began = time.perf_counter()
        for x, _ in chosen:
            model(x)
        synchronize()
        seconds = time.perf_counter() - began
    return seconds * 1000 / sum(x.shape[0] for x, _ in chosen)


__all__ = ["CIFAR", "DATASET_SIZE", "DEFAULT_BATCH", "FASHION", "INFER_IMAGES", "LR", "MNIST_SHAPED", "MOMENTUM",
           "NUM_CLASSES", "batch_bounds", "eval_mode", "image_shape", "infer_batches", "time_epoch",
           "time_inference"]
