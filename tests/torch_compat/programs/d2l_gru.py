"""Dive into Deep Learning, 10.2 "Gated Recurrent Units (GRU)" (PyTorch): the GRU from scratch (``@``,
``torch.sigmoid``, ``torch.tanh``, ``Z * H + (1 - Z) * H_tilda``) trained with train_ch8, then nn.GRU in the
RNNModel wrapper.

Source: https://d2l.ai/chapter_recurrent-modern/gru.html
(d2l-ai/d2l-en v0.17.6, chapter_recurrent-modern/gru.md, the pytorch tab).
Changes: The Time Machine -> the stand-in text of ``_d2l``; smaller sizes (batch 8, 10 steps, 32 hidden
units, 3 epochs); ``numpy_params``/``numpy_weights`` after building each model.
"""
from _common import numpy_weights
from _d2l import d2l_for, numpy_params


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    batch_size, num_steps = 8, 10
    train_iter, vocab = d2l.load_data_time_machine(batch_size, num_steps)

    def get_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size

        def normal(shape):
            return torch.randn(size=shape, device=device)*0.01

        def three():
            return (normal((num_inputs, num_hiddens)),
                    normal((num_hiddens, num_hiddens)),
                    d2l.zeros(num_hiddens, device=device))

        W_xz, W_hz, b_z = three()  # Update gate parameters
        W_xr, W_hr, b_r = three()  # Reset gate parameters
        W_xh, W_hh, b_h = three()  # Candidate hidden state parameters
        # Output layer parameters
        W_hq = normal((num_hiddens, num_outputs))
        b_q = d2l.zeros(num_outputs, device=device)
        # Attach gradients
        params = [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]
        for param in params:
            param.requires_grad_(True)
        return params

    def init_gru_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device), )

    def gru(inputs, state, params):
        W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        for X in inputs:
            Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
            R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
            H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
            H = Z * H + (1 - Z) * H_tilda
            Y = H @ W_hq + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H,)

    vocab_size, num_hiddens, device = len(vocab), 32, d2l.try_gpu()
    num_epochs, lr = 3, 1
    model = d2l.RNNModelScratch(len(vocab), num_hiddens, device, get_params,
                                init_gru_state, gru)
    numpy_params(torch, model.params, scale=0.1)
    scratch = d2l.train_ch8(model, train_iter, vocab, lr, num_epochs, device)

    num_inputs = vocab_size
    gru_layer = nn.GRU(num_inputs, num_hiddens)
    model = d2l.RNNModel(gru_layer, len(vocab))
    numpy_weights(torch, model)
    model = model.to(device)
    concise = d2l.train_ch8(model, train_iter, vocab, lr, num_epochs, device)
    return {"scratch": scratch, "concise": concise}
