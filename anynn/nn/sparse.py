"""``Embedding``: a lookup table of learned vectors indexed by integer ids (words, tokens, categories)."""
from __future__ import annotations

import numbers

from anynn import dtypes as D
from anynn.autograd.factories import zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops.embedding import _normalize_padding_idx, embedding


class Embedding(Module):
    """``weight[input]`` with ``weight`` of shape (num_embeddings, embedding_dim), initialised N(0, 1).

    The row at ``padding_idx`` starts at zero and receives no gradient. Indices outside ``[0, num_embeddings)``
    raise an IndexError naming the layer (on a GPU at the next synchronisation point, see anynn.ops.embedding).
    ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are not supported.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, *,
                 dtype: D.DType | str | None = None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are not supported by "
                                      "anynn; leave them at their defaults")
        for arg, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Embedding: {arg} must be a non-negative int (the number of rows / the width of "
                                 f"each vector), got {value!r}")
        num_embeddings, embedding_dim = int(num_embeddings), int(embedding_dim)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _normalize_padding_idx(padding_idx, num_embeddings, "Embedding")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if _weight.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {_weight.shape}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight.detach(), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._zero_padding_row()

    def _zero_padding_row(self) -> None:
        if self.padding_idx is None:
            return
        w = self.weight
        xp = w.xp
        rows = xp.arange(self.num_embeddings, device=w.backend.device)
        w.array = xp.where(xp.reshape(rows == self.padding_idx, (-1, 1)), 0.0, w.array)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None) -> "Embedding":
        """An Embedding holding ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {embeddings.shape}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, _who=repr(self))

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


__all__ = ["Embedding"]
