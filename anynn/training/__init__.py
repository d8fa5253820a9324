"""Training: ``fit``/``evaluate``, history and curves, checkpoints."""
from anynn.training.checkpoint import load_checkpoint, save_checkpoint
from anynn.training.history import History
from anynn.training.loop import NonFiniteLossError, OutOfMemory, evaluate, fit

__all__ = ["History", "NonFiniteLossError", "OutOfMemory", "evaluate", "fit", "load_checkpoint", "save_checkpoint"]
