"""What is torch.nn really?, "Refactor using Dataset", "DataLoader", "Add validation" and "Create fit() and
get_data()": TensorDataset slicing, DataLoader, model.train()/eval(), ``sum()`` over a generator of losses,
``loss_batch`` with ``zip(*...)`` and NumPy-weighted averages.

Source: https://pytorch.org/tutorials/beginner/nn_tutorial.html
(pytorch/tutorials, beginner_source/nn_tutorial.py).
Changes: MNIST (download) -> 320 / 128 seeded random 784-vectors and labels; ``numpy_weights`` in
``get_model``; training loaders without shuffling (both frameworks see the same order).
"""
import numpy as np

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    TensorDataset = torch.utils.data.TensorDataset
    DataLoader = torch.utils.data.DataLoader

    x_train, y_train = images(320, shape=(784,), seed=0)
    x_valid, y_valid = images(128, shape=(784,), seed=1)
    x_train, y_train, x_valid, y_valid = map(torch.tensor, (x_train, y_train, x_valid, y_valid))
    n, c = x_train.shape
    bs = 64
    lr = 0.5
    epochs = 2
    loss_func = F.cross_entropy

    class Mnist_Logistic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)

        def forward(self, xb):
            return self.lin(xb)

    def get_model():
        model = Mnist_Logistic()
        numpy_weights(torch, model)
        return model, optim.SGD(model.parameters(), lr=lr)

    train_ds = TensorDataset(x_train, y_train)

    model, opt = get_model()

    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            xb, yb = train_ds[i * bs: i * bs + bs]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()

    print(loss_func(model(xb), yb))
    results = {"dataset": loss_func(model(xb), yb).item()}

    train_dl = DataLoader(train_ds, batch_size=bs)

    model, opt = get_model()

    for epoch in range(epochs):
        for xb, yb in train_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()

    print(loss_func(model(xb), yb))
    results["dataloader"] = loss_func(model(xb), yb).item()

    train_ds = TensorDataset(x_train, y_train)
    train_dl = DataLoader(train_ds, batch_size=bs, shuffle=False)

    valid_ds = TensorDataset(x_valid, y_valid)
    valid_dl = DataLoader(valid_ds, batch_size=bs * 2)

    model, opt = get_model()
    valid = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()

        model.eval()
        with torch.no_grad():
            valid_loss = sum(loss_func(model(xb), yb) for xb, yb in valid_dl)

        print(epoch, valid_loss / len(valid_dl))
        valid.append((valid_loss / len(valid_dl)).item())
    results["validation"] = valid

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
    model, opt = get_model()
    results["fit"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)
    return results
