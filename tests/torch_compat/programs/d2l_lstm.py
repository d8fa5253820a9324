# ruff: noqa: E741 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 10.1 "Long Short-Term Memory (LSTM)" and 10.3 "Deep Recurrent Neural Networks"
(PyTorch): the LSTM from scratch with a (H, C) state tuple, then nn.LSTM (one layer, and two layers) in the
RNNModel wrapper, trained with train_ch8.

Source: https://d2l.ai/chapter_recurrent-modern/lstm.html and https://d2l.ai/chapter_recurrent-modern/deep-rnn.html
(d2l-ai/d2l-en v0.17.6, chapter_recurrent-modern/lstm.md and deep-rnn.md, the pytorch tab).
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

    def get_lstm_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size

        def normal(shape):
            return torch.randn(size=shape, device=device)*0.01

        def three():
            return (normal((num_inputs, num_hiddens)),
                    normal((num_hiddens, num_hiddens)),
                    d2l.zeros(num_hiddens, device=device))

        W_xi, W_hi, b_i = three()  # Input gate parameters
        W_xf, W_hf, b_f = three()  # Forget gate parameters
        W_xo, W_ho, b_o = three()  # Output gate parameters
        W_xc, W_hc, b_c = three()  # Candidate memory cell parameters
        # Output layer parameters
        W_hq = normal((num_hiddens, num_outputs))
        b_q = d2l.zeros(num_outputs, device=device)
        # Attach gradients
        params = [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc,
                  b_c, W_hq, b_q]
        for param in params:
            param.requires_grad_(True)
        return params

    def init_lstm_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),
                torch.zeros((batch_size, num_hiddens), device=device))

    def lstm(inputs, state, params):
        [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c,
         W_hq, b_q] = params
        (H, C) = state
        outputs = []
        for X in inputs:
            I = torch.sigmoid((X @ W_xi) + (H @ W_hi) + b_i)
            F = torch.sigmoid((X @ W_xf) + (H @ W_hf) + b_f)
            O = torch.sigmoid((X @ W_xo) + (H @ W_ho) + b_o)
            C_tilda = torch.tanh((X @ W_xc) + (H @ W_hc) + b_c)
            C = F * C + I * C_tilda
            H = O * torch.tanh(C)
            Y = (H @ W_hq) + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H, C)

    vocab_size, num_hiddens, device = len(vocab), 32, d2l.try_gpu()
    num_epochs, lr = 3, 1
    model = d2l.RNNModelScratch(len(vocab), num_hiddens, device, get_lstm_params,
                                init_lstm_state, lstm)
    numpy_params(torch, model.params, scale=0.1)
    scratch = d2l.train_ch8(model, train_iter, vocab, lr, num_epochs, device)

    num_inputs = vocab_size
    lstm_layer = nn.LSTM(num_inputs, num_hiddens)
    model = d2l.RNNModel(lstm_layer, len(vocab))
    numpy_weights(torch, model)
    model = model.to(device)
    concise = d2l.train_ch8(model, train_iter, vocab, lr, num_epochs, device)

    num_layers = 2
    lstm_layer = nn.LSTM(num_inputs, num_hiddens, num_layers)
    model = d2l.RNNModel(lstm_layer, len(vocab))
    numpy_weights(torch, model)
    model = model.to(device)
    deep = d2l.train_ch8(model, train_iter, vocab, 2, num_epochs, device)
    return {"scratch": scratch, "concise": concise, "deep": deep}
