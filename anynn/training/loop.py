"""``fit`` and ``evaluate``: the training loop with progress, history, checkpoints and resume.

Metrics are accumulated on the device and read back only when the progress display refreshes (every
``log_every`` steps), so a GPU backend is never synchronised per step. Each epoch reseeds every backend from
``(seed, epoch)`` (the loader's ``epoch_seed``), and tells the loader its epoch, so a run resumed from a
checkpoint after epoch k draws exactly the same shuffles, dropout masks and augmentations as an uninterrupted
run.

``cuda_graph=True`` (cupy backend; the ``replay`` backend emulates it on the CPU) captures the training step
(forward, loss, backward, clipping, optimizer step) as one CUDA graph after one eager warm-up step and replays it
for every full batch (``anynn.cuda_graphs.GraphedStep``); a last, smaller batch runs eagerly, outside the graph.
The optimizer becomes capturable (rates in device scalars that the scheduler writes), dropout draws from the
device's counter-based generator (reseeded each epoch like the host one), and augmentation stays where it is,
in the loader, outside the captured step.

Under ``mpiexec -n N`` (``anynn.distributed`` initialised) every rank runs ``fit`` on its shard of the data
(``DistributedSampler``) and a ``DistributedDataParallel`` model: only rank 0 prints, draws progress, plots and
writes checkpoints (atomically, then a barrier); the meters' sums are combined over the ranks at every log
point and epoch end (inside the host points), so every rank reports the same numbers and takes the same
decisions (a NaN loss on any rank stops every rank at the same point); ``evaluate`` combines its sums once, at
the end. Resume: rank 0 reads the checkpoint and broadcasts its bytes (no shared filesystem assumed). Dropout
and augmentation draw from a per-rank seed (rank 0's is the single-process one), so ranks draw different masks
and a resumed run with the same world size reproduces an uninterrupted one. Ranks with different numbers of
batches are an error at the start of the epoch (instead of a hang at its last step).
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from typing import Any, Callable

import anynn
from anynn.autograd.grad_mode import no_grad
from anynn.autograd.tensor import Tensor
from anynn.cuda_graphs import GraphedStep, device_rng, reseed_device_generators, use_device_rng
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
        self.global_count = 0  # count over every rank, as of the last read()
        self.first_bad: Any = None

    def update(self, loss: Tensor, logits: Tensor, target: Tensor, step: int) -> None:
        xp = loss.xp
        n = target.shape[0]
        value = loss.array
        batch_loss = value * n
        hits = xp.sum(xp.astype(xp.argmax(logits.array, axis=-1) == target.array, value.dtype)) \
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

    def local(self) -> tuple[int, float, float, int]:
        """This process's host sums (one synchronisation): count, loss sum, correct, first non-finite step or -1."""
        if self.count == 0:
            return 0, 0.0, 0.0, -1
        return self.count, float(self.loss_sum), float(self.correct), int(self.first_bad)

    def read(self, comm=None, what: str = "metrics", error: BaseException | None = None) -> tuple[float, float, int]:
        """Mean loss, accuracy and first non-finite step (or -1), over every rank of ``comm`` when given.

        Across ranks: the sums of count, loss and correct answers, and the earliest non-finite step, combined
        in rank order (one small collective, so every rank gets the same bits). ``error``: a deferred check
        that failed on this rank; it travels with the sums, so every rank raises instead of the others waiting.
        """
        count, loss_sum, correct, bad = self.local() if error is None else (0, 0.0, 0.0, -1)
        if comm is not None and comm.size > 1:
            everyone = comm.allgather_object((count, loss_sum, correct, bad, None if error is None else str(error)),
                                             what=what)
            failed = [(rank, e[4]) for rank, e in enumerate(everyone) if e[4] is not None]
            if error is not None:
                raise error
            if failed:
                rank, message = failed[0]
                raise RankFailed(f"rank {rank} failed at {what}: {message}")
            count = sum(e[0] for e in everyone)
            loss_sum = math.fsum(e[1] for e in everyone)
            correct = math.fsum(e[2] for e in everyone)
            bads = [e[3] for e in everyone if e[3] >= 0]
            bad = min(bads) if bads else -1
        elif error is not None:
            raise error
        self.global_count = count
        if count == 0:
            return math.nan, math.nan, -1
        return loss_sum / count, correct / count, bad


class RankFailed(RuntimeError):
    """Another rank of a distributed run failed a check (its message is in this one); this rank stops too."""


def _comm():
    """The communicator of a distributed run, or None for one process (anynn.distributed not initialised)."""
    from anynn import distributed as dist

    if not dist.is_initialized():
        return None
    comm = dist.get_communicator()
    return comm if comm.size > 1 else None


