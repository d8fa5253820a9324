"""``anynn`` command line: train, eval, info, bench (also ``python -m anynn``)."""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import traceback
from typing import Sequence

from anynn.training.loop import should_show_progress  # its home: fit's progress=None uses it too

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
DATASETS = ("fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse")  # coarse: the 20 superclasses
SCHEDULES = ("none", "cosine", "step", "onecycle-linear")
# what each dataset's images and labels look like, to check a checkpoint's model against --dataset
DATA_SHAPES = {"fashion-mnist": (1, 28, 10), "mnist": (1, 28, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100),
               "cifar100-coarse": (3, 32, 20)}


class UsageError(ValueError):
    """A mistake in what the user asked for: printed alone, exit status 2."""


# ---------------------------------------------------------------------------------------- argument checks
def _number(kind: type, what: str, low: float | None = None, high: float | None = None, low_open: bool = False,
            high_open: bool = False):
    """An argparse ``type=`` that converts to ``kind`` and checks the range, saying what was expected."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    convert.__name__ = what  # argparse names the type in some messages
    return convert


POSITIVE_INT = _number(int, "a positive integer (1 or more)", low=1)
NON_NEGATIVE_INT = _number(int, "an integer >= 0", low=0)
POSITIVE_FLOAT = _number(float, "a positive number", low=0.0, low_open=True)
NON_NEGATIVE_FLOAT = _number(float, "a number >= 0", low=0.0)
FRACTION = _number(float, "a number in [0, 1)", low=0.0, high=1.0, high_open=True)
PROBABILITY = _number(float, "a number in [0, 1]", low=0.0, high=1.0)


def hidden_widths(text: str) -> tuple[int, ...]:
    """``--hidden 256,128``: positive widths, comma separated."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive integer widths separated by commas (e.g. 256 or "
                                         f"512,256), got {text!r}")
    return tuple(int(p) for p in parts)


def _names(choices: Sequence[str], what: str):
    """``--models mlp,lenet5``: a comma-separated list of known names."""

    def convert(text: str) -> str:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in choices]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or repr(text)}; choose from "
                                             f"{', '.join(choices)} (comma separated)")
        return ",".join(names)

    return convert


def check_train_args(args) -> None:
    """Checks that involve two options (single numbers are checked while parsing)."""
    if args.warmup > args.epochs:
        raise UsageError(f"--warmup {args.warmup} is longer than --epochs {args.epochs}: the warm-up counts epochs "
                         "of the run; use at most as many warm-up epochs as epochs")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH (the file to continue from)")
    if args.model != "mlp" and (args.hidden != (256,) or args.dropout):
        raise UsageError(f"--hidden and --dropout shape the mlp only, not {args.model}; drop them or use --model mlp")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, or an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or isinstance(action.default, tuple):
            return action.help or ""
        return super()._get_help_string(action)


def _add_common(p: argparse.ArgumentParser, dataset_default: str | None = "fashion-mnist") -> None:
    p.add_argument("--backend", default=None, help="numpy, cupy, torch or array_api_strict (unset: $ANYNN_BACKEND, "
                                                   "else numpy)")
    p.add_argument("--device", default=None, help="device of the backend, e.g. cuda:0 or cpu (unset: "
                                                  "$ANYNN_DEVICE, else the backend's default)")
    p.add_argument("--dataset", default=dataset_default, choices=DATASETS,
                   help="the dataset" if dataset_default else
                   "the dataset (unset: the one the checkpoint was trained on, else fashion-mnist)")
    p.add_argument("--data-root", default=None, help="folder with the dataset files (unset: $ANYNN_DATA, "
                                                     "~/.cache/anynn, /usr/share/datasets; see README)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=256,
                   help="images per training step (under mpiexec: in all, each of N ranks takes 1/N)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if the files are absent")
    _add_debug(p)


