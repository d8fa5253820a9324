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


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the loss is driven to overflow on purpose
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


def test_non_finite_loss_hint_mentions_labels(backend):
    """A NaN loss that anynn's losses cannot explain (here a custom loss_fn) still points at the labels."""
    x, y = blobs(64)
    model = _model()
    opt = anynn.optim.SGD(model.parameters(), lr=0.1)
    nan_loss = lambda logits, target: (logits * float("nan")).mean()  # noqa: E731
    with pytest.raises(NonFiniteLossError, match=r"check the labels too: a class label outside \[0, number of "
                                                 r"classes\) \(1-based labels, a padding id\) makes the loss NaN"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=32), opt, 1, loss_fn=nan_loss, progress=False,
            out=io.StringIO())


def _bad_label_run(bad_at: int, log_every: int = 50, val: bool = False, around=None):
    import contextlib

    x, y = blobs(64)
    labels = y.numpy().copy()
    labels[bad_at] = 3  # three classes: 3 is one past the last
    y = anynn.tensor(labels)
    model = _model()
    opt = anynn.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    good = DataLoader(TensorDataset(x, anynn.tensor(np.clip(labels, 0, 2))), batch_size=16)
    train, val_loader = (good, loader) if val else (loader, None)
    with around or contextlib.nullcontext():
        return fit(model, train, opt, 1, val_loader=val_loader, progress=False, log_every=log_every,
                   out=io.StringIO())


def test_fit_names_an_out_of_range_label_at_once_on_host_backends(backend):
    with pytest.raises(IndexError, match=r"^CrossEntropyLoss\(\) got target class 3 with 3 classes: class indices "
                                         r"must be in \[0, 2\] or ignore_index=-100; check the labels"):
        _bad_label_run(bad_at=37)


@pytest.mark.parametrize("log_every", [2, 50])
def test_fit_names_an_out_of_range_label_at_its_next_host_point_on_a_gpu(monkeypatch, log_every):
    """On a GPU backend (simulated: numpy with deferred checks) the label is named at the next log point, or at
    the epoch end, with the step it was in; evaluation batches are named as such."""
    from anynn.ops import _checks

    monkeypatch.setattr(_checks, "on_host", lambda backend: False)
    monkeypatch.setattr(_checks, "CHECK_VALUES", False)
    with pytest.raises(IndexError, match=r"^CrossEntropyLoss\(\) got target class 3 with 3 classes.*\(found at a "
                                         r"synchronisation point: the check is deferred on GPUs; the bad label was "
                                         r"in step 2 of epoch 1\)"):
        _bad_label_run(bad_at=37, log_every=log_every)  # batch 16: sample 37 is in step 2
    assert _checks.pending() == 0
    with pytest.raises(IndexError, match=r"the bad label was in evaluation batch 2\)"):
        _bad_label_run(bad_at=37, val=True)
    assert _checks.pending() == 0


def test_fit_with_deferred_label_checks_stays_capture_safe_on_the_cupy_mirror():
    """The counting backend mirroring CuPy: a bad label reaches fit's log point without any sync in the steps
    (capture_safe raises on one), and the log point names it."""
    from anynn import profiler
    from anynn.backends import backend_for
    from anynn.ops import _checks

    with anynn.use_backend(backend_for("counting", "cupy")):
        with pytest.raises(IndexError, match=r"got target class 3 with 3 classes.*deferred on GPUs; the bad "
                                             r"label was in step 2 of epoch 1"):
            _bad_label_run(bad_at=37, log_every=4, around=profiler.capture_safe())
    assert _checks.pending() == 0


def test_progress_none_shows_a_bar_only_on_a_terminal(monkeypatch):
    """progress=None (the default): a bar on a terminal, none in a redirected log; True/False force it."""
    from anynn.training import loop
    from anynn.cli import should_show_progress

    assert should_show_progress is loop.should_show_progress  # one home
    made = []
    monkeypatch.setattr(loop, "_progress", lambda requested, total, desc: made.append(
        loop.should_show_progress(loop.sys.stderr, requested)))

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    x, y = blobs(32)
    for stream, requested in [(io.StringIO(), None), (Terminal(), None), (io.StringIO(), True), (Terminal(), False)]:
        monkeypatch.setattr(loop.sys, "stderr", stream)
        model = _model()
        opt = anynn.optim.SGD(model.parameters(), lr=0.1)
        kwargs = {} if requested is None else {"progress": requested}
        fit(model, DataLoader(TensorDataset(x, y), batch_size=16), opt, 1, out=io.StringIO(), **kwargs)
    assert made == [False, True, True, False]


# ------------------------------------------------------------------ issue 14: the sums of several ranks
class _TwoRanks:
    """A communicator stand-in for rank 0 of 2: rank 1's tuple is given."""

    size, rank = 2, 0

    def __init__(self, other):
        self.other, self.asked = other, []

    def allgather_object(self, obj, what="allgather_object"):
        self.asked.append(what)
        return [obj, self.other]


def _meter(losses, hits_of, step0=0):
    from anynn.training.loop import _Meter

    meter = _Meter()
    for k, value in enumerate(losses):
        y = anynn.tensor([0, 1])
        logits = anynn.tensor([[1.0, 0.0], [0.0, 1.0]] if hits_of[k] else [[0.0, 1.0], [1.0, 0.0]])
        meter.update(anynn.tensor(value), logits, y, step0 + k)
    return meter


def test_meter_combines_the_ranks_sums_and_the_earliest_bad_step():
    meter = _meter([1.0, 3.0], [True, False])  # this rank: 4 samples, loss sum 8, 2 correct
    comm = _TwoRanks((2, 4.0, 2.0, -1, None))
    loss, acc, bad = meter.read(comm, "metrics at step 2")
    assert (loss, acc, bad, meter.global_count) == (2.0, 4 / 6, -1, 6)
    assert comm.asked == ["metrics at step 2"]
    nan_meter = _meter([1.0, float("nan"), 1.0], [True, True, True])  # bad at step 1 here, at 0 on rank 1
    assert nan_meter.read(_TwoRanks((2, 1.0, 1.0, 0, None)))[2] == 0
    assert nan_meter.read(_TwoRanks((2, 1.0, 1.0, -1, None)))[2] == 1


def test_a_deferred_error_on_another_rank_stops_this_one():
    from anynn.training.loop import RankFailed

    meter = _meter([1.0], [True])
    with pytest.raises(RankFailed, match="rank 1 failed at evaluation sums: label 7 is out of range"):
        meter.read(_TwoRanks((0, 0.0, 0.0, -1, "label 7 is out of range")), "evaluation sums")
    with pytest.raises(IndexError, match="mine"):  # this rank's own error, after telling the others
        meter.read(_TwoRanks((1, 1.0, 1.0, -1, None)), "x", error=IndexError("mine"))


def test_rank_zero_seeds_as_one_process_and_other_ranks_differ():
    from anynn.data.loader import epoch_seed
    from anynn.training.loop import rank_seed

    seeds = {rank_seed(5, 3, r) for r in range(8)}
    assert rank_seed(5, 3, 0) == epoch_seed(5, 3) and len(seeds) == 8
    assert all(0 <= s < 2 ** 63 for s in seeds)
