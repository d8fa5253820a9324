"""Introduction to PyTorch (YouTube series), "Introduction to PyTorch Tensors": factories and ``*_like``,
seeding, dtypes and ``.to(int32)``, arithmetic and broadcasting, abs/ceil/floor/clamp, sin/asin,
bitwise_xor, eq, max/mean/std/prod/unique, cross, matmul, svd, in-place ``torch.sin_``/``add_``/``mul_``,
``out=`` (matmul and rand), chained-index assignment, clone/detach, unsqueeze/squeeze(_), reshape, the
NumPy bridge in both directions.

Source: https://pytorch.org/tutorials/beginner/introyt/tensors_deeper_tutorial.html
(pytorch/tutorials, beginner_source/introyt/tensors_deeper_tutorial.py).
Changes: what the tutorial prints is returned; values drawn by ``torch.rand`` are compared through what
does not depend on the generator (shapes, dtypes, the relations the tutorial points out).
"""
import math

import numpy as np


def close(tensor, expected, factor=1.0) -> bool:
    """Whether ``tensor`` holds ``factor * expected`` (compared in NumPy, outside the framework under test)."""
    return bool(np.allclose(np.array(tensor.tolist()), factor * np.array(expected), atol=1e-5))


def main(torch):
    out = {}
    x = torch.empty(3, 4)
    print(type(x))
    out["empty"] = [list(x.shape), isinstance(x, torch.Tensor)]

    zeros = torch.zeros(2, 3)
    ones = torch.ones(2, 3)
    torch.manual_seed(1729)
    random = torch.rand(2, 3)
    out["factories"] = [zeros.tolist(), ones.tolist(), list(random.shape)]

    torch.manual_seed(1729)
    random1 = torch.rand(2, 3)
    random2 = torch.rand(2, 3)
    torch.manual_seed(1729)
    random3 = torch.rand(2, 3)
    random4 = torch.rand(2, 3)
    out["seeding"] = [random1.tolist() == random3.tolist(), random2.tolist() == random4.tolist(),
                      random1.tolist() == random2.tolist()]

    x = torch.empty(2, 2, 3)
    empty_like_x = torch.empty_like(x)
    zeros_like_x = torch.zeros_like(x)
    ones_like_x = torch.ones_like(x)
    rand_like_x = torch.rand_like(x)
    out["like"] = [list(t.shape) for t in (empty_like_x, zeros_like_x, ones_like_x, rand_like_x)] + \
        [zeros_like_x.tolist(), ones_like_x.tolist()]

    some_constants = torch.tensor([[3.1415926, 2.71828], [1.61803, 0.0072897]])
    some_integers = torch.tensor((2, 3, 5, 7, 11, 13, 17, 19))
    more_integers = torch.tensor(((2, 4, 6), [3, 6, 9]))
    out["tensor"] = [some_constants.tolist(), some_integers.tolist(), more_integers.tolist()]

    a = torch.ones((2, 3), dtype=torch.int16)
    b = torch.rand((2, 3), dtype=torch.float64) * 20.
    c = b.to(torch.int32)
    out["dtypes"] = [a.tolist(), a.dtype == torch.int16, b.dtype == torch.float64, c.dtype == torch.int32,
                     c.tolist() == [[int(v) for v in row] for row in b.tolist()]]

    ones = torch.zeros(2, 2) + 1
    twos = torch.ones(2, 2) * 2
    threes = (torch.ones(2, 2) * 7 - 1) / 2
    fours = twos ** 2
    sqrt2s = twos ** 0.5
    powers2 = twos ** torch.tensor([[1, 2], [3, 4]])
    fives = ones + fours
    dozens = threes * fours
    out["arithmetic"] = [t.tolist() for t in (ones, twos, threes, fours, sqrt2s, powers2, fives, dozens)]

    rand = torch.rand(2, 4)
    doubled = rand * (torch.ones(1, 4) * 2)
    out["doubled"] = close(doubled, rand.tolist(), factor=2)

    a =     torch.ones(4, 3, 2)
    b = a * torch.rand(   3, 2) # 3rd & 2nd dims identical to a, dim 1 absent
    c = a * torch.rand(   3, 1) # 3rd dim = 1, 2nd dim identical to a
    d = a * torch.rand(   1, 2) # 3rd dim identical to a, 2nd dim = 1
    out["broadcast"] = [list(t.shape) for t in (b, c, d)] + [b[0].tolist() == b[3].tolist(),
                                                               c[..., 0].tolist() == c[..., 1].tolist()]

    # common functions
    a = torch.tensor([[-0.7, 0.2, 1.0, -0.4], [0.55, -0.05, 0.9, -1.0]])
    out["common"] = [torch.abs(a).tolist(), torch.ceil(a).tolist(), torch.floor(a).tolist(),
                     torch.clamp(a, -0.5, 0.5).tolist()]

    # trigonometric functions and their inverses
    angles = torch.tensor([0, math.pi / 4, math.pi / 2, 3 * math.pi / 4])
    sines = torch.sin(angles)
    inverses = torch.asin(sines)
    out["trig"] = [angles.tolist(), sines.tolist(), inverses.tolist()]

    # bitwise operations
    b = torch.tensor([1, 5, 11])
    c = torch.tensor([2, 7, 10])
    out["xor"] = torch.bitwise_xor(b, c).tolist()

    # comparisons:
    d = torch.tensor([[1., 2.], [3., 4.]])
    e = torch.ones(1, 2)  # many comparison ops support broadcasting!
    out["eq"] = torch.eq(d, e).tolist() # returns a tensor of type bool

    # reductions:
    out["reductions"] = [torch.max(d).tolist(), torch.max(d).item(), torch.mean(d).item(), torch.std(d).item(),
                         torch.prod(d).item(), torch.unique(torch.tensor([1, 2, 1, 2, 1, 2])).tolist()]

    # vector and linear algebra operations
    v1 = torch.tensor([1., 0., 0.])         # x unit vector
    v2 = torch.tensor([0., 1., 0.])         # y unit vector
    m1 = torch.rand(2, 2)                   # random matrix
    m2 = torch.tensor([[3., 0.], [0., 3.]]) # three times identity matrix

    out["cross"] = torch.cross(v2, v1).tolist() # negative of z unit vector (v1 x v2 == -v2 x v1)
    m3 = torch.matmul(m1, m2)
    U, S, V = torch.svd(m3)       # singular value decomposition
    out["matmul_svd"] = [close(m3, m1.tolist(), factor=3),
                         close(m3, np.array(U.tolist()) @ np.diag(S.tolist()) @ np.array(V.tolist()).T)]

    a = torch.tensor([0, math.pi / 4, math.pi / 2, 3 * math.pi / 4])
    sin_a = torch.sin(a)   # this operation creates a new tensor in memory
    b = torch.tensor([0, math.pi / 4, math.pi / 2, 3 * math.pi / 4])
    torch.sin_(b)  # note the underscore
    out["in_place_sin"] = [a.tolist(), sin_a.tolist(), b.tolist()]

    a = torch.ones(2, 2)
    b = torch.rand(2, 2)
    before = b.tolist()
    a.add_(b)
    b.mul_(b)
    out["add_mul_"] = [close(a, 1 + np.array(before)), close(b, np.array(before) ** 2)]

    a = torch.rand(2, 2)
    b = torch.rand(2, 2)
    c = torch.zeros(2, 2)
    old_id = id(c)

    d = torch.matmul(a, b, out=c)
    assert c is d           # test c & d are same object, not just containing equal values
    assert id(c) == old_id  # make sure that our new c is the same object as the old one
    out_matmul = close(c, np.array(a.tolist()) @ np.array(b.tolist()))

    torch.rand(2, 2, out=c) # works for creation too!
    assert id(c) == old_id  # still the same object!
    out["out="] = [out_matmul, not close(c, np.array(a.tolist()) @ np.array(b.tolist()))]

    a = torch.ones(2, 2)
    b = a
    a[0][1] = 561  # we change a...
    out["label"] = b.tolist()       # ...and b is also altered

    a = torch.ones(2, 2)
    b = a.clone()
    assert b is not a      # different objects in memory...
    same = torch.eq(a, b).tolist()  # ...but still with the same contents!
    a[0][1] = 561          # a changes...
    out["clone"] = [same, b.tolist()]               # ...but b is still all ones

    a = torch.rand(2, 2, requires_grad=True) # turn on autograd
    b = a.clone()
    c = a.detach().clone()
    out["clone_grad"] = [b.requires_grad, b.grad_fn is not None, c.requires_grad, a.requires_grad]

    if torch.cuda.is_available():
        my_device = torch.device('cuda')
    else:
        my_device = torch.device('cpu')
    print('Device: {}'.format(my_device))
    x = torch.rand(2, 2, device=my_device)
    y = torch.rand(2, 2)
    y = y.to(my_device)

    a = torch.rand(3, 226, 226)
    b = a.unsqueeze(0)
    c = torch.rand(1, 1, 1, 1, 1)
    shapes = [list(a.shape), list(b.shape), list(c.shape)]

    a = torch.rand(1, 20)
    b = a.squeeze(0)
    c = torch.rand(2, 2)
    d = c.squeeze(0)
    shapes += [list(b.shape), list(d.shape)]

    a = torch.ones(4, 3, 2)
    b = torch.rand(   3)     # trying to multiply a * b will give a runtime error
    c = b.unsqueeze(1)       # change to a 2-dimensional tensor, adding new dim at the end
    shapes += [list(c.shape), list((a * c).shape)]

    batch_me = torch.rand(3, 226, 226)
    batch_me.unsqueeze_(0)
    shapes.append(list(batch_me.shape))

    output3d = torch.rand(6, 20, 20)
    input1d = output3d.reshape(6 * 20 * 20)
    shapes += [list(input1d.shape), list(torch.reshape(output3d, (6 * 20 * 20,)).shape)]
    out["shapes"] = shapes

    numpy_array = np.ones((2, 3))
    pytorch_tensor = torch.from_numpy(numpy_array)

    pytorch_rand = torch.rand(2, 3)
    numpy_rand = pytorch_rand.numpy()

    numpy_array[1, 1] = 23
    print(pytorch_tensor)
    pytorch_rand[1, 1] = 17
    print(numpy_rand)
    out["bridge"] = [pytorch_tensor.tolist(), pytorch_tensor.dtype == torch.float64, float(numpy_rand[1, 1])]
    return out
