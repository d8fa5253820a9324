"""Read each Fashion-MNIST image row by row: a 28-step sequence of 28 pixels into an RNN, LSTM or GRU.

The recurrent layer sees one row per step and the classifier sees only the last hidden state, so the network
must carry what it has seen across the sequence. With 128 hidden units, Adam and gradient clipping, one
epoch gave (measured) 85.6% test accuracy with the GRU, 83.6% with the LSTM and 75.7% with the plain tanh
RNN (``--cell rnn``), whose gradient fades over the 28 steps; the gated cells approach 90% with more epochs.

    python examples/rnn_rows.py --cell lstm --epochs 2
"""
from __future__ import annotations

import sys

from anynn import nn, optim
from anynn.training import evaluate, fit

import common

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RowClassifier(nn.Module):
    """(N, 1, 28, 28) images -> 28 steps of 28 pixels -> recurrent layer -> last hidden state -> 10 logits."""

    def __init__(self, cell: str = "lstm", hidden: int = 128, num_layers: int = 1):
        super().__init__()
        self.rnn = CELLS[cell](28, hidden, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x):
        rows = x.reshape(x.shape[0], 28, 28)  # (batch, steps, features): step t is row t
        output, _ = self.rnn(rows)  # output holds the top layer's hidden state at every step
        return self.fc(output[:, -1, :])


def main() -> None:
    p = common.parser(__doc__, epochs=2, lr=2e-3)
    p.add_argument("--cell", default="lstm", choices=sorted(CELLS))
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--plot", default=None, help="save loss and accuracy curves to this PNG")
    args = p.parse_args()
    common.setup(args)
    train, test = common.loaders(args)

    model = RowClassifier(args.cell, args.hidden, args.layers)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    fit(model, train, optimizer, args.epochs, val_loader=test, clip_grad_norm=1.0, seed=args.seed,
        plot=args.plot, progress=sys.stderr.isatty())
    print(f"{args.cell.upper()} test accuracy {evaluate(model, test)['acc'] * 100:.2f}%")
    if args.plot:
        print(f"curves saved to {args.plot}")


if __name__ == "__main__":
    main()