def _unwrap(model):
    """The module inside a DistributedDataParallel (checkpoints hold it, with its model record)."""
    from anynn.distributed import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def rank_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of dropout and augmentation for ``epoch`` on ``rank``: the loader's ``epoch_seed`` on rank 0
    (a one-process run's), mixed with the rank elsewhere so ranks draw different masks."""
    return epoch_seed(seed, epoch) ^ (rank * 0x9E3779B97F4A7C15 % 2 ** 63)


def _deferred_error() -> BaseException | None:
    """The deferred value checks' error (labels or indices out of range on GPU backends), or None."""
    try:
        _checks.raise_deferred_errors()
    except (IndexError, ValueError) as err:
        return err
    return None


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
    """Mean loss and accuracy of ``model`` over ``loader`` in eval mode, without recording gradients.

    In a distributed run each rank evaluates its shard (``DistributedSampler(..., pad=False)``: no sample
    counted twice) and the sums are combined once, at the end; every rank returns the same numbers."""
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
        error = _deferred_error()  # labels out of range, on GPU backends
        loss, acc, _ = meter.read(_comm(), "evaluation sums", error)
    return {"loss": loss, "acc": acc}


class OutOfMemory(MemoryError):
    """Device memory ran out during a training step; the message gives the batch size and what to try."""


def _out_of_memory(err: BaseException, batch_size: int, backend) -> OutOfMemory:
    return OutOfMemory(
        f"out of memory on {backend.name} ({backend.device_name}) with a batch of {batch_size} samples: {err}. "
        f"Try a smaller batch (--batch-size {max(batch_size // 2, 1)}), a smaller model, or float32 instead of "
        "float64; on a GPU, close other processes using it")


def _training_step(model, optimizer, loss_fn, clip: float | None) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The step ``fit`` runs per batch (and captures with ``cuda_graph=True``): (loss, logits), detached."""
    from anynn.nn.utils import clip_grad_norm_

    params = [p for p in model.parameters() if p.requires_grad]

    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        logits = model(x)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            clip_grad_norm_(params, clip)
        optimizer.step()
        return loss.detach(), logits.detach()

    return step


def _train_epoch(model, loader, optimizer, loss_fn, epoch: int, *, clip: float | None, check_first: bool,
                 log_every: int, bar, comm=None, graphed: list | None = None) -> tuple[_Meter, float]:
    """One pass over ``loader``; returns the meter and the seconds it took. Reads the device only to refresh.
    ``graphed``: ``[None]`` or ``[GraphedStep]`` (made at the first batch, kept across epochs) for CUDA graphs."""
    train_step = _training_step(model, optimizer, loss_fn, clip)
    meter, shown = _Meter(), 0
    began = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if step == 0 and check_first:
            _check_first_batch(x, y)
        _checks.set_step(f"step {step} of epoch {epoch + 1}")
        try:
            if graphed is not None and graphed[0] is None:
                graphed[0] = GraphedStep(train_step, (x, y), optimizers=[optimizer], modules=[model])
            if graphed is not None and graphed[0].accepts(x, y):
                loss, logits = graphed[0](x, y)
            else:
                loss, logits = train_step(x, y)
        except x.backend.out_of_memory_errors as err:
            raise _out_of_memory(err, x.shape[0], x.backend) from err
        meter.update(loss, logits, y, step)
        if (step + 1) % log_every == 0:
            with host_point():
                error = _deferred_error()  # labels or indices out of range, checked late on GPU backends
                mean_loss, acc, bad = meter.read(comm, f"metrics at step {step + 1} of epoch {epoch + 1}", error)
            if bad >= 0:
                raise _non_finite(bad, epoch, _lr(optimizer))
            if bar is not None:
                bar.update(step + 1 - shown)
                bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{acc:.4f}",
                                img_s=f"{meter.global_count / (time.perf_counter() - began):.0f}")
            shown = step + 1
    return meter, time.perf_counter() - began


def fit(model, train_loader, optimizer, epochs: int, *, loss_fn: Callable | None = None, val_loader=None,
        scheduler=None, clip_grad_norm: float | None = None, checkpoint: str | None = None, resume: bool = False,
        seed: int = 0, progress: bool | None = None, log_every: int = 50, plot: str | None = None,
        out=sys.stdout, cuda_graph: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    ``checkpoint`` is written atomically after every epoch; with ``resume=True`` an existing checkpoint is
    loaded first and training continues from its epoch to the same final weights as an uninterrupted run.
    Stops with NonFiniteLossError on a NaN/inf loss and with OutOfMemory (batch size named) when memory runs out;
    a class label or embedding index out of range raises an IndexError naming it (at once on host backends, at
    the next log point or epoch end on GPU backends, where the check waits for a synchronisation point).
    ``progress``: a progress bar on stderr; None (the default) shows it only when stderr is a terminal, so a
    redirected log gets the per-epoch lines alone. ``cuda_graph=True``: capture the training step as a CUDA
    graph and replay it (see the module docstring; cupy only, and not yet verified on a GPU).

    Under ``mpiexec`` (``anynn.distributed`` initialised, a ``DistributedDataParallel`` model and a
    ``DistributedSampler``), see the module docstring: rank 0 alone prints, plots and checkpoints; the
    numbers are every rank's together.
    """
    loss_fn = loss_fn or anynn.nn.CrossEntropyLoss()
    if cuda_graph:
        from anynn.cuda_graphs import _check_backend

        _check_backend(next(iter(model.parameters())).backend)
        with device_rng():
            return _fit(model, train_loader, optimizer, epochs, loss_fn, val_loader, scheduler, clip_grad_norm,
                        checkpoint, resume, seed, progress, log_every, plot, out, [None])
    return _fit(model, train_loader, optimizer, epochs, loss_fn, val_loader, scheduler, clip_grad_norm, checkpoint,
                resume, seed, progress, log_every, plot, out, None)


def _fit(model, train_loader, optimizer, epochs, loss_fn, val_loader, scheduler, clip_grad_norm, checkpoint, resume,
         seed, progress, log_every, plot, out, graphed) -> History:
    comm = _comm()
    rank = comm.rank if comm is not None else 0
    if rank != 0:  # only rank 0 prints, draws progress and plots
        out, progress, plot = _Silent(), False, None
    history = History()
    start = 0
    if checkpoint and resume:
        with host_point():
            state = _resume(checkpoint, model, optimizer, scheduler, comm)
        if state is not None:
            start, history = state["epoch"], History(state["history"])
            print(f"resumed from {checkpoint} after epoch {start}", file=out)
    for epoch in range(start, epochs):
        anynn.manual_seed(rank_seed(seed, epoch, rank))
        if use_device_rng():
            reseed_device_generators(next(iter(model.parameters())).backend)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        if comm is not None:
            _check_batch_counts(comm, len(train_loader), epoch)
        model.train()
        bar = _progress(progress, len(train_loader), f"epoch {epoch + 1}/{epochs}")
        try:
            meter, seconds = _train_epoch(model, train_loader, optimizer, loss_fn, epoch, clip=clip_grad_norm,
                                          check_first=epoch == start, log_every=log_every, bar=bar, comm=comm,
                                          graphed=graphed)
        except KeyboardInterrupt:
            where = f"; resume with resume=True (last checkpoint: {checkpoint})" if checkpoint else ""
            print(f"\ninterrupted during epoch {epoch + 1}{where}", file=out)
            raise
        finally:
            _checks.set_step(None)
            if bar is not None:
                bar.close()
        with host_point():  # the epoch end: metrics, evaluation, checkpoint
            error = _deferred_error()
            train_loss, train_acc, bad = meter.read(comm, f"metrics at the end of epoch {epoch + 1}", error)
            if bad >= 0:
                raise _non_finite(bad, epoch, _lr(optimizer))
            record = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, "val_loss": None,
                      "val_acc": None, "lr": _lr(optimizer), "seconds": seconds,
                      "samples_per_s": meter.global_count / seconds if seconds > 0 else None}
            if comm is not None:  # rank 0's clock: every rank records (and checkpoints) the same history
                record["seconds"], record["samples_per_s"] = comm.broadcast_object(
                    (record["seconds"], record["samples_per_s"]), 0, what=f"epoch {epoch + 1} timing")
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
            if checkpoint and rank == 0:
                save_checkpoint(checkpoint, _unwrap(model), optimizer, scheduler, epoch + 1, history.state_dict())
            if checkpoint and comm is not None:
                comm.barrier(what=f"barrier after rank 0 wrote the checkpoint of epoch {epoch + 1}")
            if plot:
                history.plot(plot)
    return history


