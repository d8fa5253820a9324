"""Learning PyTorch with Examples (earlier edition), "PyTorch: Tensors": a two-layer ReLU network with
hand-written backpropagation (``mm``, ``clamp``, ``t()``, masked assignment ``grad_h[h < 0] = 0``).

Source: https://github.com/pytorch/tutorials/blob/main/beginner_source/examples_tensor/two_layer_net_tensor.py
Changes: the ``torch.randn`` data and weights are seeded NumPy draws given to ``torch.tensor``; 500 -> 100 steps.
"""
import numpy as np


def main(torch):
    dtype = torch.float
    device = torch.device("cpu")
    # device = torch.device("cuda:0") # Uncomment this to run on GPU

    # N is batch size; D_in is input dimension;
    # H is hidden dimension; D_out is output dimension.
    N, D_in, H, D_out = 64, 1000, 100, 10

    # Create random input and output data
    gen = np.random.default_rng(0)
    x = torch.tensor(gen.standard_normal((N, D_in), dtype=np.float32), device=device, dtype=dtype)
    y = torch.tensor(gen.standard_normal((N, D_out), dtype=np.float32), device=device, dtype=dtype)

    # Randomly initialize weights
    w1 = torch.tensor(gen.standard_normal((D_in, H), dtype=np.float32), device=device, dtype=dtype)
    w2 = torch.tensor(gen.standard_normal((H, D_out), dtype=np.float32), device=device, dtype=dtype)

    losses = []
    learning_rate = 1e-6
    for t in range(100):
        # Forward pass: compute predicted y
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)

        # Compute and print loss
        loss = (y_pred - y).pow(2).sum().item()
        if t % 100 == 99:
            print(t, loss)
            losses.append(loss)

        # Backprop to compute gradients of w1 and w2 with respect to loss
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = x.t().mm(grad_h)

        # Update weights using gradient descent
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2

    return {"losses": losses, "w2_row0": w2[0].tolist()}
