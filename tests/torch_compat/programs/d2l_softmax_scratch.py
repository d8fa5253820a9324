"""Dive into Deep Learning, 3.6 "Implementation of Softmax Regression from Scratch" (PyTorch): softmax by
hand, cross-entropy by fancy indexing ``y_hat[range(len(y_hat)), y]``, accuracy, Accumulator,
train_epoch_ch3/train_ch3 with the scratch ``sgd`` updater, predict_ch3.

Source: https://d2l.ai/chapter_linear-networks/softmax-regression-scratch.html
(d2l-ai/d2l-en v0.17.6, chapter_linear-networks/softmax-regression-scratch.md, the pytorch tab).
Changes: Fashion-MNIST -> the stand-in loader of ``_d2l``; ``numpy_params`` after the ``torch.normal`` draw
of ``W``; 10 -> 3 epochs; plots left out.
"""
from _d2l import d2l_for, numpy_params


def main(torch):
    d2l = d2l_for(torch)
    out = {}

    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)

    num_inputs = 784
    num_outputs = 10

    W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)
    numpy_params(torch, [W])

    X = d2l.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out["sums"] = [d2l.reduce_sum(X, 0, keepdim=True).tolist(), d2l.reduce_sum(X, 1, keepdim=True).tolist()]

    def softmax(X):
        X_exp = d2l.exp(X)
        partition = d2l.reduce_sum(X_exp, 1, keepdim=True)
        return X_exp / partition  # The broadcasting mechanism is applied here

    X = d2l.tensor([[0.1, -1.0, 2.0, 0.5, 0.0], [1.5, 0.3, -0.2, 0.0, 1.0]])
    X_prob = softmax(X)
    out["softmax"] = [X_prob.tolist(), d2l.reduce_sum(X_prob, 1).tolist()]

    def net(X):
        return softmax(d2l.matmul(d2l.reshape(X, (-1, W.shape[0])), W) + b)

    y = d2l.tensor([0, 2])
    y_hat = d2l.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    out["picked"] = y_hat[[0, 1], y].tolist()

    def cross_entropy(y_hat, y):
        return - d2l.log(y_hat[range(len(y_hat)), y])

    out["cross_entropy"] = cross_entropy(y_hat, y).tolist()

    def accuracy(y_hat, y):  #@save
        """Compute the number of correct predictions."""
        if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
            y_hat = d2l.argmax(y_hat, axis=1)
        cmp = d2l.astype(y_hat, y.dtype) == y
        return float(d2l.reduce_sum(d2l.astype(cmp, y.dtype)))

    out["accuracy"] = accuracy(y_hat, y) / len(y)
    out["initial_test_acc"] = d2l.evaluate_accuracy(net, test_iter)

    lr = 0.1

    def updater(batch_size):
        return d2l.sgd([W, b], lr, batch_size)

    num_epochs = 3
    out["history"] = d2l.train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, updater)
    out["predictions"] = d2l.predict_ch3(net, test_iter)
    return out