def _add_debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="print the full traceback of an error (also ANYNN_DEBUG=1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anynn", description="Train and benchmark anynn models on any backend.",
                                     formatter_class=_HelpFormatter)
    _add_debug(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,eval,info,bench}")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=_HelpFormatter)

    t = command("train", "train a model and report test accuracy and seconds per epoch")
    _add_common(t)
    from anynn.models import MODELS

    t.add_argument("--model", default="lenet5", choices=list(MODELS), metavar="MODEL",
                   help=f"the network: {', '.join(MODELS)}")
    t.add_argument("--epochs", type=POSITIVE_INT, default=10, help="epochs to train (with --resume: in total)")
    t.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS,
                   help="momentum and nesterov are SGD with --momentum")
    t.add_argument("--lr", type=POSITIVE_FLOAT, default=0.1, help="learning rate")
    t.add_argument("--momentum", type=FRACTION, default=0.9, help="for --optimizer momentum or nesterov")
    t.add_argument("--weight-decay", type=NON_NEGATIVE_FLOAT, default=0.0, help="L2 penalty (AdamW: decoupled)")
    t.add_argument("--schedule", default="none", choices=SCHEDULES, help="learning-rate schedule over the epochs")
    t.add_argument("--warmup", type=NON_NEGATIVE_INT, default=0, help="epochs of linear learning-rate warm-up")
    t.add_argument("--clip-grad-norm", type=POSITIVE_FLOAT, default=None,
                   help="clip the gradients' global norm to this value (unset: no clipping)")
    t.add_argument("--hidden", type=hidden_widths, default=(256,),
                   help="hidden widths of the mlp, comma separated (default: 256)")
    t.add_argument("--dropout", type=FRACTION, default=0.0, help="dropout of the mlp hidden layers")
    t.add_argument("--augment", action="store_true", help="random crop (padding 4 for 32px, 2 for 28px) and flip")
    t.add_argument("--label-smoothing", type=PROBABILITY, default=0.0, help="label smoothing of the loss")
    t.add_argument("--limit", type=POSITIVE_INT, default=None,
                   help="train on the first N images only (quick runs; unset: all)")
    t.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of weights, shuffling, dropout, augmentation")
    t.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="floating-point precision")
    t.add_argument("--checkpoint", default=None, help="write a checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--plot", default=None, help="save loss/accuracy curves to this PNG (needs matplotlib)")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (unset: only when stderr is a terminal)")
    t.add_argument("--cuda-graph", action="store_true",
                   help="capture the training step as a CUDA graph and replay it (cupy backend; unverified on a GPU; "
                        "the replay backend emulates it on the CPU)")
    t.add_argument("--sync-bn", action="store_true",
                   help="under mpiexec: BatchNorm statistics over the global batch (SyncBatchNorm) instead of each "
                        "rank's share")

    e = command("eval", "evaluate a checkpoint on the test set (the checkpoint says which model it holds)")
    _add_common(e, dataset_default=None)
    e.add_argument("--model", default=None, choices=list(MODELS), metavar="MODEL",
                   help="only for checkpoints that do not record their model (unset: the checkpoint's)")
    e.add_argument("--checkpoint", required=True, help="a file written by anynn train --checkpoint")

    i = command("info", "backends, devices, versions and where data was found")
    _add_debug(i)

    b = command("bench", "seconds per epoch, images/s and the ratio to PyTorch")
    b.add_argument("--models", type=_names(list(MODELS), "model"), default="mlp,lenet5",
                   help="comma-separated model names")
    b.add_argument("--backends", default="numpy", help="comma-separated backend names (numpy, cupy, torch)")
    b.add_argument("--compare-torch", action="store_true", help="also time the same model in PyTorch")
    b.add_argument("--epochs", type=POSITIVE_INT, default=3, help="measured epochs (after one warm-up epoch)")
    b.add_argument("--batch-size", type=POSITIVE_INT, default=None,
                   help="images per step (unset: 256 for 1x28x28 models, 128 for 3x32x32 ones)")
    b.add_argument("--images", type=POSITIVE_INT, default=None, help="images per epoch (unset: the dataset size)")
    b.add_argument("--json", default=None, help="also write the results as JSON here")
    b.add_argument("--count", action="store_true",
                   help="instead of timing, count the array-library calls (kernel launches on a GPU), host syncs and "
                        "uploads of one training step as each of --backends (cupy or numpy) makes them, on this "
                        "machine, beside PyTorch's op count with --compare-torch")
    b.add_argument("--verbose", action="store_true", help="with --count: the ops with the most launches")
    b.add_argument("--ranks", type=POSITIVE_INT, default=None,
                   help="data-parallel throughput: run each model under mpiexec with 1 and with N ranks (1 thread "
                        "each, --batch-size in all), alternating, and report images/s and the speed-up")
    b.add_argument("--repeats", type=POSITIVE_INT, default=3,
                   help="with --ranks: how many times each rank count runs, alternating")
    _add_debug(b)
    return parser


