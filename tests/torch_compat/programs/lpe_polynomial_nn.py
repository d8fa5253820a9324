# ruff: noqa: E501 -- the code is kept as its source wrote it
"""Learning PyTorch with Examples, "PyTorch: nn": the cubic as nn.Sequential(Linear(3, 1), Flatten(0, 1)).

Source: https://pytorch.org/tutorials/beginner/examples_nn/polynomial_nn.html
(pytorch/tutorials, beginner_source/examples_nn/polynomial_nn.py).
Changes: ``numpy_weights`` after building the model (same start for both frameworks); 2000 -> 500 steps.
"""
import math

from _common import numpy_weights


def main(torch):
    # Create Tensors to hold input and outputs.
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    # For this example, the output y is a linear function of (x, x^2, x^3), so
    # we can consider it as a linear layer neural network. Let's prepare the
    # tensor (x, x^2, x^3).
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    # Use the nn package to define our model as a sequence of layers.
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )
    numpy_weights(torch, model)

    # The nn package also contains definitions of popular loss functions.
    loss_fn = torch.nn.MSELoss(reduction='sum')

    losses = []
    learning_rate = 1e-6
    for t in range(500):
        # Forward pass: compute predicted y by passing x to the model.
        y_pred = model(xx)

        # Compute and print loss.
        loss = loss_fn(y_pred, y)
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())

        # Zero the gradients before running the backward pass.
        model.zero_grad()

        # Backward pass: compute gradient of the loss with respect to all the learnable
        # parameters of the model.
        loss.backward()

        # Update the weights using gradient descent. Each parameter is a Tensor, so
        # we can access its gradients like we did before.
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad

    # You can access the first layer of `model` like accessing the first item of a list
    linear_layer = model[0]

    # For linear layer, its parameters are stored as `weight` and `bias`.
    print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + {linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    return {"losses": losses, "coefficients": [linear_layer.bias.item()] + [linear_layer.weight[:, i].item() for i in range(3)]}
