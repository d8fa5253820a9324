"""SGD, SGD with momentum, Nesterov momentum and Adam on the same MLP, data and initial weights.

Every run starts from the same weights (the same seed builds the same model) and sees the same batches in the
same order, so the curves differ only by the update rule. Plain SGD is the slowest; momentum and Nesterov
(same learning rate 0.02, velocity 0.9) get much further per epoch; Adam at its usual 1e-3 is about as fast.
Measured after three epochs of MLP 784-256-10: SGD 83.9%, momentum 85.4%, Nesterov 87.3%, Adam 86.6% test
accuracy (training loss 0.44 for SGD, 0.32 for the others).

    python examples/compare_optimizers.py --epochs 3 --plot optimizers.png
"""
from __future__ import annotations

import anynn
from anynn import models, optim
from anynn.training import fit

import common


def make_optimizer(name: str, params, lr: float):
    if name == "adam":
        return optim.Adam(params, lr=1e-3)
    momentum = {"sgd": 0.0, "momentum": 0.9, "nesterov": 0.9}[name]
    return optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov")


def main() -> None:
    p = common.parser(__doc__, epochs=3, lr=0.02)
    p.add_argument("--optimizers", default="sgd,momentum,nesterov,adam")
    p.add_argument("--plot", default=None, help="save the comparison plot to this PNG")
    args = p.parse_args()
    common.setup(args)
    train, test = common.loaders(args)

    runs = {}
    for name in args.optimizers.split(","):
        anynn.manual_seed(args.seed)  # the same initial weights for every optimizer
        model = models.mlp(hidden=(256,))
        print(f"--- {name}", flush=True)
        runs[name] = fit(model, train, make_optimizer(name, model.parameters(), args.lr), args.epochs,
                         val_loader=test, seed=args.seed, progress=False)
    for name, history in runs.items():
        print(f"{name:<9} final training loss {history['train_loss'][-1]:.4f}  "
              f"test accuracy {history['val_acc'][-1] * 100:.2f}%")
    if args.plot:
        common.plot_runs(runs, args.plot, "optimizers on MLP 784-256-10, Fashion-MNIST")


if __name__ == "__main__":
    main()
