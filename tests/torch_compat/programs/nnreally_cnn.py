"""What is torch.nn really?, "Switch to CNN", "nn.Sequential", "Wrapping DataLoader" and "Using your GPU":
Mnist_CNN (stride-2 convs, ``F.avg_pool2d``, ``view``), a Lambda module, nn.Sequential with AvgPool2d and
AdaptiveAvgPool2d, WrappedDataLoader and SGD with momentum.

Source: https://pytorch.org/tutorials/beginner/nn_tutorial.html
(pytorch/tutorials, beginner_source/nn_tutorial.py).
Changes: MNIST (download) -> 192 / 64 seeded random 784-vectors and labels; ``numpy_weights`` after building
each model; loaders without shuffling (both frameworks see the same order).
"""
import numpy as np

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    TensorDataset = torch.utils.data.TensorDataset
    DataLoader = torch.utils.data.DataLoader

    x_train, y_train = images(192, shape=(784,), seed=0)
    x_valid, y_valid = images(64, shape=(784,), seed=1)
    x_train, y_train, x_valid, y_valid = map(torch.tensor, (x_train, y_train, x_valid, y_valid))
    train_ds = TensorDataset(x_train, y_train)
    valid_ds = TensorDataset(x_valid, y_valid)
    bs = 64
    epochs = 2
    loss_func = F.cross_entropy

    def loss_batch(model, loss_func, xb, yb, opt=None):
        loss = loss_func(model(xb), yb)

        if opt is not None:
            loss.backward()
            opt.step()
            opt.zero_grad()

        return loss.item(), len(xb)

    def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
        history = []
        for epoch in range(epochs):
            model.train()
            for xb, yb in train_dl:
                loss_batch(model, loss_func, xb, yb, opt)

            model.eval()
            with torch.no_grad():
                losses, nums = zip(
                    *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
                )
            val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

            print(epoch, val_loss)
            history.append(float(val_loss))
        return history

    def get_data(train_ds, valid_ds, bs):
        return (
            DataLoader(train_ds, batch_size=bs, shuffle=False),
            DataLoader(valid_ds, batch_size=bs * 2),
        )

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)

    class Mnist_CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)
            self.conv3 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

        def forward(self, xb):
            xb = xb.view(-1, 1, 28, 28)
            xb = F.relu(self.conv1(xb))
            xb = F.relu(self.conv2(xb))
            xb = F.relu(self.conv3(xb))
            xb = F.avg_pool2d(xb, 4)
            return xb.view(-1, xb.size(1))

    lr = 0.1

    model = Mnist_CNN()
    numpy_weights(torch, model)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    results = {"cnn": fit(epochs, model, loss_func, opt, train_dl, valid_dl)}

    class Lambda(nn.Module):
        def __init__(self, func):
            super().__init__()
            self.func = func

        def forward(self, x):
            return self.func(x)

    def preprocess(x):
        return x.view(-1, 1, 28, 28)

    model = nn.Sequential(
        Lambda(preprocess),
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(4),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    numpy_weights(torch, model)

    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    results["sequential"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    def preprocess(x, y):
        return x.view(-1, 1, 28, 28), y

    class WrappedDataLoader:
        def __init__(self, dl, func):
            self.dl = dl
            self.func = func

        def __len__(self):
            return len(self.dl)

        def __iter__(self):
            for b in self.dl:
                yield (self.func(*b))

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    train_dl = WrappedDataLoader(train_dl, preprocess)
    valid_dl = WrappedDataLoader(valid_dl, preprocess)

    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    numpy_weights(torch, model)

    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    results["wrapped"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    dev = torch.device(
        "cuda") if torch.cuda.is_available() else torch.device("cpu")

    def preprocess(x, y):
        return x.view(-1, 1, 28, 28).to(dev), y.to(dev)

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    train_dl = WrappedDataLoader(train_dl, preprocess)
    valid_dl = WrappedDataLoader(valid_dl, preprocess)

    model.to(dev)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    results["device"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)
    return results
