"""``anynn bench``: read the command's arguments, run every (model, backend) or hand over to ``--count`` and
``--ranks``, then print the table and write the JSON file."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Callable

from anynn import backends as B
from anynn.bench.counts import run_counts
from anynn.bench.ranks import run_ranks
from anynn.bench.report import environment, report, warn_if_busy, write_json
from anynn.bench.runner import bench_one
from anynn.bench.workload import DATASET_SIZE, DEFAULT_BATCH, image_shape

NEVER_BENCHMARKED = {"array_api_strict": "array_api_strict is a conformance checker (it validates every call), so "
                                         "its speed means nothing: it is never benchmarked"}


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _backends(names: list[str], log: Callable[[str], None]) -> list[B.Backend] | None:
    """The backends to benchmark (those that cannot run here are skipped, saying why); None for an unknown name."""
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
        return run_ranks(args, models, _split(getattr(args, "backends", "numpy")), log)
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


def _log(line: str) -> None:
    print(line, flush=True)


__all__ = ["NEVER_BENCHMARKED", "run_bench"]
