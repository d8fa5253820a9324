"""``anynn.utils``: PyTorch's ``torch.utils`` names (``anynn.utils.data``)."""
from anynn.utils import data

__all__ = ["data"]
