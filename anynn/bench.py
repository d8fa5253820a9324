"""``anynn bench``: training and inference speed per model and backend, side by side with the same network
in PyTorch.

For each (model, backend) the data set is random Fashion-MNIST-shaped (1x28x28) or CIFAR-shaped (3x32x32)
images drawn on the backend itself, the optimizer SGD with momentum 0.9 and learning rate 0.01, and the
timing one warm-up epoch followed by ``--epochs`` measured ones (median reported). The backend is
synchronised only at epoch boundaries, so GPU work stays queued as in real training. With
``--compare-torch`` the same architecture with the same initial weights, data, batch size, optimizer and CPU
thread count runs in PyTorch, one epoch of each in turn, so both see the same machine load.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import anynn
from anynn import backends as B
from anynn import optim
from anynn.backends.memory import describe_probe, measure_peak

LR = 0.01
MOMENTUM = 0.9
NUM_CLASSES = 10
INFER_IMAGES = 10_000  # inference latency is measured on at most a test set's worth of images
MNIST_SHAPED = ("softmax_regression", "mlp", "lenet5", "lenet5_bn")
FASHION, CIFAR = (1, 28, 28), (3, 32, 32)
DATASET_SIZE = {FASHION: 60_000, CIFAR: 50_000}
DEFAULT_BATCH = {FASHION: 256, CIFAR: 128}
NEVER_BENCHMARKED = {"array_api_strict": "array_api_strict is a conformance checker (it validates every call), so "
                                         "its speed means nothing: it is never benchmarked"}


def image_shape(model: str) -> tuple[int, int, int]:
    """(channels, height, width) of the data a model is benchmarked on."""
    return FASHION if model in MNIST_SHAPED else CIFAR


# ------------------------------------------------------------------ FLOPs
_COUNTED = ("Linear", "Conv1d", "Conv2d", "Conv3d")


def _counted_types() -> tuple[type, ...]:
    return tuple(getattr(anynn.nn, name) for name in _COUNTED if hasattr(anynn.nn, name))


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Eval mode for a block, restoring each sub-module's own train/eval flag afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def count_forward_flops(model: Any, x: anynn.Tensor) -> int:
    """FLOPs of one forward pass of the batch ``x``: 2 x the multiply-adds of every Linear and Conv layer.

    Each output element of such a layer costs ``prod(weight.shape[1:])`` multiply-adds (``in_features``, or
    ``in_channels / groups * kernel size``), so the count follows from the output and weight shapes alone.
    Biases, activations, normalisation and pooling are not counted (they are a few percent at most).
    """
    total = 0

    def hook(module: Any, inputs: tuple, output: anynn.Tensor) -> None:
        nonlocal total
        total += 2 * output.numel() * math.prod(module.weight.shape[1:])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _counted_types())]
    try:
        with _eval_mode(model), anynn.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return total


# ------------------------------------------------------------------ one side of a comparison
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
            self.model = _build(model_name, c, h)
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
        """Seconds for one pass over the data, synchronising only at the end."""
        self.backend.synchronize()
        began = time.perf_counter()
        for x, y in self.batches:
            self._loss = self.step(x, y)
        self.backend.synchronize()
        return time.perf_counter() - began

    def infer_ms_per_image(self) -> float:
        """Milliseconds per image of batched eval-mode forward passes without autograd."""
        batches = infer_batches(self.batches)
        with _eval_mode(self.model), anynn.no_grad():
            self.model(batches[0][0])
            self.backend.synchronize()
            began = time.perf_counter()
            for x, _ in batches:
                self.model(x)
            self.backend.synchronize()
        return (time.perf_counter() - began) * 1000 / sum(x.shape[0] for x, _ in batches)

    def peak_bytes(self) -> int | None:
        """Extra memory of one training step on the first batch (None where the library cannot tell)."""
        return measure_peak(self.backend.name, self.backend.device, lambda: self.step(*self.batches[0]))

    def flops_per_image(self) -> int:
        """Forward FLOPs of one image (counted on two, so BatchNorm1d-style layers see a real batch)."""
        x = self.batches[0][0][:2]
        return count_forward_flops(self.model, x) // x.shape[0]

    def final_loss(self) -> float | None:
        return None if self._loss is None else float(self._loss.item())


def _build(model_name: str, channels: int, side: int) -> Any:
    from anynn.models import get_model

    return get_model(model_name, in_channels=channels, image_size=side, num_classes=NUM_CLASSES)


def torch_run(run: AnynnRun, device: str | None = None):
    """The PyTorch twin of ``run`` (same architecture, initial weights, data, batches and optimizer), built by
    :class:`anynn.backends.torch_peer.TorchTwin` on the matching torch device (or ``device``)."""
    from anynn.backends import torch_peer

    return torch_peer.TorchTwin(run.model, run.x, run.y, run.bounds, lr=LR, momentum=MOMENTUM,
                                device=device or torch_peer.peer_device(run.backend), infer_images=INFER_IMAGES)


def batch_bounds(images: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch; a last, partial batch of a single image is dropped (a BatchNorm1d cannot train
    on it). A batch size of 1 is kept: it is what a batch-1 benchmark asks for."""
    bounds = [(s, min(s + batch_size, images)) for s in range(0, images, batch_size)]
    return [(s, e) for s, e in bounds if e - s >= 2 or batch_size == 1]


