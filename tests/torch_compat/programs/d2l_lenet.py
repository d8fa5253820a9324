"""Dive into Deep Learning, 6.6 "Convolutional Neural Networks (LeNet)" (PyTorch): the Sequential LeNet with
Sigmoid and AvgPool2d, iterating over its layers (``layer.__class__.__name__``), and train_ch6 with
evaluate_accuracy_gpu (``next(iter(net.parameters())).device``, ``.to(device)``) and xavier_uniform_.

Source: https://d2l.ai/chapter_convolutional-neural-networks/lenet.html
(d2l-ai/d2l-en v0.17.6, chapter_convolutional-neural-networks/lenet.md, the pytorch tab).
Changes: Fashion-MNIST -> the stand-in loader of ``_d2l`` (its train_ch6 starts from ``numpy_weights``);
``torch.rand`` input a seeded NumPy array; 10 -> 2 epochs.
"""
import numpy as np

from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))

    X = torch.tensor(np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32))
    shapes = []
    for layer in net:
        X = layer(X)
        print(layer.__class__.__name__,'output shape: \t',X.shape)
        shapes.append([layer.__class__.__name__, list(X.shape)])

    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size=batch_size)

    lr, num_epochs = 0.9, 2
    result = d2l.train_ch6(net, train_iter, test_iter, num_epochs, lr, d2l.try_gpu())
    return {"shapes": shapes, "train_ch6": result}
