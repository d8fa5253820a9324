"""Products: the affine map ``y = x @ W.T + b`` (``F.linear``) as one ArrayFunction with a hand-written backward;
``mm``/``bmm``/``dot``/``matmul`` (shape-checked ``@``), ``einsum`` (pairwise contractions by ``matmul``) and
``cdist`` (pairwise distances)."""
from __future__ import annotations

import math
import string

from anynn import amp
from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._args import expect_tensor
from anynn.ops.arithmetic import MatMul
from anynn.ops.reduction import Sum, norm


class Linear(ArrayFunction):
    """``x @ W.T + b`` for ``x`` of shape (..., in); the backward flattens the leading axes into one GEMM."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        xp = ctx.xp
        ctx.save(x, weight)
        out = xp.matmul(x, xp.matrix_transpose(weight))
        return out if bias is None else out + bias

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, weight = ctx.saved
        out_features, in_features = weight.shape
        g2 = xp.reshape(grad, (-1, out_features))
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = xp.reshape(xp.matmul(g2, weight), tuple(x.shape))
        if ctx.needs_input_grad[1]:
            gw = xp.matmul(xp.matrix_transpose(g2), xp.reshape(x, (-1, in_features)))
        if ctx.needs_input_grad[2]:
            gb = xp.sum(g2, axis=0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` for any number of leading dimensions (PyTorch's ``F.linear``)."""
    if amp.active:
        input, weight, bias = amp.cast_inputs("linear", input, weight, bias)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not fit weight of shape {weight.shape}: "
                         f"expected (..., {weight.shape[1]})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if input.dtype is not weight.dtype or (bias is not None and bias.dtype is not weight.dtype):
        raise TypeError(f"linear: input ({input.dtype}), weight ({weight.dtype})"
                        + ("" if bias is None else f" and bias ({bias.dtype})")
                        + f" must share one floating-point dtype; convert the input with x.to({weight.dtype})")
    return Linear.apply(input, weight, bias)


