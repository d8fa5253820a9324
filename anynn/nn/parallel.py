"""PyTorch's spelling: ``anynn.nn.parallel.DistributedDataParallel`` (defined in ``anynn.distributed.ddp``)."""
from anynn.distributed.ddp import DistributedDataParallel, ModelMismatchError

__all__ = ["DistributedDataParallel", "ModelMismatchError"]
