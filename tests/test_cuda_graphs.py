"""Whole-step CUDA graphs, proven on the CPU with the replay backend (``anynn/backends/replay.py``).

The replay backend records a captured step as a CUDA stream capture would (operations with their arrays by
reference and their Python numbers baked in, graph memory rewritten in place at each replay, nothing run at
capture) and replays it. So a captured trajectory equals the eager one only when the step is really graph-safe:
learning rates, momenta and step counts must live on the device, dropout must draw from the device generator,
state must be updated where the graph reads it. The first tests show the emulator catches each of those
mistakes; the rest show anynn's graph path makes none of them, for the bench models, both optimizers and the
schedulers, in ``GraphedStep`` and in ``fit(cuda_graph=True)``.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

import anynn
from anynn.optim.capturable import make_capturable
from anynn import nn, profiler
from anynn.backends import BackendUnavailable, backend_for
from anynn.cli import main
from anynn.bench.workload import image_shape
from anynn.cuda_graphs import CUDAGraph, GraphCaptureError, GraphedStep, device_generator, device_rng, graph
from anynn.data import DataLoader, TensorDataset
from anynn.models import get_model
from anynn.nn.normalization import _BatchNorm
from anynn.optim import lr_scheduler as S

STEPS = 5


@pytest.fixture
def replay():
    backend = backend_for("replay")
    with anynn.use_backend(backend):
        yield backend


def _batches(model_name: str, n: int = STEPS, batch: int = 4, seed: int = 1):
    c, h, w = image_shape(model_name)
    rng = np.random.default_rng(seed)
    return [(anynn.tensor(rng.standard_normal((batch, c, h, w))), anynn.tensor(rng.integers(0, 10, batch)))
            for _ in range(n)]


def _model(name: str, dropout: float = 0.0):
    c, side, _ = image_shape(name)
    extra = {"dropout": dropout} if name == "mlp" else {}
    return get_model(name, in_channels=c, image_size=side, num_classes=10, **extra).double()


def _capturable(optimizer, capturable: bool):
    """``optimizer`` in device-scalar mode where asked (PyTorch's SGD takes no ``capturable=``)."""
    if capturable:
        make_capturable(optimizer)
    return optimizer


OPTIMIZERS = {
    "sgd": lambda params, capturable: _capturable(anynn.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True,
                                                                  weight_decay=1e-4), capturable),
    "adam": lambda params, capturable: anynn.optim.Adam(params, lr=1e-3, capturable=capturable),
}


def _trajectory(model_name: str, optimizer: str, graphed: bool, *, capturable: bool = True, dropout: float = 0.0,
                modules: bool = True, sync: bool = True):
    """Losses, final parameters and buffers of STEPS steps (StepLR halving the rate every step), eager or as one
    captured graph replayed; both draw dropout masks from the device generator."""
    anynn.manual_seed(0)
    with device_rng():
        model = _model(model_name, dropout)
        opt = OPTIMIZERS[optimizer](model.parameters(), capturable)
        scheduler = S.StepLR(opt, step_size=1, gamma=0.5)
        loss_fn = nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        data = _batches(model_name)
        run = GraphedStep(step, data[0], optimizers=[opt] if sync else [],
                          modules=[model] if modules else []) if graphed else step
        losses = []
        for x, y in data:
            losses.append(float(run(x, y).detach().numpy()))
            scheduler.step()
        state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return losses, state, run