def _same_dtype(who: str, a: Tensor, b: Tensor) -> None:
    if a.dtype is not b.dtype:
        raise TypeError(f"{who}: both operands must have one dtype, got {a.dtype} and {b.dtype}; convert one with "
                        f".to({a.dtype})")


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with NumPy's rules for 1-D operands and broadcast batch dimensions (``torch.matmul``)."""
    expect_tensor("matmul", a)
    expect_tensor("matmul", b, "other")
    if amp.active:
        a, b = amp.cast_inputs("matmul", a, b)
    _same_dtype("matmul", a, b)
    return MatMul.apply(a, b)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product of two 2-D tensors (``torch.mm``; no broadcasting)."""
    expect_tensor("mm", a)
    expect_tensor("mm", b, "mat2")
    if amp.active:
        a, b = amp.cast_inputs("matmul", a, b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"mm: expected 2-D (n, m) and (m, p) tensors, got shapes {a.shape} and {b.shape}")
    _same_dtype("mm", a, b)
    return MatMul.apply(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix products of two batches of matrices (``torch.bmm``): (B, n, m) @ (B, m, p) -> (B, n, p)."""
    expect_tensor("bmm", a)
    expect_tensor("bmm", b, "mat2")
    if amp.active:
        a, b = amp.cast_inputs("matmul", a, b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm: expected 3-D (B, n, m) and (B, m, p) tensors, got shapes {a.shape} and {b.shape}")
    _same_dtype("bmm", a, b)
    return MatMul.apply(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """The inner product of two 1-D tensors of one length (``torch.dot``), a 0-d tensor."""
    expect_tensor("dot", a)
    expect_tensor("dot", b, "tensor")
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: expected two 1-D tensors of one length, got shapes {a.shape} and {b.shape}")
    _same_dtype("dot", a, b)
    return MatMul.apply(a, b)


def _parse_einsum(equation: str, tensors: tuple[Tensor, ...]) -> tuple[list[str], str]:
    """Each operand's subscripts and the output's, with ``...`` spelled out as unused capital letters (right
    aligned, as broadcasting aligns them) and the implicit output (no ``->``: the letters used once, in
    alphabetical order, after the ``...`` dimensions) made explicit."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(tensors):
        raise ValueError(f"einsum: the equation {equation!r} has {len(terms)} operand(s), {len(tensors)} tensor(s) "
                         "were given")
    extra = []
    for i, (term, t) in enumerate(zip(terms, tensors)):
        named = term.replace("...", "", 1)
        if not all(c in string.ascii_letters for c in named):
            raise ValueError(f"einsum: subscripts must be letters (and one '...'), got {term!r}")
        if len(set(named)) != len(named):
            raise ValueError(f"einsum: repeated subscripts within one operand ({term!r}: diagonals) are not supported")
        if t.ndim < len(named) or ("..." not in term and t.ndim != len(named)):
            raise ValueError(f"einsum: operand {i} has {t.ndim} dimensions but {term!r} names {len(named)}")
        extra.append(t.ndim - len(named))
    spare = "".join(c for c in string.ascii_uppercase if c not in equation)[:max(extra, default=0)][::-1]
    terms = [term.replace("...", spare[:n][::-1]) for term, n in zip(terms, extra)]
    ellipsis = spare[::-1]
    if arrow:
        if "..." not in output and ellipsis and any(c in output for c in ellipsis):
            raise ValueError(f"einsum: the output {output!r} uses letters reserved for '...'")
        output = output.replace("...", ellipsis)
    else:
        letters = "".join(terms)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    if any(c not in "".join(terms) for c in output) or len(set(output)) != len(output):
        raise ValueError(f"einsum: the output {output!r} must name input subscripts, each at most once")
    return terms, output


def _sum_out(t: Tensor, term: str, keep: str) -> tuple[Tensor, str]:
    """``t`` summed over the subscripts of ``term`` that are not in ``keep``."""
    gone = tuple(i for i, c in enumerate(term) if c not in keep)
    if not gone:
        return t, term
    return Sum.apply(t, axis=gone, keepdims=False), "".join(c for c in term if c in keep)


def _contract(a: Tensor, ta: str, b: Tensor, tb: str, keep: str) -> tuple[Tensor, str]:
    """The product of two operands summed over their shared subscripts that ``keep`` lacks, as one batched
    ``matmul``: a as (batch, free a, shared), b as (batch, shared, free b)."""
    a, ta = _sum_out(a, ta, keep + tb)
    b, tb = _sum_out(b, tb, keep + ta)
    batch = "".join(c for c in ta if c in tb and c in keep)
    shared = "".join(c for c in ta if c in tb and c not in keep)
    free_a = "".join(c for c in ta if c not in tb)
    free_b = "".join(c for c in tb if c not in ta)
    size = dict(zip(ta, a.shape)) | dict(zip(tb, b.shape))
    dims = [size[c] for c in batch]
    a = a.permute([ta.index(c) for c in batch + free_a + shared]).reshape(
        dims + [math.prod(size[c] for c in free_a), math.prod(size[c] for c in shared)])
    b = b.permute([tb.index(c) for c in batch + shared + free_b]).reshape(
        dims + [math.prod(size[c] for c in shared), math.prod(size[c] for c in free_b)])
    out = MatMul.apply(a, b).reshape(dims + [size[c] for c in free_a + free_b])
    return out, batch + free_a + free_b


def einsum(equation: str, *operands: Tensor) -> Tensor:
    """Einstein summation (``torch.einsum``), e.g. ``einsum("bij,bjk->bik", a, b)``: operands are contracted
    left to right, two at a time, each pair as one batched ``matmul``; size-1 dimensions broadcast. Letters,
    ``...`` and the implicit output are supported; a letter repeated within one operand (a diagonal) is not."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: give at least one operand")
    for t in operands:
        expect_tensor("einsum", t, "operand")
    if amp.active:
        operands = amp.cast_inputs("matmul", *operands)
    terms, output = _parse_einsum(equation, operands)
    size: dict[str, int] = {}
    for term, t in zip(terms, operands):
        for c, n in zip(term, t.shape):
            if size.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum: subscript {c!r} has size {size[c]} in one operand and {n} in another")
            size[c] = max(size.get(c, 1), n)
    ops = [t if tuple(size[c] for c in term) == t.shape else t.expand(*(size[c] for c in term))
           for term, t in zip(terms, operands)]
    out, term = ops[0], terms[0]
    for i in range(1, len(ops)):
        later = "".join(terms[i + 1:]) + output
        out, term = _contract(out, term, ops[i], terms[i], later)
    out, term = _sum_out(out, term, output)
    return out.permute([term.index(c) for c in output]) if len(output) > 1 else out


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2`` (..., R, M), shape
    (..., P, R) (``torch.cdist``; the gradient is 0 where two rows coincide, as in PyTorch)."""
    expect_tensor("cdist", x1, "x1")
    expect_tensor("cdist", x2, "x2")
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with one M, got shapes {x1.shape} and "
                         f"{x2.shape}")
    _same_dtype("cdist", x1, x2)
    return norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, axis=-1)


# nn.functional re-exports this list; mm, bmm, dot, matmul, einsum and cdist are torch.* functions (anynn.functions)
__all__ = ["linear"]
