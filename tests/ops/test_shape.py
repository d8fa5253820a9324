"""reshape, permute, broadcast, indexing (basic and integer rows), concat/stack, moves between backends:
PyTorch as the oracle (float64, forward and every input gradient), gradcheck on every backend, float32 kept,
the same answers on every backend."""
from __future__ import annotations


import numpy as np
import pytest

import anynn
from anynn.ops._checks import raise_deferred_errors
from helpers import backends_that_run, op_case_suite, assert_close, leaf, torch_leaf, torch_or_skip

rng = np.random.default_rng(3)
X = rng.standard_normal((2, 3, 4))
M = rng.standard_normal((4, 3))
ROWS = np.array([[3, 0], [3, -1], [1, 3]])


def _torch():
    return torch_or_skip()


def _rows(x, rows):
    return x[_torch().tensor(rows % 4)]


# name: (anynn function, torch function, input arrays); every input is differentiated
CASES = {
    "reshape": (lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6), [X]),
    "reshape_infer": (lambda x: anynn.reshape(x, (-1, 2)), lambda x: x.reshape(-1, 2), [X]),
    "view": (lambda x: x.view(6, 4), lambda x: x.view(6, 4), [X]),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), [X]),
    "permute_function": (lambda x: anynn.permute(x, (1, 2, 0)), lambda x: x.permute(1, 2, 0), [X]),
    "transpose": (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2), [X]),
    "transpose_function": (lambda x: anynn.transpose(x, 0, 1), lambda x: x.transpose(0, 1), [X]),
    "T": (lambda x: x.T, lambda x: x.T, [M]),
    "flatten": (lambda x: x.flatten(1), lambda x: x.flatten(1), [X]),
    "flatten_middle": (lambda x: x.flatten(0, 1), lambda x: x.flatten(0, 1), [X]),
    "unsqueeze_squeeze": (lambda x: x.unsqueeze(1).squeeze(), lambda x: x.unsqueeze(1).squeeze(), [M]),
    "squeeze_dim": (lambda x: x[:, :1].squeeze(1), lambda x: x[:, :1].squeeze(1), [M]),
    "expand": (lambda x: x[:, :1].expand(4, 5), lambda x: x[:, :1].expand(4, 5), [M]),
    "expand_new_axes": (lambda x: x.expand(2, 4, 3), lambda x: x.expand(2, 4, 3), [M]),
    "getitem_int": (lambda x: x[1], lambda x: x[1], [X]),
    "getitem_negative": (lambda x: x[-1, :, -2], lambda x: x[-1, :, -2], [X]),
    "getitem_slices": (lambda x: x[:, 1:, ::2], lambda x: x[:, 1:, ::2], [X]),
    "getitem_ellipsis_none": (lambda x: x[..., None, 1:3], lambda x: x[..., None, 1:3], [X]),
    "getitem_rows_repeated": (lambda x: x[anynn.tensor(ROWS)], lambda x: _rows(x, ROWS), [M]),
    "getitem_list": (lambda x: x[[2, 2, 0, -1]], lambda x: x[[2, 2, 0, 3]], [M]),
    "getitem_0d_index": (lambda x: x[anynn.tensor(2)], lambda x: x[2], [M]),
    "concat": (lambda a, b: anynn.concat([a, b]), lambda a, b: _torch().cat([a, b]), [M, M[:2]]),
    "concat_last_axis": (lambda a, b: anynn.cat([a, b, a], axis=-1), lambda a, b: _torch().cat([a, b, a], -1),
                         [M, M[:, :1]]),
    "stack": (lambda a, b: anynn.stack([a, b]), lambda a, b: _torch().stack([a, b]), [M, M * 2]),
    "stack_last_axis": (lambda a, b: anynn.stack([a, b], axis=-1), lambda a, b: _torch().stack([a, b], -1),
                        [M, M * 2]),
}


def _cat_pieces(pieces):
    return anynn.cat(list(pieces), dim=-1) if isinstance(pieces[0], anynn.Tensor) else _torch().cat(list(pieces), -1)


def _scaled(pieces):
    """Each piece times its position, so every piece's gradient differs."""
    return [p * float(i + 1) for i, p in enumerate(pieces)]


