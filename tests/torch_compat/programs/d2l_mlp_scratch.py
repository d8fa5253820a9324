"""Dive into Deep Learning, 4.2 "Implementation of Multilayer Perceptrons from Scratch" (PyTorch):
``nn.Parameter(torch.randn(..., requires_grad=True) * 0.01)``, ReLU as ``torch.max(X, torch.zeros_like(X))``,
``@``, CrossEntropyLoss(reduction='none') and optim.SGD over a list of Parameters.

Source: https://d2l.ai/chapter_multilayer-perceptrons/mlp-scratch.html
(d2l-ai/d2l-en v0.17.6, chapter_multilayer-perceptrons/mlp-scratch.md, the pytorch tab).
Changes: Fashion-MNIST -> the stand-in loader of ``_d2l``; ``numpy_params`` after the ``torch.randn`` draws;
10 -> 3 epochs.
"""
from _d2l import d2l_for, numpy_params


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)

    num_inputs, num_outputs, num_hiddens = 784, 10, 256

    W1 = nn.Parameter(torch.randn(
        num_inputs, num_hiddens, requires_grad=True) * 0.01)
    b1 = nn.Parameter(torch.zeros(num_hiddens, requires_grad=True))
    W2 = nn.Parameter(torch.randn(
        num_hiddens, num_outputs, requires_grad=True) * 0.01)
    b2 = nn.Parameter(torch.zeros(num_outputs, requires_grad=True))

    params = [W1, b1, W2, b2]
    numpy_params(torch, params)

    def relu(X):
        a = torch.zeros_like(X)
        return torch.max(X, a)

    def net(X):
        X = d2l.reshape(X, (-1, num_inputs))
        H = relu(X@W1 + b1)  # Here '@' stands for matrix multiplication
        return (H@W2 + b2)

    loss = nn.CrossEntropyLoss(reduction='none')

    num_epochs, lr = 3, 0.1
    updater = torch.optim.SGD(params, lr=lr)
    history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, updater)

    return {"history": history, "predictions": d2l.predict_ch3(net, test_iter)}
