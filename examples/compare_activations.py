"""ReLU, LeakyReLU, ELU and GELU against Sigmoid and Tanh in the same deeper MLP (four hidden layers).

Each activation gets the same architecture, seed, data order and optimizer (plain SGD). The sigmoid's
derivative is at most 1/4 and its outputs are not zero-centred, so the gradient fades through the layers:
at initialisation the first layer's gradient is about 50x smaller than with ReLU, and the four-hidden-layer
sigmoid network stays at chance (10%) for the first epochs. All the others train. Measured after two epochs
(lr 0.05): tanh 81.5%, ELU 80.0%, LeakyReLU 78.2%, ReLU 78.1%, GELU 77.9%, sigmoid 10.0%; with PyTorch's
default initialisation the zero-centred tanh and ELU start fastest.

    python examples/compare_activations.py --epochs 3 --plot activations.png
"""
from __future__ import annotations

import anynn
from anynn import models, nn, optim
from anynn.training import fit

import common


def first_layer_grad_norm(model: nn.Module, loader) -> float:
    """The norm of d(loss)/d(first weight matrix) on one batch: how much signal reaches the bottom layer."""
    x, y = next(iter(loader))
    model.zero_grad()
    nn.CrossEntropyLoss()(model(x), y).backward()
    weight = model[1].weight
    return float((weight.grad * weight.grad).sum().sqrt())


def main() -> None:
    p = common.parser(__doc__, epochs=2, lr=0.05)
    p.add_argument("--activations", default="relu,leaky_relu,elu,gelu,tanh,sigmoid")
    p.add_argument("--hidden", default="128,128,128,128", help="hidden widths, comma separated")
    p.add_argument("--plot", default=None, help="save the comparison plot to this PNG")
    args = p.parse_args()
    common.setup(args)
    train, test = common.loaders(args)
    hidden = tuple(int(h) for h in args.hidden.split(","))

    runs, grads = {}, {}
    for act in args.activations.split(","):
        anynn.manual_seed(args.seed)
        model = models.mlp(hidden=hidden, act=act)
        grads[act] = first_layer_grad_norm(model, test)
        print(f"--- {act}: first-layer gradient norm at initialisation {grads[act]:.2e}", flush=True)
        runs[act] = fit(model, train, optim.SGD(model.parameters(), lr=args.lr), args.epochs, val_loader=test,
                        seed=args.seed, progress=False)
    for act, history in runs.items():
        print(f"{act:<10} first-layer grad {grads[act]:.1e}  final training loss {history['train_loss'][-1]:.4f}"
              f"  test accuracy {history['val_acc'][-1] * 100:.2f}%")
    if args.plot:
        common.plot_runs(runs, args.plot, f"activations in MLP 784-{'-'.join(map(str, hidden))}-10, Fashion-MNIST")


if __name__ == "__main__":
    main()