def _assert_same(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys()
    for key in a[1]:
        np.testing.assert_array_equal(a[1][key], b[1][key], err_msg=key)


# ------------------------------------------------------------------ the emulator is not vacuous
def test_a_rate_kept_as_a_python_float_is_baked_in(replay):
    """Without capturable groups the scheduler's new rates never reach the graph: the trajectories part."""
    eager = _trajectory("mlp", "sgd", False, capturable=False)
    captured = _trajectory("mlp", "sgd", True, capturable=False, sync=False)
    assert eager[0][:2] == captured[0][:2]  # the warm-up step and the first replay use the captured rate
    assert eager[0][2:] != captured[0][2:]


def test_adam_step_count_kept_in_python_is_baked_in(replay):
    """A Python step count (bias correction) stays the captured one; a constant rate isolates it."""
    def run(graphed, capturable):
        anynn.manual_seed(0)
        model = _model("mlp")
        opt = anynn.optim.Adam(model.parameters(), lr=1e-3, capturable=capturable)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        run = GraphedStep(step, _batches("mlp")[0]) if graphed else step
        return [float(run(x, y).detach().numpy()) for x, y in _batches("mlp")]

    assert run(True, False) != run(False, False)
    assert run(True, True) == run(False, True)


def test_a_rebound_buffer_is_stale_unless_the_step_keeps_it(replay):
    """BatchNorm rebinds its running statistics: a graph would read the pre-capture arrays forever. Without
    ``modules`` the captured statistics diverge (losses do not: training uses batch statistics)."""
    eager = _trajectory("vgg_small", "sgd", False)
    stale = _trajectory("vgg_small", "sgd", True, modules=False)
    assert eager[0] == stale[0]
    assert not np.array_equal(eager[1]["1.running_mean"], stale[1]["1.running_mean"])
    _assert_same(eager, _trajectory("vgg_small", "sgd", True))


def test_capture_runs_nothing(replay):
    """Arrays that existed before the capture hold their old values after it: the first replay is the first run."""
    w = anynn.tensor(np.arange(4.0))
    g = CUDAGraph()
    with graph(g):
        w.array += 1.0
    np.testing.assert_array_equal(w.numpy(), np.arange(4.0))
    g.replay()
    g.replay()
    np.testing.assert_array_equal(w.numpy(), np.arange(4.0) + 2)
    assert g.launches == 1


# ------------------------------------------------------------------ what cannot be captured says why
def test_a_host_read_inside_the_step_is_named(replay):
    x = anynn.tensor(np.ones(3))
    g = CUDAGraph()
    with pytest.raises(profiler.HostSyncError, match=r"Tensor\.item reads a value back"):
        with graph(g):
            (x * 2).sum().item()
    with graph(CUDAGraph()):  # the failed capture was closed: a new one can begin
        x * 2


def test_a_host_random_draw_inside_the_step_is_refused(replay):
    with pytest.raises(GraphCaptureError, match=r"rand\(\) draws from the backend's host-seeded generator"):
        with graph(CUDAGraph()):
            anynn.rand(3)


def test_an_upload_inside_the_step_is_named(replay):
    with pytest.raises(profiler.HostSyncError, match="uploads host data"):
        with graph(CUDAGraph()):
            anynn.tensor(np.ones(3)) * 2


@pytest.mark.parametrize("name", ["numpy", "counting"])
def test_other_backends_refuse_clearly(name):
    backend = backend_for(name)
    with pytest.raises(BackendUnavailable, match=r"CUDA graphs need the cupy backend.*ANYNN_BACKEND=cupy"):
        CUDAGraph().capture_begin(backend)


# ------------------------------------------------------------------ captured == eager
@pytest.mark.parametrize("model,optimizer", [(model, optimizer) for model in ("mlp", "lenet5", "vgg_small")
                                             for optimizer in OPTIMIZERS] + [("resnet18", "sgd")])
def test_captured_trajectory_equals_eager(replay, model, optimizer):
    eager = _trajectory(model, optimizer, False)
    captured = _trajectory(model, optimizer, True)
    _assert_same(eager, captured)


def test_dropout_draws_new_masks_at_every_replay_and_matches_eager(replay):
    eager = _trajectory("mlp", "sgd", False, dropout=0.5)
    captured = _trajectory("mlp", "sgd", True, dropout=0.5)
    _assert_same(eager, captured)
    assert len(set(captured[0])) == len(captured[0])


def test_device_generator_replays_advance_the_counter(replay):
    anynn.manual_seed(0)
    with device_rng():
        eager = [device_generator(replay).bits((64,)).copy() for _ in range(3)]
    anynn.manual_seed(0)
    with device_rng():
        gen = device_generator(replay)
        g = CUDAGraph()
        with graph(g):
            bits = gen.bits((64,))
        replayed = []
        for _ in range(3):
            g.replay()
            replayed.append(np.asarray(bits).copy())
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert not np.array_equal(replayed[0], replayed[1]) and not np.array_equal(replayed[1], replayed[2])
    assert all(0 <= b.min() and b.max() < 2 ** 32 for b in replayed)
    keep = np.concatenate(replayed) >= 2 ** 31  # half kept, within 4 standard deviations
    assert abs(keep.mean() - 0.5) < 4 * 0.5 / np.sqrt(keep.size)


def test_device_generator_runs_on_every_backend(backend):
    """Standard integer operations only: the same bits on every backend for the same seed, reproducible, new
    bits at every draw, and dropout's keep mask with the asked probability."""
    def draws():
        anynn.manual_seed(3)
        with device_rng():
            generator = device_generator(backend)
            generator.seed[...] = 12345  # the same seed on every backend (their generators differ)
            return [backend.to_numpy(generator.bits((2000,))) for _ in range(2)]
    first, second = draws()
    np.testing.assert_array_equal(first, draws()[0])
    assert not np.array_equal(first, second)
    assert first.min() >= 0 and first.max() < 2 ** 32 and len(np.unique(first)) > 1990
    reference = _reference_bits(12345, 0, 2000)
    np.testing.assert_array_equal(first, reference)
    with device_rng():
        keep = backend.to_numpy(device_generator(backend).keep_mask((20000,), 0.3))
    assert abs(keep.mean() - 0.7) < 4 * np.sqrt(0.21 / keep.size)


def _reference_bits(seed: int, counter: int, n: int) -> np.ndarray:
    """The generator's formula in plain Python integers (mod 2**32 arithmetic)."""
    def h(x: int) -> int:
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)
    key = h((seed & 0xFFFFFFFF) ^ h(counter & 0xFFFFFFFF))
    return np.array([h((h(i ^ key) + key) & 0xFFFFFFFF) for i in range(n)], dtype=np.int64)


