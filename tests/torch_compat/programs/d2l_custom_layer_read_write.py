"""Dive into Deep Learning, 5.4 "Custom Layers" and 5.5 "File I/O" (PyTorch): CenteredLayer on
``torch.FloatTensor([...])``, MyLinear with nn.Parameter and ``.data``; torch.save/torch.load of a tensor, a
list and a dict of tensors, and of an MLP's state_dict into a clone (``clone.eval()``).

Source: https://d2l.ai/chapter_deep-learning-computation/custom-layer.html and
https://d2l.ai/chapter_deep-learning-computation/read-write.html
(d2l-ai/d2l-en v0.17.6, chapter_deep-learning-computation/custom-layer.md and read-write.md, pytorch tab).
Changes: the ``torch.rand``/``torch.randn`` inputs are seeded NumPy arrays; ``numpy_weights`` after building
each model; the files live in a temporary folder.
"""
import os
import tempfile

import numpy as np

from _common import numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    gen = np.random.default_rng(0)
    out = {}

    class CenteredLayer(nn.Module):
        def __init__(self):
            super().__init__()

        def forward(self, X):
            return X - X.mean()

    layer = CenteredLayer()
    out["centered"] = layer(torch.FloatTensor([1, 2, 3, 4, 5])).tolist()

    net = nn.Sequential(nn.Linear(8, 128), CenteredLayer())
    numpy_weights(torch, net)

    Y = net(torch.tensor(gen.random((4, 8), dtype=np.float32)))
    out["mean_near_zero"] = abs(Y.mean().item()) < 1e-5

    class MyLinear(nn.Module):
        def __init__(self, in_units, units):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(in_units, units))
            self.bias = nn.Parameter(torch.randn(units,))
        def forward(self, X):
            linear = torch.matmul(X, self.weight.data) + self.bias.data
            return F.relu(linear)

    linear = MyLinear(5, 3)
    numpy_weights(torch, linear)
    out["weight"] = linear.weight.tolist()
    out["linear"] = linear(torch.tensor(gen.random((2, 5), dtype=np.float32))).tolist()

    net = nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))
    numpy_weights(torch, net)
    out["two_mylinear"] = net(torch.tensor(gen.random((2, 64), dtype=np.float32))).tolist()

    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            x = torch.arange(4)
            torch.save(x, 'x-file')

            x2 = torch.load('x-file')
            out["x2"] = x2.tolist()

            y = torch.zeros(4)
            torch.save([x, y],'x-files')
            x2, y2 = torch.load('x-files')
            out["x2_y2"] = [x2.tolist(), y2.tolist()]

            mydict = {'x': x, 'y': y}
            torch.save(mydict, 'mydict')
            mydict2 = torch.load('mydict')
            out["mydict2"] = {k: v.tolist() for k, v in mydict2.items()}

            class MLP(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.hidden = nn.Linear(20, 256)
                    self.output = nn.Linear(256, 10)

                def forward(self, x):
                    return self.output(F.relu(self.hidden(x)))

            net = MLP()
            numpy_weights(torch, net)
            X = torch.tensor(gen.standard_normal((2, 20), dtype=np.float32))
            Y = net(X)

            torch.save(net.state_dict(), 'mlp.params')

            clone = MLP()
            clone.load_state_dict(torch.load('mlp.params'))
            clone.eval()

            Y_clone = clone(X)
            out["clone_equal"] = (Y_clone == Y).tolist()
            out["Y"] = Y.tolist()
        finally:
            os.chdir(previous)
    return out