def infer_batches(batches: list) -> list:
    """The leading batches that hold at most :data:`INFER_IMAGES` images (at least one batch)."""
    chosen, count = [], 0
    for batch in batches:
        if chosen and count + batch[0].shape[0] > INFER_IMAGES:
            break
        chosen.append(batch)
        count += batch[0].shape[0]
    return chosen


# ------------------------------------------------------------------ one (model, backend)
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


# ------------------------------------------------------------------ launch and sync counts
COUNT_BATCH = 8  # counts do not depend on the batch; a small one keeps counting quick


@dataclass
class StepCount:
    """Array-library calls of one training step as the ``mirrors`` backend makes them (``anynn bench --count``)."""

    model: str
    mirrors: str
    forward: int
    backward: int
    optimizer: int
    launches: int
    syncs: int
    uploads: int
    torch_ops: int | None = None
    report: str = ""


def count_step(model_name: str, mirrors: str = "cupy", batch_size: int = COUNT_BATCH,
               compare_torch: bool = False) -> StepCount:
    """Launches, host syncs and uploads of one SGD-momentum training step of ``model_name`` as the ``mirrors``
    backend would make them, counted on the counting backend after two warm-up steps (which create lazily made
    state, such as optimizer buffers). With ``compare_torch``, PyTorch's aten operations for the same step."""
    from anynn import profiler

    backend = B.backend_for("counting", mirrors)
    run = AnynnRun(model_name, backend, images=2 * batch_size, batch_size=batch_size)
    twin = torch_run(run, device="cpu") if compare_torch else None
    for x, y in run.batches:
        run.step(x, y)
    with profiler.count() as tally:
        run.step(*run.batches[0])
    counts = profiler.per_step(tally)
    torch_ops = None
    if twin is not None:
        for x, y in twin.batches:
            twin.step(x, y)
        from anynn.backends import torch_peer

        torch_ops = torch_peer.count_aten_ops(twin.step, *twin.batches[0])
    return StepCount(model=model_name, mirrors=mirrors, forward=int(counts["forward_launches"]),
                     backward=int(counts["backward_launches"]), optimizer=int(counts["optimizer_launches"]),
                     launches=int(counts["launches"]), syncs=int(counts["syncs"]), uploads=int(counts["uploads"]),
                     torch_ops=torch_ops, report=profiler.report(tally))