def test_capturable_updates_match_the_host_updates(replay):
    """Device scalars compute what the Python floats do (to rounding: the bias correction's powers)."""
    for optimizer in OPTIMIZERS:
        host = _trajectory("mlp", optimizer, False, capturable=False)
        device = _trajectory("mlp", optimizer, False, capturable=True)
        np.testing.assert_allclose(host[0], device[0], rtol=1e-12)
        for key in host[1]:
            np.testing.assert_allclose(host[1][key], device[1][key], rtol=1e-10, atol=1e-14, err_msg=key)


# ------------------------------------------------------------------ launches per captured step
@pytest.mark.parametrize("model", ["mlp", "lenet5", "vgg_small", "resnet18"])
def test_a_replay_launches_what_an_eager_step_launches(replay, model, capsys):
    """The graph holds one node per kernel an eager step launches (counted the same way on the counting
    backend's rules), and a call launches the graph plus one copy per static input; the number is the
    README's."""
    _, _, run = _trajectory(model, "sgd", True)
    x, y = _batches(model, 1)[0]
    with profiler.count() as replayed:
        run(x, y)
    with profiler.count() as eager:  # after the replay: an eager step rebinds the statistics again
        run.step_fn(x, y)
    assert run.launches == eager.launches + run.rebound  # BatchNorm's rebound statistics: one copy each
    assert run.rebound == 3 * sum(isinstance(m, _BatchNorm) for m in run.modules[0].modules())
    assert replayed.launches == run.launches + 2  # copies of x and y into the static inputs
    with capsys.disabled():
        print(f"\n{model}: {run.launches} launches per captured step ({run.rebound} of them copies of rebound "
              f"BatchNorm statistics), SGD momentum, batch 4")


