"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` over sequences and their one-step cells, as in PyTorch.

Parameter names, shapes, gate order and initialisation (every weight and bias U(-1/sqrt(hidden_size),
1/sqrt(hidden_size))) match PyTorch, so a PyTorch ``state_dict`` converted to NumPy loads unchanged.
The math lives in ``anynn.ops.recurrent``; these classes check shapes and hold the parameters.
"""
from __future__ import annotations

import math
import warnings

from anynn.autograd.factories import zeros
from anynn.autograd.tensor import Tensor
from anynn.nn import init
from anynn.nn.module import Module
from anynn.nn.parameter import Parameter
from anynn.ops import recurrent as R
from anynn.ops._args import expect_tensor

def _mode(base: str, nonlinearity: str, who: str | None = None) -> str:
    if base != "RNN":
        return base
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who or base} got nonlinearity={nonlinearity!r}: expected 'tanh' or 'relu'")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _check_sizes(name: str, input_size: int, hidden_size: int) -> None:
    if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size <= 0:
        raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size!r}")
    if not isinstance(input_size, int) or isinstance(input_size, bool) or input_size <= 0:
        raise ValueError(f"{name}: input_size must be a positive integer, got {input_size!r}")


def _check_dtype(layer: Module, what: str, value: Tensor, weight: Tensor) -> None:
    if value.dtype is not weight.dtype:
        raise TypeError(f"{layer!r} got {what} of dtype {value.dtype.name} but its parameters are {weight.dtype.name}; "
                        f"convert one of them (x.to({weight.dtype.name!r}) or layer.to({value.dtype.name!r}))")


def _check_state(layer: Module, what: str, value, expected: tuple[int, ...], weight: Tensor) -> None:
    expect_tensor(layer, value, what)
    if value.shape != expected:
        raise ValueError(f"{layer!r} got {what} of shape {value.shape}: expected {expected}; " + layer._state_layout)
    _check_dtype(layer, what, value, weight)


class RNNCellBase(Module):
    """Shared parameters and checks of ``RNNCell``, ``LSTMCell`` and ``GRUCell``."""

    _base = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self._mode = _mode(self._base, nonlinearity, type(self).__name__)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = R.GATES[self._mode] * hidden_size
        self.weight_ih = Parameter(zeros(gates, input_size))
        self.weight_hh = Parameter(zeros(gates, hidden_size))
        if bias:
            self.bias_ih = Parameter(zeros(gates))
            self.bias_hh = Parameter(zeros(gates))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every weight and bias drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def _state_layout(self) -> str:
        return "the state is (batch, hidden_size), or (hidden_size,) for an unbatched input"

    def _check(self, input, states) -> bool:
        """Validate ``input`` and the given states; returns whether the input is batched."""
        expect_tensor(self, input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected (batch, {self.input_size}) or "
                             f"unbatched ({self.input_size},); for a whole sequence use the layer "
                             f"{self._base}({self.input_size}, {self.hidden_size})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self!r} got input with {input.shape[-1]} features at the last axis: expected "
                             f"{self.input_size} (input_size); check the layer's input_size or the input's layout")
        _check_dtype(self, "input", input, self.weight_ih)
        expected = input.shape[:-1] + (self.hidden_size,)
        for what, state in states:
            if state is not None:
                _check_state(self, what, state, expected, self.weight_ih)
        return input.ndim == 2

    def _params(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self._mode == "RNN_RELU":
            s += ", nonlinearity=relu"
        return s


def _batch(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.reshape(1, *t.shape)


def _unbatch(t: Tensor) -> Tensor:
    return t.reshape(t.shape[1:])


class RNNCell(RNNCellBase):
    """An Elman RNN cell: ``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)`` (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size, bias, nonlinearity)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check(input, [("hx", hx)])
        cell = R.rnn_tanh_cell if self._mode == "RNN_TANH" else R.rnn_relu_cell
        if batched:
            return cell(input, hx, *self._params())
        return _unbatch(cell(_batch(input), _batch(hx), *self._params()))


class LSTMCell(RNNCellBase):
    """A long short-term memory cell (Hochreiter & Schmidhuber, 1997); returns ``(h', c')``."""

    _base = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"{self!r} got hx of type {type(hx).__name__}: expected a pair (h_0, c_0) or None")
        h, c = (None, None) if hx is None else hx
        batched = self._check(input, [("h_0", h), ("c_0", c)])
        if (h is None) != (c is None):
            raise ValueError(f"{self!r} got only one of h_0 and c_0: pass both or hx=None")
        if batched:
            return R.lstm_cell(input, hx, *self._params())
        out = R.lstm_cell(_batch(input), None if hx is None else (_batch(h), _batch(c)), *self._params())
        return _unbatch(out[0]), _unbatch(out[1])


