"""Self-checks run under a launcher by the tests: ``mpiexec -n 2 python -m anynn.distributed._check <case> ...``.

Each case prints one JSON line from rank 0 (``RESULT {...}``) with what it measured; the tests assert on it.
Cases:

* ``collectives BACKEND``: all_reduce (sum, mean, max), broadcast, all_gather and the object collectives on
  tensors of BACKEND.
* ``equivalence DTYPE MODE [STEPS]``: DistributedDataParallel with ``DistributedSampler`` against one process on
  the same global batches (computed on rank 0 after the distributed run), SGD with momentum. MODE: ``plain``
  (an MLP with a never-used layer), ``no_sync`` (two micro-batches per step), ``syncbn`` (a CNN with
  SyncBatchNorm; running statistics compared too), ``bn`` (the same CNN with per-rank BatchNorm: expected to
  differ).
* ``unused``: a layer used on rank 1 only gets rank 1's gradient divided by the world size everywhere; a layer
  used nowhere keeps ``grad`` None.
* ``mismatch``: rank 1 builds a different model (must raise ModelMismatchError on every rank).
* ``fail MODE``: rank 1 fails at step 3 of a training loop (MODE: raise, exit, kill, hang); the job must end.
* ``loop MODE``: ``anynn.training`` under the launcher. ``evaluate``: 7 samples in unpadded shards (sizes 4
  and 3) give the one-process loss and accuracy; ``dropout``: ranks draw different dropout masks in ``fit``;
  ``unequal``: rank 1 has one batch more (an error on every rank at the epoch start); ``nan``: rank 1's loss
  becomes NaN at step 2 (every rank stops with NonFiniteLossError at the same log point).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import anynn
import anynn.distributed as dist
from anynn import nn
from anynn.data import DataLoader, DistributedSampler, TensorDataset


def _result(comm, **values) -> None:
    if comm.rank == 0:
        print("RESULT " + json.dumps(values), flush=True)


def _state_values(model) -> list[float]:
    """Every ``state_dict`` entry of ``model`` (by name) as one list of floats, to compare replicas."""
    values: list[float] = []
    for _, t in sorted(model.state_dict().items()):
        values.extend(float(v) for v in t.numpy().reshape(-1).tolist())
    return values


def collectives(backend_name: str) -> None:
    comm = dist.init()
    anynn.set_backend(backend_name)
    r, w = comm.rank, comm.size
    t = anynn.tensor([1.0 + r, 2.0 * r], dtype="float64")
    summed = dist.all_reduce(anynn.tensor([1.0 + r, 2.0 * r], dtype="float64"), "sum").tolist()
    mean = dist.all_reduce(anynn.tensor([1.0 + r, 2.0 * r], dtype="float32"), "mean").tolist()
    biggest = dist.all_reduce(anynn.tensor([r, -r], dtype="int64"), "max").tolist()
    before = t.array
    shared = dist.broadcast(t, src=w - 1).tolist()
    untouched = t.array is not before and anynn.tensor(before).tolist() == [1.0 + r, 2.0 * r]
    gathered = dist.all_gather(anynn.tensor([float(r)] * 3)).tolist()
    objects = dist.all_gather_object({"rank": r})
    told = dist.broadcast_object(("hello", r), src=0)
    dist.barrier()
    everyone = comm.allgather_object([summed, mean, biggest, shared, gathered, objects, told, untouched])
    _result(comm, world=w, backend=t.backend.name, summed=summed, mean=mean, biggest=biggest, shared=shared,
            gathered=gathered, objects=objects, told=told, untouched=untouched,
            same_everywhere=all(e == everyone[0] for e in everyone))


class _MLP(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16, dtype=dtype), nn.Tanh(), nn.Linear(16, 3, dtype=dtype))
        self.never_used = nn.Linear(3, 3, dtype=dtype)  # in the model, not in forward: no error, grad stays None

    def forward(self, x):
        return self.net(x)


def _mlp(dtype):
    anynn.manual_seed(1)
    return _MLP(dtype)


def _cnn(dtype, sync: bool):
    anynn.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=dtype), nn.BatchNorm2d(4, dtype=dtype), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 5 * 5, 3, dtype=dtype))
    return nn.convert_sync_batchnorm(model) if sync else model


def _data(dtype, mode: str, size: int):
    anynn.manual_seed(3)
    shape = (size, 2, 5, 5) if mode in ("syncbn", "bn") else (size, 6)
    x = anynn.randn(*shape, dtype=dtype)
    y = anynn.randint(0, 3, (size,))
    return TensorDataset(x, y)


def _train(model, loader, steps: int, micro: int, ddp=None) -> None:
    opt = anynn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    batches = iter(loader)
    for _ in range(steps):
        opt.zero_grad()
        for k in range(micro):
            x, y = next(batches)
            last = k == micro - 1
            if ddp is not None and not last:
                with ddp.no_sync():
                    (loss_fn(ddp(x), y) * (1.0 / micro)).backward()
            else:
                (loss_fn((ddp or model)(x), y) * (1.0 / micro)).backward()
        opt.step()


def equivalence(dtype: str, mode: str, steps: int = 30) -> None:
    comm = dist.init()
    w, r = comm.size, comm.rank
    local_batch, micro = 4, 2 if mode == "no_sync" else 1
    dataset = _data(dtype, mode, local_batch * w * micro * steps)
    build = (lambda sync: _cnn(dtype, sync)) if mode in ("syncbn", "bn") else (lambda sync: _mlp(dtype))
    model = build(mode == "syncbn")
    if r == 1:  # a different initialisation: DDP's broadcast must make it rank 0's
        for p in model.parameters():
            p.array = p.array * 0.5 + 1.0
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.001, first_bucket_mb=0.0005)  # several buckets
    sampler = DistributedSampler(dataset, seed=5)
    began = time.perf_counter()
    _train(model, DataLoader(dataset, batch_size=local_batch, sampler=sampler), steps, micro, ddp)
    seconds = time.perf_counter() - began
    mine = _state_values(model)
    everyone = comm.allgather_object(mine)
    identical = all(e == everyone[0] for e in everyone)
    if r == 0:
        reference = build(False)
        single = DistributedSampler(dataset, num_replicas=1, rank=0, seed=5)
        _train(reference, DataLoader(dataset, batch_size=local_batch * w, sampler=single), steps, micro)
        ref = _state_values(reference)
        scale = max(abs(v) for v in ref)
        rel = max(abs(a - b) for a, b in zip(mine, ref)) / scale
        grads_none = model.never_used.weight.grad is None if mode in ("plain", "no_sync") else True
        _result(comm, world=w, dtype=dtype, mode=mode, steps=steps, rel=rel, identical=identical,
                unused_grad_none=grads_none, buckets=len(ddp._buckets), seconds=seconds,
                state_keys=sorted(ddp.state_dict())[:3])


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        anynn.manual_seed(4)
        self.body = nn.Linear(4, 4, dtype="float64")
        self.head_a = nn.Linear(4, 2, dtype="float64")
        self.head_b = nn.Linear(4, 2, dtype="float64")
        self.nowhere = nn.Linear(4, 2, dtype="float64")
        self.use_b = False

    def forward(self, x):
        h = self.body(x).tanh()
        out = self.head_a(h).sum()
        return out + self.head_b(h).sum() * 3.0 if self.use_b else out


def unused() -> None:
    comm = dist.init()
    model = _TwoHeads()
    ddp = dist.DistributedDataParallel(model)
    model.use_b = comm.rank == 1
    x = anynn.ones(2, 4, dtype="float64")
    ddp(x).backward()
    local = _TwoHeads()  # the same weights (same seed), one process: what rank 1 computes alone
    local.use_b = True
    local(x).backward()
    expected = (local.head_b.weight.grad.numpy() / comm.size).tolist()
    got = model.head_b.weight.grad.numpy().tolist()
    everyone = comm.allgather_object(got)
    _result(comm, matches=all(e == expected for e in everyone),
            nowhere_none=all(comm.allgather_object(model.nowhere.weight.grad is None)))


def mismatch() -> None:
    comm = dist.init()
    width = 5 if comm.rank == 1 else 4
    model = nn.Sequential(nn.Linear(width, 3))
    dist.DistributedDataParallel(model)
    print("constructed a DDP over different models", flush=True)


def fail(mode: str) -> None:
    comm = dist.init()
    model = _mlp("float32")
    ddp = dist.DistributedDataParallel(model)
    opt = anynn.optim.SGD(model.parameters(), lr=0.01)
    x = anynn.randn(4, 6)
    for step in range(1000):
        if comm.rank == 1 and step == 3:
            if mode == "raise":
                raise RuntimeError("rank 1 fails on purpose")
            if mode == "exit":
                sys.exit(1)
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "hang":
                time.sleep(3600)
        opt.zero_grad()
        ddp(x).sum().backward()
        opt.step()
    print("finished without noticing the failure", flush=True)


class _Probe(nn.Module):
    """A Linear after Dropout that remembers the dropout mask it saw (as a Python list)."""

    def __init__(self):
        super().__init__()
        anynn.manual_seed(6)
        self.drop = nn.Dropout(0.5)
        self.lin = nn.Linear(8, 3, dtype="float64")
        self.masks: list = []

    def forward(self, x):
        h = self.drop(anynn.ones(x.shape[0], 8, dtype="float64"))
        self.masks.append((h.numpy() != 0).tolist())
        return self.lin(h * x)


def loop(mode: str) -> None:
    from anynn.training import NonFiniteLossError, evaluate, fit

    comm = dist.init()
    r = comm.rank
    anynn.manual_seed(7)
    data = TensorDataset(anynn.randn(7, 8, dtype="float64"), anynn.tensor([0, 1, 2, 0, 1, 2, 0]))
    if mode == "evaluate":
        model = _Probe()
        model.drop.p = 0.0
        ddp = dist.DistributedDataParallel(model)
        shard = DistributedSampler(data, shuffle=False, pad=False)
        mine = evaluate(ddp, DataLoader(data, batch_size=2, sampler=shard))
        with anynn.no_grad():  # one process over all 7 samples (evaluate itself would combine over the ranks)
            logits = model(data.tensors[0])
            alone = {"loss": float(nn.CrossEntropyLoss()(logits, data.tensors[1]).item()),
                     "acc": float((logits.argmax(axis=-1) == data.tensors[1]).float().mean().item())}
        padded = evaluate(ddp, DataLoader(data, batch_size=2, sampler=DistributedSampler(data, shuffle=False)))
        everyone = comm.allgather_object(mine)
        _result(comm, shard_sizes=comm.allgather_object(len(shard)), distributed=mine, alone=alone,
                padded=padded, same_everywhere=all(e == everyone[0] for e in everyone))
        return
    opt = anynn.optim.SGD
    if mode == "dropout":
        model = _Probe()
        ddp = dist.DistributedDataParallel(model)
        sampler = DistributedSampler(data, seed=1)
        fit(ddp, DataLoader(data, batch_size=2, sampler=sampler), opt(model.parameters(), lr=0.01), 1, seed=3,
            progress=False)
        masks = comm.allgather_object(model.masks[0])
        _result(comm, masks_differ=masks[0] != masks[1], mask_rows=len(masks[0]))
        return
    model = _Probe()
    model.drop.p = 0.0
    ddp = dist.DistributedDataParallel(model)
    if mode == "unequal":
        batch = 2 if r == 0 else 1  # rank 0: 2 batches of its 4 samples; rank 1: 3 of its 3 (or 4 with padding)
        loader = DataLoader(data, batch_size=batch, sampler=DistributedSampler(data, pad=False))
    else:  # nan: rank 1 feeds an infinite input at its third step
        x = anynn.randn(8, 8, dtype="float64")
        if r == 1:
            x = anynn.cat([x[:4], x[4:5] * float("inf"), x[5:]])
        loader = DataLoader(TensorDataset(x, anynn.zeros(8, dtype="int64")), batch_size=2)
    try:
        fit(ddp, loader, opt(model.parameters(), lr=0.01), 1, progress=False, log_every=3)
    except (ValueError, NonFiniteLossError) as err:
        _result(comm, errors=comm.allgather_object(f"{type(err).__name__}: {err}"))  # every rank's, from rank 0
        return
    print(f"[rank {r}] finished without an error", flush=True)


def main(argv: list[str]) -> None:
    cases = {"collectives": collectives, "equivalence": equivalence, "unused": unused, "mismatch": mismatch,
             "fail": fail, "loop": loop}
    if not argv or argv[0] not in cases:
        raise SystemExit(f"usage: python -m anynn.distributed._check {{{','.join(cases)}}} [args]")
    args = [int(a) if a.isdigit() else a for a in argv[1:]]
    cases[argv[0]](*args)


if __name__ == "__main__":
    main(sys.argv[1:])
