"""The communicator interface: what anynn needs from a distributed engine (MPI, NCCL), on backend arrays.

anynn writes no transport. A ``Communicator`` wraps an existing engine and moves *native* arrays of any
backend (``tensor.array``), given with their ``Backend``; it never writes into an array it is given (anynn's
rule: gradient and state arrays may be shared), so every result is a fresh array on the same backend.

Every wait has a deadline (``timeout`` seconds, ``ANYNN_DIST_TIMEOUT``): a collective that does not complete
in time means another rank is dead, stuck, or issued different collectives, so the communicator prints which
rank and which collective, then aborts every rank instead of hanging. ``what`` names the collective in that
message ("gradient allreduce (bucket 3, step 1234)").

Implementations: ``LocalCommunicator`` (one process, no library: today's behaviour), ``MPICommunicator`` in
``anynn/backends/mpi.py`` (mpi4py) and ``NcclCommunicator`` in ``anynn/backends/nccl.py`` (CuPy arrays; the
array-touching code lives under ``anynn/backends/``, the only place that imports an array library).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

DEFAULT_TIMEOUT = 300.0
OPS = ("sum", "max", "min", "prod")


def default_timeout() -> float:
    """``ANYNN_DIST_TIMEOUT`` in seconds (default 300)."""
    raw = os.environ.get("ANYNN_DIST_TIMEOUT")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"ANYNN_DIST_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"ANYNN_DIST_TIMEOUT must be positive, got {raw!r}")
    return value


class Work(ABC):
    """A collective in flight; ``wait()`` returns its result (a native array) once it completed."""

    @abstractmethod
    def test(self) -> bool:
        """Whether it completed (also lets the engine progress: MPI moves data only inside MPI calls)."""

    @abstractmethod
    def wait(self) -> Any:
        """Block until done (with the communicator's deadline) and return the result array."""


class DoneWork(Work):
    """A collective that completed on the spot (world size 1)."""

    def __init__(self, result: Any):
        self._result = result

    def test(self) -> bool:
        return True

    def wait(self) -> Any:
        return self._result


class Communicator(ABC):
    """A group of processes that run the same collectives in the same order."""

    name: str = "base"
    rank: int
    size: int
    local_rank: int
    local_size: int
    timeout: float

    @abstractmethod
    def iallreduce(self, array: Any, backend: Any, op: str = "sum", what: str = "allreduce") -> Work:
        """Start the element-wise reduction of ``array`` over all ranks (same result on every rank)."""

    def allreduce(self, array: Any, backend: Any, op: str = "sum", what: str = "allreduce") -> Any:
        return self.iallreduce(array, backend, op, what).wait()

    @abstractmethod
    def broadcast(self, array: Any, backend: Any, root: int = 0, what: str = "broadcast") -> Any:
        """Rank ``root``'s ``array`` on every rank (same shape and dtype given everywhere)."""

    @abstractmethod
    def allgather(self, array: Any, backend: Any, what: str = "allgather") -> Any:
        """Every rank's ``array`` stacked along a new first axis: shape ``(size, *array.shape)``."""

    @abstractmethod
    def broadcast_object(self, obj: Any, root: int = 0, what: str = "broadcast_object") -> Any:
        """A picklable Python object from ``root`` on every rank."""

    @abstractmethod
    def allgather_object(self, obj: Any, what: str = "allgather_object") -> list:
        """Every rank's picklable object, as a list indexed by rank."""

    @abstractmethod
    def barrier(self, what: str = "barrier") -> None:
        """Return once every rank has called it."""

    @abstractmethod
    def dup(self) -> "Communicator":
        """A communicator over the same ranks whose collectives never match this one's (DDP's gradient
        buckets run there, so their order cannot interleave with other collectives issued during backward)."""

    @abstractmethod
    def abort(self, code: int = 1) -> None:
        """End every rank now (after a failure on this one)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"


class LocalCommunicator(Communicator):
    """World size 1: every collective is the identity, without any library (arrays are returned as given,
    which is safe because anynn never writes into them)."""

    name = "local"

    def __init__(self, timeout: float | None = None):
        self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
        self.timeout = default_timeout() if timeout is None else float(timeout)

    def iallreduce(self, array: Any, backend: Any, op: str = "sum", what: str = "allreduce") -> Work:
        if op not in OPS:
            raise ValueError(f"allreduce: unknown op {op!r}; choose one of {', '.join(OPS)}")
        return DoneWork(array)

    def broadcast(self, array: Any, backend: Any, root: int = 0, what: str = "broadcast") -> Any:
        _check_root(root, 1)
        return array

    def allgather(self, array: Any, backend: Any, what: str = "allgather") -> Any:
        return backend.xp.expand_dims(array, axis=0)

    def broadcast_object(self, obj: Any, root: int = 0, what: str = "broadcast_object") -> Any:
        _check_root(root, 1)
        return obj

    def allgather_object(self, obj: Any, what: str = "allgather_object") -> list:
        return [obj]

    def barrier(self, what: str = "barrier") -> None:
        pass

    def dup(self) -> "LocalCommunicator":
        return self

    def abort(self, code: int = 1) -> None:
        os._exit(code)


def _check_root(root: int, size: int) -> None:
    if not 0 <= root < size:
        raise ValueError(f"root rank {root} is outside the world (size {size})")


__all__ = ["Communicator", "DoneWork", "LocalCommunicator", "Work", "default_timeout"]
