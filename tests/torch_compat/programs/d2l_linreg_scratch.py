# ruff: noqa: E741 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 3.2 "Linear Regression Implementation from Scratch" (PyTorch): a generator over
shuffled indices, ``torch.normal(..., requires_grad=True)``, squared loss, and ``sgd`` updating in place
(``param -= lr * param.grad / batch_size``) under ``torch.no_grad()``.

Source: https://d2l.ai/chapter_linear-networks/linear-regression-scratch.html
(d2l-ai/d2l-en v0.17.6, chapter_linear-networks/linear-regression-scratch.md, the pytorch tab).
Changes: ``synthetic_data`` is the ``_d2l`` one (its noise drawn from NumPy); ``numpy_params`` after the
``torch.normal`` draw of ``w`` (same start for both frameworks); the runner seeds Python's ``random``, so
``random.shuffle`` gives both the same order; plots left out.
"""
import random

from _d2l import d2l_for, numpy_params


def main(torch):
    d2l = d2l_for(torch)

    def synthetic_data(w, b, num_examples):  #@save
        """Generate y = Xw + b + noise."""
        return d2l.synthetic_data(w, b, num_examples)

    true_w = d2l.tensor([2, -3.4])
    true_b = 4.2
    features, labels = synthetic_data(true_w, true_b, 1000)

    print('features:', features[0], '\nlabel:', labels[0])

    def data_iter(batch_size, features, labels):
        num_examples = len(features)
        indices = list(range(num_examples))
        # The examples are read at random, in no particular order
        random.shuffle(indices)
        for i in range(0, num_examples, batch_size):
            batch_indices = d2l.tensor(
                indices[i: min(i + batch_size, num_examples)])
            yield features[batch_indices], labels[batch_indices]

    batch_size = 10

    for X, y in data_iter(batch_size, features, labels):
        print(X, '\n', y)
        break

    w = torch.normal(0, 0.01, size=(2,1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    numpy_params(torch, [w])

    def linreg(X, w, b):  #@save
        """The linear regression model."""
        return d2l.matmul(X, w) + b

    def squared_loss(y_hat, y):  #@save
        """Squared loss."""
        return (y_hat - d2l.reshape(y, y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):  #@save
        """Minibatch stochastic gradient descent."""
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    lr = 0.03
    num_epochs = 3
    net = linreg
    loss = squared_loss

    losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y)  # Minibatch loss in `X` and `y`
            # Compute gradient on `l` with respect to [`w`, `b`]
            l.sum().backward()
            sgd([w, b], lr, batch_size)  # Update parameters using their gradient
        with torch.no_grad():
            train_l = loss(net(features, w, b), labels)
            print(f'epoch {epoch + 1}, loss {float(train_l.mean()):f}')
            losses.append(float(train_l.mean()))

    print(f'error in estimating w: {true_w - d2l.reshape(w, true_w.shape)}')
    print(f'error in estimating b: {true_b - b}')
    return {"losses": losses, "w_error": (true_w - d2l.reshape(w, true_w.shape)).tolist(),
            "b_error": (true_b - b).tolist()}
