# ruff: noqa: E703, E721 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 3.7 "Concise Implementation of Softmax Regression" (PyTorch): Sequential(Flatten,
Linear), ``net.apply(init_weights)`` with ``type(m) == nn.Linear``, CrossEntropyLoss(reduction='none'),
optim.SGD through train_ch3.

Source: https://d2l.ai/chapter_linear-networks/softmax-regression-concise.html
(d2l-ai/d2l-en v0.17.6, chapter_linear-networks/softmax-regression-concise.md, the pytorch tab).
Changes: Fashion-MNIST -> the stand-in loader of ``_d2l``; ``numpy_weights`` after ``net.apply``;
10 -> 3 epochs.
"""
from _common import numpy_weights
from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)

    # PyTorch does not implicitly reshape the inputs. Thus we define the flatten
    # layer to reshape the inputs before the linear layer in our network
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def init_weights(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights);
    numpy_weights(torch, net)

    loss = nn.CrossEntropyLoss(reduction='none')

    trainer = torch.optim.SGD(net.parameters(), lr=0.1)

    num_epochs = 3
    return {"history": d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)}
