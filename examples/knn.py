"""k-nearest neighbours on Fashion-MNIST pixels, with fully vectorised distances.

Squared Euclidean distances between a chunk of query images A and all training images B come from one matrix
product: ``||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2``. There is no training, only memory; k is chosen on a
validation split cut from the training set (every candidate k is scored from one sort), then the test set is
classified against the whole training set. Nothing here is differentiated, so the script works directly on
the backend's arrays (``tensor.array``) with the Array API namespace ``xp``: the same code runs on every
backend. On the full data (60,000 references, 10,000 test images) k=3 wins validation and gives 85.6% test
accuracy in under half a minute with NumPy on 2 CPU cores: better than a linear classifier, worse than a
small MLP.

    python examples/knn.py --limit 10000
"""
from __future__ import annotations

import argparse
import time

import anynn

import common


def as_rows(images: anynn.Tensor):
    """(N, 1, 28, 28) uint8 images -> (N, 784) float32 array in [0, 1] (the backend's native array)."""
    x = images.float().reshape(images.shape[0], -1) / 255.0
    return x.array


def nearest_labels(queries, refs, ref_labels, k: int, chunk: int):
    """The labels of the k nearest reference rows of every query row, nearest first: an (N, k) int array."""
    xp = anynn.get_backend().xp
    ref_sq = xp.sum(refs * refs, axis=1)
    out = []
    for start in range(0, queries.shape[0], chunk):
        q = queries[start:min(start + chunk, queries.shape[0]), :]
        dist = xp.sum(q * q, axis=1, keepdims=True) - 2.0 * (q @ xp.matrix_transpose(refs)) + ref_sq
        nearest = xp.argsort(dist, axis=1, stable=False)[:, :k]  # ties between equal distances do not matter
        out.append(xp.reshape(xp.take(ref_labels, xp.reshape(nearest, (-1,))), nearest.shape))
    return xp.concat(out, axis=0)


def vote(labels, k: int, classes: int = 10):
    """Majority class among the first k neighbours; a tiny rank penalty breaks ties towards nearer ones."""
    backend = anynn.get_backend()
    xp = backend.xp
    rank = xp.arange(k, dtype=xp.float32, device=backend.device)
    onehot = xp.astype(labels[:, :k, None] == xp.arange(classes, dtype=labels.dtype, device=backend.device),
                       xp.float32)
    weights = 1.0 - 1e-3 * rank / k
    return xp.argmax(xp.sum(onehot * weights[:, None], axis=1), axis=1)


def accuracy(predicted, labels) -> float:
    xp = anynn.get_backend().xp
    return float(xp.mean(xp.astype(predicted == labels, xp.float32)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", default="1,3,5,7,9,15", help="candidate k, comma separated")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training set used to pick k")
    p.add_argument("--chunk", type=int, default=500, help="query images per distance matrix")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training and N test images")
    p.add_argument("--backend", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    common.setup(args)
    x_train, y_train, x_test, y_test = common.fashion_mnist(args)
    x_train, x_test, y_train, y_test = as_rows(x_train), as_rows(x_test), y_train.array, y_test.array
    ks = sorted(int(k) for k in args.ks.split(","))
    began = time.perf_counter()

    n_val = max(int(x_train.shape[0] * args.val_fraction), 1)
    fit_x, fit_y, val_x, val_y = x_train[n_val:, :], y_train[n_val:], x_train[:n_val, :], y_train[:n_val]
    val_neighbours = nearest_labels(val_x, fit_x, fit_y, ks[-1], args.chunk)
    scores = {k: accuracy(vote(val_neighbours, k), val_y) for k in ks}
    print("validation accuracy: " + "  ".join(f"k={k} {s * 100:.2f}%" for k, s in scores.items()), flush=True)
    best = max(ks, key=lambda k: (scores[k], -k))

    test_neighbours = nearest_labels(x_test, x_train, y_train, best, args.chunk)
    acc = accuracy(vote(test_neighbours, best), y_test)
    print(f"k={best}: test accuracy {acc * 100:.2f}% ({x_test.shape[0]} test images against {x_train.shape[0]} "
          f"training images, {time.perf_counter() - began:.1f}s)")


if __name__ == "__main__":
    main()
