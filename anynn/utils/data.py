"""``anynn.utils.data``: ``torch.utils.data``'s names for what lives in :mod:`anynn.data`, so
``from torch.utils.data import DataLoader, TensorDataset, random_split`` reads the same with ``anynn``."""
from anynn.data.dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from anynn.data.loader import DataLoader, default_collate, get_worker_info
from anynn.data.sampler import (BatchSampler, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
                                SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "default_collate", "get_worker_info", "random_split"]
