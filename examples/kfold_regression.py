"""K-fold cross-validation for regression, as in Dive into Deep Learning's house-price chapter.

D2L uses Kaggle's house prices, which cannot be fetched here; this uses the diabetes data that scikit-learn
installs with itself (``sklearn.datasets.load_diabetes(scaled=False)``: 442 patients, 10 real measurements such as
age, BMI, blood pressure and six blood serum values; the target is a measure of disease progression one year later,
25-346). As in D2L: features standardised (with the training folds' statistics), a linear model or a small MLP
trained with Adam on the squared error, weight decay, and the log-RMSE ``sqrt(mean((log y_hat - log y)^2))`` per
fold (predictions below 1 are clipped to 1 before the log), then the average over the K folds.

    pip install scikit-learn
    python examples/kfold_regression.py --folds 5 --epochs 100 --weight-decay 0.01
"""
from __future__ import annotations

import numpy as np

import anynn
from anynn import nn

import common


def load() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_diabetes
    except ImportError:
        raise SystemExit("this example reads the diabetes data that scikit-learn ships: pip install scikit-learn")
    data = load_diabetes(scaled=False)
    return data.data.astype(np.float32), data.target.astype(np.float32)


def k_fold(n: int, k: int, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training folds and of fold ``i`` (the validation fold), from one fixed permutation."""
    order = rng.permutation(n)
    folds = np.array_split(order, k)
    return np.concatenate([f for j, f in enumerate(folds) if j != i]), folds[i]


def log_rmse(prediction: anynn.Tensor, target: anynn.Tensor) -> float:
    clipped = prediction.clamp(min=1.0)
    return float(((clipped.log() - target.log()) ** 2).mean().sqrt())


def train_fold(x_train, y_train, x_valid, y_valid, args) -> tuple[float, float]:
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train, x_valid = (x_train - mean) / std, (x_valid - mean) / std
    features = x_train.shape[1]
    model = nn.Linear(features, 1) if args.hidden == 0 else \
        nn.Sequential(nn.Linear(features, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 1))
    optimizer = anynn.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    xt, yt = anynn.tensor(x_train), anynn.tensor(y_train).reshape(-1, 1)
    xv, yv = anynn.tensor(x_valid), anynn.tensor(y_valid).reshape(-1, 1)
    loader = anynn.data.DataLoader(anynn.data.TensorDataset(xt, yt), batch_size=args.batch_size, shuffle=True,
                                   seed=args.seed)
    loss_fn = nn.MSELoss()
    for _ in range(args.epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
    with anynn.no_grad():
        return log_rmse(model(xt), yt), log_rmse(model(xv), yv)


def main() -> None:
    p = common.parser(__doc__, epochs=100, lr=1.0, batch_size=32)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=0, help="hidden units of a one-hidden-layer MLP (0: linear)")
    args = p.parse_args()
    common.setup(args)
    x, y = load()
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    print(f"diabetes (scikit-learn): {len(y)} samples, {x.shape[1]} features; {args.folds}-fold cross-validation",
          flush=True)
    scores = []
    for i in range(args.folds):
        train_idx, valid_idx = k_fold(len(y), args.folds, i, np.random.default_rng(args.seed))
        train_score, valid_score = train_fold(x[train_idx], y[train_idx], x[valid_idx], y[valid_idx], args)
        scores.append((train_score, valid_score))
        print(f"fold {i + 1}: train log rmse {train_score:.4f}, valid log rmse {valid_score:.4f}", flush=True)
    train_mean, valid_mean = np.mean(scores, axis=0)
    print(f"{args.folds}-fold validation: avg train log rmse {train_mean:.4f}, avg valid log rmse {valid_mean:.4f}")


if __name__ == "__main__":
    main()
