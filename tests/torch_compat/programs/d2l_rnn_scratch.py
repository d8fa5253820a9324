"""Dive into Deep Learning, 9.5 "Implementation of Recurrent Neural Networks from Scratch" (PyTorch):
``F.one_hot``, hand-made parameters with ``requires_grad_``, an RNN loop with ``torch.mm``/``torch.tanh``/
``torch.cat``, RNNModelScratch, predict_ch8, grad_clipping (``param.grad[:] *= theta / norm``),
train_epoch_ch8 (``s.detach_()`` on the state) and train_ch8 with the scratch ``sgd``.

Source: https://d2l.ai/chapter_recurrent-neural-networks/rnn-scratch.html
(d2l-ai/d2l-en v0.17.6, chapter_recurrent-neural-networks/rnn-scratch.md, the pytorch tab).
Changes: The Time Machine -> the stand-in text of ``_d2l``; smaller sizes (batch 8, 10 steps, 32 hidden
units, 3 epochs); ``numpy_params`` after building the model; the random-sampling run is left out.
"""
from _d2l import d2l_for, numpy_params


def main(torch):
    d2l = d2l_for(torch)
    F = torch.nn.functional
    out = {}

    batch_size, num_steps = 8, 10
    train_iter, vocab = d2l.load_data_time_machine(batch_size, num_steps)

    out["one_hot"] = F.one_hot(torch.tensor([0, 2]), len(vocab)).tolist()

    X = d2l.reshape(d2l.arange(10), (2, 5))
    out["one_hot_shape"] = list(F.one_hot(X.T, 28).shape)

    def get_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size

        def normal(shape):
            return torch.randn(size=shape, device=device) * 0.01

        # Hidden layer parameters
        W_xh = normal((num_inputs, num_hiddens))
        W_hh = normal((num_hiddens, num_hiddens))
        b_h = d2l.zeros(num_hiddens, device=device)
        # Output layer parameters
        W_hq = normal((num_hiddens, num_outputs))
        b_q = d2l.zeros(num_outputs, device=device)
        # Attach gradients
        params = [W_xh, W_hh, b_h, W_hq, b_q]
        for param in params:
            param.requires_grad_(True)
        return params

    def init_rnn_state(batch_size, num_hiddens, device):
        return (d2l.zeros((batch_size, num_hiddens), device=device), )

    def rnn(inputs, state, params):
        # Here `inputs` shape: (`num_steps`, `batch_size`, `vocab_size`)
        W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        # Shape of `X`: (`batch_size`, `vocab_size`)
        for X in inputs:
            H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
            Y = torch.mm(H, W_hq) + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H,)

    num_hiddens = 32
    net = d2l.RNNModelScratch(len(vocab), num_hiddens, d2l.try_gpu(), get_params,
                              init_rnn_state, rnn)
    numpy_params(torch, net.params, scale=0.1)
    state = net.begin_state(X.shape[0], d2l.try_gpu())
    Y, new_state = net(X.to(d2l.try_gpu()), state)
    Y.shape, len(new_state), new_state[0].shape
    out["shapes"] = [list(Y.shape), len(new_state), list(new_state[0].shape)]

    out["untrained_prediction"] = d2l.predict_ch8('time traveller ', 10, net, vocab, d2l.try_gpu())

    num_epochs, lr = 3, 1
    out["train_ch8"] = d2l.train_ch8(net, train_iter, vocab, lr, num_epochs, d2l.try_gpu())
    return out
