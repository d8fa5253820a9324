"""Learning PyTorch with Examples, "PyTorch: Tensors": a cubic fitted to sin(x) with hand-written gradients.

Source: https://pytorch.org/tutorials/beginner/examples_tensor/polynomial_tensor.html
(pytorch/tutorials, beginner_source/examples_tensor/polynomial_tensor.py).
Changes: the four ``torch.randn((), ...)`` initial weights are fixed seeded NumPy draws; 2000 -> 500 steps.
"""
import math

import numpy as np


def main(torch):
    dtype = torch.float
    device = torch.device("cpu")
    # device = torch.device("cuda:0") # Uncomment this to run on GPU

    # Create random input and output data
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    # Randomly initialize weights
    a, b, c, d = (torch.tensor(float(v), device=device, dtype=dtype)
                  for v in np.random.default_rng(0).standard_normal(4))

    losses = []
    learning_rate = 1e-6
    for t in range(500):
        # Forward pass: compute predicted y
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        # Compute and print loss
        loss = (y_pred - y).pow(2).sum().item()
        if t % 100 == 99:
            print(t, loss)
            losses.append(loss)

        # Backprop to compute gradients of a, b, c, d with respect to loss
        grad_y_pred = 2.0 * (y_pred - y)
        grad_a = grad_y_pred.sum()
        grad_b = (grad_y_pred * x).sum()
        grad_c = (grad_y_pred * x ** 2).sum()
        grad_d = (grad_y_pred * x ** 3).sum()

        # Update weights using gradient descent
        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    return {"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()]}
