"""``anynn bench``: training and inference speed per model and backend, side by side with the same network
in PyTorch; launch counts per training step; data-parallel throughput.

This is measuring code, not compute code: it may import torch (the PyTorch twins, :mod:`torch_twin`) and
cupy (the GPU memory probe, :mod:`memory`); the compute path (autograd, ops, nn, optim, data, training)
imports no array library (``tests/test_no_library_imports.py``). Importing this package imports neither:
torch is loaded only when a comparison is asked for.

- :mod:`~anynn.bench.workload`: what both runners share (shapes, optimizer settings, batches, eval mode, the
  epoch and inference clocks)
- :mod:`~anynn.bench.runner`: anynn's run of a model, its PyTorch twin beside it, one result row
- :mod:`~anynn.bench.torch_twin`: the PyTorch twin of an anynn model (same architecture and weights)
- :mod:`~anynn.bench.memory`: peak memory of a training step, measured as each library allows
- :mod:`~anynn.bench.flops`: exact forward FLOPs of the Linear and Conv layers
- :mod:`~anynn.bench.counts`: ``--count``, launches, host syncs and uploads per step
- :mod:`~anynn.bench.ranks`: ``--ranks N``, data-parallel images/s under mpiexec
- :mod:`~anynn.bench.report`: the table, the environment and the JSON file
- :mod:`~anynn.bench.command`: :func:`run_bench`, the command itself
"""
from anynn.bench.command import run_bench
from anynn.bench.counts import StepCount, count_step, run_counts
from anynn.bench.flops import count_forward_flops
from anynn.bench.report import format_table
from anynn.bench.runner import AnynnRun, Result, bench_one, torch_run
from anynn.bench.workload import DATASET_SIZE, DEFAULT_BATCH, image_shape

__all__ = ["DATASET_SIZE", "DEFAULT_BATCH", "AnynnRun", "Result", "StepCount", "bench_one", "count_forward_flops",
           "count_step", "format_table", "image_shape", "run_bench", "run_counts", "torch_run"]
