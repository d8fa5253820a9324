"""One (model, backend) timed: anynn's run of it, its PyTorch twin alternating with it, and the result row.

For each (model, backend) the data set is random Fashion-MNIST-shaped (1x28x28) or CIFAR-shaped (3x32x32)
images drawn on the backend itself, the optimizer SGD with momentum 0.9 and learning rate 0.01, and the
timing one warm-up epoch followed by ``epochs`` measured ones (median reported). With ``compare_torch`` the
same architecture with the same initial weights, data, batch size, optimizer and CPU thread count runs in
PyTorch (:mod:`anynn.bench.torch_twin`), one epoch of each in turn, so both see the same machine load.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import anynn
from anynn import backends as B
from anynn import optim
from anynn.bench.flops import count_forward_flops
from anynn.bench.memory import describe_probe, measure_peak
from anynn.bench.workload import (LR, MOMENTUM, NUM_CLASSES, batch_bounds, image_shape, time_epoch,
                                  time_inference)


@dataclass
class Measurement:
    """What one side (anynn on a backend, or its PyTorch twin) measured."""

    epoch_seconds: list[float] = field(default_factory=list)
    infer_ms_per_image: float | None = None
    peak_bytes: int | None = None
    final_loss: float | None = None

    @property
    def seconds_per_epoch(self) -> float:
        return statistics.median(self.epoch_seconds)


class AnynnRun:
    """One model on one anynn backend: random data drawn on the backend, the model and its SGD optimizer."""

    def __init__(self, model_name: str, backend: B.Backend, images: int, batch_size: int, seed: int = 0):
        self.backend = backend
        c, h, w = image_shape(model_name)
        with anynn.use_backend(backend):
            backend.manual_seed(seed)
            self.x = anynn.randn(images, c, h, w, dtype=anynn.float32)
            self.y = anynn.randint(0, NUM_CLASSES, (images,))
            self.model = build_model(model_name)
        self.optimizer = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss_fn = anynn.nn.CrossEntropyLoss()
        self.bounds = batch_bounds(images, batch_size)
        self.batches = [(self.x[s:e], self.y[s:e]) for s, e in self.bounds]
        self.images = sum(e - s for s, e in self.bounds)
        self._loss: anynn.Tensor | None = None

    def step(self, x: anynn.Tensor, y: anynn.Tensor) -> anynn.Tensor:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def train_epoch(self) -> float:
        """Seconds for one pass over the data (:func:`~anynn.bench.workload.time_epoch`)."""
        seconds, self._loss = time_epoch(self.step, self.batches, self.backend.synchronize)
        return seconds

    def infer_ms_per_image(self) -> float:
        """Milliseconds per image of batched eval-mode forward passes without autograd."""
        return time_inference(self.model, self.batches, anynn.no_grad, self.backend.synchronize)

    def peak_bytes(self) -> int | None:
        """Extra memory of one training step on the first batch (None where the library cannot tell)."""
        return measure_peak(self.backend.name, self.backend.device, lambda: self.step(*self.batches[0]))

    def flops_per_image(self) -> int:
        """Forward FLOPs of one image (counted on two, so BatchNorm1d-style layers see a real batch)."""
        x = self.batches[0][0][:2]
        return count_forward_flops(self.model, x) // x.shape[0]

    def final_loss(self) -> float | None:
        return None if self._loss is None else float(self._loss.item())


def build_model(model_name: str) -> Any:
    """The zoo model ``model_name`` for its benchmark image shape and 10 classes."""
    from anynn.models import get_model

    channels, side, _ = image_shape(model_name)
    return get_model(model_name, in_channels=channels, image_size=side, num_classes=NUM_CLASSES)


def torch_run(run: AnynnRun, device: str | None = None):
    """The PyTorch twin of ``run`` (same architecture, initial weights, data, batches and optimizer), built by
    :class:`anynn.bench.torch_twin.TorchTwin` on the matching torch device (or ``device``)."""
    from anynn.bench import torch_twin

    return torch_twin.TorchTwin(run.model, run.x, run.y, run.bounds, lr=LR, momentum=MOMENTUM,
                                device=device or torch_twin.peer_device(run.backend))


@dataclass
class Result:
    """One row of the table (and of the JSON file)."""

    model: str
    backend: str
    device: str
    images: int
    batch_size: int
    epochs: int
    threads: int | None
    seconds_per_epoch: float
    epoch_seconds: list[float]
    images_per_second: float
    infer_ms_per_image: float
    forward_flops_per_image: int
    gflops: float
    peak_mb: float | None
    memory_probe: str
    final_loss: float | None
    torch_device: str | None = None
    torch_seconds_per_epoch: float | None = None
    torch_epoch_seconds: list[float] | None = None
    torch_images_per_second: float | None = None
    torch_infer_ms_per_image: float | None = None
    torch_peak_mb: float | None = None
    torch_memory_probe: str | None = None
    torch_final_loss: float | None = None
    ratio: float | None = None


def bench_one(model_name: str, backend: B.Backend, images: int, batch_size: int, epochs: int,
              compare_torch: bool, log: Callable[[str], None] = print) -> Result:
    """Warm up one epoch, then time ``epochs`` epochs of anynn (and of torch, alternating), then the rest."""
    threads = _match_threads(backend) if compare_torch or backend.name == "torch" else _blas_threads()
    run = AnynnRun(model_name, backend, images, batch_size)
    twin = torch_run(run) if compare_torch else None  # built before any training: both start from equal weights
    sides: list[tuple[str, Any, Measurement]] = [("anynn", run, Measurement())]
    if twin is not None:
        sides.append(("torch", twin, Measurement()))
    log(f"{model_name} on {backend.name} ({backend.device_name}): {run.images} images/epoch, batch {batch_size}, "
        f"1 warm-up + {epochs} measured epoch(s){', alternating with torch' if twin else ''}, {threads} thread(s)")
    for epoch in range(epochs + 1):
        spent = []
        for name, side, measured in sides:
            seconds = side.train_epoch()
            if epoch:
                measured.epoch_seconds.append(seconds)
            spent.append(f"{name} {seconds:.2f} s")
        log(f"  {'warm-up' if epoch == 0 else f'epoch {epoch}/{epochs}'}: {', '.join(spent)}")
    for _, side, measured in sides:
        measured.final_loss = side.final_loss()
        measured.infer_ms_per_image = side.infer_ms_per_image()
        measured.peak_bytes = side.peak_bytes()
    mine = sides[0][2]
    flops = run.flops_per_image()
    per_second = run.images / mine.seconds_per_epoch
    result = Result(model=model_name, backend=backend.name, device=backend.device_name, images=run.images,
                    batch_size=batch_size, epochs=epochs, threads=threads,
                    seconds_per_epoch=mine.seconds_per_epoch, epoch_seconds=mine.epoch_seconds,
                    images_per_second=per_second, infer_ms_per_image=mine.infer_ms_per_image,
                    forward_flops_per_image=flops, gflops=3 * flops * per_second / 1e9,
                    peak_mb=_mb(mine.peak_bytes), memory_probe=describe_probe(backend.name, backend.device),
                    final_loss=mine.final_loss)
    if twin is not None:
        theirs = sides[1][2]
        result.torch_device = str(twin.device)
        result.torch_seconds_per_epoch = theirs.seconds_per_epoch
        result.torch_epoch_seconds = theirs.epoch_seconds
        result.torch_images_per_second = run.images / theirs.seconds_per_epoch
        result.torch_infer_ms_per_image = theirs.infer_ms_per_image
        result.torch_peak_mb = _mb(theirs.peak_bytes)
        result.torch_memory_probe = describe_probe("torch", twin.device)
        result.torch_final_loss = theirs.final_loss
        result.ratio = mine.seconds_per_epoch / theirs.seconds_per_epoch
    return result


def _mb(count: int | None) -> float | None:
    return None if count is None else count / 2 ** 20


def _match_threads(backend: B.Backend) -> int:
    from anynn.bench.torch_twin import match_threads

    return match_threads(backend)


def _blas_threads() -> int:
    from anynn.backends.numpy import numpy_blas_threads

    return numpy_blas_threads()


__all__ = ["AnynnRun", "Measurement", "Result", "bench_one", "build_model", "torch_run"]
