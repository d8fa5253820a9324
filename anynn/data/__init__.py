"""Datasets, the DataLoader and device-side batch transforms.

    from anynn.data import DataLoader, transforms
    loader = DataLoader(train_set, batch_size=128, shuffle=True, seed=0,
                        transform=transforms.Compose([transforms.ToFloat(), transforms.Normalize((0.5,), (0.5,))]))
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)          # epoch k's order is the same in a resumed run
        for images, labels in loader: ...
"""
from anynn.data import transforms
from anynn.data.dataset import (ConcatDataset, Dataset, ImageDataset, IterableDataset, Subset, TensorDataset,
                                random_split)
from anynn.data.loader import DataLoader, collate, default_collate
from anynn.data.sampler import (BatchSampler, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
                                SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "ImageDataset",
           "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "collate", "default_collate", "random_split", "transforms"]
