"""Dive into Deep Learning, 6.3-6.5 "Padding and Stride", "Multiple Input and Multiple Output Channels",
"Pooling" (PyTorch): output shapes of nn.Conv2d with padding/stride, ``X.reshape((1, 1) + X.shape)``,
pooling by loops with ``.max()``/``.mean()``, nn.MaxPool2d with padding and stride, multi-channel
cross-correlation with ``sum`` over ``zip`` and ``torch.stack``, 1x1 convolution as matmul.

Source: https://d2l.ai/chapter_convolutional-neural-networks/padding-and-strides.html,
https://d2l.ai/chapter_convolutional-neural-networks/channels.html,
https://d2l.ai/chapter_convolutional-neural-networks/pooling.html
(d2l-ai/d2l-en v0.17.6, chapter_convolutional-neural-networks/*.md, the pytorch tab).
Changes: the ``torch.rand``/``d2l.normal`` inputs are seeded NumPy arrays.
"""
import numpy as np

from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn
    gen = np.random.default_rng(0)
    out = {}

    # Padding and stride
    def comp_conv2d(conv2d, X):
        # Here (1, 1) indicates that the batch size and the number of channels
        # are both 1
        X = X.reshape((1, 1) + X.shape)
        Y = conv2d(X)
        # Exclude the first two dimensions that do not interest us: examples and
        # channels
        return Y.reshape(Y.shape[2:])
    # Note that here 1 row or column is padded on either side, so a total of 2
    # rows or columns are added
    conv2d = nn.Conv2d(1, 1, kernel_size=3, padding=1)
    X = torch.tensor(gen.random((8, 8), dtype=np.float32))
    shapes = [comp_conv2d(conv2d, X).shape]

    conv2d = nn.Conv2d(1, 1, kernel_size=(5, 3), padding=(2, 1))
    shapes.append(comp_conv2d(conv2d, X).shape)

    conv2d = nn.Conv2d(1, 1, kernel_size=3, padding=1, stride=2)
    shapes.append(comp_conv2d(conv2d, X).shape)

    conv2d = nn.Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4))
    shapes.append(comp_conv2d(conv2d, X).shape)
    out["conv_shapes"] = [list(s) for s in shapes]

    # Pooling
    def pool2d(X, pool_size, mode='max'):
        p_h, p_w = pool_size
        Y = d2l.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                if mode == 'max':
                    Y[i, j] = X[i: i + p_h, j: j + p_w].max()
                elif mode == 'avg':
                    Y[i, j] = X[i: i + p_h, j: j + p_w].mean()
        return Y

    X = d2l.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    out["pool_max"] = pool2d(X, (2, 2)).tolist()
    out["pool_avg"] = pool2d(X, (2, 2), 'avg').tolist()

    X = d2l.reshape(d2l.arange(16, dtype=d2l.float32), (1, 1, 4, 4))
    pool2d = nn.MaxPool2d(3)
    out["maxpool3"] = pool2d(X).tolist()

    pool2d = nn.MaxPool2d(3, padding=1, stride=2)
    out["maxpool3_pad1_stride2"] = pool2d(X).tolist()

    pool2d = nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))
    out["maxpool2x3"] = pool2d(X).tolist()

    X = d2l.concat((X, X + 1), 1)
    pool2d = nn.MaxPool2d(3, padding=1, stride=2)
    out["maxpool_two_channels"] = pool2d(X).tolist()

    # Multiple input and output channels
    def corr2d_multi_in(X, K):
        # First, iterate through the 0th dimension (channel dimension) of `X` and
        # `K`. Then, add them together
        return sum(d2l.corr2d(x, k) for x, k in zip(X, K))

    X = d2l.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                   [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
    K = d2l.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])

    out["multi_in"] = corr2d_multi_in(X, K).tolist()

    def corr2d_multi_in_out(X, K):
        # Iterate through the 0th dimension of `K`, and each time, perform
        # cross-correlation operations with input `X`. All of the results are
        # stacked together
        return d2l.stack([corr2d_multi_in(X, k) for k in K], 0)

    K = d2l.stack((K, K + 1, K + 2), 0)
    out["K_shape"] = list(K.shape)
    out["multi_in_out"] = corr2d_multi_in_out(X, K).tolist()

    def corr2d_multi_in_out_1x1(X, K):
        c_i, h, w = X.shape
        c_o = K.shape[0]
        X = d2l.reshape(X, (c_i, h * w))
        K = d2l.reshape(K, (c_o, c_i))
        # Matrix multiplication in the fully-connected layer
        Y = d2l.matmul(K, X)
        return d2l.reshape(Y, (c_o, h, w))

    X = d2l.tensor(gen.normal(0, 1, (3, 3, 3)).astype(np.float32))
    K = d2l.tensor(gen.normal(0, 1, (2, 3, 1, 1)).astype(np.float32))

    Y1 = corr2d_multi_in_out_1x1(X, K)
    Y2 = corr2d_multi_in_out(X, K)
    assert float(d2l.reduce_sum(d2l.abs(Y1 - Y2))) < 1e-6
    out["1x1"] = Y1.tolist()
    return out
