"""``anynn bench --count``: kernel launches, host syncs and uploads of one training step, as a GPU backend would
make them, counted on the CPU by the counting backend (beside PyTorch's aten op count for the same step)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from anynn import backends as B
from anynn.bench.runner import AnynnRun, torch_run

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
        from anynn.bench.torch_twin import count_aten_ops

        torch_ops = count_aten_ops(twin.step, *twin.batches[0])
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


__all__ = ["COUNT_BATCH", "StepCount", "count_step", "format_counts", "run_counts"]
