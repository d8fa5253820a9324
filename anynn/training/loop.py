"""``fit`` and ``evaluate``: the training loop with progress, history, checkpoints and resume.

Metrics are accumulated on the device and read back only when the progress display refreshes (every
``log_every`` steps), so a GPU backend is never synchronised per step. Each epoch reseeds every backend from
``(seed, epoch)`` (the loader's ``epoch_seed``), and tells the loader its epoch, so a run resumed from a checkpoint after epoch k draws
exactly the same shuffles, dropout masks and augmentations as an uninterrupted run.
"""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Callable

import anynn
from anynn.autograd.grad_mode import no_grad
from anynn.autograd.tensor import Tensor
from anynn.data.loader import epoch_seed
from anynn.ops import _checks
from anynn.profiler import host_point
from anynn.training.checkpoint import load_checkpoint, save_checkpoint
from anynn.training.history import History


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step and what to try."""


class _Meter:
    """Running sums kept as device arrays: loss*count, correct predictions, first non-finite step."""

    def __init__(self) -> None:
        self.loss_sum: Any = None
        self.correct: Any = None
        self.count = 0
        self.first_bad: Any = None

    def update(self, loss: Tensor, logits: Tensor, target: Tensor, step: int) -> None:
        xp = loss.xp
        n = target.shape[0]
        value = loss.data
        batch_loss = value * n
        hits = xp.sum(xp.astype(xp.argmax(logits.data, axis=-1) == target.data, value.dtype)) \
            if logits.ndim == 2 and target.ndim == 1 else xp.zeros_like(value)
        step_array = xp.full((), step, dtype=loss.backend.dtype(anynn.int64), device=loss.backend.device)
        bad = xp.where(xp.isfinite(value), -1, step_array)
        if self.loss_sum is None:
            self.loss_sum, self.correct, self.first_bad = batch_loss, hits, bad
        else:
            self.loss_sum = self.loss_sum + batch_loss
            self.correct = self.correct + hits
            self.first_bad = xp.where(self.first_bad >= 0, self.first_bad, bad)
        self.count += n

    def read(self) -> tuple[float, float, int]:
        """Host values (one synchronisation): mean loss, accuracy, first non-finite step or -1."""
        if self.count == 0:
            return math.nan, math.nan, -1
        return float(self.loss_sum) / self.count, float(self.correct) / self.count, int(self.first_bad)


def _check_first_batch(x: Tensor, y: Tensor) -> None:
    if not x.dtype.is_floating_point:
        raise TypeError(f"fit: the inputs are {x.dtype}, not float: raw images must be scaled first, e.g. "
                        "DataLoader(..., transform=anynn.data.transforms.Normalize(...)) or x.float() / 255")


def _non_finite(step: int, epoch: int, lr: float | None) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"the training loss became NaN/inf at step {step} (epoch {epoch + 1}); training stopped. Try a lower "
        f"learning rate (now {lr}), gradient clipping (clip_grad_norm=1.0), or normalised inputs (raw 0..255 "
        "pixel values are a classic cause); check the labels too: a class label outside [0, number of classes) "
        "(1-based labels, a padding id) makes the loss NaN, and anynn's own losses name it (a custom loss_fn "
        "does not); `with anynn.autograd.detect_anomaly():` names the op that produced the NaN")


def _lr(optimizer) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    return groups[0]["lr"] if groups else None


def evaluate(model, loader, loss_fn: Callable | None = None) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader`` in eval mode, without recording gradients."""
    loss_fn = loss_fn or anynn.nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    meter = _Meter()
    try:
        with no_grad():
            for step, (x, y) in enumerate(loader):
                _checks.set_step(f"evaluation batch {step}")
                logits = model(x)
                meter.update(loss_fn(logits, y), logits, y, step)
    finally:
        _checks.set_step(None)
        model.train(was_training)
    with host_point():
        _checks.raise_deferred_errors()  # labels out of range, on GPU backends
        loss, acc, _ = meter.read()
    return {"loss": loss, "acc": acc}


class OutOfMemory(MemoryError):
    """Device memory ran out during a training step; the message gives the batch size and what to try."""


def _out_of_memory(err: BaseException, batch_size: int, backend) -> OutOfMemory:
    return OutOfMemory(
        f"out of memory on {backend.name} ({backend.device_name}) with a batch of {batch_size} samples: {err}. "
        f"Try a smaller batch (--batch-size {max(batch_size // 2, 1)}), a smaller model, or float32 instead of "
        "float64; on a GPU, close other processes using it")


