"""Learning PyTorch with Examples, "PyTorch: Tensors and autograd": the cubic fitted with loss.backward().

Source: https://pytorch.org/tutorials/beginner/examples_autograd/polynomial_autograd.html
(pytorch/tutorials, beginner_source/examples_autograd/polynomial_autograd.py).
Changes: the ``torch.randn((), dtype=dtype, requires_grad=True)`` weights are seeded NumPy draws passed to
``torch.tensor(..., requires_grad=True)``; 2000 -> 500 steps.
"""
import math

import numpy as np


def main(torch):
    dtype = torch.float
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    print(f"Using {device} device")
    torch.set_default_device(device)

    # Create Tensors to hold input and outputs.
    # By default, requires_grad=False, which indicates that we do not need to
    # compute gradients with respect to these Tensors during the backward pass.
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype)
    y = torch.sin(x)

    # Create random Tensors for weights. For a third order polynomial, we need
    # 4 weights: y = a + b x + c x^2 + d x^3
    # Setting requires_grad=True indicates that we want to compute gradients with
    # respect to these Tensors during the backward pass.
    a, b, c, d = (torch.tensor(float(v), dtype=dtype, requires_grad=True)
                  for v in np.random.default_rng(1).standard_normal(4))

    losses = []
    learning_rate = 1e-6
    for t in range(500):
        # Forward pass: compute predicted y using operations on Tensors.
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        # Compute and print loss using operations on Tensors.
        # Now loss is a Tensor of shape (1,)
        # loss.item() gets the scalar value held in the loss.
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())

        # Use autograd to compute the backward pass. This call will compute the
        # gradient of loss with respect to all Tensors with requires_grad=True.
        # After this call a.grad, b.grad. c.grad and d.grad will be Tensors holding
        # the gradient of the loss with respect to a, b, c, d respectively.
        loss.backward()

        # Manually update weights using gradient descent. Wrap in torch.no_grad()
        # because weights have requires_grad=True, but we don't need to track this
        # in autograd.
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            # Manually zero the gradients after updating weights
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    return {"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()]}
