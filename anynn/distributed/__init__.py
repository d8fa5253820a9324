"""Data-parallel training on several processes, GPUs or machines, on an existing engine: MPI (mpi4py) and,
for CuPy arrays, NCCL bootstrapped over MPI. anynn adds only the model-aware parts.

    # mpiexec -n 4 python train.py
    import anynn, anynn.distributed as dist
    dist.init()                                  # world size 1 without a launcher: today's behaviour
    model = dist.DistributedDataParallel(build())   # rank 0's parameters and buffers everywhere
    sampler = dist.DistributedSampler(train_set, seed=0)
    loader = anynn.data.DataLoader(train_set, batch_size=128, sampler=sampler)  # 128 per rank

``init()`` detects a launch by ``mpiexec``/``mpirun``/``srun`` from the environment the launcher sets. Tensor
collectives (``all_reduce``, ``broadcast``, ``all_gather``) work on every backend; like PyTorch's they
update the given tensor (its ``.array`` is rebound to a fresh array: no array is written in place) and return
it. Every collective waits at most ``ANYNN_DIST_TIMEOUT`` seconds (default 300) and then aborts all ranks
with a message naming the rank and the collective; an uncaught exception on any rank also aborts all ranks.
"""
from __future__ import annotations

import os
from typing import Any

from anynn.autograd.tensor import Tensor
from anynn.distributed.communicator import Communicator, LocalCommunicator, Work, default_timeout

#: Environment variables set by launchers (MPICH/Intel Hydra, Open MPI, PMIx, MVAPICH, Slurm's srun).
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE",
                      "MPI_LOCALNRANKS")

_comm: Communicator | None = None


def launched() -> bool:
    """Whether this process was started by an MPI launcher (or by ``srun`` with more than one task)."""
    if any(os.environ.get(name) for name in LAUNCHER_VARIABLES):
        return True
    try:
        return int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ
    except ValueError:
        return False


def init(comm: str | Communicator = "auto", timeout: float | None = None) -> Communicator:
    """Join the job this process was launched in and return its communicator (idempotent).

    ``comm``: "auto" (MPI under a launcher, else one process with no library needed), "mpi" (MPI even
    without a launcher: a singleton), "nccl" (CuPy arrays over NCCL, bootstrapped over MPI), "local", or a
    Communicator. ``timeout``: the deadline of every collective (default ``ANYNN_DIST_TIMEOUT`` or 300 s).
    Under MPI an uncaught exception on any rank aborts every rank (instead of leaving them waiting).
    """
    global _comm
    if _comm is not None:
        if isinstance(comm, str) and comm not in ("auto", _comm.name):
            raise RuntimeError(f"anynn.distributed is already initialised with {_comm.name!r}; call destroy() "
                               f"first to switch to {comm!r}")
        return _comm
    timeout = default_timeout() if timeout is None else float(timeout)
    if isinstance(comm, Communicator):
        _comm = comm
        return _comm
    if comm not in ("auto", "mpi", "nccl", "local"):
        raise ValueError(f"anynn.distributed.init: comm must be 'auto', 'mpi', 'nccl' or 'local', got {comm!r}")
    if comm == "local" or (comm == "auto" and not launched()):
        _comm = LocalCommunicator(timeout)
        return _comm
    mpi = _import_mpi()
    world = mpi.MPICommunicator(timeout=timeout)
    mpi.install_abort_hooks(world.rank)
    if comm == "nccl":
        from anynn.backends.nccl import NcclCommunicator
        _comm = NcclCommunicator(world)
    else:
        _comm = world
    return _comm


def _import_mpi():
    try:
        from anynn.backends import mpi
    except ImportError as err:
        raise RuntimeError(
            "this process was started by an MPI launcher (or init(comm='mpi') was asked for), but mpi4py cannot be "
            f"imported ({err}); install it with: pip install \"anynn[mpi]\" (mpi4py and the MPICH wheel)") from err
    return mpi


def destroy() -> None:
    """Forget the communicator (MPI itself is finalised by mpi4py at exit)."""
    global _comm
    _comm = None


def is_initialized() -> bool:
    return _comm is not None


def get_communicator() -> Communicator:
    """The communicator of this job, initialising (``init()``) on first use."""
    return _comm if _comm is not None else init()


def get_rank() -> int:
    return get_communicator().rank


def get_world_size() -> int:
    return get_communicator().size


def get_local_rank() -> int:
    """This process's rank among those on its machine (pick the GPU with it: ``f"cuda:{get_local_rank()}"``)."""
    return get_communicator().local_rank


def get_local_world_size() -> int:
    return get_communicator().local_size


def is_main_process() -> bool:
    """Rank 0: the one that prints, plots and writes checkpoints."""
    return get_rank() == 0


def barrier() -> None:
    get_communicator().barrier()


def all_reduce(tensor: Tensor, op: str = "sum") -> Tensor:
    """Reduce ``tensor`` over all ranks in place ("sum", "mean", "max", "min", "prod") and return it."""
    comm = get_communicator()
    mean = op == "mean"
    result = comm.allreduce(tensor.array, tensor.backend, "sum" if mean else op, what=f"all_reduce({op})")
    if mean:
        result = result / comm.size
        if result.dtype != tensor.array.dtype:
            result = tensor.xp.astype(result, tensor.array.dtype)
    tensor.array = result
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` with rank ``src``'s values on every rank and return it."""
    tensor.array = get_communicator().broadcast(tensor.array, tensor.backend, src, what=f"broadcast(src={src})")
    return tensor


def all_gather(tensor: Tensor) -> Tensor:
    """Every rank's ``tensor`` (same shape everywhere) stacked along a new first axis, indexed by rank."""
    return Tensor._make(get_communicator().allgather(tensor.array, tensor.backend, what="all_gather"),
                        tensor.backend)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """A picklable object from rank ``src`` on every rank."""
    return get_communicator().broadcast_object(obj, src)


def all_gather_object(obj: Any) -> list:
    """Every rank's picklable object, as a list indexed by rank."""
    return get_communicator().allgather_object(obj)


from anynn.distributed.ddp import DistributedDataParallel  # noqa: E402
from anynn.distributed.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm  # noqa: E402
from anynn.data.sampler import DistributedSampler  # noqa: E402

__all__ = ["Communicator", "DistributedDataParallel", "DistributedSampler", "LocalCommunicator", "SyncBatchNorm",
           "Work", "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast", "broadcast_object",
           "convert_sync_batchnorm", "destroy", "get_communicator", "get_local_rank", "get_local_world_size",
           "get_rank", "get_world_size", "init", "is_initialized", "is_main_process", "launched"]
