# ruff: noqa: E721, E731, E741, F841 -- the code is kept as its source wrote it
"""The part of D2L's ``d2l`` package (``from d2l import torch as d2l``) that the D2L programs call, built for
the module they are given (real ``torch`` or ``anynn``).

Source: https://github.com/d2l-ai/d2l-en/blob/v0.17.6/d2l/torch.py (the ``#@save`` functions of the book's
PyTorch chapters and the aliases at its end), kept as written, except:

- dataset loaders are stand-ins: ``load_data_fashion_mnist`` gives seeded random images (no shuffling, so both
  frameworks see the same batches), ``load_data_time_machine`` a fixed text with a character vocabulary;
  ``synthetic_data`` draws its noise from NumPy;
- plotting (``Animator``) and timing (``Timer``) are left out: ``train_ch3``, ``train_ch6`` and ``train_ch8``
  return the numbers they would plot;
- ``train_ch6`` calls ``numpy_weights`` after its ``xavier_uniform_`` initialisation, so both frameworks
  start from the same weights.
"""
from __future__ import annotations

import math
import random
from types import SimpleNamespace

import numpy as np

from _common import images, numpy_weights


def d2l_for(torch) -> SimpleNamespace:
    nn = torch.nn
    F = torch.nn.functional
    data = torch.utils.data
    d2l = SimpleNamespace()

    # Aliases (d2l/torch.py, "Alias defined in config.ini")
    d2l.ones = torch.ones
    d2l.zeros = torch.zeros
    d2l.tensor = torch.tensor
    d2l.arange = torch.arange
    d2l.sin = torch.sin
    d2l.tanh = torch.tanh
    d2l.linspace = torch.linspace
    d2l.exp = torch.exp
    d2l.log = torch.log
    d2l.normal = torch.normal
    d2l.rand = torch.rand
    d2l.matmul = torch.matmul
    d2l.int32 = torch.int32
    d2l.float32 = torch.float32
    d2l.concat = torch.cat
    d2l.stack = torch.stack
    d2l.abs = torch.abs
    d2l.eye = torch.eye
    d2l.numpy = lambda x, *args, **kwargs: x.detach().numpy(*args, **kwargs)
    d2l.size = lambda x, *args, **kwargs: x.numel(*args, **kwargs)
    d2l.reshape = lambda x, *args, **kwargs: x.reshape(*args, **kwargs)
    d2l.to = lambda x, *args, **kwargs: x.to(*args, **kwargs)
    d2l.reduce_sum = lambda x, *args, **kwargs: x.sum(*args, **kwargs)
    d2l.argmax = lambda x, *args, **kwargs: x.argmax(*args, **kwargs)
    d2l.astype = lambda x, *args, **kwargs: x.type(*args, **kwargs)
    d2l.transpose = lambda x, *args, **kwargs: x.t(*args, **kwargs)

    def synthetic_data(w, b, num_examples):
        """Generate y = Xw + b + noise (the noise from a seeded NumPy generator)."""
        gen = np.random.default_rng(num_examples)
        X = d2l.tensor(gen.normal(0, 1, (num_examples, len(w))).astype(np.float32))
        y = d2l.matmul(X, w) + b
        y += d2l.tensor(gen.normal(0, 0.01, tuple(y.shape)).astype(np.float32))
        return X, d2l.reshape(y, (-1, 1))

    def linreg(X, w, b):
        """The linear regression model."""
        return d2l.matmul(X, w) + b

    def squared_loss(y_hat, y):
        """Squared loss."""
        return (y_hat - d2l.reshape(y, y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        """Minibatch stochastic gradient descent."""
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    def load_array(data_arrays, batch_size, is_train=True):
        """Construct a PyTorch data iterator."""
        dataset = data.TensorDataset(*data_arrays)
        return data.DataLoader(dataset, batch_size, shuffle=is_train)

    def get_fashion_mnist_labels(labels):
        """Return text labels for the Fashion-MNIST dataset."""
        text_labels = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                       'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']
        return [text_labels[int(i)] for i in labels]

    def load_data_fashion_mnist(batch_size, resize=None, n_train=512, n_test=256):
        """Stand-in for the Fashion-MNIST download: seeded random images, loaders without shuffling."""
        x, y = images(n_train, seed=0)
        mnist_train = data.TensorDataset(torch.tensor(x), torch.tensor(y))
        x, y = images(n_test, seed=1)
        mnist_test = data.TensorDataset(torch.tensor(x), torch.tensor(y))
        return (data.DataLoader(mnist_train, batch_size, shuffle=False),
                data.DataLoader(mnist_test, batch_size, shuffle=False))

    class Accumulator:
        """For accumulating sums over `n` variables."""
        def __init__(self, n):
            self.data = [0.0] * n

        def add(self, *args):
            self.data = [a + float(b) for a, b in zip(self.data, args)]

        def reset(self):
            self.data = [0.0] * len(self.data)

        def __getitem__(self, idx):
            return self.data[idx]

    def accuracy(y_hat, y):
        """Compute the number of correct predictions."""
        if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
            y_hat = d2l.argmax(y_hat, axis=1)
        cmp = d2l.astype(y_hat, y.dtype) == y
        return float(d2l.reduce_sum(d2l.astype(cmp, y.dtype)))

    def evaluate_accuracy(net, data_iter):
        """Compute the accuracy for a model on a dataset."""
        if isinstance(net, torch.nn.Module):
            net.eval()  # Set the model to evaluation mode
        metric = Accumulator(2)  # No. of correct predictions, no. of predictions

        with torch.no_grad():
            for X, y in data_iter:
                metric.add(accuracy(net(X), y), d2l.size(y))
        return metric[0] / metric[1]

    def train_epoch_ch3(net, train_iter, loss, updater):
        """The training loop defined in Chapter 3."""
        # Set the model to training mode
        if isinstance(net, torch.nn.Module):
            net.train()
        # Sum of training loss, sum of training accuracy, no. of examples
        metric = Accumulator(3)
        for X, y in train_iter:
            # Compute gradients and update parameters
            y_hat = net(X)
            l = loss(y_hat, y)
            if isinstance(updater, torch.optim.Optimizer):
                # Using PyTorch in-built optimizer & loss criterion
                updater.zero_grad()
                l.mean().backward()
                updater.step()
            else:
                # Using custom built optimizer & loss criterion
                l.sum().backward()
                updater(X.shape[0])
            metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
        # Return training loss and training accuracy
        return metric[0] / metric[2], metric[1] / metric[2]

    def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater):
        """Train a model (defined in Chapter 3); returns, per epoch, what the Animator would plot."""
        history = []
        for epoch in range(num_epochs):
            train_metrics = train_epoch_ch3(net, train_iter, loss, updater)
            test_acc = evaluate_accuracy(net, test_iter)
            history.append(train_metrics + (test_acc,))
        return history

    def predict_ch3(net, test_iter, n=6):
        """Predict labels (defined in Chapter 3); returns the titles instead of showing the images."""
        for X, y in test_iter:
            break
        trues = d2l.get_fashion_mnist_labels(y)
        preds = d2l.get_fashion_mnist_labels(d2l.argmax(net(X), axis=1))
        titles = [true + '\n' + pred for true, pred in zip(trues, preds)]
        return titles[0:n]

    def evaluate_loss(net, data_iter, loss):
        """Evaluate the loss of a model on the given dataset."""
        metric = d2l.Accumulator(2)  # Sum of losses, no. of examples
        for X, y in data_iter:
            out = net(X)
            y = d2l.reshape(y, out.shape)
            l = loss(out, y)
            metric.add(d2l.reduce_sum(l), d2l.size(l))
        return metric[0] / metric[1]

    def try_gpu(i=0):
        """Return gpu(i) if exists, otherwise return cpu()."""
        if torch.cuda.device_count() >= i + 1:
            return torch.device(f'cuda:{i}')
        return torch.device('cpu')

    def corr2d(X, K):
        """Compute 2D cross-correlation."""
        h, w = K.shape
        Y = d2l.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = d2l.reduce_sum((X[i: i + h, j: j + w] * K))
        return Y

    def evaluate_accuracy_gpu(net, data_iter, device=None):
        """Compute the accuracy for a model on a dataset using a GPU."""
        if isinstance(net, nn.Module):
            net.eval()  # Set the model to evaluation mode
            if not device:
                device = next(iter(net.parameters())).device
        # No. of correct predictions, no. of predictions
        metric = d2l.Accumulator(2)

        with torch.no_grad():
            for X, y in data_iter:
                if isinstance(X, list):
                    # Required for BERT Fine-tuning (to be covered later)
                    X = [x.to(device) for x in X]
                else:
                    X = X.to(device)
                y = y.to(device)
                metric.add(d2l.accuracy(net(X), y), d2l.size(y))
        return metric[0] / metric[1]

    def train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
        """Train a model with a GPU (defined in Chapter 6); returns the final loss and accuracies."""
        def init_weights(m):
            if type(m) == nn.Linear or type(m) == nn.Conv2d:
                nn.init.xavier_uniform_(m.weight)
        net.apply(init_weights)
        numpy_weights(torch, net)
        print('training on', device)
        net.to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        loss = nn.CrossEntropyLoss()
        num_batches = len(train_iter)
        for epoch in range(num_epochs):
            # Sum of training loss, sum of training accuracy, no. of examples
            metric = d2l.Accumulator(3)
            net.train()
            for i, (X, y) in enumerate(train_iter):
                optimizer.zero_grad()
                X, y = X.to(device), y.to(device)
                y_hat = net(X)
                l = loss(y_hat, y)
                l.backward()
                optimizer.step()
                with torch.no_grad():
                    metric.add(l * X.shape[0], d2l.accuracy(y_hat, y), X.shape[0])
                train_l = metric[0] / metric[2]
                train_acc = metric[1] / metric[2]
            test_acc = evaluate_accuracy_gpu(net, test_iter)
        print(f'loss {train_l:.3f}, train acc {train_acc:.3f}, '
              f'test acc {test_acc:.3f}')
        return [train_l, train_acc, test_acc]

    class Vocab:
        """Stand-in for d2l.Vocab over characters: tokens by descending frequency after '<unk>'."""
        def __init__(self, tokens):
            counts = {}
            for token in tokens:
                counts[token] = counts.get(token, 0) + 1
            self.idx_to_token = ['<unk>'] + sorted(counts, key=lambda t: (-counts[t], t))
            self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}

        def __len__(self):
            return len(self.idx_to_token)

        def __getitem__(self, tokens):
            if not isinstance(tokens, (list, tuple)):
                return self.token_to_idx.get(tokens, 0)
            return [self.__getitem__(token) for token in tokens]

    def seq_data_iter_sequential(corpus, batch_size, num_steps):
        """Generate a minibatch of subsequences using sequential partitioning."""
        # Start with a random offset to partition a sequence
        offset = random.randint(0, num_steps)
        num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
        Xs = d2l.tensor(corpus[offset: offset + num_tokens])
        Ys = d2l.tensor(corpus[offset + 1: offset + 1 + num_tokens])
        Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)
        num_batches = Xs.shape[1] // num_steps
        for i in range(0, num_steps * num_batches, num_steps):
            X = Xs[:, i: i + num_steps]
            Y = Ys[:, i: i + num_steps]
            yield X, Y

    class SeqDataLoader:
        """An iterator to load sequence data (sequential partitioning only)."""
        def __init__(self, corpus, batch_size, num_steps):
            self.corpus, self.batch_size, self.num_steps = corpus, batch_size, num_steps

        def __iter__(self):
            return seq_data_iter_sequential(self.corpus, self.batch_size, self.num_steps)

    def load_data_time_machine(batch_size, num_steps, max_tokens=1200):
        """Stand-in for The Time Machine download: a fixed lower-case text, tokenized by character."""
        words = ('the time traveller for so it will be convenient to speak of him was expounding a recondite '
                 'matter to us his grey eyes shone and twinkled and his usually pale face was flushed and animated '
                 'the fire burned brightly and the soft radiance of the incandescent lights ').split()
        gen = np.random.default_rng(0)
        text = ' '.join(words[i] for i in gen.integers(0, len(words), 400))
        tokens = list(text)[:max_tokens]
        vocab = Vocab(tokens)
        corpus = [vocab[token] for token in tokens]
        return SeqDataLoader(corpus, batch_size, num_steps), vocab

    class RNNModelScratch:
        """A RNN Model implemented from scratch."""
        def __init__(self, vocab_size, num_hiddens, device,
                     get_params, init_state, forward_fn):
            self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
            self.params = get_params(vocab_size, num_hiddens, device)
            self.init_state, self.forward_fn = init_state, forward_fn

        def __call__(self, X, state):
            X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
            return self.forward_fn(X, state, self.params)

        def begin_state(self, batch_size, device):
            return self.init_state(batch_size, self.num_hiddens, device)

    def predict_ch8(prefix, num_preds, net, vocab, device):
        """Generate new characters following the `prefix`."""
        state = net.begin_state(batch_size=1, device=device)
        outputs = [vocab[prefix[0]]]
        get_input = lambda: d2l.reshape(d2l.tensor(
            [outputs[-1]], device=device), (1, 1))
        for y in prefix[1:]:  # Warm-up period
            _, state = net(get_input(), state)
            outputs.append(vocab[y])
        for _ in range(num_preds):  # Predict `num_preds` steps
            y, state = net(get_input(), state)
            outputs.append(int(y.argmax(dim=1).reshape(1)))
        return ''.join([vocab.idx_to_token[i] for i in outputs])

    def grad_clipping(net, theta):
        """Clip the gradient."""
        if isinstance(net, nn.Module):
            params = [p for p in net.parameters() if p.requires_grad]
        else:
            params = net.params
        norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
        if norm > theta:
            for param in params:
                param.grad[:] *= theta / norm

    def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter):
        """Train a net within one epoch (defined in Chapter 8); returns the perplexity."""
        state = None
        metric = d2l.Accumulator(2)  # Sum of training loss, no. of tokens
        for X, Y in train_iter:
            if state is None or use_random_iter:
                # Initialize `state` when either it is the first iteration or
                # using random sampling
                state = net.begin_state(batch_size=X.shape[0], device=device)
            else:
                if isinstance(net, nn.Module) and not isinstance(state, tuple):
                    # `state` is a tensor for `nn.GRU`
                    state.detach_()
                else:
                    # `state` is a tuple of tensors for `nn.LSTM` and
                    # for our custom scratch implementation
                    for s in state:
                        s.detach_()
            y = Y.T.reshape(-1)
            X, y = X.to(device), y.to(device)
            y_hat, state = net(X, state)
            l = loss(y_hat, y.long()).mean()
            if isinstance(updater, torch.optim.Optimizer):
                updater.zero_grad()
                l.backward()
                grad_clipping(net, 1)
                updater.step()
            else:
                l.backward()
                grad_clipping(net, 1)
                # Since the `mean` function has been invoked
                updater(batch_size=1)
            metric.add(l * d2l.size(y), d2l.size(y))
        return math.exp(metric[0] / metric[1])

    def train_ch8(net, train_iter, vocab, lr, num_epochs, device,
                  use_random_iter=False):
        """Train a model (defined in Chapter 8); returns the perplexities and the predictions."""
        loss = nn.CrossEntropyLoss()
        # Initialize
        if isinstance(net, nn.Module):
            updater = torch.optim.SGD(net.parameters(), lr)
        else:
            updater = lambda batch_size: d2l.sgd(net.params, lr, batch_size)
        predict = lambda prefix: predict_ch8(prefix, 20, net, vocab, device)
        # Train and predict
        perplexities = []
        for epoch in range(num_epochs):
            ppl = train_epoch_ch8(
                net, train_iter, loss, updater, device, use_random_iter)
            perplexities.append(ppl)
        print(f'perplexity {ppl:.1f} on {str(device)}')
        predictions = [predict('time traveller'), predict('traveller')]
        print(*predictions, sep='\n')
        return perplexities, predictions

    class RNNModel(nn.Module):
        """The RNN model."""
        def __init__(self, rnn_layer, vocab_size, **kwargs):
            super(RNNModel, self).__init__(**kwargs)
            self.rnn = rnn_layer
            self.vocab_size = vocab_size
            self.num_hiddens = self.rnn.hidden_size
            # If the RNN is bidirectional (to be introduced later),
            # `num_directions` should be 2, else it should be 1.
            if not self.rnn.bidirectional:
                self.num_directions = 1
                self.linear = nn.Linear(self.num_hiddens, self.vocab_size)
            else:
                self.num_directions = 2
                self.linear = nn.Linear(self.num_hiddens * 2, self.vocab_size)

        def forward(self, inputs, state):
            X = F.one_hot(inputs.T.long(), self.vocab_size)
            X = X.to(torch.float32)
            Y, state = self.rnn(X, state)
            # The fully connected layer will first change the shape of `Y` to
            # (`num_steps` * `batch_size`, `num_hiddens`). Its output shape is
            # (`num_steps` * `batch_size`, `vocab_size`).
            output = self.linear(Y.reshape((-1, Y.shape[-1])))
            return output, state

        def begin_state(self, device, batch_size=1):
            if not isinstance(self.rnn, nn.LSTM):
                # `nn.GRU` takes a tensor as hidden state
                return torch.zeros((self.num_directions * self.rnn.num_layers,
                                    batch_size, self.num_hiddens),
                                   device=device)
            else:
                # `nn.LSTM` takes a tuple of hidden states
                return (torch.zeros((
                    self.num_directions * self.rnn.num_layers,
                    batch_size, self.num_hiddens), device=device),
                        torch.zeros((
                            self.num_directions * self.rnn.num_layers,
                            batch_size, self.num_hiddens), device=device))

    for name, value in list(locals().items()):
        if callable(value) and not name.startswith("_") and name not in ("torch", "nn", "F", "data", "d2l"):
            setattr(d2l, name, value)
    return d2l


def numpy_params(torch, params, scale: float = 0.01, seed: int = 0) -> None:
    """Overwrite hand-made parameters (D2L's ``torch.randn(...) * 0.01`` draws) with seeded NumPy draws of the
    same scale, in place, so that both frameworks start alike; zero-initialised ones stay zero."""
    gen = np.random.default_rng(seed)
    with torch.no_grad():
        for param in params:
            if float(param.abs().sum()) == 0.0:
                continue
            param.copy_(torch.tensor(gen.standard_normal(tuple(param.shape)).astype(np.float32) * scale))
