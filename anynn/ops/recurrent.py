"""Recurrent layers (Elman RNN, LSTM, GRU): fused gate steps and backpropagation through time.

Each cell type is a pair of step functions on arrays: ``step`` maps the input projection ``gx = x @ W_ih.T +
b_ih`` of one time step and the previous state to the next state, computing all gates of that step with one
matmul ``h @ W_hh.T``; ``step_backward`` maps the gradient of the new state back to the gate
pre-activations. PyTorch's gate order and formulas::

    LSTM  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (gx + h @ W_hh.T + b_hh)
          c' = f * c + i * g        h' = o * tanh(c')
    GRU   r, z = sigmoid of (gx + h @ W_hh.T + b_hh) for the first two thirds
          n = tanh(gx_n + r * (h @ W_hn.T + b_hn))        h' = (1 - z) * n + z * h
    RNN   h' = tanh or relu of (gx + h @ W_hh.T + b_hh)

``Recurrence`` runs one layer in one direction over a whole sequence as a single ArrayFunction: the forward loops
over time steps, the backward loops back through them (BPTT) and then forms the input and weight gradients
with one GEMM each over all steps. A cell (``lstm_cell``, ...) is the same ArrayFunction on a sequence of length
one. Keeping the loop inside one ArrayFunction avoids slicing the sequence into per-step tensors, whose gradients
the tape would scatter into full-size zero arrays at every step (quadratic in the sequence length).
"""
from __future__ import annotations

from typing import Any, Sequence

from anynn.autograd.function import ArrayFunction
from anynn.autograd.tensor import Tensor
from anynn.ops._util import stable_sigmoid
from anynn.ops.dropout import dropout as _dropout
from anynn.ops.shape import concat

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _hidden_gates(xp: Any, h: Any, w_hh: Any, b_hh: Any) -> Any:
    """``h @ W_hh.T + b_hh``: every gate's recurrent term in one matmul."""
    gh = xp.matmul(h, xp.matrix_transpose(w_hh))
    return gh if b_hh is None else gh + b_hh


# ------------------------------------------------------------------ step functions (one time step of a cell)
def _lstm_step(xp, gx, h, c, w_hh, b_hh):
    hs = h.shape[-1]
    gates = gx + _hidden_gates(xp, h, w_hh, b_hh)
    s = stable_sigmoid(xp, gates)
    i, f, o = s[:, :hs], s[:, hs:2 * hs], s[:, 3 * hs:]
    g = xp.tanh(gates[:, 2 * hs:3 * hs])
    c_new = f * c + i * g
    tc = xp.tanh(c_new)
    return o * tc, c_new, (i, f, g, o, c, tc)


def _lstm_step_backward(xp, dh, dc, cache):
    i, f, g, o, c, tc = cache
    dc = dc + dh * o * (1.0 - tc * tc)
    dgates = xp.concat([dc * g * i * (1.0 - i),           # input gate
                        dc * c * f * (1.0 - f),           # forget gate
                        dc * i * (1.0 - g * g),           # cell candidate
                        dh * tc * o * (1.0 - o)], axis=-1)  # output gate
    return dgates, dgates, None, dc * f


def _gru_step(xp, gx, h, c, w_hh, b_hh):
    hs = h.shape[-1]
    gh = _hidden_gates(xp, h, w_hh, b_hh)
    rz = stable_sigmoid(xp, gx[:, :2 * hs] + gh[:, :2 * hs])
    r, z = rz[:, :hs], rz[:, hs:]
    ghn = gh[:, 2 * hs:]
    n = xp.tanh(gx[:, 2 * hs:] + r * ghn)
    return n + z * (h - n), None, (r, z, n, ghn, h)


def _gru_step_backward(xp, dh, dc, cache):
    r, z, n, ghn, h = cache
    dn = dh * (1.0 - z) * (1.0 - n * n)
    dr = dn * ghn * r * (1.0 - r)
    dz = dh * (h - n) * z * (1.0 - z)
    dgx = xp.concat([dr, dz, dn], axis=-1)
    dgh = xp.concat([dr, dz, dn * r], axis=-1)
    return dgx, dgh, dh * z, None


