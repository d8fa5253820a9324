"""Dive into Deep Learning, 2.5 "Automatic Differentiation" (PyTorch): ``requires_grad_``, ``torch.dot``,
accumulation and ``grad.zero_()``, backward of a sum, ``detach``, and Python control flow (``while
b.norm() < 1000``) in a differentiated function.

Source: https://d2l.ai/chapter_preliminaries/autograd.html
(d2l-ai/d2l-en v0.17.6, chapter_preliminaries/autograd.md, the pytorch tab).
Changes: cells that only display a value are collected into the returned dict; ``a`` (``torch.randn``) is a
fixed number.
"""


def main(torch):
    out = {}
    x = torch.arange(4.0)

    x.requires_grad_(True)  # Same as `x = torch.arange(4.0, requires_grad=True)`
    out["grad_default_none"] = x.grad is None  # The default value is None

    y = 2 * torch.dot(x, x)
    out["y"] = y.item()

    y.backward()
    out["grad"] = x.grad.tolist()
    out["grad_is_4x"] = (x.grad == 4 * x).tolist()

    # PyTorch accumulates the gradient in default, we need to clear the previous
    # values
    x.grad.zero_()
    y = x.sum()
    y.backward()
    out["grad_sum"] = x.grad.tolist()

    x.grad.zero_()
    y = x * x
    # y.backward(torch.ones(len(x))) equivalent to the below
    y.sum().backward()
    out["grad_square"] = x.grad.tolist()

    x.grad.zero_()
    y = x * x
    u = y.detach()
    z = u * x

    z.sum().backward()
    out["detach"] = (x.grad == u).tolist()

    x.grad.zero_()
    y.sum().backward()
    out["after_detach"] = (x.grad == 2 * x).tolist()

    def f(a):
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        if b.sum() > 0:
            c = b
        else:
            c = 100 * b
        return c

    a = torch.tensor(-0.37, requires_grad=True)
    d = f(a)
    d.backward()

    out["control_flow"] = (a.grad == d / a).item()
    out["a.grad"] = a.grad.item()
    return out
