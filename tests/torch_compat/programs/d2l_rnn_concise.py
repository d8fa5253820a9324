"""Dive into Deep Learning, 9.6 "Concise Implementation of Recurrent Neural Networks" (PyTorch): nn.RNN with
an explicit initial state, the RNNModel wrapper (``rnn.hidden_size``, ``rnn.bidirectional``,
``rnn.num_layers``, ``F.one_hot(inputs.T.long(), ...)``, ``X.to(torch.float32)``), predict_ch8 and
train_ch8 with optim.SGD and gradient clipping.

Source: https://d2l.ai/chapter_recurrent-neural-networks/rnn-concise.html
(d2l-ai/d2l-en v0.17.6, chapter_recurrent-neural-networks/rnn-concise.md, the pytorch tab).
Changes: The Time Machine -> the stand-in text of ``_d2l``; smaller sizes (batch 8, 10 steps, 32 hidden
units, 3 epochs); ``torch.rand`` input a seeded NumPy array; ``numpy_weights`` after building the model.
"""
import numpy as np

from _common import numpy_weights
from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn
    out = {}

    batch_size, num_steps = 8, 10
    train_iter, vocab = d2l.load_data_time_machine(batch_size, num_steps)

    num_hiddens = 32
    rnn_layer = nn.RNN(len(vocab), num_hiddens)
    numpy_weights(torch, rnn_layer)

    state = torch.zeros((1, batch_size, num_hiddens))
    out["state_shape"] = list(state.shape)

    X = torch.tensor(np.random.default_rng(0).random((num_steps, batch_size, len(vocab)), dtype=np.float32))
    Y, state_new = rnn_layer(X, state)
    out["Y"] = [list(Y.shape), list(state_new.shape), Y[-1, 0, :5].tolist()]

    device = d2l.try_gpu()
    net = d2l.RNNModel(rnn_layer, vocab_size=len(vocab))
    numpy_weights(torch, net)
    net = net.to(device)
    out["untrained_prediction"] = d2l.predict_ch8('time traveller', 10, net, vocab, device)

    num_epochs, lr = 3, 1
    out["train_ch8"] = d2l.train_ch8(net, train_iter, vocab, lr, num_epochs, device)
    return out