def _rnn_tanh_step(xp, gx, h, c, w_hh, b_hh):
    out = xp.tanh(gx + _hidden_gates(xp, h, w_hh, b_hh))
    return out, None, out


def _rnn_tanh_step_backward(xp, dh, dc, out):
    da = dh * (1.0 - out * out)
    return da, da, None, None


def _rnn_relu_step(xp, gx, h, c, w_hh, b_hh):
    out = xp.maximum(gx + _hidden_gates(xp, h, w_hh, b_hh), 0.0)
    return out, None, out


def _rnn_relu_step_backward(xp, dh, dc, out):
    da = xp.where(out > 0, dh, 0.0)
    return da, da, None, None


_CELL_STEPS = {"LSTM": (_lstm_step, _lstm_step_backward), "GRU": (_gru_step, _gru_step_backward),
            "RNN_TANH": (_rnn_tanh_step, _rnn_tanh_step_backward),
            "RNN_RELU": (_rnn_relu_step, _rnn_relu_step_backward)}


def _needs_grad(ctx, i: int) -> bool:
    arg = ctx.inputs[i]
    return isinstance(arg, Tensor) and arg.requires_grad


def _merge_steps(xp, a):
    """(T, B, F) as (T*B, F): all time steps in one GEMM."""
    return xp.reshape(a, (a.shape[0] * a.shape[1], a.shape[2]))


class Recurrence(ArrayFunction):
    """One layer, one direction, a whole (T, B, I) sequence; returns the hidden states (T, B, H), and for an LSTM
    the final cell state appended as one more row: (T + 1, B, H). ``h0``/``c0`` may be None (zeros)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse=False):
        xp = ctx.xp
        step = _CELL_STEPS[mode][0]
        steps, batch = x.shape[0], x.shape[1]
        zeros = xp.zeros((batch, w_hh.shape[1]), dtype=x.dtype, device=ctx.backend.device)
        h = zeros if h0 is None else h0
        c = (zeros if c0 is None else c0) if mode == "LSTM" else None
        gx = xp.reshape(xp.matmul(_merge_steps(xp, x), xp.matrix_transpose(w_ih)), (steps, batch, w_ih.shape[0]))
        if b_ih is not None:
            gx = gx + b_ih
        outs, previous, caches = [None] * steps, [None] * steps, [None] * steps
        for t in (reversed(range(steps)) if reverse else range(steps)):
            previous[t] = h
            h, c, caches[t] = step(xp, gx[t, ...], h, c, w_hh, b_hh)
            outs[t] = h
        ctx.save(x, w_ih, w_hh, previous, caches)
        ctx.mode, ctx.reverse = mode, reverse
        y = xp.stack(outs, axis=0)
        return y if c is None else xp.concat([y, xp.expand_dims(c, axis=0)], axis=0)

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        x, w_ih, w_hh, previous, caches = ctx.saved
        step_backward = _CELL_STEPS[ctx.mode][1]
        steps = x.shape[0]
        dc = grad[steps, ...] if ctx.mode == "LSTM" else None
        dh = None
        dgx, dgh = [None] * steps, [None] * steps
        for t in (range(steps) if ctx.reverse else reversed(range(steps))):
            g = grad[t, ...] if dh is None else grad[t, ...] + dh
            dgx[t], dgh[t], direct, dc = step_backward(xp, g, dc, caches[t])
            dh = xp.matmul(dgh[t], w_hh)
            if direct is not None:
                dh = dh + direct
        dgx_all = _merge_steps(xp, xp.stack(dgx, axis=0))
        dgh_all = dgx_all if ctx.mode != "GRU" else _merge_steps(xp, xp.stack(dgh, axis=0))
        dx = dw_ih = dw_hh = db_ih = db_hh = None
        if _needs_grad(ctx, 0):
            dx = xp.reshape(xp.matmul(dgx_all, w_ih), tuple(x.shape))
        if _needs_grad(ctx, 3):
            dw_ih = xp.matmul(xp.matrix_transpose(dgx_all), _merge_steps(xp, x))
        if _needs_grad(ctx, 4):
            dw_hh = xp.matmul(xp.matrix_transpose(dgh_all), _merge_steps(xp, xp.stack(previous, axis=0)))
        if _needs_grad(ctx, 5):
            db_ih = xp.sum(dgx_all, axis=0)
        if _needs_grad(ctx, 6):
            db_hh = xp.sum(dgh_all, axis=0)
        return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


# ------------------------------------------------------------------ cells
def _cell(mode: str, input: Tensor, h: Tensor | None, c: Tensor | None, w_ih: Tensor, w_hh: Tensor,
          b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor | tuple[Tensor, Tensor]:
    """One time step of a (batch, input_size) input: ``Recurrence`` on a length-one sequence."""
    if input.ndim != 2:
        raise ValueError(f"{mode.lower()}_cell: expected a 2-D (batch, input_size) input, got shape {input.shape}")
    out = Recurrence.apply(input.reshape(1, *input.shape), h, c, w_ih, w_hh, b_ih, b_hh, mode=mode)
    if mode == "LSTM":
        return out[0, ...], out[1, ...]
    return out.reshape(out.shape[1:])


def lstm_cell(input: Tensor, hx: tuple[Tensor, Tensor] | None, w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (``torch.lstm_cell``): returns ``(h', c')``; ``hx=None`` starts from zeros."""
    h, c = (None, None) if hx is None else hx
    return _cell("LSTM", input, h, c, w_ih, w_hh, b_ih, b_hh)


