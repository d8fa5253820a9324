"""``anynn bench --ranks N``: data-parallel throughput, each model trained on 1 process and on N processes
under ``mpiexec`` (1 thread each, the same global batch); :func:`ranks_worker` is one rank of it
(``python -m anynn.bench --worker ...``)."""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from anynn import backends as B
from anynn.bench.report import environment, warn_if_busy
from anynn.bench.runner import AnynnRun
from anynn.bench.workload import DATASET_SIZE, DEFAULT_BATCH, image_shape

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


def run_ranks(args: Any, models: list[str], backend_names: list[str], log: Callable[[str], None] = print) -> int:
    """Train each model on 1 process and on ``args.ranks`` processes under ``mpiexec`` (1 thread each, the same
    global batch), alternating ``--repeats`` times so both see the same machine load; print images/s (median over
    repeats, with the range) and the speed-up of N ranks over 1."""
    ranks = int(args.ranks)
    launcher = mpiexec_path()
    if launcher is None:
        log("anynn bench: --ranks needs mpiexec: pip install \"anynn[mpi]\" (mpi4py and the MPICH wheel)")
        return 2
    if len(backend_names) != 1:
        log("anynn bench: --ranks measures one backend at a time (--backends numpy, or torch)")
        return 2
    backend = backend_names[0]
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
        rows = {n: RanksResult(model_name, backend, n, images, batch, []) for n in counts}
        log(f"{model_name} on {backend}: {images} images/epoch, global batch {batch}, 1 thread per rank, "
            f"{repeats} x (1 warm-up + {epochs} measured epochs) per rank count, alternating {counts}")
        for repeat in range(repeats):
            order = counts if repeat % 2 == 0 else counts[::-1]  # alternate who goes first
            for n in order:
                worker = ["--worker", model_name, backend, str(images), str(batch), str(epochs)]
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
    """The ``--ranks`` table: images/s per rank count, its range over repeats, the speed-up over 1 rank."""
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


__all__ = ["RanksResult", "format_ranks", "mpiexec_path", "ranks_worker", "run_ranks"]
