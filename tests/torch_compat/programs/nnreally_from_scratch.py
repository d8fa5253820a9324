"""What is torch.nn really?, "Neural net from scratch (without torch.nn)" and "Using torch.nn.functional":
log-softmax, negative log-likelihood via fancy indexing, accuracy, in-place updates under no_grad.

Source: https://pytorch.org/tutorials/beginner/nn_tutorial.html
(pytorch/tutorials, beginner_source/nn_tutorial.py).
Changes: MNIST (download) -> 320 / 128 seeded random 784-vectors and labels; the ``torch.randn(784, 10)``
weights are a seeded NumPy draw.
"""
import math

import numpy as np

from _common import images


def main(torch):
    x_train, y_train = images(320, shape=(784,), seed=0)
    x_valid, y_valid = images(128, shape=(784,), seed=1)

    x_train, y_train, x_valid, y_valid = map(
        torch.tensor, (x_train, y_train, x_valid, y_valid)
    )
    n, c = x_train.shape
    print(x_train, y_train)
    print(x_train.shape)
    print(y_train.min(), y_train.max())

    weights = torch.tensor(np.random.default_rng(2).standard_normal((784, 10), dtype=np.float32)) / math.sqrt(784)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    bs = 64  # batch size

    xb = x_train[0:bs]  # a mini-batch from x
    preds = model(xb)  # predictions
    preds[0], preds.shape
    print(preds[0], preds.shape)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    loss_func = nll

    yb = y_train[0:bs]
    print(loss_func(preds, yb))
    start = [loss_func(preds, yb).item()]

    def accuracy(out, yb):
        preds = torch.argmax(out, dim=1)
        return (preds == yb).float().mean()

    print(accuracy(preds, yb))
    start.append(accuracy(preds, yb).item())

    lr = 0.5  # learning rate
    epochs = 2  # how many epochs to train for

    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()

    print(loss_func(model(xb), yb), accuracy(model(xb), yb))
    trained = [loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item()]

    F = torch.nn.functional

    loss_func = F.cross_entropy

    def model(xb):
        return xb @ weights + bias

    print(loss_func(model(xb), yb), accuracy(model(xb), yb))
    functional = [loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item()]

    return {"shape": [n, c], "labels": [y_train.min().item(), y_train.max().item()], "start": start,
            "trained": trained, "functional": functional, "bias": bias.tolist()}
