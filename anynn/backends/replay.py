"""The replay backend: a CUDA-graph emulator on the CPU, so that whole-step graph capture is tested without a GPU.

It is the counting backend mirroring CuPy (same dispatch decisions, same launch, sync and upload counts) whose
arrays, between :func:`begin_capture` and :meth:`Capture.end`, record every array operation the way a CUDA
stream capture records kernels:

- an operation is recorded with its arguments *by reference* (arrays: parameters, static inputs, optimizer
  state, device scalars, are read again at each replay) and its Python numbers *by value* (baked in, as kernel
  arguments are): a learning rate kept as a Python float stays the captured one, whatever a scheduler does;
- an array the capture allocates is *graph memory*: replaying writes the operation's new result into that very
  array, so later operations, and Python objects still holding it (``p.grad``, the loss), see the new values;
- a view (slicing, reshape without a copy, a transpose) launches nothing: it keeps pointing at its base;
- in-place writes (``a += b``, ``a[i] = v``, ufuncs with ``out=``) are replayed into the same array;
- a capture runs nothing on a GPU: arrays that existed before the capture and were written inside it get their
  old values back at :meth:`Capture.end`, so the first replay is the first time the step really runs;
- host reads and uploads raise :class:`HostSyncError` naming the op (as ``anynn.profiler.capture_safe``), and
  so does a draw from the backend's host-seeded generator (:class:`GraphCaptureError`): a graph would repeat
  the same numbers at every replay. Random numbers inside a graph come from ``anynn.cuda_graphs``' device
  generator, whose counter is advanced by an operation inside the step.

What this backend cannot see, a real GPU would not either: Python code runs once, at capture (an ``if`` on a
Python value, a counter kept in Python, a ``Tensor.array`` rebound to a new array all stay as captured).
``anynn.cuda_graphs`` drives it exactly as it drives a CuPy stream capture.
"""
from __future__ import annotations

import types
from typing import Any, Callable, Iterator

import numpy as np

from anynn.backends.counting import CountedArray, CountingBackend, HostSyncError, state

#: Namespace functions that only allocate: their result is graph memory, and replaying them does nothing.
ALLOCATIONS = frozenset({"empty", "empty_like"})


class GraphCaptureError(HostSyncError):
    """Something inside a CUDA-graph capture that a replay could not repeat faithfully; the message names it."""


class _Op:
    """One recorded operation: ``run()`` computes it again; its result's arrays are copied into ``outputs``
    (the graph memory it wrote at capture), positions that were views of an input are left alone."""

    __slots__ = ("name", "run", "outputs")

    def __init__(self, name: str, run: Callable[[], Any], outputs: list[tuple[int, np.ndarray]]):
        self.name, self.run, self.outputs = name, run, outputs

    def replay(self) -> None:
        result = self.run()
        if not self.outputs:
            return
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        for i, buffer in self.outputs:
            np.copyto(buffer, np.asarray(results[i]).view(np.ndarray), casting="no")


class ReplayGraph:
    """The recorded operations of one capture, replayed in order by :meth:`replay`."""

    def __init__(self, ops: list[_Op], memory: list[np.ndarray]):
        self.ops, self._memory = ops, memory

    @property
    def launches(self) -> int:
        """Kernels one replay launches (recorded operations)."""
        return len(self.ops)

    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]

    def replay(self) -> None:
        for op in self.ops:
            op.replay()


class Capture:
    """An open capture: the recorded operations, the graph memory, and the old values of outside arrays the
    capture wrote into (given back at :meth:`end`, since a capture runs nothing)."""

    def __init__(self) -> None:
        self.ops: list[_Op] = []
        self.created: dict[int, np.ndarray] = {}   # id of a root buffer allocated in the capture -> the buffer
        self.saved: list[tuple[np.ndarray, np.ndarray]] = []
        self._saved_ids: set[int] = set()

    def allocate(self, arrays: Iterator[np.ndarray]) -> None:
        for a in arrays:
            root = _root(a)
            self.created[id(root)] = root

    def writing(self, target: Any) -> None:
        """``target`` is about to be written in place: remember an outside array's value (once)."""
        if not isinstance(target, np.ndarray):
            return
        if id(_root(target)) in self.created or id(target) in self._saved_ids:
            return
        self._saved_ids.add(id(target))
        self.saved.append((target, np.array(target.view(np.ndarray), copy=True)))

    def add(self, name: str, run: Callable[[], Any], result: Any, inputs: tuple, writes: bool = False) -> None:
        """Record ``run`` (which made ``result`` from ``inputs``): results that share memory with an input are
        views (nothing to replay), the others graph memory. ``writes``: ``run`` may write into its inputs (a
        fused pass), so it is replayed even when every result is an input or a view of one."""
        if result is None:
            self.ops.append(_Op(name, run, []))
            return
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        sources = [a for a in _arrays(inputs)]
        outputs = []
        for i, r in enumerate(results):
            if isinstance(r, np.ndarray) and not any(np.may_share_memory(r, s) for s in sources):
                outputs.append((i, r.view(np.ndarray)))
        if outputs or writes:
            self.allocate(r for _, r in outputs)
            self.ops.append(_Op(name, run, outputs))

    def end(self) -> ReplayGraph:
        global _active
        _active = None
        state.capture_safe -= 1
        for target, old in reversed(self.saved):
            target.view(np.ndarray)[...] = old
        return ReplayGraph(self.ops, list(self.created.values()))