MORE = {
    "view_as_expand_as": (lambda x, y: x.view_as(y) + y[:1].expand_as(y),
                          lambda x, y: x.view_as(y) + y[:1].expand_as(y), [X, X.reshape(4, 6)]),
    "reshape_tuple_view_size": (lambda x: x.view((4, -1)) * x.reshape(x.size(0) * 2, 6).view(4, 6),
                                lambda x: x.view((4, -1)) * x.reshape(x.size(0) * 2, 6).view(4, 6), [X]),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3), [X]),
    "repeat_new_axes": (lambda x: x.repeat(2, 1, 2), lambda x: x.repeat(2, 1, 2), [M]),
    "tile_short_dims": (lambda x: anynn.tile(x, (2,)), lambda x: _torch().tile(x, (2,)), [X]),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, dim=1), lambda x: x.repeat_interleave(2, dim=1), [X]),
    "repeat_interleave_flat": (lambda x: anynn.repeat_interleave(x, 3), lambda x: _torch().repeat_interleave(x, 3),
                               [M]),
    "flip": (lambda x: x.flip(0, 2), lambda x: x.flip(0, 2), [X]),
    "flip_function": (lambda x: anynn.flip(x, [-1]), lambda x: _torch().flip(x, [-1]), [X]),
    "roll": (lambda x: x.roll(1, 1), lambda x: x.roll(1, 1), [X]),
    "roll_several": (lambda x: anynn.roll(x, (2, -1), (2, 0)), lambda x: _torch().roll(x, (2, -1), (2, 0)), [X]),
    "roll_flat": (lambda x: x.roll(5), lambda x: x.roll(5), [X]),
    "chunk": (lambda x: _cat_pieces(_scaled(x.chunk(3, dim=-1))), lambda x: _cat_pieces(_scaled(x.chunk(3, dim=-1))),
              [X]),
    "chunk_function_uneven": (lambda x: anynn.cat(_scaled(anynn.chunk(x, 3, 1)), 1),
                              lambda x: _torch().cat(_scaled(_torch().chunk(x, 3, 1)), 1), [M[:, :2].T.copy()]),
    "split_size": (lambda x: _cat_pieces(_scaled(x.split(3, -1))), lambda x: _cat_pieces(_scaled(x.split(3, -1))), [X]),
    "split_sections": (lambda x: anynn.cat(_scaled(anynn.split(x, [1, 2], dim=1)), dim=1),
                       lambda x: _torch().cat(_scaled(_torch().split(x, [1, 2], dim=1)), dim=1), [X]),
    "unbind_stack": (lambda x: anynn.stack(_scaled(x.unbind(1)), dim=0),
                     lambda x: _torch().stack(_scaled(x.unbind(1)), dim=0), [X]),
    "narrow_select": (lambda x: x.narrow(2, 1, 2).select(0, -1), lambda x: x.narrow(2, 1, 2).select(0, -1), [X]),
    "movedim": (lambda x: x.movedim(0, -1), lambda x: x.movedim(0, -1), [X]),
    "movedim_several": (lambda x: anynn.movedim(x, (0, 1), (2, 0)), lambda x: _torch().movedim(x, (0, 1), (2, 0)),
                        [X]),
    "squeeze_dims": (lambda x: x[:, None, :1, None].squeeze((1, 3)), lambda x: x[:, None, :1, None].squeeze((1, 3)),
                     [M]),
    "squeeze_function": (lambda x: anynn.squeeze(x[None], 0), lambda x: _torch().squeeze(x[None], 0), [M]),
    "unsqueeze_function_negative": (lambda x: anynn.unsqueeze(x, -1), lambda x: _torch().unsqueeze(x, -1), [M]),
    "swapaxes_mT": (lambda x: x.swapaxes(0, 1).mT, lambda x: x.swapaxes(0, 1).mT, [X]),
    "cat_dim_keyword": (lambda a, b: anynn.cat((a, b), dim=1), lambda a, b: _torch().cat((a, b), dim=1),
                        [X, X[:, :1].copy()]),
    "stack_dim_keyword": (lambda a, b: anynn.stack([a, b], dim=1), lambda a, b: _torch().stack([a, b], dim=1),
                          [M, M * 2]),
    "clone_contiguous": (lambda x: x.clone().contiguous() * anynn.clone(x),
                         lambda x: x.clone().contiguous() * x.clone(), [M]),
    "broadcast_to": (lambda x: anynn.broadcast_to(x, (2, 4, 3)), lambda x: _torch().broadcast_to(x, (2, 4, 3)), [M]),
    "meshgrid_ij": (lambda a, b: anynn.stack(_scaled(anynn.meshgrid(a, b))),
                    lambda a, b: _torch().stack(_scaled(_torch().meshgrid(a, b, indexing="ij"))),
                    [M[:, 0].copy(), M[0]]),
    "meshgrid_xy": (lambda a, b: anynn.stack(_scaled(anynn.meshgrid(a, b, indexing="xy"))),
                    lambda a, b: _torch().stack(_scaled(_torch().meshgrid(a, b, indexing="xy"))),
                    [M[:, 0].copy(), M[0]]),
    "diff": (lambda x: x.diff(), lambda x: x.diff(), [X]),
    "diff_twice_dim0": (lambda x: anynn.diff(x, 2, dim=1), lambda x: _torch().diff(x, 2, dim=1), [X]),
    "hstack_vstack": (lambda a, b: anynn.vstack([anynn.hstack([a, b]), anynn.hstack([b, a])]),
                      lambda a, b: _torch().vstack([_torch().hstack([a, b]), _torch().hstack([b, a])]), [M, M * 2]),
    "hstack_1d_vstack_rows": (lambda a, b: anynn.vstack([anynn.hstack([a, b]), anynn.hstack([b, a])]),
                              lambda a, b: _torch().vstack([_torch().hstack([a, b]), _torch().hstack([b, a])]),
                              [M[0], M[1]]),
}
CASES.update(MORE)