def format_counts(counts: list[StepCount]) -> str:
    """The ``--count`` table."""
    rows = [("model", "as backend", "forward", "backward", "optimizer", "launches", "host syncs", "uploads",
             "torch ops")]
    rows += [(c.model, c.mirrors, str(c.forward), str(c.backward), str(c.optimizer), str(c.launches), str(c.syncs),
              str(c.uploads), "" if c.torch_ops is None else str(c.torch_ops)) for c in counts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def run_counts(models: list[str], mirrors: list[str], compare_torch: bool, verbose: bool,
               log: Callable[[str], None] = print) -> list[StepCount]:
    """Count one training step of each model as each backend (cupy or numpy) would run it; print the table."""
    counts = []
    for model_name in models:
        for name in mirrors:
            counts.append(count_step(model_name, name, compare_torch=compare_torch))
            if verbose:
                log(f"{model_name} as {name}:\n{counts[-1].report}")
    log("launches = array-library calls per training step (each at least one kernel launch on a GPU), counted "
        f"on the counting backend with batch {COUNT_BATCH}; torch ops = PyTorch's aten operations for the same "
        "step (views excluded), about one CUDA kernel each")
    log(format_counts(counts))
    return counts


def _mb(count: int | None) -> float | None:
    return None if count is None else count / 2 ** 20


def _match_threads(backend: B.Backend) -> int:
    from anynn.backends.torch_peer import match_threads

    return match_threads(backend)


def _blas_threads() -> int:
    from anynn.backends.numpy import numpy_blas_threads

    return numpy_blas_threads()


# ------------------------------------------------------------------ report
COLUMNS = ("model", "backend", "device", "s/epoch", "img/s", "infer ms/img", "GFLOP/s", "peak MB",
           "torch s/epoch", "ratio")


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table_rows(results: list[Result]) -> list[tuple[str, ...]]:
    """The printed table's cells, one tuple per result ('-' where torch was not compared)."""
    rows = []
    for r in results:
        compared = r.torch_seconds_per_epoch is not None
        rows.append((r.model, r.backend, r.device, _fmt(r.seconds_per_epoch, 2), _fmt(r.images_per_second, 0),
                     _fmt(r.infer_ms_per_image, 4), _fmt(r.gflops, 1), _fmt(r.peak_mb, 1),
                     _fmt(r.torch_seconds_per_epoch, 2) if compared else "-",
                     f"{r.ratio:.2f}x" if compared else "-"))
    return rows


def format_table(results: list[Result]) -> str:
    """The results as an aligned text table with :data:`COLUMNS` as its header."""
    rows = [COLUMNS] + table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def gpu_speedups(results: list[Result]) -> list[dict[str, Any]]:
    """numpy s/epoch / cupy s/epoch for every model run on both (same images and batch)."""
    by_key = {(r.model, r.backend): r for r in results}
    out = []
    for r in results:
        cpu = by_key.get((r.model, "numpy"))
        if r.backend == "cupy" and cpu is not None and cpu.images == r.images and cpu.batch_size == r.batch_size:
            out.append({"model": r.model, "cupy_vs_numpy": cpu.seconds_per_epoch / r.seconds_per_epoch})
    return out


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with the results."""
    info: dict[str, Any] = {"anynn": anynn.__version__, "python": platform.python_version(),
                            "platform": platform.platform(), "cpu_count": os.cpu_count(),
                            "load_average_1min": _load()}
    for module in ("numpy", "torch", "cupy"):
        mod = sys.modules.get(module)
        if mod is not None:
            info[module] = getattr(mod, "__version__", "?")
    return info


NOTES = ("ratio = anynn s/epoch / torch s/epoch (1.00x: as fast as PyTorch; lower is better)",
         "GFLOP/s = 3 x forward FLOPs/image (2 x multiply-adds of Linear/Conv layers) x img/s",
         "peak MB = extra memory of one training step on one batch; n/a where the library keeps no statistics")


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def warn_if_busy(log: Callable[[str], None]) -> None:
    """Say so when other processes already keep the CPUs busy: every timing taken then is noise."""
    load, cores = _load(), os.cpu_count() or 1
    if load is not None and load > 0.25 * cores:
        log(f"anynn bench: warning: the machine is busy (1-minute load {load:.1f} on {cores} core(s)); timings "
            "will be noisy, and threaded libraries (torch, OpenBLAS) can be slowed many times over")


# ------------------------------------------------------------------ entry point
def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _backends(names: list[str], log: Callable[[str], None]) -> list[B.Backend] | None:
    chosen = []
    for name in names:
        try:
            key = B.canonical_name(name)
        except ValueError as err:
            log(f"anynn bench: {err}")
            return None
        if key in NEVER_BENCHMARKED:
            log(f"anynn bench: {NEVER_BENCHMARKED[key]}; skipping it")
            continue
        reason = B.why_unavailable(key)
        if reason is not None:
            log(f"anynn bench: skipping {key}: {reason}")
            continue
        chosen.append(B.backend_for(key))
    return chosen


def run_bench(args: Any) -> int:
    """``anynn bench``: run every (model, backend), print the table, optionally write JSON.

    Returns 0 when every run succeeded, 1 when one failed (the others still run and are reported) and 2
    when there is nothing to run (unknown model or backend, or only backends that cannot be benchmarked).
    """
    from anynn.models import MODELS

    log = _log
    models = _split(getattr(args, "models", "mlp,lenet5"))
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        log(f"anynn bench: unknown model(s) {unknown or models}; choose from {', '.join(MODELS)}")
        return 2
    if getattr(args, "ranks", None):
        return run_ranks(args, models, log)
    if getattr(args, "count", False):
        mirrors = [b for b in _split(getattr(args, "backends", "numpy")) if b in ("cupy", "numpy")] or ["cupy"]
        counts = run_counts(models, mirrors, bool(getattr(args, "compare_torch", False)),
                            bool(getattr(args, "verbose", False)), log)
        path = getattr(args, "json", None)
        if path:
            with open(path, "w") as handle:
                json.dump({"environment": environment(), "counts": [asdict(c) for c in counts]}, handle, indent=2)
        return 0
    backends = _backends(_split(getattr(args, "backends", "numpy")), log)
    if not backends:
        log("anynn bench: no backend left to benchmark")
        return 2
    warn_if_busy(log)
    epochs = max(int(getattr(args, "epochs", 3) or 1), 1)
    compare = bool(getattr(args, "compare_torch", False))
    results, failures = [], []
    for model_name in models:
        shape = image_shape(model_name)
        images = getattr(args, "images", None) or DATASET_SIZE[shape]
        batch = getattr(args, "batch_size", None) or DEFAULT_BATCH[shape]
        for backend in backends:
            try:
                results.append(bench_one(model_name, backend, images, batch, epochs, compare, log))
            except Exception as err:  # report and go on with the other runs
                error = f"{type(err).__name__}: {err}"
                failures.append({"model": model_name, "backend": backend.name, "error": error})
                log(f"  FAILED {model_name} on {backend.name}: {error}")
    report(results, failures, log)
    path = getattr(args, "json", None)
    if path:
        write_json(path, results, failures)
        log(f"results written to {path}")
    return 1 if failures else 0


def report(results: list[Result], failures: list[dict], log: Callable[[str], None] = print) -> None:
    """Print the versions line, the table with its notes, the cupy-vs-numpy speed-ups and any failures."""
    if results:
        env = environment()
        versions = ", ".join(f"{k} {env[k]}" for k in ("anynn", "numpy", "torch", "cupy") if k in env)
        log("")
        log(f"{versions}; {env['cpu_count']} CPU core(s), {results[0].threads} thread(s) per library")
        log(format_table(results))
        for note in NOTES:
            log(f"  {note}")
    for item in gpu_speedups(results):
        log(f"  cupy vs numpy speed-up on {item['model']}: {item['cupy_vs_numpy']:.1f}x")
    for failure in failures:
        log(f"  failed: {failure['model']} on {failure['backend']}: {failure['error']}")


def write_json(path: str, results: list[Result], failures: list[dict]) -> None:
    """Environment, settings, every result (with per-epoch seconds), speed-ups and failures as JSON."""
    payload = {"environment": environment(), "settings": {"optimizer": "SGD", "lr": LR, "momentum": MOMENTUM,
                                                          "warmup_epochs": 1, "statistic": "median"},
               "results": [asdict(r) for r in results], "cupy_vs_numpy": gpu_speedups(results), "failures": failures}
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2)


def _log(line: str) -> None:
    print(line, flush=True)


# ------------------------------------------------------------------ data-parallel throughput (--ranks N)
RANKS_TAG = "RANKS_RESULT "
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1"}


@dataclass
class RanksResult:
    """Images/s of one model trained data-parallel on ``ranks`` processes (1 thread each), every repeat."""

    model: str
    backend: str
    ranks: int
    images: int
    batch_size: int
    images_per_second: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_second)


def mpiexec_path() -> str | None:
    """The ``mpiexec`` beside this interpreter (the mpich wheel of ``anynn[mpi]``), else the one on PATH."""
    import shutil

    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def _launch(launcher: str, ranks: int, worker_args: list[str], timeout: float) -> tuple[dict | None, str]:
    """Run ``python -m anynn.bench`` (the worker) under ``mpiexec -n ranks``; its result line and stderr."""
    import signal
    import subprocess

    env = dict(os.environ, **ONE_THREAD)
    env.setdefault("HYDRA_IFACE", "lo")  # one machine: loopback (MPICH's launcher)
    command = [launcher, "-n", str(ranks), sys.executable, "-m", "anynn.bench", *worker_args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, f"killed after {timeout:.0f} s\n{stderr}"
    found = [line[len(RANKS_TAG):] for line in stdout.splitlines() if line.startswith(RANKS_TAG)]
    if process.returncode != 0 or len(found) != 1:
        return None, f"exit status {process.returncode}\n{stderr[-2000:]}"
    return json.loads(found[0]), stderr


def run_ranks(args: Any, models: list[str], log: Callable[[str], None] = print) -> int:
    """``anynn bench --ranks N``: each model trained on 1 process and on N processes under ``mpiexec`` (1 thread
    each, the same global batch), alternating ``--repeats`` times so both see the same machine load; prints
    images/s (median over repeats, with the range) and the speed-up of N ranks over 1."""
    ranks = int(args.ranks)
    launcher = mpiexec_path()
    if launcher is None:
        log("anynn bench: --ranks needs mpiexec: pip install \"anynn[mpi]\" (mpi4py and the MPICH wheel)")
        return 2
    names = _split(getattr(args, "backends", "numpy"))
    if len(names) != 1:
        log("anynn bench: --ranks measures one backend at a time (--backends numpy, or torch)")
        return 2
    epochs = max(int(getattr(args, "epochs", 3) or 1), 1)
    repeats = max(int(getattr(args, "repeats", 3) or 1), 1)
    counts = [1, ranks] if ranks > 1 else [1]
    warn_if_busy(log)
    results, failures = [], []
    for model_name in models:
        shape = image_shape(model_name)
        images = getattr(args, "images", None) or DATASET_SIZE[shape]
        batch = getattr(args, "batch_size", None) or DEFAULT_BATCH[shape]
        if batch % ranks:
            log(f"anynn bench: --batch-size {batch} is the global batch: it must divide by --ranks {ranks}")
            return 2
        rows = {n: RanksResult(model_name, names[0], n, images, batch, []) for n in counts}
        log(f"{model_name} on {names[0]}: {images} images/epoch, global batch {batch}, 1 thread per rank, "
            f"{repeats} x (1 warm-up + {epochs} measured epochs) per rank count, alternating {counts}")
        for repeat in range(repeats):
            order = counts if repeat % 2 == 0 else counts[::-1]  # alternate who goes first
            for n in order:
                worker = ["--worker", model_name, names[0], str(images), str(batch), str(epochs)]
                result, stderr = _launch(launcher, n, worker, timeout=3600)
                if result is None:
                    failures.append({"model": model_name, "ranks": n, "error": stderr})
                    log(f"  FAILED {model_name} on {n} rank(s): {stderr}")
                    continue
                rate = result["images"] / statistics.median(result["epoch_seconds"])
                rows[n].images_per_second.append(rate)
                log(f"  repeat {repeat + 1}/{repeats}, {n} rank(s): {rate:.0f} images/s "
                    f"(epochs {', '.join(f'{t:.2f}' for t in result['epoch_seconds'])} s)")
        results.extend(rows.values())
    log("")
    log(format_ranks(results))
    log("  images/s: median over repeats (min..max) of each run's median epoch; speed-up = N ranks / 1 rank")
    path = getattr(args, "json", None)
    if path:
        with open(path, "w") as handle:
            json.dump({"environment": environment(), "results": [dict(asdict(r), median=r.median) for r in results],
                       "failures": failures}, handle, indent=2)
        log(f"results written to {path}")
    return 1 if failures else 0


def format_ranks(results: list[RanksResult]) -> str:
    rows = [("model", "backend", "ranks", "images/s", "min..max", "speed-up")]
    base = {r.model: r.median for r in results if r.ranks == 1 and r.images_per_second}
    for r in results:
        if not r.images_per_second:
            rows.append((r.model, r.backend, str(r.ranks), "failed", "", ""))
            continue
        low, high = min(r.images_per_second), max(r.images_per_second)
        speed = f"{r.median / base[r.model]:.2f}x" if r.model in base else "n/a"
        rows.append((r.model, r.backend, str(r.ranks), f"{r.median:.0f}", f"{low:.0f}..{high:.0f}", speed))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def ranks_worker(model_name: str, backend_name: str, images: int, batch: int, epochs: int) -> None:
    """One rank of ``anynn bench --ranks``: its share of the images and of the global batch, the model wrapped in
    DistributedDataParallel (plain, as a user would, on 1 rank), one warm-up then ``epochs`` timed epochs
    between barriers; rank 0 prints the result line."""
    from anynn import distributed as dist

    comm = dist.init()
    world, rank = comm.size, comm.rank
    backend = B.backend_for(backend_name)
    run = AnynnRun(model_name, backend, images // world, batch // world, seed=rank)  # random data: a shard each
    if world > 1:
        run.model = dist.DistributedDataParallel(run.model, comm=comm)
    seconds = []
    for epoch in range(epochs + 1):
        comm.barrier()
        began = time.perf_counter()
        run.train_epoch()
        comm.barrier()
        if epoch:
            seconds.append(time.perf_counter() - began)
    total = comm.allgather_object(run.images, what="image count")
    if rank == 0:
        print(RANKS_TAG + json.dumps({"model": model_name, "ranks": world, "images": sum(total),
                                      "epoch_seconds": seconds}), flush=True)


if __name__ == "__main__":  # the worker of ``anynn bench --ranks`` (started under mpiexec)
    if len(sys.argv) == 7 and sys.argv[1] == "--worker":
        ranks_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        raise SystemExit("usage: mpiexec -n N python -m anynn.bench --worker MODEL BACKEND IMAGES BATCH EPOCHS")


__all__ = ["AnynnRun", "Result", "StepCount", "count_step", "run_counts", "torch_run", "bench_one", "count_forward_flops", "format_table", "image_shape",
           "run_bench"]
