"""F.normalize, F.cosine_similarity, F.pairwise_distance and their layers: equal to PyTorch (forward, every
gradient, float32 kept, every backend), gradcheck; zero vectors; layer reprs."""
from __future__ import annotations

import numpy as np
import pytest

import anynn.nn.functional as F
from anynn import nn
from helpers import OpCase, assert_close, leaf, op_case_suite, torch_or_skip

_rng = np.random.default_rng(0)
A, B = _rng.standard_normal((4, 5)), _rng.standard_normal((4, 5))
A3, B1 = _rng.standard_normal((2, 3, 4)), _rng.standard_normal((3, 4))

CASES = {
    "normalize": OpCase(F.normalize, "nn.functional.normalize", [A]),
    "normalize p=1 dim=0": OpCase(F.normalize, "nn.functional.normalize", [A], kwargs=dict(p=1.0, dim=0)),
    "normalize p=3 dim=-1 3-D": OpCase(F.normalize, "nn.functional.normalize", [A3], kwargs=dict(p=3.0, dim=-1)),
    "cosine_similarity": OpCase(F.cosine_similarity, "nn.functional.cosine_similarity", [A, B]),
    "cosine_similarity dim=0": OpCase(F.cosine_similarity, "nn.functional.cosine_similarity", [A, B],
                                      kwargs=dict(dim=0)),
    "cosine_similarity broadcast dim=-1": OpCase(F.cosine_similarity, "nn.functional.cosine_similarity", [A3, B1],
                                                 kwargs=dict(dim=-1)),
    "pairwise_distance": OpCase(F.pairwise_distance, "nn.functional.pairwise_distance", [A, B]),
    "pairwise_distance p=1 keepdim": OpCase(F.pairwise_distance, "nn.functional.pairwise_distance", [A, B],
                                            kwargs=dict(p=1.0, keepdim=True)),
    "pairwise_distance p=3 broadcast": OpCase(F.pairwise_distance, "nn.functional.pairwise_distance", [A3, B1],
                                              kwargs=dict(p=3.0)),
}

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_zero_vectors_as_pytorch(backend):
    """A zero row: normalize keeps it zero; cosine similarity is 0 with PyTorch's gradient (the clamp to eps is
    outside autograd)."""
    torch = torch_or_skip()
    a, b = A.copy(), B.copy()
    a[1] = 0.0
    x1, x2 = leaf(a), leaf(b)
    t1, t2 = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    assert_close(F.normalize(x1), torch.nn.functional.normalize(t1).detach().numpy())
    out, tout = F.cosine_similarity(x1, x2), torch.nn.functional.cosine_similarity(t1, t2)
    assert_close(out, tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    assert_close(x2.grad, t2.grad.numpy())
    assert_close(x1.grad, t1.grad.numpy())


@pytest.mark.parametrize("name, kwargs", [("CosineSimilarity", {}), ("CosineSimilarity", dict(dim=0, eps=1e-6)),
                                          ("PairwiseDistance", {}), ("PairwiseDistance", dict(p=1.0, keepdim=True))])
def test_layers_match_torch(backend, name, kwargs):
    torch = torch_or_skip()
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    assert_close(ours(leaf(A), leaf(B)), theirs(torch.tensor(A), torch.tensor(B)).numpy())
