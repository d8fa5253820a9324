# ruff: noqa: E741 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 6.2 "Convolutions for Images" (PyTorch): ``corr2d`` by loops with element
assignment ``Y[i, j] = ...``, a Conv2D module, edge detection, and learning a kernel with nn.Conv2d(bias=False)
through ``conv2d.weight.data[:] -= lr * conv2d.weight.grad``.

Source: https://d2l.ai/chapter_convolutional-neural-networks/conv-layer.html
(d2l-ai/d2l-en v0.17.6, chapter_convolutional-neural-networks/conv-layer.md, the pytorch tab).
Changes: ``numpy_weights`` after building ``conv2d``.
"""
from _common import numpy_weights
from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn
    out = {}

    def corr2d(X, K):  #@save
        """Compute 2D cross-correlation."""
        h, w = K.shape
        Y = d2l.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = d2l.reduce_sum((X[i: i + h, j: j + w] * K))
        return Y

    X = d2l.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    K = d2l.tensor([[0.0, 1.0], [2.0, 3.0]])
    out["corr2d"] = corr2d(X, K).tolist()

    class Conv2D(nn.Module):
        def __init__(self, kernel_size):
            super().__init__()
            self.weight = nn.Parameter(torch.rand(kernel_size))
            self.bias = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return corr2d(x, self.weight) + self.bias

    layer = Conv2D((2, 2))
    out["conv2d_module_shape"] = list(layer(X).shape)

    X = d2l.ones((6, 8))
    X[:, 2:6] = 0
    out["X"] = X.tolist()

    K = d2l.tensor([[1.0, -1.0]])

    Y = corr2d(X, K)
    out["edges"] = Y.tolist()
    out["edges_transposed"] = corr2d(d2l.transpose(X), K).tolist()

    # Construct a two-dimensional convolutional layer with 1 output channel and a
    # kernel of shape (1, 2). For the sake of simplicity, we ignore the bias here
    conv2d = nn.Conv2d(1,1, kernel_size=(1, 2), bias=False)
    numpy_weights(torch, conv2d)

    # The two-dimensional convolutional layer uses four-dimensional input and
    # output in the format of (example, channel, height, width), where the batch
    # size (number of examples in the batch) and the number of channels are both 1
    X = X.reshape((1, 1, 6, 8))
    Y = Y.reshape((1, 1, 6, 7))
    lr = 3e-2  # Learning rate

    losses = []
    for i in range(10):
        Y_hat = conv2d(X)
        l = (Y_hat - Y) ** 2
        conv2d.zero_grad()
        l.sum().backward()
        # Update the kernel
        conv2d.weight.data[:] -= lr * conv2d.weight.grad
        if (i + 1) % 2 == 0:
            print(f'epoch {i + 1}, loss {l.sum():.3f}')
            losses.append(l.sum().item())

    out["losses"] = losses
    out["kernel"] = d2l.reshape(conv2d.weight.data, (1, 2)).tolist()
    return out
