"""A character-level language model, as in Dive into Deep Learning's recurrent chapters: RNN, GRU or LSTM.

The text is Python's own documentation: the help texts every CPython installation ships in
``pydoc_data.topics`` (what ``help("if")`` prints; about 465,000 characters in Python 3.11), lower-cased, every
character but a-z turned into a space and runs of spaces collapsed, so the vocabulary is 27 characters. The
first 90% trains the model, the last 10% is held out.

Minibatches are drawn as D2L does: ``--sampling random`` cuts the text at a random offset into subsequences
of ``--num-steps`` characters and shuffles them (the hidden state starts from zero for every minibatch);
``--sampling sequential`` keeps each of the ``--batch-size`` rows a contiguous stream across minibatches, so the
hidden state is carried from one minibatch to the next and detached (the gradient stops at the minibatch
boundary). Gradients are clipped to norm 1. Each epoch prints the perplexity (exp of the mean cross-entropy per
character) on the training text and on the held-out text; the end prints text generated from ``--prompt``
by sampling each next character with ``anynn.multinomial``.

    python examples/char_lm.py --cell gru --epochs 5
"""
from __future__ import annotations

import math
import time

import numpy as np

import anynn
from anynn import nn

import common

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def load_corpus() -> str:
    """Python's bundled help texts, reduced to lower-case letters and single spaces."""
    import pydoc_data.topics

    text = " ".join(pydoc_data.topics.topics[key] for key in sorted(pydoc_data.topics.topics))
    letters = "".join(ch if "a" <= ch <= "z" else " " for ch in text.lower())
    return " ".join(letters.split())


class Vocab:
    """Characters <-> indices."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[ch] for ch in text], dtype=np.int64)

    def decode(self, indices) -> str:
        return "".join(self.chars[int(i)] for i in indices)


def random_batches(corpus: np.ndarray, batch_size: int, num_steps: int, rng: np.random.Generator):
    """D2L's random sampling: subsequences from a random offset, in random order; targets shifted by one."""
    corpus = corpus[rng.integers(0, num_steps):]
    starts = np.arange(0, (len(corpus) - 1) // num_steps * num_steps, num_steps)
    rng.shuffle(starts)
    for i in range(0, len(starts) - batch_size + 1, batch_size):
        rows = starts[i:i + batch_size, None] + np.arange(num_steps)
        yield corpus[rows], corpus[rows + 1]


def sequential_batches(corpus: np.ndarray, batch_size: int, num_steps: int, offset: int = 0):
    """D2L's sequential partitioning: ``batch_size`` contiguous streams, read ``num_steps`` at a time."""
    corpus = corpus[offset:]
    usable = (len(corpus) - 1) // batch_size * batch_size
    inputs = corpus[:usable].reshape(batch_size, -1)
    targets = corpus[1:usable + 1].reshape(batch_size, -1)
    for i in range(0, inputs.shape[1] // num_steps * num_steps, num_steps):
        yield inputs[:, i:i + num_steps], targets[:, i:i + num_steps]


class CharLM(nn.Module):
    """Characters (one-hot, or an Embedding with ``embed``) -> recurrent layers -> logits over the vocabulary."""

    def __init__(self, vocab_size: int, hidden: int, cell: str = "gru", layers: int = 1, embed: int = 0):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed) if embed else None
        self.rnn = CELLS[cell](embed or vocab_size, hidden, num_layers=layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        inputs = self.embedding(x) if self.embedding is not None else \
            nn.functional.one_hot(x, self.vocab_size).float()
        output, state = self.rnn(inputs, state)
        return self.fc(output), state


def detach(state):
    """Cut the carried hidden state from the previous minibatch's graph (a tuple for the LSTM)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def perplexity(model: CharLM, corpus: np.ndarray, batch_size: int, num_steps: int) -> float:
    """exp(mean cross-entropy per character) over ``corpus`` read sequentially, the state carried."""
    total, count, state = 0.0, 0, None
    with anynn.no_grad():
        for x, y in sequential_batches(corpus, batch_size, num_steps):
            logits, state = model(anynn.tensor(x), state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, model.vocab_size), anynn.tensor(y).reshape(-1))
            total, count = total + loss.item() * y.size, count + y.size
    return math.exp(total / count)


def generate(model: CharLM, vocab: Vocab, prompt: str, length: int, temperature: float = 1.0) -> str:
    """Warm up on ``prompt``, then sample ``length`` characters one at a time."""
    with anynn.no_grad():
        logits, state = model(anynn.tensor(vocab.encode(prompt)[None, :]))
        out = []
        for _ in range(length):
            probs = (logits[:, -1, :] / temperature).softmax(dim=-1)
            nxt = anynn.multinomial(probs, 1)
            out.append(int(nxt.item()))
            logits, state = model(nxt, state)
    return prompt + vocab.decode(out)


def main() -> None:
    p = common.parser(__doc__, epochs=5, lr=2e-3, batch_size=32)
    p.add_argument("--cell", default="gru", choices=sorted(CELLS))
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embed", type=int, default=0, help="embedding size (0: one-hot inputs)")
    p.add_argument("--num-steps", type=int, default=35)
    p.add_argument("--sampling", default="sequential", choices=["sequential", "random"])
    p.add_argument("--prompt", default="the function ")
    p.add_argument("--generate", type=int, default=120, help="characters to generate at the end")
    args = p.parse_args()
    common.setup(args)

    text = load_corpus()
    if args.limit:
        text = text[:args.limit]
    vocab = Vocab(text)
    corpus = vocab.encode(text)
    split = int(len(corpus) * 0.9)
    train, held_out = corpus[:split], corpus[split:]
    print(f"corpus: Python's help texts (pydoc_data.topics), {len(corpus):,} characters, vocabulary {len(vocab)}; "
          f"{len(train):,} train / {len(held_out):,} held out", flush=True)

    model = CharLM(len(vocab), args.hidden, args.cell, args.layers, args.embed)
    optimizer = anynn.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        start, state = time.perf_counter(), None
        if args.sampling == "random":
            batches = random_batches(train, args.batch_size, args.num_steps, rng)
        else:
            batches = sequential_batches(train, args.batch_size, args.num_steps, int(rng.integers(0, args.num_steps)))
        for x, y in batches:
            state = None if args.sampling == "random" else detach(state)
            logits, state = model(anynn.tensor(x), state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), anynn.tensor(y).reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        seconds = time.perf_counter() - start
        train_ppl = perplexity(model, train, args.batch_size, args.num_steps)
        held_ppl = perplexity(model, held_out, args.batch_size, args.num_steps)
        print(f"epoch {epoch}: perplexity train {train_ppl:.2f}, held-out {held_ppl:.2f} ({seconds:.0f} s)",
              flush=True)
    anynn.manual_seed(args.seed)
    print(f"generated: {generate(model, vocab, args.prompt, args.generate)!r}")


if __name__ == "__main__":
    main()
