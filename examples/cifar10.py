"""VGG or ResNet-18 on CIFAR-10 with data augmentation and a cosine learning-rate schedule, on any backend.

Augmentation is the classic random 32x32 crop of the 4-pixel zero-padded image plus a random horizontal flip,
done on the device for the whole batch. SGD with Nesterov momentum and weight decay 5e-4, with the learning
rate following a cosine from ``--lr`` down to 0 over ``--epochs``. Not measured here (no CIFAR-10 copy on
the machine these examples were written on); the usual targets for this recipe are VGG-11 with BatchNorm
about 92% and ResNet-18 about 95% after 100-200 epochs, which wants a GPU (``--backend cupy``).

CIFAR-10 is downloaded (about 160 MB, MD5-checked) if it is not found. ``--synthetic`` instead generates
CIFAR-shaped images whose colour depends on the label, so the whole pipeline can be smoke-tested offline:
there a working setup climbs well above the 10% chance level (measured, vgg_small, 5,000 synthetic images,
two epochs: 79.7% on 1,000 held-out ones, about 20 s per epoch with NumPy on 2 CPU cores).

    python examples/cifar10.py --model vgg_small --epochs 30 --backend cupy
    python examples/cifar10.py --synthetic --limit 1024 --epochs 1
"""
from __future__ import annotations

import sys

import anynn
from anynn import models, optim
from anynn.cli import train_statistics
from anynn.data import DataLoader, TensorDataset, transforms as T
from anynn.datasets import CIFAR10
from anynn.optim.lr_scheduler import CosineAnnealingLR
from anynn.training import evaluate, fit

import common


def synthetic(n: int, palette: anynn.Tensor) -> tuple[anynn.Tensor, anynn.Tensor]:
    """n uint8 images (n, 3, 32, 32): uniform noise mixed with the label's colour (a row of ``palette``)."""
    labels = anynn.randint(0, 10, (n,))
    colour = palette[labels].reshape(n, 3, 1, 1)
    images = (0.6 * anynn.rand(n, 3, 32, 32) + 0.4 * colour) * 255.0
    return images.to(anynn.uint8), labels


def cifar10(args) -> tuple[anynn.Tensor, ...]:
    """Train images, train labels, test images, test labels (uint8 / int64), cut to --limit."""
    if args.synthetic:
        anynn.manual_seed(12345)  # the same "dataset" whatever --seed says
        palette = anynn.rand(10, 3)  # one colour per class, shared by the training and test images
        return synthetic(args.limit or 5000, palette) + synthetic(min(args.limit or 1000, 1000), palette)
    train = CIFAR10(root=args.data_root, train=True, download=not args.no_download)
    test = CIFAR10(root=args.data_root, train=False, download=not args.no_download)
    n = args.limit
    return train.images[:n], train.labels[:n], test.images[:n], test.labels[:n]


def main() -> None:
    p = common.parser(__doc__, epochs=10, lr=0.05)
    p.add_argument("--model", default="vgg_small", choices=["vgg_small", "vgg11", "vgg13", "vgg16", "resnet18"])
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--no-augment", action="store_true", help="train without random crops and flips")
    p.add_argument("--synthetic", action="store_true", help="generated CIFAR-shaped data (no download)")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading CIFAR-10")
    p.add_argument("--checkpoint", default=None, help="save after every epoch; rerun with --resume to continue")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--plot", default=None, help="save loss and accuracy curves to this PNG")
    args = p.parse_args()
    common.setup(args)
    x_train, y_train, x_test, y_test = cifar10(args)
    anynn.manual_seed(args.seed)

    mean, std = train_statistics(x_train)
    scale = [T.ToFloat(), T.Normalize(mean, std)]
    augment = [] if args.no_augment else [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()]
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed,
                       transform=T.Compose(augment + scale))
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=500, transform=T.Compose(scale))
    print(f"CIFAR-10{' (synthetic)' if args.synthetic else ''}: {len(train.dataset)} training and "
          f"{len(test.dataset)} test images", flush=True)

    model = models.get_model(args.model)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)
    scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs)
    print(f"{args.model}: {sum(p.numel() for p in model.parameters())} parameters", flush=True)
    fit(model, train, optimizer, args.epochs, val_loader=test, scheduler=scheduler, checkpoint=args.checkpoint,
        resume=args.resume, seed=args.seed, plot=args.plot, progress=sys.stderr.isatty())
    print(f"{args.model} test accuracy {evaluate(model, test)['acc'] * 100:.2f}%")
    if args.plot:
        print(f"curves saved to {args.plot}")


if __name__ == "__main__":
    main()