class GRUCell(RNNCellBase):
    """A gated recurrent unit cell (Cho et al., 2014) with PyTorch's reset-gate placement."""

    _base = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check(input, [("hx", hx)])
        if batched:
            return R.gru_cell(input, hx, *self._params())
        return _unbatch(R.gru_cell(_batch(input), _batch(hx), *self._params()))


class RNNBase(Module):
    """Shared parameters, checks and forward of the stacked, optionally bidirectional ``RNN``, ``LSTM``, ``GRU``.

    Parameters per layer ``k`` and direction (suffix ``_reverse`` for the backward one), in PyTorch's order:
    ``weight_ih_l{k}`` (gates * hidden_size, input features), ``weight_hh_l{k}`` (gates * hidden_size,
    hidden_size), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (gates * hidden_size,).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        self._mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        gates = R.GATES[mode] * hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            features = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes = {"weight_ih": (gates, features), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for kind, shape in shapes.items():
                    self._flat_weights_names.append(f"{kind}_l{layer}{suffix}")
                    setattr(self, self._flat_weights_names[-1], Parameter(zeros(*shape)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every weight and bias drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility (cuDNN's packed weight buffer does not exist here)."""

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters grouped per layer and direction, as ``torch.nn.RNNBase.all_weights``."""
        per = 4 if self.bias else 2
        flat = self._flat_weights
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    @property
    def _state_layout(self) -> str:
        return ("the state is (num_layers * num_directions, batch, hidden_size) = "
                f"({self.num_layers} * {2 if self.bidirectional else 1}, batch, {self.hidden_size}), or without "
                "the batch axis for an unbatched input")

    def _layout(self) -> str:
        seq = "(batch, seq_len, " if self.batch_first else "(seq_len, batch, "
        return f"{seq}{self.input_size}) or unbatched (seq_len, {self.input_size})"

    def _check(self, input, states) -> bool:
        """Validate ``input`` and the given initial states; returns whether the input is batched."""
        expect_tensor(self, input)
        if input.ndim not in (2, 3):
            raise ValueError(f"{self!r} got input of shape {input.shape}: expected {self._layout()} "
                             f"(batch_first={self.batch_first})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self!r} got input with {input.shape[-1]} features at the last axis: expected "
                             f"{self.input_size} (input_size) in the layout {self._layout()}")
        batched = input.ndim == 3
        steps = input.shape[1 if batched and self.batch_first else 0]
        if steps == 0:
            raise ValueError(f"{self!r} got input of shape {input.shape}: the sequence is empty (seq_len 0)")
        _check_dtype(self, "input", input, self.weight_ih_l0)
        layers = self.num_layers * (2 if self.bidirectional else 1)
        batch = (input.shape[0 if self.batch_first else 1],) if batched else ()
        expected = (layers,) + batch + (self.hidden_size,)
        for what, state in states:
            if state is not None:
                _check_state(self, what, state, expected, self.weight_ih_l0)
        return batched

    def _run(self, input: Tensor, h0: Tensor | None, c0: Tensor | None):
        """The checked input through ``ops.recurrent.recurrent``; adds and removes the batch axis if unbatched."""
        batched = self._check(input, [("h_0", h0), ("c_0", c0)] if self._mode == "LSTM" else [("hx", h0)])
        if not batched:
            input = input.reshape(input.shape[0], 1, input.shape[1])
            h0 = None if h0 is None else h0.reshape(h0.shape[0], 1, h0.shape[1])
            c0 = None if c0 is None else c0.reshape(c0.shape[0], 1, c0.shape[1])
        output, h_n, c_n = R.recurrent(self._mode, input, h0, c0, self._flat_weights, self.bias, self.num_layers,
                                       self.dropout, self.training, self.bidirectional,
                                       self.batch_first and batched)
        if not batched:
            output = output.reshape(output.shape[0], output.shape[2])
            h_n = h_n.reshape(h_n.shape[0], h_n.shape[2])
            c_n = None if c_n is None else c_n.reshape(c_n.shape[0], c_n.shape[2])
        return output, h_n, c_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """A stacked Elman RNN: ``h_t = tanh(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)`` (or relu);
    ``forward`` returns ``(output, h_n)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__(_mode("RNN", nonlinearity, type(self).__name__), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        output, h_n, _ = self._run(input, hx, None)
        return output, h_n


class LSTM(RNNBase):
    """A stacked long short-term memory network; ``forward`` returns ``(output, (h_n, c_n))``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"{self!r} got hx of type {type(hx).__name__}: expected a pair (h_0, c_0) or None")
        h0, c0 = (None, None) if hx is None else hx
        if (h0 is None) != (c0 is None):
            raise ValueError(f"{self!r} got only one of h_0 and c_0: pass both or hx=None")
        output, h_n, c_n = self._run(input, h0, c0)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """A stacked gated recurrent unit network; ``forward`` returns ``(output, h_n)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        output, h_n, _ = self._run(input, hx, None)
        return output, h_n


__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]
