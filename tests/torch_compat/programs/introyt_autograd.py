# ruff: noqa: F841 -- the code is kept as its source wrote it
"""Introduction to PyTorch (YouTube series), "The Fundamentals of Autograd": ``linspace(requires_grad=True)``,
walking ``grad_fn.next_functions``, gradients of leaves, one SGD step of a TinyModel and gradient
accumulation, ``requires_grad = False``, ``no_grad`` as a context and a decorator, ``detach``, the autograd
profiler, backward with a vector, and the high-level API (``torch.autograd.functional.jacobian`` / ``vjp``).

Source: https://pytorch.org/tutorials/beginner/introyt/autogradyt_tutorial.html
(pytorch/tutorials, beginner_source/introyt/autogradyt_tutorial.py).
Changes: plots left out; the ``torch.randn``/``torch.rand`` inputs are seeded NumPy arrays;
``numpy_weights`` after building the model; the profiler loop runs 100 times instead of 1000 and its table
is printed, not compared.
"""
import math

import numpy as np

from _common import numpy_weights


def main(torch):
    gen = np.random.default_rng(0)
    out = {}

    a = torch.linspace(0., 2. * math.pi, steps=25, requires_grad=True)
    b = torch.sin(a)
    c = 2 * b
    d = c + 1
    out_ = d.sum()

    print('d:')
    print(d.grad_fn)
    print(d.grad_fn.next_functions)
    print(d.grad_fn.next_functions[0][0].next_functions)
    print(d.grad_fn.next_functions[0][0].next_functions[0][0].next_functions)
    print(d.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0].next_functions)
    print('\nc:')
    print(c.grad_fn)
    print('\nb:')
    print(b.grad_fn)
    print('\na:')
    print(a.grad_fn)
    out["a.grad_fn"] = a.grad_fn is None

    out_.backward()
    out["a.grad"] = a.grad.tolist()

    BATCH_SIZE = 16
    DIM_IN = 1000
    HIDDEN_SIZE = 100
    DIM_OUT = 10

    class TinyModel(torch.nn.Module):

        def __init__(self):
            super(TinyModel, self).__init__()

            self.layer1 = torch.nn.Linear(1000, 100)
            self.relu = torch.nn.ReLU()
            self.layer2 = torch.nn.Linear(100, 10)

        def forward(self, x):
            x = self.layer1(x)
            x = self.relu(x)
            x = self.layer2(x)
            return x

    some_input = torch.tensor(gen.standard_normal((BATCH_SIZE, DIM_IN), dtype=np.float32), requires_grad=False)
    ideal_output = torch.tensor(gen.standard_normal((BATCH_SIZE, DIM_OUT), dtype=np.float32), requires_grad=False)

    model = TinyModel()
    numpy_weights(torch, model)

    print(model.layer2.weight[0][0:10]) # just a small slice
    print(model.layer2.weight.grad)
    out["grad_before"] = model.layer2.weight.grad is None

    optimizer = torch.optim.SGD(model.parameters(), lr=0.001)

    prediction = model(some_input)

    loss = (ideal_output - prediction).pow(2).sum()
    out["loss"] = loss.item()

    loss.backward()
    out["grad"] = model.layer2.weight.grad[0][0:10].tolist()

    optimizer.step()
    out["stepped"] = model.layer2.weight[0][0:10].tolist()

    for i in range(0, 5):
        prediction = model(some_input)
        loss = (ideal_output - prediction).pow(2).sum()
        loss.backward()

    out["accumulated"] = model.layer2.weight.grad[0][0:10].tolist()

    optimizer.zero_grad()

    out["zeroed"] = model.layer2.weight.grad is None

    a = torch.ones(2, 3, requires_grad=True)
    b1 = 2 * a
    a.requires_grad = False
    b2 = 2 * a
    out["requires_grad_flag"] = [b1.requires_grad, b2.requires_grad]

    a = torch.ones(2, 3, requires_grad=True) * 2
    b = torch.ones(2, 3, requires_grad=True) * 3

    c1 = a + b
    with torch.no_grad():
        c2 = a + b
    c3 = a * b
    out["no_grad"] = [c1.requires_grad, c2.requires_grad, c3.requires_grad, c3.tolist()]

    def add_tensors1(x, y):
        return x + y

    @torch.no_grad()
    def add_tensors2(x, y):
        return x + y

    c1 = add_tensors1(a, b)
    c2 = add_tensors2(a, b)
    out["decorator"] = [c1.requires_grad, c2.requires_grad]

    x = torch.tensor(gen.random(5, dtype=np.float32), requires_grad=True)
    y = x.detach()
    out["detach"] = [y.requires_grad, y.tolist() == x.tolist()]

    device = torch.device('cpu')
    run_on_gpu = False
    if torch.cuda.is_available():
        device = torch.device('cuda')
        run_on_gpu = True

    x = torch.tensor(gen.standard_normal((2, 3), dtype=np.float32) + 2, requires_grad=True)
    y = torch.tensor(gen.random((2, 3), dtype=np.float32) + 0.5, requires_grad=True)
    z = torch.ones(2, 3, requires_grad=True)

    with torch.autograd.profiler.profile(use_cuda=run_on_gpu) as prf:
        for _ in range(100):
            z = (z / x) * y

    print(prf.key_averages().table(sort_by='self_cpu_time_total'))
    out["profiled"] = z.tolist()

    x = torch.tensor(gen.standard_normal(3, dtype=np.float32), requires_grad=True)

    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2

    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float) # stand-in for gradients
    y.backward(v)
    out["vector_backward"] = x.grad.tolist()

    def exp_adder(x, y):
        return 2 * x.exp() + 3 * y

    inputs = (torch.tensor(gen.random(1, dtype=np.float32)), torch.tensor(gen.random(1, dtype=np.float32)))
    out["jacobian1"] = [t.tolist() for t in torch.autograd.functional.jacobian(exp_adder, inputs)]

    inputs = (torch.tensor(gen.random(3, dtype=np.float32)), torch.tensor(gen.random(3, dtype=np.float32)))
    out["jacobian3"] = [t.tolist() for t in torch.autograd.functional.jacobian(exp_adder, inputs)]

    def do_some_doubling(x):
        y = x * 2
        while y.data.norm() < 1000:
            y = y * 2
        return y

    inputs = torch.tensor(gen.standard_normal(3, dtype=np.float32))
    my_gradients = torch.tensor([0.1, 1.0, 0.0001])
    output, vjp = torch.autograd.functional.vjp(do_some_doubling, inputs, v=my_gradients)
    out["vjp"] = [output.tolist(), vjp.tolist()]
    return out