def _train_epoch(model, loader, optimizer, loss_fn, epoch: int, *, clip: float | None, check_first: bool,
                 log_every: int, bar) -> tuple[_Meter, float]:
    """One pass over ``loader``; returns the meter and the seconds it took. Reads the device only to refresh."""
    from anynn.nn.utils import clip_grad_norm_

    params = [p for p in model.parameters() if p.requires_grad]
    meter, shown = _Meter(), 0
    began = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if step == 0 and check_first:
            _check_first_batch(x, y)
        _checks.set_step(f"step {step} of epoch {epoch + 1}")
        try:
            logits = model(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                clip_grad_norm_(params, clip)
            optimizer.step()
        except x.backend.out_of_memory_errors as err:
            raise _out_of_memory(err, x.shape[0], x.backend) from err
        meter.update(loss.detach(), logits.detach(), y, step)
        if (step + 1) % log_every == 0:
            with host_point():
                _checks.raise_deferred_errors()  # labels or indices out of range, checked late on GPU backends
                mean_loss, acc, bad = meter.read()
            if bad >= 0:
                raise _non_finite(bad, epoch, _lr(optimizer))
            if bar is not None:
                bar.update(step + 1 - shown)
                bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{acc:.4f}",
                                img_s=f"{meter.count / (time.perf_counter() - began):.0f}")
            shown = step + 1
    return meter, time.perf_counter() - began


def fit(model, train_loader, optimizer, epochs: int, *, loss_fn: Callable | None = None, val_loader=None,
        scheduler=None, clip_grad_norm: float | None = None, checkpoint: str | None = None, resume: bool = False,
        seed: int = 0, progress: bool | None = None, log_every: int = 50, plot: str | None = None,
        out=sys.stdout) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    ``checkpoint`` is written atomically after every epoch; with ``resume=True`` an existing checkpoint is
    loaded first and training continues from its epoch to the same final weights as an uninterrupted run.
    Stops with NonFiniteLossError on a NaN/inf loss and with OutOfMemory (batch size named) when memory runs out;
    a class label or embedding index out of range raises an IndexError naming it (at once on host backends, at
    the next log point or epoch end on GPU backends, where the check waits for a synchronisation point).
    ``progress``: a progress bar on stderr; None (the default) shows it only when stderr is a terminal, so a
    redirected log gets the per-epoch lines alone.
    """
    loss_fn = loss_fn or anynn.nn.CrossEntropyLoss()
    history = History()
    start = 0
    if checkpoint and resume and os.path.exists(checkpoint):
        with host_point():
            state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        start, history = state["epoch"], History(state["history"])
        print(f"resumed from {checkpoint} after epoch {start}", file=out)
    for epoch in range(start, epochs):
        anynn.manual_seed(epoch_seed(seed, epoch))
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        model.train()
        bar = _progress(progress, len(train_loader), f"epoch {epoch + 1}/{epochs}")
        try:
            meter, seconds = _train_epoch(model, train_loader, optimizer, loss_fn, epoch, clip=clip_grad_norm,
                                          check_first=epoch == start, log_every=log_every, bar=bar)
        except KeyboardInterrupt:
            where = f"; resume with resume=True (last checkpoint: {checkpoint})" if checkpoint else ""
            print(f"\ninterrupted during epoch {epoch + 1}{where}", file=out)
            raise
        finally:
            _checks.set_step(None)
            if bar is not None:
                bar.close()
        with host_point():  # the epoch end: metrics, evaluation, checkpoint
            _checks.raise_deferred_errors()
            train_loss, train_acc, bad = meter.read()
            if bad >= 0:
                raise _non_finite(bad, epoch, _lr(optimizer))
            record = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, "val_loss": None,
                      "val_acc": None, "lr": _lr(optimizer), "seconds": seconds,
                      "samples_per_s": meter.count / seconds if seconds > 0 else None}
            if val_loader is not None:
                metrics = evaluate(model, val_loader, loss_fn)
                record["val_loss"], record["val_acc"] = metrics["loss"], metrics["acc"]
            history.append(record)
            print(_summary(record, epochs), file=out, flush=True)
            if scheduler is not None:
                if type(scheduler).__name__ == "ReduceLROnPlateau":
                    scheduler.step(record["val_loss"] if record["val_loss"] is not None else train_loss)
                else:
                    scheduler.step()
            if checkpoint:
                save_checkpoint(checkpoint, model, optimizer, scheduler, epoch + 1, history.state_dict())
            if plot:
                history.plot(plot)
    return history


def should_show_progress(stream, requested: bool | None) -> bool:
    """Progress bars go to a terminal only, unless asked for (True, ``--progress``) or off (False,
    ``--no-progress``): a redirected log (``> train.log``, CI) gets the per-epoch lines without the bar's
    carriage returns."""
    if requested is not None:
        return bool(requested)
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _progress(requested: bool | None, total: int, desc: str):
    if not should_show_progress(sys.stderr, requested):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5)


def _summary(r: dict, epochs: int) -> str:
    line = (f"epoch {r['epoch']:>3}/{epochs}  train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f}")
    if r["val_loss"] is not None:
        line += f"  test loss {r['val_loss']:.4f} acc {r['val_acc']:.4f}"
    return line + f"  {r['seconds']:.1f}s/epoch ({r['samples_per_s']:.0f} img/s)  lr {r['lr']:.4g}"
