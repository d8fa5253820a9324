"""Datasets, the DataLoader and device-side batch transforms.

    from anynn.data import DataLoader, transforms
    loader = DataLoader(train_set, batch_size=128, shuffle=True, seed=0,
                        transform=transforms.Compose([transforms.ToFloat(), transforms.Normalize((0.5,), (0.5,))]))
    for epoch in range(start_epoch, epochs):
        loader.set_epoch(epoch)          # epoch k's order is the same in a resumed run
        for images, labels in loader: ...
"""
from anynn.data import transforms
from anynn.data.dataset import Dataset, ImageDataset, TensorDataset
from anynn.data.loader import DataLoader, collate
from anynn.data.sampler import DistributedSampler

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "ImageDataset", "TensorDataset", "collate", "transforms"]
