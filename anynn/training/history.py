"""Per-epoch training history and the training-curves plot."""
from __future__ import annotations

from typing import Any


class History:
    """One dict per epoch (``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr``, ``seconds``)."""

    def __init__(self, epochs: list[dict[str, Any]] | None = None):
        self.epochs: list[dict[str, Any]] = list(epochs or [])

    def append(self, record: dict[str, Any]) -> None:
        self.epochs.append(dict(record))

    def __getitem__(self, key: str) -> list[Any]:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def state_dict(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.epochs]

    def plot(self, path: str) -> bool:
        """Save loss and accuracy curves (train vs validation) as a PNG; False if matplotlib is missing."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return False
        epochs = self["epoch"]
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
            ax.plot(epochs, self[f"train_{key}"], "o-", label="train")
            if any(v is not None for v in self[f"val_{key}"]):
                ax.plot(epochs, self[f"val_{key}"], "s-", label="test")
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return True
