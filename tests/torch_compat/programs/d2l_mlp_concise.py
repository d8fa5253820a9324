# ruff: noqa: E703, E721 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 4.3 "Concise Implementation of Multilayer Perceptrons" (PyTorch):
Sequential(Flatten, Linear, ReLU, Linear), ``net.apply(init_weights)``, train_ch3 with optim.SGD.

Source: https://d2l.ai/chapter_multilayer-perceptrons/mlp-concise.html
(d2l-ai/d2l-en v0.17.6, chapter_multilayer-perceptrons/mlp-concise.md, the pytorch tab).
Changes: Fashion-MNIST -> the stand-in loader of ``_d2l``; ``numpy_weights`` after ``net.apply``;
10 -> 3 epochs.
"""
from _common import numpy_weights
from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    net = nn.Sequential(nn.Flatten(),
                        nn.Linear(784, 256),
                        nn.ReLU(),
                        nn.Linear(256, 10))

    def init_weights(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights);
    numpy_weights(torch, net)

    batch_size, lr, num_epochs = 256, 0.1, 3
    loss = nn.CrossEntropyLoss(reduction='none')
    trainer = torch.optim.SGD(net.parameters(), lr=lr)

    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    return {"history": d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)}
