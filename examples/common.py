"""Shared by the examples: the common command-line flags and normalised Fashion-MNIST loaders.

Run the examples from anywhere (``python examples/mlp.py``); Python puts this folder on the import path.
"""
from __future__ import annotations

import argparse
import os

import anynn
from anynn.cli import train_statistics
from anynn.data import DataLoader, TensorDataset, transforms as T
from anynn.datasets import FashionMNIST


def parser(doc: str, epochs: int, lr: float, batch_size: int = 128) -> argparse.ArgumentParser:
    """An ArgumentParser with --epochs, --lr, --batch-size, --limit, --backend, --device, --seed, --data-root."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--lr", type=float, default=lr, help="learning rate")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training and N test images")
    p.add_argument("--backend", default=None, help="numpy, torch, cupy or array_api_strict "
                                                   "(default: $ANYNN_BACKEND or numpy)")
    p.add_argument("--device", default=None, help="e.g. cuda:0 (default: $ANYNN_DEVICE)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="folder with the dataset files (default: searched)")
    return p


def setup(args: argparse.Namespace) -> None:
    """Select the backend, seed every generator, and say where we run."""
    if args.backend or args.device:
        anynn.set_backend(args.backend or os.environ.get("ANYNN_BACKEND", "numpy"), args.device)
    anynn.manual_seed(args.seed)
    backend = anynn.get_backend()
    print(f"backend {backend.name} on {backend.device_name}", flush=True)


def fashion_mnist(args: argparse.Namespace) -> tuple[anynn.Tensor, anynn.Tensor, anynn.Tensor, anynn.Tensor]:
    """Train images, train labels, test images, test labels: (N, 1, 28, 28) uint8 and int64, cut to --limit."""
    train = FashionMNIST(root=args.data_root, train=True)
    test = FashionMNIST(root=args.data_root, train=False)
    n = args.limit
    return train.images[:n], train.labels[:n], test.images[:n], test.labels[:n]


def loaders(args: argparse.Namespace, augment: list | None = None) -> tuple[DataLoader, DataLoader]:
    """Shuffled training batches and test batches of Fashion-MNIST, scaled to [0, 1] and normalised."""
    x_train, y_train, x_test, y_test = fashion_mnist(args)
    mean, std = train_statistics(x_train)
    scale = [T.ToFloat(), T.Normalize(mean, std)]
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed,
                       transform=T.Compose((augment or []) + scale))
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=1000, transform=T.Compose(scale))
    print(f"Fashion-MNIST: {len(train.dataset)} training and {len(test.dataset)} test images", flush=True)
    return train, test


def plot_runs(runs: dict, path: str, title: str) -> bool:
    """Training loss and test accuracy per epoch, one line per run (``{name: History}``); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return False
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for name, history in runs.items():
        ax_loss.plot(history["epoch"], history["train_loss"], "o-", label=name)
        ax_acc.plot(history["epoch"], [a * 100 for a in history["val_acc"]], "o-", label=name)
    for ax, label in ((ax_loss, "training loss"), (ax_acc, "test accuracy (%)")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot saved to {path}")
    return True
