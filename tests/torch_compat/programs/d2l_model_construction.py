"""Dive into Deep Learning, 5.1 "Layers and Blocks" (PyTorch): nn.Sequential, an MLP subclass, MySequential
filling ``self._modules[str(idx)]``, FixedHiddenMLP (a constant ``torch.rand`` weight, ``torch.mm``, parameter
reuse, ``while X.abs().sum() > 1: X /= 2``), NestMLP and a chimera of them.

Source: https://d2l.ai/chapter_deep-learning-computation/model-construction.html
(d2l-ai/d2l-en v0.17.6, chapter_deep-learning-computation/model-construction.md, the pytorch tab).
Changes: the ``torch.rand`` input and constant weight are seeded NumPy arrays; ``numpy_weights`` after
building each model.
"""
import numpy as np

from _common import numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    gen = np.random.default_rng(0)
    out = {}

    net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    numpy_weights(torch, net)

    X = torch.tensor(gen.random((2, 20), dtype=np.float32))
    out["sequential"] = net(X).tolist()

    class MLP(nn.Module):
        # Declare a layer with model parameters. Here, we declare two fully
        # connected layers
        def __init__(self):
            # Call the constructor of the `MLP` parent class `Module` to perform
            # the necessary initialization.
            super().__init__()
            self.hidden = nn.Linear(20, 256)  # Hidden layer
            self.out = nn.Linear(256, 10)  # Output layer

        # Define the forward propagation of the model, that is, how to return the
        # required model output based on the input `X`
        def forward(self, X):
            # Note here we use the funtional version of ReLU defined in the
            # nn.functional module.
            return self.out(F.relu(self.hidden(X)))

    net = MLP()
    numpy_weights(torch, net)
    out["mlp"] = net(X).tolist()

    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                # Here, `module` is an instance of a `Module` subclass. We save it
                # in the member variable `_modules` of the `Module` class, and its
                # type is OrderedDict
                self._modules[str(idx)] = module

        def forward(self, X):
            # OrderedDict guarantees that members will be traversed in the order
            # they were added
            for block in self._modules.values():
                X = block(X)
            return X

    net = MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    numpy_weights(torch, net)
    out["my_sequential"] = net(X).tolist()
    out["my_sequential_parameters"] = len(list(net.parameters()))

    rand_weight = gen.random((20, 20), dtype=np.float32)

    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            # Random weight parameters that will not compute gradients and
            # therefore keep constant during training
            self.rand_weight = torch.tensor(rand_weight, requires_grad=False)
            self.linear = nn.Linear(20, 20)

        def forward(self, X):
            X = self.linear(X)
            # Use the created constant parameters, as well as the `relu` and `mm`
            # functions
            X = F.relu(torch.mm(X, self.rand_weight) + 1)
            # Reuse the fully-connected layer. This is equivalent to sharing
            # parameters with two fully-connected layers
            X = self.linear(X)
            # Control flow
            while X.abs().sum() > 1:
                X /= 2
            return X.sum()

    net = FixedHiddenMLP()
    numpy_weights(torch, net)
    out["fixed_hidden"] = net(X).item()

    class NestMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(),
                                     nn.Linear(64, 32), nn.ReLU())
            self.linear = nn.Linear(32, 16)

        def forward(self, X):
            return self.linear(self.net(X))

    chimera = nn.Sequential(NestMLP(), nn.Linear(16, 20), FixedHiddenMLP())
    numpy_weights(torch, chimera)
    out["chimera"] = chimera(X).item()
    out["chimera_names"] = [name for name, _ in chimera.named_parameters()]
    return out
