"""``SyncBatchNorm``: batch normalisation whose statistics are those of the *global* batch (all ranks).

Forward: each rank computes per-channel (count, mean, biased variance) of its own batch; one allgather of
those ``2C + 1`` numbers per rank; the global mean and variance come from the parallel-variance formula
(exact for unequal counts: ``var = sum n_r (var_r + (mean_r - mean)^2) / n``). Running statistics are blended
with the global mean and the global *unbiased* variance, as one process on the whole batch would. Backward:
the two per-channel sums the input gradient needs (``sum(grad)``, ``sum(grad * (x - mean))``) are
all-reduced once (``2C`` numbers); the weight and bias gradients stay local (DistributedDataParallel
averages them). In evaluation, or with one process, it is plain BatchNorm.

(PyTorch's ``torch/nn/modules/_functions.py`` uses the same allgather of counts; ChainerMN's allreduce of
E[x] and E[x^2] assumes equal batch sizes and cancels badly, so it is not used.)
"""
from __future__ import annotations

import math

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.nn.module import Module
from anynn.nn.normalization import _BatchNorm
from anynn.ops._util import cast
from anynn.ops.norm import AFFINE, STATS


class SyncBatchNormFunction(ArrayFunction):
    """Training-mode batch norm over the union of every rank's batch (inputs: x, weight, bias)."""

    @staticmethod
    def forward(ctx, x, weight, bias, comm=None, eps=1e-5, running=None, updated=None):
        xp, backend = ctx.xp, ctx.backend
        channels = x.shape[1]
        count = math.prod(x.shape) // channels
        mean, var = STATS.forward(ctx, x)
        local = xp.concat([xp.asarray([float(count)], dtype=mean.dtype, device=backend.device), mean, var])
        gathered = comm.allgather(local, backend, what="SyncBatchNorm statistics allgather")
        counts = gathered[:, 0:1]
        total = xp.sum(counts)
        means, variances = gathered[:, 1:1 + channels], gathered[:, 1 + channels:]
        mean = xp.sum(counts * means, axis=0) / total
        spread = means - mean
        var = xp.sum(counts * (variances + spread * spread), axis=0) / total
        inv_std = (var + eps) ** -0.5
        scale = inv_std if weight is None else inv_std * weight
        shift = xp.zeros_like(scale) if bias is None else bias
        out = AFFINE.forward(ctx, x, mean, scale, shift)
        if running is not None:
            running_mean, running_var, momentum = running
            keep = 1.0 - momentum
            new_mean = running_mean * keep + mean * momentum
            new_var = running_var * keep + var * (momentum * (total / (total - 1.0)))  # unbiased, on the device
            updated.extend((cast(xp, new_mean, running_mean.dtype), cast(xp, new_var, running_var.dtype)))
        ctx.comm, ctx.total = comm, total  # a 0-d array: no value is read back to the host
        ctx.save(x, mean, inv_std, weight)
        return out

    @staticmethod
    def backward(ctx, grad):
        xp, backend = ctx.xp, ctx.backend
        x, mean, inv_std, weight = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        sum_g, sum_gc = STATS.backward(ctx, grad, x, mean)  # this rank's sums
        gw = sum_gc * inv_std if need_w else None
        gb = sum_g if need_b else None
        gx = None
        if need_x:
            channels = sum_g.shape[0]
            both = ctx.comm.allreduce(xp.concat([sum_g, sum_gc]), backend, "sum",
                                      what="SyncBatchNorm gradient allreduce")
            all_g, all_gc = both[:channels], both[channels:]
            scale = inv_std if weight is None else inv_std * weight
            k = scale * (-1.0 / ctx.total)
            gx = AFFINE.backward(ctx, grad, x, mean, scale, k * (all_gc * inv_std * inv_std), k * all_g)
        return gx, gw, gb


class SyncBatchNorm(_BatchNorm):
    """BatchNorm over (N, C, ...) inputs of any rank with statistics synchronised across all ranks in training
    (PyTorch's ``nn.SyncBatchNorm``); ``comm`` defaults to ``anynn.distributed``'s communicator."""

    _ranks = (2, 3, 4, 5)
    _layout = "(N, C, ...)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, comm=None, bias: bool = True, dtype=None):
        from anynn.distributed.communicator import Communicator

        if comm is not None and not isinstance(comm, Communicator):
            raise TypeError(f"SyncBatchNorm: comm must be an anynn.distributed Communicator or None (the job's own, "
                            f"from anynn.distributed.init()), got {comm!r}")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias, dtype=dtype)
        self.comm = comm

    def _communicator(self):
        if self.comm is not None:
            return self.comm
        from anynn import distributed as dist
        return dist.get_communicator()

    def forward(self, input: Tensor) -> Tensor:
        comm = self._communicator() if self.training else None
        if comm is None or comm.size == 1:
            return super().forward(input)
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        running = None
        if self.track_running_stats:
            tracked = self.num_batches_tracked
            tracked.array = tracked.array + 1
            if self.momentum is None:
                factor = (1.0 / tracked.to(input.dtype)).array
            running = (self.running_mean.array, self.running_var.array, factor)
        if math.prod(input.shape) // input.shape[1] < 1:
            raise ValueError(f"{self!r}: got an empty batch (shape {input.shape})")
        updated: list = []
        out = SyncBatchNormFunction.apply(input, self.weight, self.bias, comm=comm, eps=self.eps, running=running,
                                          updated=updated)
        if running is not None:
            self.running_mean.array, self.running_var.array = updated
        return out


def convert_sync_batchnorm(module: Module, comm=None) -> Module:
    """Replace every BatchNorm1d/2d/3d in ``module`` by a SyncBatchNorm holding the same parameters and
    buffers (the same tensors); returns the module (a new one when ``module`` itself is a BatchNorm)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats, comm=comm)
        for table in ("_parameters", "_buffers"):
            sync.__dict__[table].clear()
            sync.__dict__[table].update(module.__dict__[table])
        sync.__dict__.setdefault("_non_persistent", set()).update(module.__dict__.get("_non_persistent", set()))
        sync.train(module.training)
        return sync
    for name, child in list(module._modules.items()):
        if child is not None:
            converted = convert_sync_batchnorm(child, comm)
            if converted is not child:
                module._modules[name] = converted
    return module


__all__ = ["SyncBatchNorm", "SyncBatchNormFunction", "convert_sync_batchnorm"]