# ------------------------------------------------------------------ fit(cuda_graph=True)
SCHEDULERS = {
    "step": lambda opt: S.StepLR(opt, step_size=1, gamma=0.5),
    "cosine": lambda opt: S.CosineAnnealingLR(opt, T_max=3),
    "onecycle": lambda opt: S.OneCycleLR(opt, max_lr=0.1, total_steps=3),
    "plateau": lambda opt: S.ReduceLROnPlateau(opt, patience=0, factor=0.5),
    "multistep": lambda opt: S.MultiStepLR(opt, milestones=[1]),
    "exponential": lambda opt: S.ExponentialLR(opt, gamma=0.9),
    "linear": lambda opt: S.LinearLR(opt, start_factor=0.5, total_iters=2),
    "constant": lambda opt: S.ConstantLR(opt, factor=0.5, total_iters=1),
    "lambda": lambda opt: S.LambdaLR(opt, lambda epoch: 0.9 ** epoch),
    "sequential": lambda opt: S.SequentialLR(opt, [S.ConstantLR(opt, factor=0.5, total_iters=1),
                                                   S.ExponentialLR(opt, gamma=0.9)], milestones=[1]),
}


def _fit(graphed: bool, scheduler: str, optimizer: str = "sgd", dropout: float = 0.3):
    anynn.manual_seed(0)
    rng = np.random.default_rng(0)
    x = anynn.tensor(rng.standard_normal((38, 1, 28, 28)))
    y = anynn.tensor(rng.integers(0, 10, 38))
    with device_rng():
        model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                              nn.Dropout(dropout), nn.Linear(4 * 13 * 13, 10)).double()
        opt = OPTIMIZERS[optimizer](model.parameters(), True)
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)  # 4 full batches and one of 6
        with profiler.capture_safe():
            history = anynn.training.fit(model, loader, opt, 3, scheduler=SCHEDULERS[scheduler](opt),
                                         clip_grad_norm=1.0, progress=False, log_every=2, out=io.StringIO(),
                                         cuda_graph=graphed)
        state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return history["train_loss"], state


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_fit_with_a_graph_equals_eager_fit(replay, scheduler, monkeypatch):
    replays = []
    original = CUDAGraph.replay
    monkeypatch.setattr(CUDAGraph, "replay", lambda self: (replays.append(1), original(self))[1])
    _assert_same(_fit(False, scheduler), _fit(True, scheduler))
    assert len(replays) == 3 * 4 - 1  # every full batch of the 3 epochs but the warm-up; the last batch (6) eager


def test_fit_with_a_graph_and_adam(replay):
    _assert_same(_fit(False, "onecycle", "adam"), _fit(True, "onecycle", "adam"))


def test_fit_with_a_graph_resumes_to_the_uninterrupted_run(replay, tmp_path):
    """Adam's device step count goes through the checkpoint, and the device generator is reseeded at each epoch
    start, so a run resumed after epoch 2 ends where an uninterrupted one does (dropout included)."""
    def run(epochs, checkpoint=None, resume=False):
        anynn.manual_seed(0)
        rng = np.random.default_rng(0)
        x, y = anynn.tensor(rng.standard_normal((40, 8))), anynn.tensor(rng.integers(0, 3, 40))
        model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                              nn.Linear(16, 3)).double()
        opt = anynn.optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
        history = anynn.training.fit(model, loader, opt, epochs, scheduler=S.StepLR(opt, 1, 0.5), progress=False,
                                     out=io.StringIO(), cuda_graph=True, checkpoint=checkpoint, resume=resume)
        return history["train_loss"], {k: v.numpy().copy() for k, v in model.state_dict().items()}

    checkpoint = str(tmp_path / "run.anynn")
    run(2, checkpoint)
    _assert_same(run(3), run(3, checkpoint, resume=True))


def test_fit_refuses_graphs_on_other_backends():
    with anynn.use_backend("numpy"):
        model = nn.Linear(3, 2)
        loader = DataLoader(TensorDataset(anynn.randn(4, 3), anynn.randint(0, 2, (4,))), batch_size=2)
        with pytest.raises(BackendUnavailable, match="CUDA graphs need the cupy backend"):
            anynn.training.fit(model, loader, anynn.optim.SGD(model.parameters(), lr=0.1), 1, progress=False,
                               out=io.StringIO(), cuda_graph=True)


FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


@pytest.mark.skipif(not os.path.exists(FASHION), reason="Fashion-MNIST is not installed (apt-get install "
                    "dataset-fashion-mnist)")