def _select_backend(args) -> None:
    import anynn

    if args.backend or args.device:
        anynn.set_backend(args.backend or os.environ.get("ANYNN_BACKEND", "numpy"), args.device)


def _data(args, train: bool):
    from anynn import datasets

    if args.dataset == "cifar100-coarse":
        return datasets.CIFAR100(root=args.data_root, train=train, label="coarse", download=not args.no_download)
    classes = {"fashion-mnist": datasets.FashionMNIST, "mnist": datasets.MNIST, "cifar10": datasets.CIFAR10,
               "cifar100": datasets.CIFAR100}
    return classes[args.dataset](root=args.data_root, train=train, download=not args.no_download)


def _loaders(args, augment: bool = False, limit: int | None = None, seed: int = 0, comm=None):
    """Train and test loaders. With ``comm`` (a distributed run) each rank gets its share: the training set
    through a DistributedSampler (padded, so every rank runs as many steps) with ``args.batch_size / world``
    images per step, the test set in disjoint shards (no padding: nothing counted twice)."""
    from anynn.data import DataLoader, DistributedSampler, TensorDataset, transforms as T

    train_set, test_set = _data(args, True), _data(args, False)
    images, labels = train_set.images, train_set.labels
    mean, std = train_statistics(images)  # of the whole training set, so `eval` normalises the same way
    if limit:
        images, labels = images[:limit], labels[:limit]
    channels, side = images.shape[1], images.shape[2]
    from anynn import dtypes as D

    base = [T.ToFloat(D.from_name(getattr(args, "dtype", None) or "float32")), T.Normalize(mean, std)]
    train_tf = T.Compose(([T.RandomCrop(side, padding=4 if side == 32 else 2), T.RandomHorizontalFlip()]
                          if augment else []) + base)
    if comm is None or comm.size == 1:
        train = DataLoader(TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True, seed=seed,
                           transform=train_tf)
        test = DataLoader(TensorDataset(test_set.images, test_set.labels), batch_size=1000,
                          transform=T.Compose(base))
    else:
        world, rank = comm.size, comm.rank
        train = DataLoader(TensorDataset(images, labels), batch_size=args.batch_size // world,
                           sampler=DistributedSampler(len(labels), world, rank, seed=seed), transform=train_tf)
        test_shard = DistributedSampler(len(test_set.labels), world, rank, shuffle=False, pad=False)
        test = DataLoader(TensorDataset(test_set.images, test_set.labels), batch_size=1000, sampler=test_shard,
                          transform=T.Compose(base))
    return train, test, channels, side, len(getattr(train_set, "classes", range(10)))


