# ruff: noqa: F841 -- the code is kept as its source wrote it
"""pytorch/examples "Word-level Language Modeling": RNNModel (Embedding -> LSTM/GRU/RNN_TANH -> Linear,
log_softmax) with ``nn.init.uniform_``/``zeros_``, ``weight.new_zeros`` hidden states, batchify with
``narrow``/``view``/``t().contiguous()``, repackage_hidden, NLLLoss, ``clip_grad_norm_`` and the manual
update ``p.data.add_(p.grad, alpha=-lr)``; evaluate under no_grad.

Source: https://github.com/pytorch/examples/blob/main/word_language_model/model.py and main.py
Changes: the corpus (files on disk) -> seeded random token ids; ``args`` a Namespace with small sizes and
dropout 0 (so that both frameworks compute the same numbers); ``numpy_weights`` after building the model;
one epoch per RNN type. The Transformer model is left out (anynn documents Transformers as absent).
"""
import argparse
import math

import numpy as np

from _common import numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional

    class RNNModel(nn.Module):
        """Container module with an encoder, a recurrent module, and a decoder."""

        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super(RNNModel, self).__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type in ['LSTM', 'GRU']:
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            else:
                try:
                    nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
                except KeyError as e:
                    raise ValueError("""An invalid option for `--model` was supplied,
                                     options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']""") from e
                self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)

            if tie_weights:
                if nhid != ninp:
                    raise ValueError('When using the tied flag, nhid must be equal to emsize')
                self.decoder.weight = self.encoder.weight

            self.init_weights()

            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == 'LSTM':
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            else:
                return weight.new_zeros(self.nlayers, bsz, self.nhid)

    class Corpus:
        """Stand-in for data.Corpus: token ids drawn from a seeded generator."""

        def __init__(self, ntokens):
            gen = np.random.default_rng(0)
            self.dictionary = [f"w{i}" for i in range(ntokens)]
            self.train = torch.tensor(gen.integers(0, ntokens, 400))
            self.valid = torch.tensor(gen.integers(0, ntokens, 120))
            self.test = torch.tensor(gen.integers(0, ntokens, 120))

    results = {}
    for rnn_type in ['LSTM', 'GRU', 'RNN_TANH']:
        args = argparse.Namespace(model=rnn_type, emsize=16, nhid=16, nlayers=2, lr=20, clip=0.25, epochs=1,
                                  batch_size=4, bptt=10, dropout=0.0, tied=False, log_interval=4, dry_run=False,
                                  use_optimizer=False)
        device = torch.device("cpu")
        corpus = Corpus(50)

        def batchify(data, bsz):
            # Work out how cleanly we can divide the dataset into bsz parts.
            nbatch = data.size(0) // bsz
            # Trim off any extra elements that wouldn't cleanly fit (remainders).
            data = data.narrow(0, 0, nbatch * bsz)
            # Evenly divide the data across the bsz batches.
            data = data.view(bsz, -1).t().contiguous()
            return data.to(device)

        eval_batch_size = 10
        train_data = batchify(corpus.train, args.batch_size)
        val_data = batchify(corpus.valid, eval_batch_size)
        test_data = batchify(corpus.test, eval_batch_size)

        ntokens = len(corpus.dictionary)
        model = RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied).to(device)
        numpy_weights(torch, model)

        criterion = nn.NLLLoss()

        def repackage_hidden(h):
            """Wraps hidden states in new Tensors, to detach them from their history."""

            if isinstance(h, torch.Tensor):
                return h.detach()
            else:
                return tuple(repackage_hidden(v) for v in h)

        def get_batch(source, i):
            seq_len = min(args.bptt, len(source) - 1 - i)
            data = source[i:i+seq_len]
            target = source[i+1:i+1+seq_len].view(-1)
            return data, target

        def evaluate(data_source):
            # Turn on evaluation mode which disables dropout.
            model.eval()
            total_loss = 0.
            ntokens = len(corpus.dictionary)
            hidden = model.init_hidden(eval_batch_size)
            with torch.no_grad():
                for i in range(0, data_source.size(0) - 1, args.bptt):
                    data, targets = get_batch(data_source, i)
                    output, hidden = model(data, hidden)
                    hidden = repackage_hidden(hidden)
                    total_loss += len(data) * criterion(output, targets).item()
            return total_loss / (len(data_source) - 1)

        def train():
            # Turn on training mode which enables dropout.
            model.train()
            total_loss = 0.
            logged = []
            ntokens = len(corpus.dictionary)
            hidden = model.init_hidden(args.batch_size)
            for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
                data, targets = get_batch(train_data, i)
                # Starting each batch, we detach the hidden state from how it was previously produced.
                # If we didn't, the model would try backpropagating all the way to start of the dataset.
                model.zero_grad()
                hidden = repackage_hidden(hidden)
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                loss.backward()

                # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
                for p in model.parameters():
                    p.data.add_(p.grad, alpha=-lr)

                total_loss += loss.item()

                if batch % args.log_interval == 0 and batch > 0:
                    cur_loss = total_loss / args.log_interval
                    print('| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | loss {:5.2f} | ppl {:8.2f}'.format(
                        epoch, batch, len(train_data) // args.bptt, lr, cur_loss, math.exp(cur_loss)))
                    logged.append(cur_loss)
                    total_loss = 0
            return logged

        lr = args.lr
        history = []
        for epoch in range(1, args.epochs+1):
            logged = train()
            val_loss = evaluate(val_data)
            print('| end of epoch {:3d} | valid loss {:5.2f} | valid ppl {:8.2f}'.format(
                epoch, val_loss, math.exp(val_loss)))
            history.append([logged, val_loss])

        test_loss = evaluate(test_data)
        print('| End of training | test loss {:5.2f} | test ppl {:8.2f}'.format(test_loss, math.exp(test_loss)))
        results[rnn_type] = {"history": history, "test_loss": test_loss, "shapes": [list(train_data.shape),
                                                                                     list(val_data.shape)]}
    return results