def test_train_cuda_graph_command(capsys):
    argv = ["train", "--model", "mlp", "--dropout", "0.2", "--epochs", "1", "--limit", "300", "--batch-size", "64",
            "--schedule", "cosine", "--no-progress", "--no-download", "--cuda-graph"]
    assert main(argv + ["--backend", "replay"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(argv + ["--backend", "numpy"]) == 2
    assert "CUDA graphs need the cupy backend" in capsys.readouterr().err


# ------------------------------------------------------------------ the cupy capture, without a GPU
class _FakeStream:
    def __init__(self, log, name="capture", fail=False):
        self.log, self.name, self.fail = log, name, fail

    def use(self):
        self.log.append(("use", self.name))

    def begin_capture(self):
        self.log.append(("begin", self.name))

    def end_capture(self):
        if self.fail:
            raise RuntimeError("cudaErrorStreamCaptureInvalidated")
        self.log.append(("end", self.name))
        return _FakeGraph(self.log)


class _FakeGraph:
    def __init__(self, log):
        self.log = log

    def launch(self, stream=None):
        self.log.append(("launch", stream.name))


def _fake_cupy(log, fail=False):
    from types import SimpleNamespace

    state = {"allocator": "default", "stream": _FakeStream(log, "null")}

    def set_allocator(allocator):
        state["allocator"] = allocator
        log.append(("allocator", "pool" if allocator != "default" else "default"))

    cuda = SimpleNamespace(MemoryPool=lambda: SimpleNamespace(malloc="pool.malloc"),
                           get_allocator=lambda: state["allocator"], set_allocator=set_allocator,
                           get_current_stream=lambda: state["stream"],
                           Stream=lambda non_blocking: _FakeStream(log, fail=fail))
    backend = SimpleNamespace(cupy=SimpleNamespace(cuda=cuda), synchronize=lambda: log.append(("sync",)),
                              _ensure=lambda: None)
    return backend, state


def test_cupy_capture_sequence_with_a_stand_in_for_cupy():
    """The calls the cupy capture makes, in order, on a stand-in for CuPy: synchronise, private pool, capture
    stream, capture, then the allocator, the stream and numba's stream sync as they were; replays launch on the
    caller's current stream; a failed capture restores the same and says how to find the op."""
    from anynn.backends import cupy_graphs

    log = []
    backend, state = _fake_cupy(log)
    config, sync = cupy_graphs._numba_config()
    capture = cupy_graphs.begin_capture(backend)
    assert config is None or config.CUDA_ARRAY_INTERFACE_SYNC == 0
    graph_ = capture.end()
    graph_.replay()
    assert log == [("sync",), ("allocator", "pool"), ("use", "capture"), ("begin", "capture"), ("end", "capture"),
                   ("use", "null"), ("allocator", "default"), ("launch", "null")]
    assert state["allocator"] == "default" and (config is None or config.CUDA_ARRAY_INTERFACE_SYNC == sync)
    log.clear()
    backend, state = _fake_cupy(log, fail=True)
    with pytest.raises(RuntimeError, match="capture_safe.*ANYNN_BACKEND=replay"):
        cupy_graphs.begin_capture(backend).end()
    assert log[-2:] == [("use", "null"), ("allocator", "default")]
    assert config is None or config.CUDA_ARRAY_INTERFACE_SYNC == sync


def test_the_cupy_calls_exist_in_the_installed_cupy():
    cupy = pytest.importorskip("cupy")
    for name in ("MemoryPool", "get_allocator", "set_allocator", "get_current_stream", "Stream", "Graph"):
        assert hasattr(cupy.cuda, name), name
    for name in ("use", "begin_capture", "end_capture"):
        assert hasattr(cupy.cuda.Stream, name), name
    assert hasattr(cupy.cuda.Graph, "launch")


def test_optimizer_state_made_inside_a_capture_is_refused(replay):
    """Without a warm-up step the device scalars would be created inside the graph, from the captured values,
    at every replay (a schedule would never reach it): refused, saying what to do."""
    model = _model("mlp")
    opt = _capturable(anynn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), True)
    x, y = _batches("mlp", 1)[0]
    with pytest.raises(GraphCaptureError, match=r"SGD's device scalar for 'lr'.*run one eager step"):
        with graph(CUDAGraph()):
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
