"""anynn's autograd cost per op against PyTorch's, measured interleaved on one machine (its load hits both).

A chain of 50 tiny ops (4x4 float32: ``(y * w + 1).relu()``) and its backward, so the libraries' own work is
negligible and what is timed is the Python (and C++) around each op: ArrayFunction.apply, Tensor construction and
the tape walk against PyTorch's autograd. Prints microseconds per op (forward + backward) for each round and
the median ratio.

    python benchmarks/op_overhead_vs_torch.py [rounds]
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

import anynn

OPS_PER_LINK = 3  # multiply, add, relu
LINKS = 50
REPEATS = 20


def chain(x, w):
    y = x
    for _ in range(LINKS):
        y = (y * w + 1.0).relu()
    return y.sum()


def per_op_us(x, w) -> float:
    began = time.perf_counter()
    for _ in range(REPEATS):
        x.grad = None
        chain(x, w).backward()
    return (time.perf_counter() - began) / REPEATS / (LINKS * OPS_PER_LINK) * 1e6


def main(rounds: int = 7) -> float:
    torch.set_num_threads(1)
    anynn.set_backend("numpy")
    sides = {"anynn": (anynn.randn(4, 4, requires_grad=True), anynn.randn(4, 4, requires_grad=True)),
             "torch": (torch.randn(4, 4, requires_grad=True), torch.randn(4, 4, requires_grad=True))}
    ratios = []
    for round_ in range(rounds + 1):
        times = {name: per_op_us(*pair) for name, pair in sides.items()}
        if round_:  # the first round warms both up
            ratios.append(times["anynn"] / times["torch"])
            print(f"round {round_}: anynn {times['anynn']:.2f} us/op, torch {times['torch']:.2f} us/op, "
                  f"ratio {ratios[-1]:.2f}x")
    ratio = statistics.median(ratios)
    print(f"median ratio anynn/torch: {ratio:.2f}x (forward + backward per op, 4x4 float32, numpy backend)")
    return ratio


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
