"""The README's backend example runs, and learns, on every backend."""
from __future__ import annotations

import os
import re

import anynn

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _readme() -> str:
    with open(README, encoding="utf-8") as handle:
        return handle.read()


def _backend_example() -> str:
    text = _readme()
    section = text.split("## Choosing a backend", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_backend_example_is_short_and_trains(backend, capsys):
    code = _backend_example()
    assert len(code.strip().splitlines()) <= 13
    exec(code.replace('anynn.set_backend("numpy")', f'anynn.set_backend("{backend.name}")'), {})
    loss = float(capsys.readouterr().out.split()[0])
    assert loss < 0.9, "100 steps on 64 points must bring the loss well below log(3) = 1.10"
    assert anynn.get_backend() is backend


def _mul_example() -> str:
    text = _readme()
    section = text.split("## How it is built", 1)[1]
    return re.search(r"```python\n(class Mul.*?)```", section, re.S).group(1)


def test_the_mul_example_is_the_real_code_and_broadcasts(backend):
    """The README shows ops/arithmetic.py's Mul as it is, and it runs: (6, 3) * (3,) with both gradients."""
    import inspect

    import numpy as np

    from anynn.ops import arithmetic

    code = _mul_example()
    assert code.strip() in inspect.getsource(arithmetic)
    namespace = dict(vars(arithmetic))
    exec(code, namespace)
    mul = namespace["Mul"]
    a_host, b_host = np.arange(18.0).reshape(6, 3), np.array([1.0, -2.0, 0.5])
    a = anynn.tensor(a_host, requires_grad=True)
    b = anynn.tensor(b_host, requires_grad=True)
    mul.apply(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b_host, (6, 3)))
    np.testing.assert_allclose(b.grad.numpy(), a_host.sum(axis=0))


def test_the_profiler_example_runs_and_counts():
    """The README's profiler snippet, with a small training step for its ``train_step``."""
    text = _readme()
    section = text.split("In your own code:", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    with anynn.use_backend("numpy"):
        namespace: dict = {"anynn": anynn}

        def train_step(x, y):
            model = namespace["model"]
            loss = anynn.nn.functional.cross_entropy(model(x), y)
            loss.backward()

        exec("import anynn\n"
             "anynn.set_backend('counting', 'cupy')\n"
             "model = anynn.nn.Sequential(anynn.nn.Linear(4, 8), anynn.nn.ReLU(), anynn.nn.Linear(8, 3))\n"
             "x, y = anynn.randn(16, 4), anynn.randint(0, 3, (16,))", namespace)
        namespace["train_step"] = train_step
        exec(code, namespace)
        assert namespace["tally"].launches > 0 and namespace["tally"].syncs == 0
