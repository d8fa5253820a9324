"""Learn the Basics, "Automatic Differentiation with torch.autograd": binary cross-entropy on a one-layer
net, requires_grad / no_grad / detach, and backward of a non-scalar with retain_graph (gradients accumulate).

Source: https://pytorch.org/tutorials/beginner/basics/autogradqs_tutorial.html
(pytorch/tutorials, beginner_source/basics/autogradqs_tutorial.py).
Changes: ``w`` and ``b`` (``torch.randn(..., requires_grad=True)``) are seeded NumPy draws.
"""
import numpy as np


def main(torch):
    gen = np.random.default_rng(0)
    x = torch.ones(5)  # input tensor
    y = torch.zeros(3)  # expected output
    w = torch.tensor(gen.standard_normal((5, 3), dtype=np.float32), requires_grad=True)
    b = torch.tensor(gen.standard_normal(3, dtype=np.float32), requires_grad=True)
    z = torch.matmul(x, w)+b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

    print(f"Gradient function for z = {z.grad_fn}")
    print(f"Gradient function for loss = {loss.grad_fn}")
    has_grad_fn = [z.grad_fn is not None, loss.grad_fn is not None]

    loss.backward()
    print(w.grad)
    print(b.grad)

    z = torch.matmul(x, w)+b
    print(z.requires_grad)
    flags = [z.requires_grad]

    with torch.no_grad():
        z = torch.matmul(x, w)+b
    print(z.requires_grad)
    flags.append(z.requires_grad)

    z = torch.matmul(x, w)+b
    z_det = z.detach()
    print(z_det.requires_grad)
    flags.append(z_det.requires_grad)

    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp+1).pow(2).t()
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"First call\n{inp.grad}")
    first = inp.grad.tolist()
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nSecond call\n{inp.grad}")
    second = inp.grad.tolist()
    inp.grad.zero_()
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nCall after zeroing gradients\n{inp.grad}")

    return {"loss": loss.item(), "w.grad": w.grad.tolist(), "b.grad": b.grad.tolist(), "has_grad_fn": has_grad_fn,
            "flags": flags, "inp.grad": [first, second, inp.grad.tolist()]}
