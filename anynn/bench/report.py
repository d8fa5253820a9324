"""What ``anynn bench`` prints and writes: the results table with its notes, the cupy-vs-numpy speed-ups, the
environment the numbers were taken in, and the JSON file."""
from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict
from typing import Any, Callable

import anynn
from anynn.bench.runner import Result
from anynn.bench.workload import LR, MOMENTUM

COLUMNS = ("model", "backend", "device", "s/epoch", "img/s", "infer ms/img", "GFLOP/s", "peak MB",
           "torch s/epoch", "ratio")
NOTES = ("ratio = anynn s/epoch / torch s/epoch (1.00x: as fast as PyTorch; lower is better)",
         "GFLOP/s = 3 x forward FLOPs/image (2 x multiply-adds of Linear/Conv layers) x img/s",
         "peak MB = extra memory of one training step on one batch; n/a where the library keeps no statistics")


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


__all__ = ["COLUMNS", "NOTES", "environment", "format_table", "gpu_speedups", "report", "table_rows",
           "warn_if_busy", "write_json"]
