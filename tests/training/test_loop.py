"""fit/evaluate: learning happens, history and checkpoints are right, resume reproduces, NaN stops with help."""
from __future__ import annotations

import io

import numpy as np
import pytest

import anynn
from anynn import nn
from anynn.data import DataLoader, TensorDataset
from anynn.training import NonFiniteLossError, evaluate, fit
from helpers import blobs


def _model():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def _run(epochs, checkpoint=None, resume=False, seed=0):
    anynn.manual_seed(123)
    model = _model()
    x, y = blobs(256)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=seed)
    opt = anynn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = anynn.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, loader, opt, epochs, val_loader=DataLoader(TensorDataset(x, y), batch_size=64),
                  scheduler=sched, checkpoint=checkpoint, resume=resume, seed=seed, progress=False,
                  log_every=3, out=io.StringIO())
    return model, history


def test_fit_learns_and_records_history(backend):
    model, history = _run(3)
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] > 0.9
    assert history["lr"] == [0.1, 0.05, 0.025]
    x, y = blobs(256)
    result = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=100))
    assert result["acc"] == pytest.approx(history["val_acc"][-1])


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(backend, tmp_path):
    straight, _ = _run(3)
    ckpt = str(tmp_path / "run.anynn")
    _run(1, checkpoint=ckpt)
    resumed, history = _run(3, checkpoint=ckpt, resume=True)
    assert len(history) == 3
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_non_finite_loss_stops_with_guidance(backend):
    x, y = blobs(256)
    x = x * 1e30
    model = _model()
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    opt = anynn.optim.SGD(model.parameters(), lr=10.0)
    with pytest.raises(NonFiniteLossError, match=r"NaN/inf at step \d+ \(epoch 1\).*lower learning rate"):
        fit(model, loader, opt, 2, progress=False, log_every=2, out=io.StringIO())


def test_integer_images_are_refused_with_a_hint(backend):
    x = anynn.tensor(np.zeros((8, 8), dtype=np.uint8))
    y = anynn.tensor(np.zeros(8, dtype=np.int64))
    model = _model()
    opt = anynn.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="raw images must be scaled first"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=4), opt, 1, progress=False, out=io.StringIO())


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    _, history = _run(2)
    assert history.plot(str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").stat().st_size > 1000
