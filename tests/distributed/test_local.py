"""anynn.distributed in one process (no launcher, no mpi4py needed): today's behaviour, same API."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import anynn
import anynn.distributed as dist
from anynn import nn
from anynn.distributed.communicator import LocalCommunicator


@pytest.fixture
def local():
    dist.destroy()
    comm = dist.init("local")
    yield comm
    dist.destroy()


def test_init_without_a_launcher_is_one_process_without_mpi4py():
    code = ("import sys, anynn.distributed as d; c = d.init(); "
            "print(type(c).__name__, d.get_rank(), d.get_world_size(), d.get_local_rank(), d.is_main_process(), "
            "'mpi4py' in sys.modules)")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_NTASKS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["LocalCommunicator", "0", "1", "0", "True", "False"]


def test_launcher_without_mpi4py_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py fails
    monkeypatch.delitem(sys.modules, "anynn.backends.mpi", raising=False)
    dist.destroy()
    try:
        with pytest.raises(RuntimeError, match=r'pip install "anynn\[mpi\]"'):
            dist.init()
    finally:
        dist.destroy()


def test_tensor_collectives_at_world_size_one(local, backend):
    t = anynn.tensor([1.0, 2.0])
    assert dist.all_reduce(t, "sum") is t and t.tolist() == [1.0, 2.0]
    assert dist.all_reduce(t, "mean").tolist() == [1.0, 2.0]
    assert dist.broadcast(t).tolist() == [1.0, 2.0]
    assert dist.all_gather(t).tolist() == [[1.0, 2.0]]
    assert dist.all_gather_object("x") == ["x"] and dist.broadcast_object(3) == 3
    dist.barrier()
    with pytest.raises(ValueError, match="unknown op"):
        dist.all_reduce(t, "median")


def _model():
    anynn.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.BatchNorm1d(4, dtype="float64"), nn.Tanh(),
                         nn.Linear(4, 2, dtype="float64"))


def _steps(model, forward, steps=5):
    opt = anynn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    anynn.manual_seed(1)
    x, y = anynn.randn(6, 3, dtype="float64"), anynn.randint(0, 2, (6,))
    for _ in range(steps):
        opt.zero_grad()
        nn.CrossEntropyLoss()(forward(x), y).backward()
        opt.step()
    return {k: v.tolist() for k, v in model.state_dict().items()}


def test_ddp_at_world_size_one_trains_exactly_like_the_module(local, backend):
    base = _model()
    expected = _steps(base, base)
    wrapped_module = _model()
    ddp = dist.DistributedDataParallel(wrapped_module, first_bucket_mb=1e-4, bucket_cap_mb=1e-4)
    assert len(ddp._buckets) > 1
    assert _steps(wrapped_module, ddp) == expected
    assert list(ddp.state_dict()) == list(base.state_dict())  # no "module." prefix
    ddp.load_state_dict(base.state_dict())


def test_no_sync_accumulates_locally_and_the_next_backward_reduces(local, backend):
    model = _model()
    ddp = dist.DistributedDataParallel(model)
    x = anynn.randn(4, 3, dtype="float64")
    with ddp.no_sync():
        ddp(x).sum().backward()
    first = model[0].weight.grad.tolist()
    ddp(x).sum().backward()
    assert model[0].weight.grad.tolist() == [[2 * v for v in row] for row in first]


def test_sync_batchnorm_is_batchnorm_in_one_process(local, backend):
    reference = _model()
    converted = nn.convert_sync_batchnorm(_model())
    assert isinstance(converted[1], nn.SyncBatchNorm)
    assert _steps(converted, converted) == _steps(reference, reference)


def test_convert_sync_batchnorm_keeps_the_same_tensors(local):
    bn = nn.BatchNorm2d(3)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), bn)
    weight, running = bn.weight, bn.running_mean
    nn.convert_sync_batchnorm(model)
    assert isinstance(model[1], nn.SyncBatchNorm)
    assert model[1].weight is weight and model[1].running_mean is running
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                        "1.running_var", "1.num_batches_tracked"]
    alone = nn.convert_sync_batchnorm(nn.BatchNorm1d(2))
    assert isinstance(alone, nn.SyncBatchNorm)


def test_sync_batchnorm_function_with_a_fake_two_rank_world(backend):
    """SyncBatchNorm's statistics and input gradient over two 'ranks' equal BatchNorm over both batches: a
    communicator that pretends the other rank holds the same batch as this one (so the global batch is the
    batch twice) checks the combination formulas and the gradient scaling without MPI."""
    class Twice(LocalCommunicator):
        def __init__(self):
            super().__init__()
            self.size = 2

        def allgather(self, array, backend, what=""):
            return backend.xp.stack([array, array])

        def iallreduce(self, array, backend, op="sum", what=""):
            from anynn.distributed.communicator import DoneWork
            return DoneWork(array + array)

    anynn.manual_seed(3)
    x = anynn.randn(5, 3, 2, dtype="float64")
    sync = nn.SyncBatchNorm(3, comm=Twice(), dtype="float64")
    plain = nn.BatchNorm1d(3, dtype="float64")
    xs = x.detach().requires_grad_()
    both = anynn.cat([x, x]).detach().requires_grad_()
    out = sync(xs)
    ref = plain(both)
    close = np.testing.assert_allclose
    close(out.numpy(), ref.numpy()[:5], rtol=1e-12, atol=1e-12)
    close(sync.running_mean.numpy(), plain.running_mean.numpy(), rtol=1e-12, atol=1e-14)
    close(sync.running_var.numpy(), plain.running_var.numpy(), rtol=1e-12, atol=1e-14)
    g = anynn.randn(5, 3, 2, dtype="float64")
    out.backward(g)
    ref.backward(anynn.cat([g, g]))
    # the same upstream gradient: the input gradient is the one over the whole batch; weight and bias get this
    # rank's share (DistributedDataParallel sums and averages them)
    close(xs.grad.numpy(), both.grad.numpy()[:5], rtol=1e-10, atol=1e-12)
    close(sync.weight.grad.numpy(), plain.weight.grad.numpy() / 2.0, rtol=1e-10, atol=1e-12)  # local sums