class _Silent:
    """Where the other ranks' lines go."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _check_batch_counts(comm, batches: int, epoch: int) -> None:
    """Every rank must run as many steps (each one's gradients wait for all ranks'): unequal counts would hang
    at the last step, so they are an error on every rank now."""
    counts = comm.allgather_object(batches, what=f"batch count check at the start of epoch {epoch + 1}")
    if len(set(counts)) > 1:
        listed = ", ".join(f"rank {r}: {n}" for r, n in enumerate(counts))
        raise ValueError(f"fit: the ranks have different numbers of training batches in epoch {epoch + 1} ({listed}); "
                         "every rank must run the same number of steps: shard the data with "
                         "anynn.distributed.DistributedSampler (padding, or drop_last=True) and give every rank the "
                         "same batch size")


def _resume(checkpoint: str, model, optimizer, scheduler, comm) -> dict[str, Any] | None:
    """Load ``checkpoint`` if it exists (None otherwise). In a distributed run rank 0 reads its file and
    broadcasts the bytes; every rank restores from them, so no shared filesystem is needed."""
    target = _unwrap(model)
    if comm is None:
        if not os.path.exists(checkpoint):
            return None
        return load_checkpoint(checkpoint, target, optimizer, scheduler)
    blob = None
    if comm.rank == 0 and os.path.exists(checkpoint):
        with open(checkpoint, "rb") as handle:
            blob = handle.read()
    blob = comm.broadcast_object(blob, 0, what=f"broadcast of rank 0's checkpoint {checkpoint}")
    if blob is None:
        return None
    if comm.rank == 0:
        return load_checkpoint(checkpoint, target, optimizer, scheduler)
    # the same bytes through the same checks, from a private file on this machine
    handle, path = tempfile.mkstemp(prefix="anynn-resume-", suffix=".anynn")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
        return load_checkpoint(path, target, optimizer, scheduler)
    finally:
        os.unlink(path)


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