def train_statistics(images) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (one pass, read once to the host)."""
    x = images.float() * (1.0 / 255)
    axes = (0, 2, 3)
    mean = x.mean(axis=axes)
    std = x.var(axis=axes, correction=0).sqrt()
    return [float(v) for v in mean.tolist()], [float(v) for v in std.tolist()]


def _optimizer(args, params):
    from anynn import optim

    name, lr, wd = args.optimizer, args.lr, args.weight_decay
    if name in ("sgd", "momentum", "nesterov"):
        momentum = 0.0 if name == "sgd" else args.momentum
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=wd)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad,
           "adadelta": optim.Adadelta}[name]
    return cls(params, lr=lr, weight_decay=wd)


def _scheduler(args, optimizer):
    from anynn.optim import lr_scheduler as S

    main = None
    if args.schedule == "cosine":
        main = S.CosineAnnealingLR(optimizer, T_max=max(args.epochs - args.warmup, 1))
    elif args.schedule == "step":
        main = S.MultiStepLR(optimizer, milestones=[int(args.epochs * 0.5), int(args.epochs * 0.75)], gamma=0.1)
    elif args.schedule == "onecycle-linear":
        main = S.LinearLR(optimizer, start_factor=1.0, end_factor=0.01, total_iters=max(args.epochs - args.warmup, 1))
    if args.warmup:
        warm = S.LinearLR(optimizer, start_factor=0.1, total_iters=args.warmup)
        return warm if main is None else S.SequentialLR(optimizer, [warm, main], milestones=[args.warmup])
    return main


def _model(args, channels: int, side: int, classes: int):
    """The zoo model named by ``--model``, built by anynn.models.get_model (which records how, for checkpoints)."""
    from dataclasses import replace

    from anynn.models import get_model, record_of

    extra = {}
    if args.model == "mlp":
        extra = {"hidden": tuple(args.hidden), "dropout": args.dropout}
    model = get_model(args.model, in_channels=channels, image_size=side, num_classes=classes, **extra)
    model.model_record = replace(record_of(model), dataset=args.dataset)
    return model


def _join_job(args):
    """Under a launcher (mpiexec, srun): join the job, put this rank on its own GPU (``cuda:{local rank}``) for
    the cupy backend unless --device says otherwise, and use NCCL for CuPy arrays. None for one process."""
    from anynn import distributed as dist

    if not dist.launched():
        return None
    comm = dist.init("mpi")
    if comm.size == 1:
        return None
    if args.batch_size % comm.size:
        raise UsageError(f"--batch-size {args.batch_size} is the global batch: it must divide by the {comm.size} "
                         f"ranks (e.g. --batch-size {max(args.batch_size // comm.size, 1) * comm.size})")
    name = args.backend or os.environ.get("ANYNN_BACKEND", "numpy")
    if name == "cupy" and not (args.device or os.environ.get("ANYNN_DEVICE")):
        args.device = f"cuda:{comm.local_rank}"
    return comm


def _use_nccl(comm):
    """The NCCL communicator over ``comm``'s ranks when the backend is cupy (after the device is chosen)."""
    import anynn
    from anynn import distributed as dist

    if anynn.get_backend().name != "cupy":
        return comm
    from anynn.backends.nccl import NcclCommunicator

    nccl = NcclCommunicator(comm)
    dist.destroy()
    return dist.init(nccl)


def cmd_train(args) -> int:
    import anynn
    from anynn.training import evaluate, fit

    check_train_args(args)
    comm = _join_job(args)
    _select_backend(args)
    anynn.manual_seed(args.seed)
    backend = anynn.get_backend()
    if comm is not None:
        comm = _use_nccl(comm)
    main = comm is None or comm.rank == 0
    train, test, channels, side, classes = _loaders(args, args.augment, args.limit, args.seed, comm)
    model = _model(args, channels, side, classes)
    if args.sync_bn:
        model = anynn.nn.convert_sync_batchnorm(model)
    if args.dtype == "float64":
        model.double()
    optimizer = _optimizer(args, model.parameters())
    scheduler = _scheduler(args, optimizer)
    loss_fn = anynn.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    trained = model
    if comm is not None:
        from anynn.distributed import DistributedDataParallel

        trained = DistributedDataParallel(model, comm=comm)  # rank 0's weights everywhere
    if main:
        ranks = (f", {comm.size} ranks ({comm.name}): global batch {args.batch_size} = {comm.size} x "
                 f"{args.batch_size // comm.size}") if comm is not None else ""
        print(f"anynn {anynn.__version__}: {args.model} on {args.dataset} ({len(train.dataset)} train images), "
              f"backend {backend.name} on {backend.device_name}, {sum(p.numel() for p in model.parameters())} "
              f"parameters{ranks}", flush=True)
    began = time.perf_counter()
    history = fit(trained, train, optimizer, args.epochs, loss_fn=loss_fn, val_loader=test, scheduler=scheduler,
                  clip_grad_norm=args.clip_grad_norm, checkpoint=args.checkpoint, resume=args.resume,
                  seed=args.seed, progress=should_show_progress(sys.stderr, args.progress), plot=args.plot,
                  cuda_graph=args.cuda_graph)
    final = evaluate(trained, test, loss_fn)
    if not main:
        return 0
    seconds = [e["seconds"] for e in history.epochs]
    timing = f"{sorted(seconds)[len(seconds) // 2]:.1f} s/epoch (median)  " if seconds else ""
    print(f"test accuracy {final['acc'] * 100:.2f}%  test loss {final['loss']:.4f}  "
          f"{timing}{time.perf_counter() - began:.0f} s total")
    if args.plot:
        print(f"curves saved to {args.plot}")
    return 0


