"""Learning PyTorch with Examples (earlier edition), "PyTorch: Defining new autograd functions": MyReLU.

Source: https://github.com/pytorch/tutorials/blob/main/beginner_source/examples_autograd/two_layer_net_custom_function.py
Changes: the ``torch.randn`` data and weights are seeded NumPy draws given to ``torch.tensor``; 500 -> 100 steps.
"""
import numpy as np


def main(torch):
    class MyReLU(torch.autograd.Function):
        """
        We can implement our own custom autograd Functions by subclassing
        torch.autograd.Function and implementing the forward and backward passes
        which operate on Tensors.
        """

        @staticmethod
        def forward(ctx, input):
            """
            In the forward pass we receive a Tensor containing the input and return
            a Tensor containing the output. ctx is a context object that can be used
            to stash information for backward computation. You can cache arbitrary
            objects for use in the backward pass using the ctx.save_for_backward method.
            """
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            """
            In the backward pass we receive a Tensor containing the gradient of the loss
            with respect to the output, and we need to compute the gradient of the loss
            with respect to the input.
            """
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    dtype = torch.float
    device = torch.device("cpu")
    # device = torch.device("cuda:0") # Uncomment this to run on GPU

    # N is batch size; D_in is input dimension;
    # H is hidden dimension; D_out is output dimension.
    N, D_in, H, D_out = 64, 1000, 100, 10

    # Create random Tensors to hold input and outputs.
    gen = np.random.default_rng(0)
    x = torch.tensor(gen.standard_normal((N, D_in), dtype=np.float32), device=device, dtype=dtype)
    y = torch.tensor(gen.standard_normal((N, D_out), dtype=np.float32), device=device, dtype=dtype)

    # Create random Tensors for weights.
    w1 = torch.tensor(gen.standard_normal((D_in, H), dtype=np.float32), device=device, dtype=dtype, requires_grad=True)
    w2 = torch.tensor(gen.standard_normal((H, D_out), dtype=np.float32), device=device, dtype=dtype, requires_grad=True)

    losses = []
    learning_rate = 1e-6
    for t in range(100):
        # To apply our Function, we use Function.apply method. We alias this as 'relu'.
        relu = MyReLU.apply

        # Forward pass: compute predicted y using operations; we compute
        # ReLU using our custom autograd operation.
        y_pred = relu(x.mm(w1)).mm(w2)

        # Compute and print loss
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
            losses.append(loss.item())

        # Use autograd to compute the backward pass.
        loss.backward()

        # Update weights using gradient descent
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad

            # Manually zero the gradients after updating weights
            w1.grad.zero_()
            w2.grad.zero_()

    return {"losses": losses, "w2_row0": w2[0].tolist()}