def gru_cell(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step (``torch.gru_cell``): returns ``h'``."""
    return _cell("GRU", input, hx, None, w_ih, w_hh, b_ih, b_hh)


def rnn_tanh_cell(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                  b_hh: Tensor | None = None) -> Tensor:
    """One Elman RNN step with tanh (``torch.rnn_tanh_cell``)."""
    return _cell("RNN_TANH", input, hx, None, w_ih, w_hh, b_ih, b_hh)


def rnn_relu_cell(input: Tensor, hx: Tensor | None, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
                  b_hh: Tensor | None = None) -> Tensor:
    """One Elman RNN step with relu (``torch.rnn_relu_cell``)."""
    return _cell("RNN_RELU", input, hx, None, w_ih, w_hh, b_ih, b_hh)


# ------------------------------------------------------------------ stacked, bidirectional sequences
def recurrent(mode: str, input: Tensor, h0: Tensor | None, c0: Tensor | None, params: Sequence[Tensor],
              has_biases: bool = True, num_layers: int = 1, dropout: float = 0.0, train: bool = False,
              bidirectional: bool = False, batch_first: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    """A stacked (optionally bidirectional) recurrent network over a 3-D input; returns ``(output, h_n, c_n)``.

    ``params`` is PyTorch's flat list: for each layer, for each direction, ``w_ih, w_hh[, b_ih, b_hh]``.
    ``h0``/``c0`` have shape (num_layers * num_directions, batch, hidden_size) or are None (zeros);
    ``c_n`` is None unless ``mode`` is "LSTM". Dropout with probability ``dropout`` is applied to every
    layer's output but the last, only when ``train``.
    """
    if mode not in MODES:
        raise ValueError(f"recurrent: unknown mode {mode!r}; expected one of {MODES}")
    if input.ndim != 3:
        raise ValueError(f"recurrent: expected a 3-D input, got shape {input.shape}")
    directions = 2 if bidirectional else 1
    per_layer = 4 if has_biases else 2
    if len(params) != num_layers * directions * per_layer:
        raise ValueError(f"recurrent: expected {num_layers * directions * per_layer} parameters for {num_layers} "
                         f"layer(s), {directions} direction(s), has_biases={has_biases}; got {len(params)}")
    x = input.permute(1, 0, 2) if batch_first else input
    steps = x.shape[0]
    expected = (num_layers * directions, x.shape[1], params[1].shape[1])
    for name, state in (("h0", h0), ("c0", c0)):
        if state is not None and state.shape != expected:
            raise ValueError(f"{mode.lower()}: {name} has shape {state.shape}; expected {expected} "
                             "(num_layers * num_directions, batch, hidden_size)")
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for direction in range(directions):
            k = layer * directions + direction
            w = list(params[k * per_layer:(k + 1) * per_layer]) + [None, None]
            h, c = (None if s is None else s[k, ...] for s in (h0, c0))
            out = Recurrence.apply(x, h, c, *w[:4], mode=mode, reverse=direction == 1)
            h_n.append(out[0, ...] if direction == 1 else out[steps - 1, ...])
            if mode == "LSTM":
                c_n.append(out[steps, ...])
                out = out[:steps, ...]
            outs.append(out)
        x = outs[0] if directions == 1 else concat(outs, axis=-1)
        if layer < num_layers - 1:
            x = _dropout(x, dropout, train)
    output = x.permute(1, 0, 2) if batch_first else x
    return output, _stack_states(h_n), _stack_states(c_n) if c_n else None


def _stack_states(states: list[Tensor]) -> Tensor:
    """(batch, hidden) states stacked into (len(states), batch, hidden).

    Joined on the last axis, whose backward slices with a full index (``Stack``'s backward indexes with a
    partial one, which array_api_strict rejects)."""
    joined = concat([s.reshape(*s.shape, 1) for s in states], axis=-1)
    return joined.permute(2, 0, 1)


def lstm(input: Tensor, hx: tuple[Tensor, Tensor] | None, params: Sequence[Tensor], has_biases: bool = True,
         num_layers: int = 1, dropout: float = 0.0, train: bool = False, bidirectional: bool = False,
         batch_first: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """A stacked LSTM over a sequence (``torch.lstm``): returns ``(output, h_n, c_n)``; ``hx`` is ``(h0, c0)``."""
    h0, c0 = (None, None) if hx is None else hx
    return recurrent("LSTM", input, h0, c0, params, has_biases, num_layers, dropout, train, bidirectional,
                     batch_first)


def gru(input: Tensor, hx: Tensor | None, params: Sequence[Tensor], has_biases: bool = True, num_layers: int = 1,
        dropout: float = 0.0, train: bool = False, bidirectional: bool = False,
        batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """A stacked GRU over a sequence (``torch.gru``): returns ``(output, h_n)``."""
    output, h_n, _ = recurrent("GRU", input, hx, None, params, has_biases, num_layers, dropout, train,
                               bidirectional, batch_first)
    return output, h_n


def rnn_tanh(input: Tensor, hx: Tensor | None, params: Sequence[Tensor], has_biases: bool = True,
             num_layers: int = 1, dropout: float = 0.0, train: bool = False, bidirectional: bool = False,
             batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """A stacked Elman RNN with tanh (``torch.rnn_tanh``): returns ``(output, h_n)``."""
    output, h_n, _ = recurrent("RNN_TANH", input, hx, None, params, has_biases, num_layers, dropout, train,
                               bidirectional, batch_first)
    return output, h_n


def rnn_relu(input: Tensor, hx: Tensor | None, params: Sequence[Tensor], has_biases: bool = True,
             num_layers: int = 1, dropout: float = 0.0, train: bool = False, bidirectional: bool = False,
             batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """A stacked Elman RNN with relu (``torch.rnn_relu``): returns ``(output, h_n)``."""
    output, h_n, _ = recurrent("RNN_RELU", input, hx, None, params, has_biases, num_layers, dropout, train,
                               bidirectional, batch_first)
    return output, h_n


__all__ = ["gru", "gru_cell", "lstm", "lstm_cell", "recurrent", "rnn_relu", "rnn_relu_cell", "rnn_tanh",
           "rnn_tanh_cell"]
