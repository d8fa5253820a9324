"""Benchmarks (pytest-benchmark): each kernel or epoch slice on every anynn backend next to PyTorch.

Run: ``python -m pytest benchmarks --benchmark-enable`` (the unit suite's addopts disable benchmarking, in which
case every benchmark runs once as a smoke test). Each case lives in one benchmark group, so pytest-benchmark
prints anynn on numpy / torch / cupy and the PyTorch peers side by side.

- ``ANYNN_BENCH_BACKENDS=numpy,torch`` narrows the anynn backends (default numpy, torch, cupy); array-api-strict
  is never benchmarked.
- ``ANYNN_BENCH_QUICK=1`` shrinks batch sizes to a few samples: checks the plumbing, measures nothing.
- PyTorch peers run on the CPU, and on CUDA when torch sees a GPU; torch gets as many CPU threads as NumPy's
  BLAS, so neither side has more cores.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import anynn
from anynn import backends as B

ANYNN_BACKENDS = ("numpy", "torch", "cupy")
IMPLS = [f"anynn-{name}" for name in ANYNN_BACKENDS] + ["torch-cpu", "torch-cuda"]
QUICK = os.environ.get("ANYNN_BENCH_QUICK", "") not in ("", "0")


def quick_batch(n: int) -> int:
    """A benchmark's batch size, or a tiny one under ``ANYNN_BENCH_QUICK``."""
    return min(n, 4) if QUICK else n


def _wanted() -> list[str]:
    text = os.environ.get("ANYNN_BENCH_BACKENDS")
    if not text:
        return list(ANYNN_BACKENDS)
    return [B.canonical_name(name.strip()) for name in text.split(",") if name.strip()]


@dataclass
class Impl:
    """One implementation under test: anynn on a backend, or PyTorch on a device.

    ``F`` has the functional ops both share by name (conv2d, max_pool2d, batch_norm, lstm_cell),
    ``tensor`` makes float32 data from a host array, ``parameter`` a trainable tensor, ``optim`` is the
    optimizer package and ``sync`` waits for queued device work.
    """

    kind: str
    name: str
    device: str
    F: Any
    optim: Any
    backend: Any = None

    def tensor(self, host: np.ndarray, requires_grad: bool = False) -> Any:
        if self.kind == "anynn":
            return anynn.tensor(host, dtype=anynn.float32, requires_grad=requires_grad)
        import torch

        return torch.tensor(host, dtype=torch.float32, device=self.device, requires_grad=requires_grad)

    def parameter(self, host: np.ndarray) -> Any:
        if self.kind == "anynn":
            return anynn.nn.Parameter(self.tensor(host))
        import torch

        return torch.nn.Parameter(self.tensor(host))

    def sync(self) -> None:
        if self.kind == "anynn":
            self.backend.synchronize()
        elif self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()


def _torch_impl(device: str) -> Impl:
    torch = pytest.importorskip("torch", reason="PyTorch peers need torch: pip install torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device here")
    functional = SimpleNamespace(conv2d=torch.nn.functional.conv2d, max_pool2d=torch.nn.functional.max_pool2d,
                                 batch_norm=torch.nn.functional.batch_norm, lstm_cell=torch.lstm_cell)
    return Impl("torch", f"torch-{device}", device, functional, torch.optim)


@pytest.fixture(params=IMPLS)
def impl(request):
    """Each implementation in turn; unavailable ones are skipped with the reason."""
    kind, name = request.param.split("-", 1)
    if kind == "torch":
        yield _torch_impl(name)
        return
    if name not in _wanted():
        pytest.skip(f"{name} not in ANYNN_BENCH_BACKENDS")
    reason = B.why_unavailable(name)
    if reason is not None:
        pytest.skip(f"backend {name} unavailable: {reason}")
    with anynn.use_backend(name) as backend:
        backend.manual_seed(0)
        from anynn import optim
        from anynn.nn import functional

        yield Impl("anynn", request.param, backend.device_name, functional, optim, backend)


@pytest.fixture(scope="session", autouse=True)
def _equal_threads():
    """torch gets as many threads as NumPy's BLAS (the anynn numpy backend's compute threads)."""
    try:
        import torch

        from anynn.backends.numpy import numpy_blas_threads
    except ImportError:
        return
    torch.set_num_threads(numpy_blas_threads())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def batch():
    """``batch(n)``: the batch size to benchmark with (``n``, or a few samples under ``ANYNN_BENCH_QUICK``)."""
    return quick_batch
