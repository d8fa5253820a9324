"""``DistributedDataParallel``: one model replica per rank, gradients averaged over the ranks (PyTorch's
semantics).

* Construction checks that every rank built the same model (names, shapes, dtypes of parameters and
  buffers; a clear error on every rank instead of a hang or silent garbage), then broadcasts rank 0's
  parameters and buffers into the live tensors.
* Gradients travel in buckets: parameters in reverse registration order (about the order backward produces
  their gradients), grouped by backend and dtype, the first bucket ``first_bucket_mb`` then ``bucket_cap_mb``
  each. A post-accumulate hook per parameter (``anynn.autograd.engine``) marks it ready; a bucket whose
  parameters are all ready starts its nonblocking allreduce while the rest of backward runs, strictly in bucket
  order (every rank issues the same collectives in the same order, on a communicator of their own). At the
  end of backward a queued callback starts what is left (parameters that got no gradient contribute zeros:
  unused branches are no error), waits (with the deadline) and binds ``p.grad`` to the average: new arrays,
  the summed buckets times ``1 / world``. A parameter that got no gradient on *any* rank keeps ``grad`` None
  (a count travels in each bucket), so optimizers skip it exactly as in one process.
* ``no_sync()``: backward passes inside it only accumulate locally; the next backward outside it reduces the
  accumulated sum (gradient accumulation: wrap every micro-batch but the last).
* Buffers (BatchNorm running statistics) are broadcast from rank 0 before each training forward
  (``broadcast_buffers``); evaluation forwards issue no collective.
* ``state_dict()``/``load_state_dict()`` are the wrapped module's: no ``module.`` prefix, so checkpoints load in
  a single process.

The loss should be a mean over the local batch: the average of the ranks' gradients is then the gradient of
the mean over the global batch, i.e. what one process would compute on all ranks' batches together.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from anynn.autograd import engine
from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module

_MB = 1024 * 1024


class ModelMismatchError(RuntimeError):
    """Ranks built different models (raised on every rank, before any parameter is exchanged)."""


class _Bucket:
    __slots__ = ("index", "params", "sizes", "shapes", "backend", "dtype", "pending", "work", "had_none")

    def __init__(self, index: int, backend: Any, dtype: Any):
        self.index, self.backend, self.dtype = index, backend, dtype
        self.params: list[Tensor] = []
        self.sizes: list[int] = []
        self.shapes: list[tuple] = []
        self.pending = 0
        self.work = None
        self.had_none = False

    def nbytes(self) -> int:
        return sum(self.sizes) * self.dtype.itemsize


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (see the module docstring); call it like the module."""

    def __init__(self, module: Module, *, comm: Any = None, bucket_cap_mb: float = 25.0,
                 first_bucket_mb: float = 1.0, broadcast_buffers: bool = True):
        super().__init__()
        from anynn import distributed as dist

        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an anynn.nn.Module, got {type(module).__name__}")
        if comm is not None and not isinstance(comm, dist.Communicator):
            raise TypeError(f"DistributedDataParallel: comm must be an anynn.distributed Communicator or None, got "
                            f"{comm!r}")
        self.module = module
        self.comm = dist.get_communicator() if comm is None else comm
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb, self.first_bucket_mb = float(bucket_cap_mb), float(first_bucket_mb)
        self._require_sync = True
        self._step = 0
        self._armed = False
        self._next = 0
        self._check_same_model()
        self._grad_comm = self.comm.dup() if self.comm.size > 1 else self.comm
        if self.comm.size > 1:
            self._broadcast([p for _, p in module.named_parameters()] + [b for _, b in module.named_buffers()],
                            "parameter and buffer broadcast at construction")
        self._buckets = self._make_buckets()
        self._where: dict[int, tuple[_Bucket, int]] = {}
        self._handles = []
        for bucket in self._buckets:
            for slot, p in enumerate(bucket.params):
                self._where[id(p)] = (bucket, slot)
                self._handles.append(engine.register_post_accumulate_grad_hook(p, self._on_grad))

    # ------------------------------------------------------------ setup
    def _check_same_model(self) -> None:
        mine = [("parameter", n, p.shape, p.dtype.name) for n, p in self.module.named_parameters()]
        mine += [("buffer", n, b.shape, b.dtype.name) for n, b in self.module.named_buffers()]
        if self.comm.size == 1:
            return
        everyone = self.comm.allgather_object(mine, what="model check at DistributedDataParallel construction")
        reference = everyone[0]
        for rank, theirs in enumerate(everyone):
            if theirs == reference:
                continue
            ref, other = dict(((k, n), (s, d)) for k, n, s, d in reference), dict(
                ((k, n), (s, d)) for k, n, s, d in theirs)
            problems = [f"{k} {n!r} missing on rank {rank}" for (k, n) in ref if (k, n) not in other]
            problems += [f"{k} {n!r} exists on rank {rank} only" for (k, n) in other if (k, n) not in ref]
            problems += [f"{k} {n!r} is {other[(k, n)][0]} {other[(k, n)][1]} on rank {rank} but {ref[(k, n)][0]} "
                         f"{ref[(k, n)][1]} on rank 0" for (k, n) in ref if (k, n) in other
                         and other[(k, n)] != ref[(k, n)]]
            if not problems:
                problems = [f"the parameters and buffers are registered in a different order on rank {rank}"]
            raise ModelMismatchError(
                f"DistributedDataParallel: rank {rank} built a different model than rank 0 ({len(problems)} "
                f"difference(s)): " + "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
                + ". Every rank must build the same architecture (same arguments, same dtype) before wrapping it")

    def _groups(self, tensors: list[Tensor]) -> dict[tuple, list[Tensor]]:
        groups: dict[tuple, list[Tensor]] = {}
        for t in tensors:
            groups.setdefault((t.backend, t.dtype), []).append(t)
        return groups

    def _broadcast(self, tensors: list[Tensor], what: str) -> None:
        """Rank 0's values into the live tensors: one coalesced broadcast per backend and dtype."""
        for (backend, _), group in self._groups(tensors).items():
            xp = backend.xp
            flat = xp.concat([xp.reshape(t.array, (-1,)) for t in group]) if len(group) > 1 else \
                xp.reshape(group[0].array, (-1,))
            flat = self.comm.broadcast(flat, backend, 0, what=what)
            start = 0
            for t in group:
                n = t.numel()
                t.array = xp.reshape(flat[start:start + n], t.shape)
                start += n

    def _make_buckets(self) -> list[_Bucket]:
        params = [p for _, p in self.module.named_parameters() if p.requires_grad]
        buckets: list[_Bucket] = []
        open_: dict[tuple, _Bucket] = {}
        for p in reversed(params):
            key = (p.backend, p.dtype)
            bucket = open_.get(key)
            cap = (self.first_bucket_mb if not buckets or bucket is buckets[0] else self.bucket_cap_mb) * _MB
            if bucket is not None and bucket.params and bucket.nbytes() + p.numel() * p.dtype.itemsize > cap:
                bucket = None
            if bucket is None:
                bucket = open_[key] = _Bucket(len(buckets), p.backend, p.dtype)
                buckets.append(bucket)
            bucket.params.append(p)
            bucket.sizes.append(p.numel())
            bucket.shapes.append(p.shape)
        return buckets

    # ------------------------------------------------------------ running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.training and self.broadcast_buffers and self.comm.size > 1:
            buffers = [b for _, b in self.module.named_buffers()]
            if buffers:
                self._broadcast(buffers, f"buffer broadcast before forward (step {self._step})")
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes in this block accumulate gradients locally only; the first backward after it
        reduces the accumulated sum."""
        previous, self._require_sync = self._require_sync, False
        try:
            yield
        finally:
            self._require_sync = previous

    def _on_grad(self, p: Tensor) -> None:
        if not self._require_sync:
            return
        if not self._armed:
            self._armed = True
            self._next = 0
            for bucket in self._buckets:
                bucket.pending, bucket.work, bucket.had_none = len(bucket.params), None, False
            engine.queue_callback(self._finish)
        bucket, _ = self._where[id(p)]
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch_ready()
        elif self._next and self._buckets[self._next - 1].work is not None:
            self._buckets[self._next - 1].work.test()  # MPI progresses only inside MPI calls

    def _launch_ready(self) -> None:
        buckets = self._buckets
        while self._next < len(buckets) and buckets[self._next].pending == 0:
            self._launch(buckets[self._next])
            self._next += 1

    def _launch(self, bucket: _Bucket) -> None:
        backend = bucket.backend
        xp = backend.xp
        native = backend.dtype(bucket.dtype)
        pieces, flags = [], []
        for p, shape in zip(bucket.params, bucket.shapes):
            if p.grad is None:
                bucket.had_none = True
                pieces.append(xp.zeros((p.numel(),), dtype=native, device=backend.device))
                flags.append(0.0)
            else:
                pieces.append(xp.reshape(p.grad.array, (-1,)))
                flags.append(1.0)
        pieces.append(xp.asarray(flags, dtype=native, device=backend.device))
        flat = xp.concat(pieces)
        bucket.work = self._grad_comm.iallreduce(
            flat, backend, "sum", what=f"gradient allreduce (bucket {bucket.index}, step {self._step})")

    def _finish(self) -> None:
        """End of backward: start the buckets not started yet, wait for all, bind the averaged gradients."""
        self._armed = False
        for bucket in self._buckets[self._next:]:
            self._launch(bucket)
        self._next = len(self._buckets)
        world = self._grad_comm.size
        for bucket in self._buckets:
            summed = bucket.work.wait()
            bucket.work = None
            backend = bucket.backend
            xp = backend.xp
            count = sum(bucket.sizes)
            averaged = summed[:count] if world == 1 else summed[:count] * (1.0 / world)
            if averaged.dtype != summed.dtype:
                averaged = xp.astype(averaged, summed.dtype)
            used = None
            if bucket.had_none:  # only a parameter without a local gradient can be unused on every rank
                used = backend.to_numpy(summed[count:]).tolist()
            start = 0
            for slot, (p, n, shape) in enumerate(zip(bucket.params, bucket.sizes, bucket.shapes)):
                if used is None or used[slot] > 0:
                    p.grad = Tensor._make(xp.reshape(averaged[start:start + n], shape), backend)
                start += n
        self._step += 1

    # ------------------------------------------------------------ state
    def state_dict(self):
        """The wrapped module's state dict (no ``module.`` prefix)."""
        return self.module.state_dict()

    def load_state_dict(self, state_dict: dict, strict: bool = True):
        return self.module.load_state_dict(state_dict, strict)

    def remove_hooks(self) -> None:
        """Unregister the gradient hooks (the module then trains as a plain local module)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def extra_repr(self) -> str:
        return (f"world={self.comm.size}, buckets={len(self._buckets)}, bucket_cap_mb={self.bucket_cap_mb:g}, "
                f"broadcast_buffers={self.broadcast_buffers}")


__all__ = ["DistributedDataParallel", "ModelMismatchError"]