def _eval_model(args):
    """The checkpoint's model (from its model-construction record) and the dataset to evaluate it on."""
    from anynn.models import get_model
    from anynn.training.checkpoint import checkpoint_record, load_checkpoint, model_from_checkpoint, _read

    path = args.checkpoint
    if not os.path.exists(path):
        raise UsageError(f"checkpoint {path} does not exist")
    record = checkpoint_record(_read(path), path)
    if record is None:
        if args.model is None:
            raise UsageError(f"{path} does not say which model it holds (written before anynn recorded it, or "
                             "not by anynn train); name it: anynn eval --model NAME --checkpoint ...")
        dataset = args.dataset or "fashion-mnist"
        channels, side, classes = DATA_SHAPES[dataset]
        extra = {"hidden": (256,)} if args.model == "mlp" else {}
        model = get_model(args.model, in_channels=channels, image_size=side, num_classes=classes, **extra)
        load_checkpoint(path, model)
        return model, args.model, dataset
    if args.model is not None and args.model != record.name:
        raise UsageError(f"{path} holds a {record.name} model ({record.describe()}), not {args.model}: leave out "
                         "--model, the checkpoint says which model it holds")
    dataset = args.dataset or record.dataset or "fashion-mnist"
    wanted = (record.kwargs.get("in_channels"), record.kwargs.get("image_size"), record.kwargs.get("num_classes"))
    have = DATA_SHAPES[dataset]
    if None not in wanted and wanted != have:
        raise UsageError(f"{path} holds a model for {wanted[0]}x{wanted[1]}x{wanted[1]} images and {wanted[2]} "
                         f"classes, but {dataset} has {have[0]}x{have[1]}x{have[1]} images and {have[2]} classes; "
                         f"choose a matching --dataset" + (f" (it was trained on {record.dataset})"
                                                           if record.dataset else ""))
    model, _ = model_from_checkpoint(path)
    return model, record.name, dataset


def cmd_eval(args) -> int:
    import anynn
    from anynn.training import evaluate

    _select_backend(args)
    model, name, dataset = _eval_model(args)
    args.dataset = dataset
    args.dtype = next((p.dtype.name for p in model.parameters() if p.dtype.is_floating_point), "float32")
    _, test, channels, side, classes = _loaders(args)
    result = evaluate(model, test)
    print(f"{name} from {args.checkpoint} on {dataset}: test accuracy {result['acc'] * 100:.2f}%  "
          f"loss {result['loss']:.4f}  (backend {anynn.get_backend().name})")
    return 0


def cmd_info(args) -> int:
    import anynn
    from anynn import backends as B

    print(f"anynn {anynn.__version__}  Python {platform.python_version()}  {platform.platform()}")
    for name in B.NAMES:
        reason = B.why_unavailable(name)
        if reason is None:
            b = B.backend_for(name)
            print(f"  {name:<17} available  device {b.device_name:<12} {_version(name)}")
            if name == "numpy":
                print(f"  {'':<17} {_kernels_line(b)}")
        else:
            print(f"  {name:<17} unavailable: {reason}")
    print(f"current backend: {os.environ.get('ANYNN_BACKEND', 'numpy')} (ANYNN_BACKEND / ANYNN_DEVICE)")
    from anynn.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST
    from anynn.datasets.root import find, search_dirs

    print("datasets (root=, then $ANYNN_DATA, ~/.cache/anynn, /usr/share/datasets):")
    for cls in (FashionMNIST, MNIST):
        folder = find(cls.name, cls.md5)
        print(f"  {cls.name:<17} {folder or 'not found (downloaded on first use)'}")
    for cls in (CIFAR10, CIFAR100):
        folders = [os.path.join(d, cls.folder) for d in search_dirs(cls.name)]
        found = [f for f in folders if all(os.path.isfile(os.path.join(f, n)) for n in cls.train_files)]
        archive = find(cls.name, [cls.archive])
        where = found[0] if found else (os.path.join(archive, cls.archive) if archive else None)
        print(f"  {cls.name:<17} {where or 'not found (downloaded on first use)'}")
    return 0


