"""Dive into Deep Learning, 2.1 "Data Manipulation" (PyTorch): arange/reshape/zeros/ones, element-wise
operators, cat, comparison, broadcasting, indexing and slice assignment, in-place updates that keep ``id``,
conversion to and from NumPy, ``item()``/``float()``/``int()``.

Source: https://d2l.ai/chapter_preliminaries/ndarray.html
(d2l-ai/d2l-en v0.17.6, chapter_preliminaries/ndarray.md, the pytorch tab).
Changes: cells that only display a value are collected into the returned dict; ``torch.randn(3, 4)`` is
compared by shape.
"""


def main(torch):
    out = {}
    x = torch.arange(12, dtype=torch.float32)
    out["x"] = x.tolist()
    out["shape"] = list(x.shape)
    out["numel"] = x.numel()

    X = x.reshape(3, 4)
    out["X"] = X.tolist()
    out["zeros"] = torch.zeros((2, 3, 4)).tolist()
    out["ones"] = torch.ones((2, 3, 4)).tolist()
    out["randn_shape"] = list(torch.randn(3, 4).shape)
    out["tensor"] = torch.tensor([[2, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]]).tolist()

    x = torch.tensor([1.0, 2, 4, 8])
    y = torch.tensor([2, 2, 2, 2])
    out["operators"] = [t.tolist() for t in (x + y, x - y, x * y, x / y, x ** y)]  # The ** operator is exponentiation
    out["exp"] = torch.exp(x).tolist()

    X = torch.arange(12, dtype=torch.float32).reshape((3,4))
    Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
    out["cat"] = [torch.cat((X, Y), dim=0).tolist(), torch.cat((X, Y), dim=1).tolist()]
    out["eq"] = (X == Y).tolist()
    out["sum"] = X.sum().item()

    a = torch.arange(3).reshape((3, 1))
    b = torch.arange(2).reshape((1, 2))
    out["broadcast"] = (a + b).tolist()
    out["index"] = [X[-1].tolist(), X[1:3].tolist()]

    X[1, 2] = 9
    out["set_item"] = X.tolist()
    X[0:2, :] = 12
    out["set_rows"] = X.tolist()

    before = id(Y)
    Y = Y + X
    out["new_object"] = id(Y) == before

    Z = torch.zeros_like(Y)
    print('id(Z):', id(Z))
    first = id(Z)
    Z[:] = X + Y
    print('id(Z):', id(Z))
    out["slice_assignment_keeps_id"] = id(Z) == first

    before = id(X)
    X += Y
    out["iadd_keeps_id"] = id(X) == before
    out["X_after_iadd"] = X.tolist()

    A = X.numpy()
    B = torch.from_numpy(A)
    type(A), type(B)
    out["types"] = [type(A).__name__, isinstance(B, torch.Tensor)]

    a = torch.tensor([3.5])
    a, a.item(), float(a), int(a)
    out["scalars"] = [a.item(), float(a), int(a)]
    return out
