"""``NcclCommunicator``: collectives on CuPy arrays through NCCL (``cupy.cuda.nccl``), bootstrapped over MPI
(ChainerMN's pattern): rank 0 makes the unique id, MPI broadcasts it, every rank joins. Arrays of other
backends, the object collectives and the barrier go through the MPI communicator it was built on.

Collectives run on a dedicated stream ordered after the current (compute) stream by an event, so a bucket's
allreduce overlaps the rest of backward; a wait polls an event against the deadline and on expiry aborts the
NCCL communicator, then every rank through MPI.

NOT VERIFIED on a GPU in this repository's CI (no GPU there); see the README's distributed section for the
checks to run where one is available (NCCL at world size 1; two ranks need two GPUs: NCCL refuses two ranks
on one device).
"""
from __future__ import annotations

import time
from typing import Any

import cupy
from cupy.cuda import nccl

from anynn.distributed.communicator import OPS, Communicator, Work, _check_root

_NCCL_OPS: dict[str, int] = {}
_NCCL_TYPES: dict[str, int] = {}


def _load_constants() -> None:
    """NCCL's op and type codes (cupy defines them only once libnccl loaded)."""
    if not getattr(nccl, "available", False):
        raise RuntimeError("cupy.cuda.nccl cannot load the NCCL library: pip install nvidia-nccl-cu12 (or -cu13, "
                           "matching your CuPy), or use init(comm='mpi') to reduce CuPy arrays through host memory")
    _NCCL_OPS.update(sum=nccl.NCCL_SUM, max=nccl.NCCL_MAX, min=nccl.NCCL_MIN, prod=nccl.NCCL_PROD)
    _NCCL_TYPES.update(float16=nccl.NCCL_FLOAT16, float32=nccl.NCCL_FLOAT32, float64=nccl.NCCL_FLOAT64,
                       int32=nccl.NCCL_INT32, int64=nccl.NCCL_INT64, uint8=nccl.NCCL_UINT8, int8=nccl.NCCL_INT8)


class NcclWork(Work):
    def __init__(self, comm: "NcclCommunicator", event: Any, result: Any, what: str, keep: Any = None):
        self._comm, self._event, self._result, self._what, self._keep = comm, event, result, what, keep

    def test(self) -> bool:
        return self._event.done

    def wait(self) -> Any:
        self._comm._wait(self._event, self._what)
        cupy.cuda.get_current_stream().wait_event(self._event)  # later compute sees the result
        self._keep = None
        return self._result


class NcclCommunicator(Communicator):
    """NCCL over the ranks of ``mpi`` (an ``MPICommunicator``); one GPU per rank (``cuda:{local_rank}``)."""

    name = "nccl"

    def __init__(self, mpi: Any):
        _load_constants()
        self.mpi = mpi
        self.rank, self.size = mpi.rank, mpi.size
        self.local_rank, self.local_size = mpi.local_rank, mpi.local_size
        self.timeout = mpi.timeout
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi.broadcast_object(uid, 0, what="NCCL unique id broadcast")
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)

    def _is_cupy(self, array: Any) -> bool:
        return isinstance(array, cupy.ndarray)

    def _start(self) -> Any:
        ready = cupy.cuda.Event(disable_timing=True)
        ready.record(cupy.cuda.get_current_stream())
        self.stream.wait_event(ready)
        return self.stream

    def _finish(self, result: Any, what: str, keep: Any = None) -> NcclWork:
        done = cupy.cuda.Event(disable_timing=True)
        done.record(self.stream)
        return NcclWork(self, done, result, what, keep)

    def _wait(self, event: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not event.done:
            time.sleep(0.0001)
            if time.monotonic() > deadline:
                self.comm.abort()
                self.mpi._expired(what)

    def iallreduce(self, array: Any, backend: Any, op: str = "sum", what: str = "allreduce") -> Work:
        if not self._is_cupy(array):
            return self.mpi.iallreduce(array, backend, op, what)
        if op not in _NCCL_OPS:
            raise ValueError(f"allreduce: unknown op {op!r}; choose one of {', '.join(OPS)}")
        send = cupy.ascontiguousarray(array)
        recv = cupy.empty_like(send)
        stream = self._start()
        self.comm.allReduce(send.data.ptr, recv.data.ptr, send.size, _NCCL_TYPES[send.dtype.name],
                            _NCCL_OPS[op], stream.ptr)
        return self._finish(recv, what, keep=send)

    def broadcast(self, array: Any, backend: Any, root: int = 0, what: str = "broadcast") -> Any:
        if not self._is_cupy(array):
            return self.mpi.broadcast(array, backend, root, what)
        _check_root(root, self.size)
        buffer = cupy.array(array, copy=True, order="C")  # written on the other ranks: never the input
        stream = self._start()
        self.comm.bcast(buffer.data.ptr, buffer.size, _NCCL_TYPES[buffer.dtype.name], root, stream.ptr)
        return self._finish(buffer, what).wait()

    def allgather(self, array: Any, backend: Any, what: str = "allgather") -> Any:
        if not self._is_cupy(array):
            return self.mpi.allgather(array, backend, what)
        send = cupy.ascontiguousarray(array)
        recv = cupy.empty((self.size,) + send.shape, dtype=send.dtype)
        stream = self._start()
        self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, _NCCL_TYPES[send.dtype.name], stream.ptr)
        return self._finish(recv, what, keep=send).wait()

    def broadcast_object(self, obj: Any, root: int = 0, what: str = "broadcast_object") -> Any:
        return self.mpi.broadcast_object(obj, root, what)

    def allgather_object(self, obj: Any, what: str = "allgather_object") -> list:
        return self.mpi.allgather_object(obj, what)

    def barrier(self, what: str = "barrier") -> None:
        self.mpi.barrier(what)

    def dup(self) -> "NcclCommunicator":
        return NcclCommunicator(self.mpi.dup())

    def abort(self, code: int = 1) -> None:
        try:
            self.comm.abort()
        finally:
            self.mpi.abort(code)


__all__ = ["NcclCommunicator"]
