"""60 Minute Blitz, "A Gentle Introduction to torch.autograd": vector-Jacobian product with an external
gradient, and which results require gradients.

Source: https://pytorch.org/tutorials/beginner/blitz/autograd_tutorial.html
(pytorch/tutorials, beginner_source/blitz/autograd_tutorial.py).
Changes: the torchvision resnet18 part (a download) is left out.
"""


def main(torch):
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)

    Q = 3*a**3 - b**2

    external_grad = torch.tensor([1., 1.])
    Q.backward(gradient=external_grad)

    # Check if collected gradients are correct
    print(9*a**2 == a.grad)
    print(-2*b == b.grad)
    checks = [(9*a**2 == a.grad).tolist(), (-2*b == b.grad).tolist()]

    x = torch.rand(5, 5)
    y = torch.rand(5, 5)
    z = torch.rand((5, 5), requires_grad=True)

    a = x + y
    print(f"Does `a` require gradients?: {a.requires_grad}")
    b = x + z
    print(f"Does `b` require gradients?: {b.requires_grad}")

    return {"checks": checks, "requires_grad": [a.requires_grad, b.requires_grad], "Q": Q.tolist()}