def _kernels_line(backend) -> str:
    """Whether the numpy backend runs its compiled (Numba) kernels, and how to change that."""
    if backend.compiler:
        return (f"compiled kernels on ({_version(backend.compiler)}: {', '.join(sorted(backend.fused))}); "
                "ANYNN_NUMBA=0 turns them off, ANYNN_WINOGRAD=0 only the Winograd convolutions")
    if os.environ.get("ANYNN_NUMBA") == "0":
        return "compiled kernels off (ANYNN_NUMBA=0)"
    return ("compiled kernels off: Numba is not installed (pip install numba; it has no wheel for this machine "
            "otherwise)")


def _version(name: str) -> str:
    module = {"array_api_strict": "array_api_strict"}.get(name, name)
    try:
        return f"{module} {__import__(module).__version__}"
    except Exception:
        return ""


def cmd_bench(args) -> int:
    from anynn.bench import run_bench

    return run_bench(args)


def exit_status(err: BaseException) -> int:
    """2 for a mistake in what was asked (arguments, files, models, backends), 1 for a failure while running."""
    from anynn.backends.base import BackendUnavailable
    from anynn.nn.module import StateDictError
    from anynn.serialization import CheckpointError

    if isinstance(err, (UsageError, CheckpointError, StateDictError, BackendUnavailable, FileNotFoundError,
                        IsADirectoryError, NotADirectoryError, PermissionError)):
        return 2
    if isinstance(err, (FloatingPointError, MemoryError, OSError)):  # a diverging run, memory, disk, network
        return 1
    if isinstance(err, (ValueError, TypeError)):  # anynn's own checks of models and data
        return 2
    return 1


def _debug_requested(args) -> bool:
    env = os.environ.get("ANYNN_DEBUG", "").strip().lower()
    return bool(getattr(args, "debug", False)) or env not in ("", "0", "false", "no", "off")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user error prints its message alone (exit 2), a failure while running exits 1;
    ``--debug`` or ``ANYNN_DEBUG=1`` print the traceback as well."""
    args = build_parser().parse_args(argv)  # argparse itself prints usage errors and exits 2
    handlers = {"train": cmd_train, "eval": cmd_eval, "info": cmd_info, "bench": cmd_bench}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print(f"{_rank_prefix()}interrupted", file=sys.stderr)
        _abort_job(130)
        return 130
    except Exception as err:  # noqa: BLE001 - every error becomes a message and an exit status
        status = _report(args, err)
        _abort_job(status)
        return status


def _rank_prefix() -> str:
    """"[rank r] " on the ranks other than 0 of a distributed run (rank 0 and one process: nothing)."""
    from anynn import distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1 and dist.get_rank() != 0:
        return f"[rank {dist.get_rank()}] "
    return ""


def _abort_job(status: int) -> None:
    """A rank that stops with an error ends the whole job at once (the others would otherwise wait in their next
    collective until the deadline, ANYNN_DIST_TIMEOUT)."""
    from anynn import distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        dist.get_communicator().abort(status)


def _report(args, err: BaseException) -> int:
    """Print ``err`` as the command's error message (with hints); return the exit status."""
    status = exit_status(err)
    if _debug_requested(args):
        traceback.print_exc()
    known = isinstance(err, (ValueError, TypeError, RuntimeError, OSError, FloatingPointError, MemoryError))
    what = str(err) if known and str(err) else f"{type(err).__name__}: {err}"
    if isinstance(err, FileNotFoundError) and getattr(args, "no_download", False) and "download" in what:
        what += "\n  (on the command line: leave out --no-download to download the files)"
    print(f"{_rank_prefix()}anynn {args.command}: error: {what}", file=sys.stderr)
    if not _debug_requested(args) and not isinstance(err, UsageError):
        hint = "" if known else " (this looks like a bug in anynn; please report it with the traceback)"
        print(f"  (run with --debug or ANYNN_DEBUG=1 for the traceback{hint})", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
