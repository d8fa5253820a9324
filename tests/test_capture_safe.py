"""A training step of every bench model, and ``fit`` with each scheduler, gradient clipping, augmentation and
each optimizer, read nothing back from the device and upload nothing while they run, as the cupy backend
executes them: the capture-safe mode (``anynn.profiler.capture_safe``) raises on the first host read or upload,
naming the op; ``fit`` reads only at its log points and epoch ends (``profiler.host_point``)."""
from __future__ import annotations

import io

import pytest

import anynn
from anynn import profiler
from anynn.backends import backend_for
from anynn.bench import AnynnRun
from anynn.data import DataLoader, TensorDataset
from anynn.data import transforms as T
from anynn.optim import lr_scheduler as S

MIRROR = "cupy"


@pytest.mark.parametrize("model", ["mlp", "lenet5", "vgg_small", "resnet18"])
def test_bench_model_steps_are_capture_safe(model):
    run = AnynnRun(model, backend_for("counting", MIRROR), images=16, batch_size=8)
    run.step(*run.batches[0])  # warm-up: optimizer state is created here, outside any captured step
    with profiler.capture_safe(), profiler.count() as tally:
        run.step(*run.batches[1])
    assert tally.syncs == 0 and tally.uploads == 0 and tally.launches > 0


def _data(n: int = 48, side: int = 12):
    x = anynn.randn(n, 1, side, side)
    y = anynn.randint(0, 10, (n,))
    return TensorDataset(x, y)


def _model():
    """Ten parameters: more than CuPy joins with one kernel (and an upload) when arrays are concatenated."""
    nn = anynn.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


SCHEDULERS = {
    "none": lambda opt: None,
    "step": lambda opt: S.StepLR(opt, step_size=1, gamma=0.5),
    "multistep": lambda opt: S.MultiStepLR(opt, milestones=[1]),
    "exponential": lambda opt: S.ExponentialLR(opt, gamma=0.9),
    "cosine": lambda opt: S.CosineAnnealingLR(opt, T_max=2),
    "linear": lambda opt: S.LinearLR(opt, start_factor=0.5, total_iters=2),
    "constant": lambda opt: S.ConstantLR(opt, factor=0.5, total_iters=1),
    "lambda": lambda opt: S.LambdaLR(opt, lambda epoch: 0.9 ** epoch),
    "sequential": lambda opt: S.SequentialLR(opt, [S.ConstantLR(opt, factor=0.5, total_iters=1),
                                                   S.ExponentialLR(opt, gamma=0.9)], milestones=[1]),
    "plateau": lambda opt: S.ReduceLROnPlateau(opt, patience=0),
}
OPTIMIZERS = {
    "sgd": lambda p: anynn.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda p: anynn.optim.Adam(p, lr=1e-3),
    "adamw": lambda p: anynn.optim.AdamW(p, lr=1e-3, amsgrad=True),
    "rmsprop": lambda p: anynn.optim.RMSprop(p, lr=1e-3, momentum=0.5),
    "adagrad": lambda p: anynn.optim.Adagrad(p, lr=1e-2),
    "adadelta": lambda p: anynn.optim.Adadelta(p),
}


def _fit(optimizer: str, scheduler: str, tmp_path=None) -> None:
    backend = backend_for("counting", MIRROR)
    with anynn.use_backend(backend):
        anynn.manual_seed(0)
        augment = T.Compose([T.RandomCrop(12, padding=2), T.RandomHorizontalFlip()])
        train = DataLoader(_data(), batch_size=8, shuffle=True, transform=augment)
        val = DataLoader(_data(16), batch_size=8)
        model = _model()
        opt = OPTIMIZERS[optimizer](model.parameters())
        checkpoint = None if tmp_path is None else str(tmp_path / "run.anynn")
        with profiler.capture_safe():
            history = anynn.training.fit(model, train, opt, epochs=2, val_loader=val,
                                         scheduler=SCHEDULERS[scheduler](opt), clip_grad_norm=1.0,
                                         checkpoint=checkpoint, progress=False, log_every=3, out=io.StringIO())
    assert len(history) == 2


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_fit_with_each_scheduler_is_capture_safe(scheduler):
    _fit("sgd", scheduler)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_fit_with_each_optimizer_is_capture_safe(optimizer, tmp_path):
    _fit(optimizer, "cosine", tmp_path)


def test_a_sync_inside_the_step_is_named():
    """The mode is not vacuous: a loss read inside the step is caught, with the op and what to do."""
    backend = backend_for("counting", MIRROR)
    run = AnynnRun("mlp", backend, images=16, batch_size=8)
    run.step(*run.batches[0])
    with profiler.capture_safe(), pytest.raises(profiler.HostSyncError, match=r"Tensor\.item reads a value back"):
        run.step(*run.batches[1]).item()
