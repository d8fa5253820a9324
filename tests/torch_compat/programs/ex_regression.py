"""pytorch/examples "Linear regression": fit a degree-4 polynomial with one nn.Linear, smooth_l1_loss and the
manual update ``param.data.add_(-0.1 * param.grad)`` until the loss is below 1e-3; tensors formatted with
``'{:+.2f}'.format(w)``.

Source: https://github.com/pytorch/examples/blob/main/regression/main.py
Changes: ``W_target``/``b_target`` and the batches (``torch.randn``) come from a seeded NumPy generator;
``numpy_weights`` after building ``fc``; at most 2000 batches.
"""
from itertools import count

import numpy as np

from _common import numpy_weights


def main(torch):
    F = torch.nn.functional
    gen = np.random.default_rng(0)

    POLY_DEGREE = 4
    W_target = torch.tensor(gen.standard_normal((POLY_DEGREE, 1), dtype=np.float32)) * 5
    b_target = torch.tensor(gen.standard_normal(1, dtype=np.float32)) * 5

    def make_features(x):
        """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
        x = x.unsqueeze(1)
        return torch.cat([x ** i for i in range(1, POLY_DEGREE+1)], 1)

    def f(x):
        """Approximated function."""
        return x.mm(W_target) + b_target.item()

    def poly_desc(W, b):
        """Creates a string description of a polynomial."""
        result = 'y = '
        for i, w in enumerate(W):
            result += '{:+.2f} x^{} '.format(w, i + 1)
        result += '{:+.2f}'.format(b[0])
        return result

    def get_batch(batch_size=32):
        """Builds a batch i.e. (x, f(x)) pair."""
        random = torch.tensor(gen.standard_normal(batch_size, dtype=np.float32))
        x = make_features(random)
        y = f(x)
        return x, y

    # Define model
    fc = torch.nn.Linear(W_target.size(0), 1)
    numpy_weights(torch, fc)

    losses = []
    for batch_idx in count(1):
        # Get data
        batch_x, batch_y = get_batch()

        # Reset gradients
        fc.zero_grad()

        # Forward pass
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()
        losses.append(loss)

        # Backward pass
        output.backward()

        # Apply gradients
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)

        # Stop criterion
        if loss < 1e-3 or batch_idx == 2000:
            break

    print('Loss: {:.6f} after {} batches'.format(loss, batch_idx))
    print('==> Learned function:\t' + poly_desc(fc.weight.view(-1), fc.bias))
    print('==> Actual function:\t' + poly_desc(W_target.view(-1), b_target))
    return {"first_losses": losses[:20], "batches": batch_idx, "learned": poly_desc(fc.weight.view(-1), fc.bias),
            "actual": poly_desc(W_target.view(-1), b_target)}
