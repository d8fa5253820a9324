"""``anynn`` command line: train, eval, info, bench (also ``python -m anynn``)."""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Sequence

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
DATASETS = ("fashion-mnist", "mnist", "cifar10", "cifar100")
SCHEDULES = ("none", "cosine", "step", "onecycle-linear")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None, help="numpy (default), cupy, torch or array_api_strict "
                                                   "(default: $ANYNN_BACKEND or numpy)")
    p.add_argument("--device", default=None, help="e.g. cuda:0 or cpu (default: $ANYNN_DEVICE)")
    p.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    p.add_argument("--data-root", default=None, help="folder with the dataset files (default: see README)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--no-download", action="store_true", help="never download; fail if the files are absent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anynn", description="Train and benchmark anynn models on any backend.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and report test accuracy and seconds per epoch")
    _add_common(t)
    t.add_argument("--model", default="lenet5", help="softmax_regression, mlp, lenet5, lenet5_bn, vgg_small, "
                                                      "vgg11/13/16/19, nin, resnet18")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--momentum", type=float, default=0.9, help="for sgd variants that use momentum")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--schedule", default="none", choices=SCHEDULES)
    t.add_argument("--warmup", type=int, default=0, help="epochs of linear learning-rate warm-up")
    t.add_argument("--clip-grad-norm", type=float, default=None)
    t.add_argument("--hidden", default="256", help="hidden widths of the mlp, comma separated")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout of the mlp hidden layers")
    t.add_argument("--augment", action="store_true", help="random crop (padding 4 for 32px, 2 for 28px) and flip")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--limit", type=int, default=None, help="train on the first N images only (quick runs)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    t.add_argument("--checkpoint", default=None, help="write a checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--plot", default=None, help="save loss/accuracy curves to this PNG")
    t.add_argument("--no-progress", action="store_true")

    e = sub.add_parser("eval", help="evaluate a checkpoint on the test set")
    _add_common(e)
    e.add_argument("--model", default="lenet5")
    e.add_argument("--checkpoint", required=True)

    sub.add_parser("info", help="backends, devices, versions and where data was found")

    b = sub.add_parser("bench", help="seconds per epoch, images/s and the ratio to PyTorch")
    b.add_argument("--models", default="mlp,lenet5")
    b.add_argument("--backends", default="numpy")
    b.add_argument("--compare-torch", action="store_true")
    b.add_argument("--epochs", type=int, default=3, help="measured epochs (after one warm-up epoch)")
    b.add_argument("--batch-size", type=int, default=None,
                   help="default 256 for 1x28x28 models, 128 for 3x32x32 ones")
    b.add_argument("--images", type=int, default=None, help="images per epoch (default: the dataset size)")
    b.add_argument("--json", default=None, help="also write the results as JSON here")
    return parser


def _select_backend(args) -> None:
    import anynn

    if args.backend or args.device:
        anynn.set_backend(args.backend or os.environ.get("ANYNN_BACKEND", "numpy"), args.device)


def _data(args, train: bool):
    from anynn import datasets

    classes = {"fashion-mnist": datasets.FashionMNIST, "mnist": datasets.MNIST, "cifar10": datasets.CIFAR10,
               "cifar100": datasets.CIFAR100}
    return classes[args.dataset](root=args.data_root, train=train, download=not args.no_download)


def _loaders(args, augment: bool = False, limit: int | None = None, seed: int = 0):
    from anynn.data import DataLoader, TensorDataset, transforms as T

    train_set, test_set = _data(args, True), _data(args, False)
    images, labels = train_set.images, train_set.labels
    mean, std = train_statistics(images)  # of the whole training set, so `eval` normalises the same way
    if limit:
        images, labels = images[:limit], labels[:limit]
    channels, side = images.shape[1], images.shape[2]
    base = [T.ToFloat(), T.Normalize(mean, std)]
    train_tf = T.Compose(([T.RandomCrop(side, padding=4 if side == 32 else 2), T.RandomHorizontalFlip()]
                          if augment else []) + base)
    train = DataLoader(TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True, seed=seed,
                       transform=train_tf)
    test = DataLoader(TensorDataset(test_set.images, test_set.labels), batch_size=1000, transform=T.Compose(base))
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
    from anynn.models import get_model

    extra = {}
    if args.model == "mlp":
        extra = {"hidden": tuple(int(h) for h in str(args.hidden).split(",") if h), "dropout": args.dropout}
    return get_model(args.model, in_channels=channels, image_size=side, num_classes=classes, **extra)


def cmd_train(args) -> int:
    import anynn
    from anynn.training import evaluate, fit

    _select_backend(args)
    anynn.manual_seed(args.seed)
    backend = anynn.get_backend()
    train, test, channels, side, classes = _loaders(args, args.augment, args.limit, args.seed)
    model = _model(args, channels, side, classes)
    if args.dtype == "float64":
        model.double()
    optimizer = _optimizer(args, model.parameters())
    scheduler = _scheduler(args, optimizer)
    loss_fn = anynn.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    print(f"anynn {anynn.__version__}: {args.model} on {args.dataset} ({len(train.dataset)} train images), "
          f"backend {backend.name} on {backend.device_name}, {sum(p.numel() for p in model.parameters())} "
          "parameters", flush=True)
    began = time.perf_counter()
    history = fit(model, train, optimizer, args.epochs, loss_fn=loss_fn, val_loader=test, scheduler=scheduler,
                  clip_grad_norm=args.clip_grad_norm, checkpoint=args.checkpoint, resume=args.resume,
                  seed=args.seed, progress=not args.no_progress, plot=args.plot)
    final = evaluate(model, test, loss_fn)
    seconds = [e["seconds"] for e in history.epochs]
    per_epoch = sorted(seconds)[len(seconds) // 2] if seconds else float("nan")
    print(f"test accuracy {final['acc'] * 100:.2f}%  test loss {final['loss']:.4f}  "
          f"{per_epoch:.1f} s/epoch (median)  {time.perf_counter() - began:.0f} s total")
    if args.plot:
        print(f"curves saved to {args.plot}")
    return 0


def cmd_eval(args) -> int:
    import anynn
    from anynn.training import evaluate, load_checkpoint

    _select_backend(args)
    _, test, channels, side, classes = _loaders(args)
    model = _model(argparse.Namespace(model=args.model, hidden="256", dropout=0.0), channels, side, classes)
    load_checkpoint(args.checkpoint, model)
    result = evaluate(model, test)
    print(f"{args.model} from {args.checkpoint}: test accuracy {result['acc'] * 100:.2f}%  loss {result['loss']:.4f}"
          f"  (backend {anynn.get_backend().name})")
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
    if backend.kernels:
        return (f"compiled kernels on ({_version('numba')}: {', '.join(sorted(backend.kernels))}); "
                "ANYNN_NUMBA=0 turns them off, ANYNN_WINOGRAD=0 only the Winograd convolutions")
    if os.environ.get("ANYNN_NUMBA") == "0":
        return "compiled kernels off (ANYNN_NUMBA=0)"
    return "compiled kernels off: Numba is not installed (pip install 'anynn[fast]')"


def _version(name: str) -> str:
    module = {"array_api_strict": "array_api_strict"}.get(name, name)
    try:
        return f"{module} {__import__(module).__version__}"
    except Exception:
        return ""


def cmd_bench(args) -> int:
    from anynn.bench import run_bench

    return run_bench(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "eval": cmd_eval, "info": cmd_info, "bench": cmd_bench}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