test_matches_torch, test_gradcheck, test_float32_stays_float32, test_same_results_on_every_backend = \
    op_case_suite(CASES)


def test_repeated_row_gradients_are_exact(backend):
    """Rows picked many times sum their gradients exactly (integers, so any summation order is exact)."""
    x = leaf(np.zeros((5, 2)))
    index = np.array([4, 0, 4, 4, 1, 0, 4, 4])
    upstream = np.arange(16.0).reshape(8, 2)
    (x[anynn.tensor(index)] * anynn.tensor(upstream, dtype=anynn.float64)).sum().backward()
    expected = np.zeros((5, 2))
    np.add.at(expected, index, upstream)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_to_backend_and_back_is_differentiable(backend):
    """Moving across backends inside a graph: gradients flow back through each move (float64, vs torch)."""
    torch_or_skip()
    values = rng.standard_normal((2, 3))
    for target in backends_that_run():
        x = leaf(values)
        y = (x.to(target).tanh() * 2.0).to(backend.name)
        assert y.backend is backend
        (y * y).sum().backward()
        t = torch_leaf(values)
        ((t.tanh() * 2.0) ** 2).sum().backward()
        assert_close(x.grad, t.grad.numpy())


def test_index_errors(backend):
    x = anynn.tensor(M)
    with pytest.raises(IndexError, match="does not match"):
        x[anynn.tensor([True, False, True])]
    with pytest.raises(TypeError, match=r"anynn\.tensor"):
        x[np.array([0, 1])]
    with pytest.raises(IndexError, match="out of bounds"):
        x[0, [1, 3]]
        raise_deferred_errors()  # where value checks wait for a synchronisation point (GPUs)
    with pytest.raises(IndexError, match="out of bounds"):
        x[[4]]
        raise_deferred_errors()
    with pytest.raises(IndexError, match="too many indices"):
        x[[0], 0, 0]


def test_chunk_split_sizes_like_torch(backend):
    torch = torch_or_skip()
    for n, chunks in ((7, 3), (6, 4), (5, 5), (2, 4)):
        ours = [p.shape for p in anynn.arange(n).chunk(chunks)]
        assert ours == [tuple(p.shape) for p in torch.arange(n).chunk(chunks)]
        ours = [p.shape for p in anynn.arange(n).split(chunks)]
        assert ours == [tuple(p.shape) for p in torch.arange(n).split(chunks)]


def test_shape_queries(backend):
    x = anynn.tensor(X)
    assert x.size() == (2, 3, 4) and x.size(-1) == 4 and x.dim() == 3 and x.numel() == 24 == anynn.numel(x)
    assert x.shape == (2, 3, 4) and x.contiguous() is x and x.is_contiguous()
    assert anynn.nonzero(anynn.tensor([[0, 1], [2, 0]])).tolist() == [[0, 1], [1, 0]]
    assert [t.tolist() for t in anynn.tensor([0, 3, 0, 4]).nonzero(as_tuple=True)] == [[1, 3]]
