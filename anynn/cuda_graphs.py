"""Whole-step CUDA graphs: capture a training step once, replay it for every batch (PyTorch's ``torch.cuda.graph``).

On a GPU every array operation is a kernel launch costing the host 15-25 us; a captured step is launched as one
graph, so the host no longer sets the step time (``../shared/gpu-notes.md``). The pattern, as in PyTorch::

    step = anynn.cuda.GraphedStep(train_step, (x0, y0), optimizers=[opt], modules=[model])  # -> loss
    for x, y in loader:               # same shapes every batch
        loss = step(x, y)             # copies x, y into static inputs; eager warm-up first, then replays

or by hand: ``g = anynn.cuda.CUDAGraph(); with anynn.cuda.graph(g): out = fn(static_x)``, then
``static_x.copy_(x); g.replay()``. What has to hold for a replay to be the step it replaces:

- **Static memory.** Arrays the capture allocates are the graph's: each replay writes new values into the same
  arrays (``out`` above, ``p.grad``), and arrays that existed before the capture (parameters, optimizer state,
  static inputs) are read and written where they are. A ``Tensor.array`` rebound to a new array inside the
  step is not seen by later replays: state must be updated in place (``a[...] = v``, ``a += v``), or belong to
  one of :class:`GraphedStep`'s ``modules``, whose rebound tensors the graph copies back (BatchNorm's statistics).
- **No host work inside the step.** A value read back to the host, a host-to-device upload, a random draw from
  the host-seeded generator: each raises, naming the op (see ``anynn.profiler.capture_safe``).
- **Python numbers are baked in.** Optimizers switch to ``capturable`` groups (``anynn/optim/capturable.py``):
  learning rate, momentum and Adam's beta1 live in device scalars that schedulers (and :class:`GraphedStep`,
  before each replay) update from the host values; Adam's step count is a device tensor.
- **Random numbers from the device.** While capturing (and inside :func:`device_rng`), dropout draws from a
  counter-based generator on the device (:class:`DeviceGenerator`): a hash of (seed, counter, element), whose
  counter the step itself advances, so each replay draws new masks.

Backends: ``cupy`` (CUDA stream capture, ``anynn/backends/cupy_graphs.py``; **not yet verified on a GPU**) and
``replay`` (``anynn/backends/replay.py``), which emulates capture and replay on the CPU so tests can compare a
replayed trajectory with an eager one. Anything else raises ``BackendUnavailable``.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator, Sequence

from anynn import backends as B
from anynn.autograd.grad_mode import no_grad
from anynn.autograd.tensor import Tensor
from anynn.backends.replay import GraphCaptureError

#: Backends that can capture a step as a graph.
GRAPH_BACKENDS = ("cupy", "replay")

_capturing: list[B.Backend] = []
_device_rng_depth = 0
_generators: dict[B.Backend, "DeviceGenerator"] = {}


# ------------------------------------------------------------------ device random numbers
_M32 = 0xFFFFFFFF


def _mul32(a: Any, c: int) -> Any:
    """``a * c mod 2**32`` for int64 ``a`` in [0, 2**32) and a Python ``c`` < 2**32, without overflowing int64:
    ``c`` is split in 16-bit halves (each product < 2**48)."""
    lo, hi = c & 0xFFFF, c >> 16
    return (a * lo + ((a * hi) & 0xFFFF) * 65536) & _M32


def _hash32(x: Any) -> Any:
    """A 32-bit integer hash with good avalanche (Wellons' lowbias32), on int64 arrays holding 32-bit values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


class DeviceGenerator:
    """Counter-based random bits on the device: element ``i`` of a draw is ``hash(hash(i ^ key) + key)`` with
    ``key = hash(seed ^ hash(counter))``; ``seed`` and ``counter`` are 0-d int64 device arrays, and each draw
    advances ``counter`` by one with an in-place device operation. Inside a captured graph the draw reads the
    counter at each replay and advances it, so no two replays repeat a mask; eager code using the same
    generator draws the same sequence. Standard integer operations only, so every backend runs it."""

    def __init__(self, backend: B.Backend):
        self.backend = backend
        xp, int64 = backend.xp, backend.dtype(_int64())
        self.seed = xp.zeros((), dtype=int64, device=backend.device)
        self.counter = xp.zeros((), dtype=int64, device=backend.device)

    def reseed(self) -> None:
        """Draw a new seed from the backend's generator (``anynn.manual_seed`` makes it reproducible) and reset
        the counter, in place (outside a capture; the graph reads both by reference)."""
        self.seed[...] = self.backend.randint(0, 2 ** 31, ())
        self.counter[...] = 0

    def bits(self, shape: tuple[int, ...]) -> Any:
        """Uniform 32-bit integers (int64 values in [0, 2**32)) of ``shape``; advances the counter."""
        xp = self.backend.xp
        index = xp.arange(math.prod(shape), dtype=self.counter.dtype, device=self.backend.device)
        key = _hash32((self.seed & _M32) ^ _hash32(self.counter & _M32))
        out = _hash32((_hash32(index ^ key) + key) & _M32)
        self.counter += 1
        return xp.reshape(out, shape)

    def keep_mask(self, shape: tuple[int, ...], p: float) -> Any:
        """Booleans, each True with probability ``1 - p`` (to 2**-32): dropout's kept elements."""
        return self.bits(shape) >= min(int(round(p * 2.0 ** 32)), 2 ** 32)


def _int64():
    from anynn import dtypes

    return dtypes.int64


def device_generator(backend: B.Backend) -> DeviceGenerator:
    """The device generator of ``backend`` (made, and seeded from the backend's generator, at first use; a
    capture makes it before it begins)."""
    generator = _generators.get(backend)
    if generator is None:
        if backend in _capturing:
            raise GraphCaptureError("the device random generator must exist before a capture begins; "
                                    "anynn.cuda_graphs.CUDAGraph.capture_begin makes it")
        generator = _generators[backend] = DeviceGenerator(backend)
        generator.reseed()
    return generator


def reseed_device_generators(*backends: B.Backend) -> None:
    """Reseed the device generators of ``backends`` (made if missing) and every other existing one from their
    backends' generators, one draw each (``fit`` does it at each epoch start, after ``anynn.manual_seed``, so a
    resumed run draws the masks of an uninterrupted one)."""
    for backend in backends:
        if backend not in _generators:
            _generators[backend] = DeviceGenerator(backend)
    for generator in _generators.values():
        generator.reseed()


def capturing() -> bool:
    """Whether a CUDA-graph capture is open (state made now would be made again, from baked values, at every
    replay: optimizers and generators refuse to make theirs)."""
    return bool(_capturing)


def use_device_rng() -> bool:
    """Whether random ops (dropout) draw from the device generator now: while capturing or in :func:`device_rng`."""
    return bool(_capturing) or _device_rng_depth > 0


@contextlib.contextmanager
def device_rng() -> Iterator[None]:
    """Draw dropout masks from the device generator in this block, as a captured step does, so an eager run
    makes the same draws as a replayed one (fresh generators, seeded from the backends' generators)."""
    global _device_rng_depth
    if _device_rng_depth == 0:
        _generators.clear()
    _device_rng_depth += 1
    try:
        yield
    finally:
        _device_rng_depth -= 1


# ------------------------------------------------------------------ capture and replay
def _check_backend(backend: B.Backend) -> None:
    if backend.name not in GRAPH_BACKENDS:
        raise B.BackendUnavailable(f"CUDA graphs need the cupy backend (or the replay backend that emulates it on the "
                                f"CPU), not {backend.name!r}; run with ANYNN_BACKEND=cupy, or leave graphs off")


def _begin(backend: B.Backend) -> Any:
    if backend.name == "replay":
        return backend.begin_capture()
    from anynn.backends.cupy_graphs import begin_capture

    return begin_capture(backend)


class CUDAGraph:
    """One captured sequence of device work (``torch.cuda.CUDAGraph``): :meth:`capture_begin`, the work,
    :meth:`capture_end`; then :meth:`replay` as often as wanted."""

    def __init__(self) -> None:
        self.backend: B.Backend | None = None
        self._capture: Any = None
        self._graph: Any = None

    def capture_begin(self, backend: B.Backend | None = None) -> None:
        """Start capturing the work queued on ``backend`` (default: the current backend)."""
        backend = backend or B.get_backend()
        _check_backend(backend)
        if self._capture is not None or self._graph is not None:
            raise GraphCaptureError("this CUDAGraph is already captured (or capturing); call reset() first")
        device_generator(backend)  # made outside the capture: its state is read by reference inside
        self.backend = backend
        self._capture = _begin(backend)
        _capturing.append(backend)

    def capture_end(self) -> None:
        """Finish the capture; the graph is ready to :meth:`replay`."""
        if self._capture is None:
            raise GraphCaptureError("capture_end() without capture_begin()")
        try:
            self._graph = self._capture.end()
        finally:
            self._capture = None
            _capturing.remove(self.backend)

    def abort(self) -> None:
        """Drop a capture that failed (the arrays it wrote into are as before it began, on the replay backend)."""
        if self._capture is not None:
            try:
                self._capture.end()
            except Exception:  # noqa: BLE001 - the error that made us abort is the one to report
                pass
            finally:
                self._capture = None
                _capturing.remove(self.backend)

    def replay(self) -> None:
        """Run the captured work again, reading the current contents of every array it reads."""
        if self._graph is None:
            raise GraphCaptureError("replay() before the graph was captured (capture_begin ... capture_end)")
        self._graph.replay()

    def reset(self) -> None:
        """Forget the captured graph (its memory is freed once nothing refers to it)."""
        self.abort()
        self._graph = None

    @property
    def launches(self) -> int | None:
        """Kernels one replay launches, where the backend can tell (the replay backend counts them)."""
        return getattr(self._graph, "launches", None)


@contextlib.contextmanager
def graph(cuda_graph: CUDAGraph, backend: B.Backend | None = None) -> Iterator[CUDAGraph]:
    """``with anynn.cuda.graph(g): out = step(static_x)`` captures the block into ``g`` (nothing runs yet)."""
    cuda_graph.capture_begin(backend)
    try:
        yield cuda_graph
    except BaseException:
        cuda_graph.abort()
        raise
    cuda_graph.capture_end()


class GraphedStep:
    """``step_fn(*inputs)`` run eagerly for ``warmup`` calls, then captured once and replayed for every later
    call; each call first copies its inputs into static input tensors (same shapes and dtypes every call).

    The outputs after the warm-up are the same Tensors at every call, overwritten by each replay: read (or
    copy) them before the next call. ``optimizers`` are made capturable, and their device scalars are written
    from the host values before every call, so learning-rate schedules reach the graph. A step the graph cannot
    capture raises at capture, naming the op (a host read, an upload, a host random draw).

    ``modules``: the parameters and buffers of these modules keep their arrays across replays. A step that
    rebinds one (``t.array = new``, as BatchNorm does with its running statistics) would leave the graph reading
    the old array forever; so the capture ends with a copy of each rebound tensor's new array into its old one
    (one launch each) and binds it to the old one again, and a tensor rebound between calls (an eager step) is
    copied back into the graph's array before the next replay."""

    def __init__(self, step_fn: Callable[..., Any], example_inputs: Sequence[Tensor], *, warmup: int = 1,
                 optimizers: Sequence[Any] = (), modules: Sequence[Any] = ()):
        from anynn.optim.capturable import make_capturable

        if warmup < 1:
            raise ValueError(f"GraphedStep: warmup must be at least 1 (an eager step creates the optimizer state "
                             f"and compiles the kernels the capture records), got {warmup}")
        self.step_fn, self.warmup, self.optimizers = step_fn, int(warmup), list(optimizers)
        self.modules = list(modules)
        self._bound: list[tuple[Tensor, Any]] = []
        self.rebound = 0  # tensors of ``modules`` the step rebinds: one captured copy each
        with no_grad():
            self.static_inputs = tuple(x.detach().clone() for x in example_inputs)
        self.backend = self.static_inputs[0].backend
        _check_backend(self.backend)
        for optimizer in self.optimizers:
            make_capturable(optimizer)
        self.graph = CUDAGraph()
        self.outputs: Any = None
        self.calls = 0

    def accepts(self, *inputs: Tensor) -> bool:
        """Whether ``inputs`` fit the static inputs (shapes, dtypes, backend): a last, smaller batch does not."""
        return len(inputs) == len(self.static_inputs) and all(
            x.shape == s.shape and x.dtype == s.dtype and x.backend is s.backend
            for x, s in zip(inputs, self.static_inputs))

    def __call__(self, *inputs: Tensor) -> Any:
        if not self.accepts(*inputs):
            raise ValueError(f"GraphedStep: inputs {[tuple(x.shape) for x in inputs]} do not match the captured "
                             f"static inputs {[tuple(s.shape) for s in self.static_inputs]} (shapes, dtypes and "
                             "backend must be the same every call); run such a batch eagerly")
        with no_grad():
            for static, x in zip(self.static_inputs, inputs):
                static.copy_(x)
        from anynn.optim.capturable import sync_device_scalars

        for optimizer in self.optimizers:
            sync_device_scalars(optimizer)
        self.calls += 1
        if self.calls <= self.warmup:
            return self.step_fn(*self.static_inputs)
        if self.outputs is None:
            self._capture()
        for tensor, array in self._bound:
            if tensor.array is not array:  # rebound by an eager step since: its value goes where the graph reads
                array[...] = tensor.array
                tensor.array = array
        self.graph.replay()
        return self.outputs

    def _capture(self) -> None:
        tensors = [t for module in self.modules for t in (*module.parameters(), *module.buffers())]
        before = [(t, t.array) for t in tensors]
        with graph(self.graph, self.backend):
            self.outputs = self.step_fn(*self.static_inputs)
            for tensor, array in before:
                if tensor.array is not array:
                    array[...] = tensor.array  # captured: each replay leaves the new value where the graph reads
                    tensor.array = array
                    self.rebound += 1
        self._bound = before

    @property
    def launches(self) -> int | None:
        """Kernels one replay launches (replay backend), None before the capture or where unknown."""
        return self.graph.launches


__all__ = ["CUDAGraph", "DeviceGenerator", "GRAPH_BACKENDS", "GraphCaptureError", "GraphedStep", "capturing",
           "device_generator",
           "device_rng", "graph", "reseed_device_generators", "use_device_rng"]