_active: Capture | None = None


def begin_capture() -> Capture:
    """Start recording (one capture at a time); host reads and uploads raise until :meth:`Capture.end`."""
    global _active
    if _active is not None:
        raise GraphCaptureError("a CUDA-graph capture is already open on the replay backend; end it "
                                "(capture_end) before beginning another")
    _active = Capture()
    state.capture_safe += 1
    return _active


def abort_capture() -> None:
    """Drop an open capture after an error inside it (the outside arrays get their values back)."""
    if _active is not None:
        _active.end()


def capturing() -> bool:
    return _active is not None


def _recording() -> Capture | None:
    """The open capture when the call being made is an outermost one (what a library call does inside is part
    of that call's operation)."""
    return _active if state.depth == 0 else None


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _arrays(values: Any) -> Iterator[np.ndarray]:
    for v in values:
        if isinstance(v, np.ndarray):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from _arrays(v)
        elif isinstance(v, dict):
            yield from _arrays(tuple(v.values()))


def _frozen(args: tuple) -> tuple:
    """Arguments as recorded: lists copied (a caller may reuse its list), arrays by reference."""
    return tuple(list(a) if isinstance(a, list) else a for a in args)


def rewrap(result: Any) -> Any:
    """Results as ReplayArrays (the counting layer returns CountedArrays)."""
    if isinstance(result, ReplayArray):
        return result
    if isinstance(result, np.ndarray):
        return result.view(ReplayArray)
    if isinstance(result, np.generic):
        return np.asarray(result).view(ReplayArray)
    if isinstance(result, tuple):
        return tuple(rewrap(r) for r in result)
    if isinstance(result, list):
        return [rewrap(r) for r in result]
    return result


