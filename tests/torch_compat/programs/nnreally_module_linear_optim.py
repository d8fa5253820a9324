"""What is torch.nn really?, "Refactor using nn.Module", "nn.Linear" and "torch.optim": Mnist_Logistic with
nn.Parameter, the manual ``p -= p.grad * lr`` loop with ``model.zero_grad()``, then nn.Linear and optim.SGD.

Source: https://pytorch.org/tutorials/beginner/nn_tutorial.html
(pytorch/tutorials, beginner_source/nn_tutorial.py).
Changes: MNIST (download) -> 320 seeded random 784-vectors and labels; ``numpy_weights`` after building
each model (replaces ``torch.randn(784, 10) / math.sqrt(784)`` and nn.Linear's own draw).
"""
import math

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim

    x_train, y_train = images(320, shape=(784,), seed=0)
    x_train, y_train = map(torch.tensor, (x_train, y_train))
    n, c = x_train.shape
    bs = 64
    lr = 0.5
    epochs = 2
    loss_func = F.cross_entropy
    xb, yb = x_train[0:bs], y_train[0:bs]

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.Parameter(torch.randn(784, 10) / math.sqrt(784))
            self.bias = nn.Parameter(torch.zeros(10))

        def forward(self, xb):
            return xb @ self.weights + self.bias

    model = Mnist_Logistic()
    numpy_weights(torch, model)
    print(loss_func(model(xb), yb))
    losses = [loss_func(model(xb), yb).item()]

    def fit():
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
                    for p in model.parameters():
                        p -= p.grad * lr
                    model.zero_grad()

    fit()
    print(loss_func(model(xb), yb))
    losses.append(loss_func(model(xb), yb).item())

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)

        def forward(self, xb):
            return self.lin(xb)

    model = Mnist_Logistic()
    numpy_weights(torch, model)
    print(loss_func(model(xb), yb))
    losses.append(loss_func(model(xb), yb).item())
    fit()
    print(loss_func(model(xb), yb))
    losses.append(loss_func(model(xb), yb).item())

    def get_model():
        model = Mnist_Logistic()
        numpy_weights(torch, model)
        return model, optim.SGD(model.parameters(), lr=lr)

    model, opt = get_model()
    print(loss_func(model(xb), yb))

    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()

    print(loss_func(model(xb), yb))
    losses.append(loss_func(model(xb), yb).item())
    return {"losses": losses, "bias": model.lin.bias.tolist()}