class ReplayArray(CountedArray):
    """A counted NumPy array that records its operations while a capture is open (module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        capture = _recording()
        if capture is None:
            return rewrap(super().__array_ufunc__(ufunc, method, *inputs, out=out, **kwargs))
        for target in out or ():
            capture.writing(target)
        call = getattr(ufunc, method)
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        result = rewrap(super().__array_ufunc__(ufunc, method, *inputs, out=out, **kwargs))
        if out is not None:
            capture.add(name, lambda: call(*inputs, out=out, **kwargs), None, ())
        else:
            capture.add(name, lambda: call(*inputs, **kwargs), result, inputs)
        return result

    def __array_function__(self, func, types, args, kwargs):
        capture = _recording()
        if capture is None:
            return rewrap(super().__array_function__(func, types, args, kwargs))
        targets = [kwargs["out"]] if kwargs.get("out") is not None else []
        if func.__name__ == "copyto":
            targets.append(args[0])
        for target in targets:
            capture.writing(target)
        args = _frozen(args)
        result = rewrap(super().__array_function__(func, types, args, kwargs))
        capture.add(func.__name__, lambda: func(*args, **kwargs), None if targets else result, (args, kwargs))
        return result

    def __getitem__(self, key):
        capture = _recording()
        result = rewrap(super().__getitem__(key))
        if capture is not None:
            capture.add("getitem", lambda: self[key], result, (self, key))
        return result

    def __setitem__(self, key, value):
        capture = _recording()
        if capture is not None:
            capture.writing(self)
        super().__setitem__(key, value)
        if capture is not None:
            capture.add("setitem", lambda: self.__setitem__(key, value), None, ())

    def astype(self, dtype, *args, copy=True, **kwargs):
        capture = _recording()
        result = rewrap(super().astype(dtype, *args, copy=copy, **kwargs))
        if capture is not None:
            capture.add("astype", lambda: self.astype(dtype, *args, copy=copy, **kwargs), result, (self,))
        return result

    def copy(self, *args, **kwargs):
        capture = _recording()
        result = rewrap(super().copy(*args, **kwargs))
        if capture is not None:
            capture.add("copy", lambda: self.copy(*args, **kwargs), result, (self,))
        return result

    def fill(self, value):
        self[...] = value


def recorded(name: str, fn: Callable, writes: bool = False) -> Callable:
    """``fn`` (a namespace function or a backend pass) recorded as one operation while a capture is open.
    ``writes``: ``fn`` may write into its array arguments (a fused pass, e.g. an optimizer's in-place update),
    so outside arrays among them get their values back at the end of the capture, and it is always replayed."""

    def call(*args, **kwargs):
        capture = _recording()
        if capture is None:
            return rewrap(fn(*args, **kwargs))
        args = _frozen(args)
        if writes:
            for a in _arrays((args, kwargs)):
                capture.writing(a)
        result = rewrap(fn(*args, **kwargs))
        if name in ALLOCATIONS:
            capture.allocate(a for a in ([result] if isinstance(result, np.ndarray) else []))
        else:
            capture.add(name, lambda: fn(*args, **kwargs), result, (args, kwargs), writes)
        return result

    call.__name__ = call.__qualname__ = name
    return call


def recorded_namespace(base: Any) -> types.SimpleNamespace:
    """A copy of a (counting) namespace whose functions are :func:`recorded`."""
    ns = types.SimpleNamespace()
    for name, value in vars(base).items():
        if isinstance(value, types.SimpleNamespace) and name in ("linalg", "fft"):
            value = recorded_namespace(value)
        elif callable(value) and not isinstance(value, type) and not name.startswith("__"):
            value = recorded(name, value)
        setattr(ns, name, value)
    return ns


class ReplayBackend(CountingBackend):
    """The counting backend (mirroring CuPy) with CUDA-graph capture and replay emulated on the CPU."""

    name = "replay"
    array_type = ReplayArray

    def _load(self, device: str | None):
        xp, _, mirrors = super()._load(device)
        self.fused = {name: type(pair)(recorded(name, pair.forward, writes=True),
                                       None if pair.backward is None else
                                       recorded(name + "_backward", pair.backward, writes=True))
                      for name, pair in self.fused.items()}
        return recorded_namespace(xp), "cpu", mirrors

    def is_native(self, obj: Any) -> bool:
        return isinstance(obj, ReplayArray)

    def from_numpy(self, host: np.ndarray, dtype=None) -> Any:
        return rewrap(super().from_numpy(host, dtype))

    def _host_random(self, call: str, draw: Callable[[], Any]) -> Any:
        if _active is not None:
            raise GraphCaptureError(
                f"{call}() draws from the backend's host-seeded generator inside a CUDA-graph capture: every replay "
                "would repeat the numbers drawn at capture. Draw outside the captured step, or from the device "
                "generator (anynn.cuda_graphs.device_generator(backend); dropout uses it while capturing)")
        return rewrap(draw())

    def randn(self, shape, dtype):
        return self._host_random("randn", lambda: super(ReplayBackend, self).randn(shape, dtype))

    def rand(self, shape, dtype):
        return self._host_random("rand", lambda: super(ReplayBackend, self).rand(shape, dtype))

    def randint(self, low, high, shape):
        return self._host_random("randint", lambda: super(ReplayBackend, self).randint(low, high, shape))

    def permutation(self, n):
        return self._host_random("permutation", lambda: super(ReplayBackend, self).permutation(n))

    def index_add(self, num_rows, index, values):
        out = self.xp.zeros((num_rows,) + tuple(values.shape[1:]), dtype=values.dtype)
        self._scatter_add(out, index, values)
        return out

    def _scatter_add(self, out, index, values) -> None:
        """``out[index[k]] += values[k]`` in place, one launch (CuPy's ``scatter_add``), recorded as such."""
        from anynn.backends.counting import LAUNCH, record

        def run():
            record(LAUNCH, "scatter_add")
            np.add.at(out.view(np.ndarray), np.asarray(index).view(np.ndarray), np.asarray(values).view(np.ndarray))

        capture = _recording()
        if capture is not None:
            capture.writing(out)
        run()
        if capture is not None:
            capture.add("scatter_add", run, None, ())

    def erf(self, x):
        return recorded("erf", super().erf)(x)

    # ------------------------------------------------------------- graphs
    def begin_capture(self) -> Capture:
        return begin_capture()


__all__ = ["Capture", "GraphCaptureError", "ReplayArray", "ReplayBackend", "ReplayGraph", "abort_capture",
           "begin_capture", "capturing", "recorded", "rewrap"]
