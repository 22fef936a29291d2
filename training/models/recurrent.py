"""LSTM and GRU amp models in PyTorch: nn.LSTM / nn.GRU, a linear head, optional skip.

As GuitarML, AIDA-X and NAM define them. The input vector per sample is
`[audio, knob1, knob2]` (knobs 0..1, constant while the knob rests), and

    y = output_gain * (head(h_top) + skip * input_gain * audio)

Config (see `firmware/models/lstm.py`): `{input_size (1 + knobs), hidden_size,
num_layers?, skip?, initial_state?, input_gain?, output_gain?}`. With `initial_state`,
h0 (and c0 for the LSTM) are trainable parameters, stored in the model file as NAM does.
"""
import copy

import torch
from torch import nn

MAX_KNOBS = 2


class Recurrent(nn.Module):
    """(B, T) audio, or (B, T, 1 + knobs) audio and knobs -> (B, T)."""

    architecture = None
    _cell = None

    def __init__(self, config):
        super().__init__()
        self.config = copy.deepcopy(config)
        self.input_size = int(config["input_size"])
        self.hidden_size = int(config["hidden_size"])
        self.num_layers = int(config.get("num_layers", 1))
        if not 1 <= self.input_size <= 1 + MAX_KNOBS:
            raise ValueError(f"input_size must be 1..{1 + MAX_KNOBS} (audio + up to {MAX_KNOBS} knobs)")
        self.num_knobs = self.input_size - 1
        self.skip = bool(config.get("skip", False))
        self.input_gain = float(config.get("input_gain", 1.0))
        self.output_gain = float(config.get("output_gain", 1.0))
        self.rnn = self._cell(self.input_size, self.hidden_size, self.num_layers, batch_first=True)
        self.head = nn.Linear(self.hidden_size, 1)
        if config.get("initial_state", False):
            self.h0 = nn.Parameter(torch.zeros(self.num_layers, self.hidden_size))
            if self.architecture == "LSTM":
                self.c0 = nn.Parameter(torch.zeros(self.num_layers, self.hidden_size))

    def initial_state(self, batch):
        """The state a stream starts from: zeros, or the trained h0 (c0)."""
        if not hasattr(self, "h0"):
            return None
        states = [self.h0] + ([self.c0] if self.architecture == "LSTM" else [])
        states = [s[:, None, :].expand(-1, batch, -1).contiguous() for s in states]
        return tuple(states) if len(states) > 1 else states[0]

    def forward(self, x, state=None, return_state=False):
        """x: (B, T) or (B, T, 1 + knobs). state: what a previous call returned (for
        truncated backprop through time), or None to start from the initial state."""
        if x.ndim == 2:
            if self.num_knobs:
                raise ValueError(f"this model takes {self.num_knobs} knob input(s): pass (B, T, {self.input_size})")
            x = x[..., None]
        if x.shape[-1] != self.input_size:
            raise ValueError(f"expected {self.input_size} input channel(s), got {x.shape[-1]}")
        audio = x[..., :1] * self.input_gain
        features = torch.cat([audio, x[..., 1:]], dim=-1) if self.num_knobs else audio
        if state is None:
            state = self.initial_state(x.shape[0])
        hidden, state = self.rnn(features, state)
        y = self.head(hidden)
        if self.skip:
            y = y + audio
        y = self.output_gain * y[..., 0]
        return (y, state) if return_state else y

    def weights(self):
        """{file weight name: tensor}, as `firmware.models.weight_shapes` names them."""
        out = {}
        for layer in range(self.num_layers):
            p = f"layers/{layer}/"
            out[p + "weight_ih"] = getattr(self.rnn, f"weight_ih_l{layer}")
            out[p + "weight_hh"] = getattr(self.rnn, f"weight_hh_l{layer}")
            bias_ih = getattr(self.rnn, f"bias_ih_l{layer}")
            bias_hh = getattr(self.rnn, f"bias_hh_l{layer}")
            if self.architecture == "LSTM":
                out[p + "bias"] = bias_ih + bias_hh   # both are plain sums outside any product
            else:
                out[p + "bias_ih"] = bias_ih          # GRU: b_hn sits inside the reset product
                out[p + "bias_hh"] = bias_hh
            if hasattr(self, "h0"):
                out[p + "h0"] = self.h0[layer]
                if self.architecture == "LSTM":
                    out[p + "c0"] = self.c0[layer]
        out["head/weight"] = self.head.weight
        out["head/bias"] = self.head.bias
        return out


# Gate biases an LSTM starts from (PyTorch's order: input, forget, cell, output): a forget
# gate that starts open keeps the cell's memory across the thousands of samples an amp's
# envelope spans, and a nearly shut input gate keeps the cell's scale in check while it
# does. PyTorch's default (all near 0) forgets within a few samples. The same totals as NAM
# 0.13's trainer starts from (its _L adds +-2 to each of bias_ih and bias_hh).
LSTM_INPUT_GATE_BIAS = -4.0
LSTM_FORGET_GATE_BIAS = 4.0


class LSTM(Recurrent):
    architecture = "LSTM"
    _cell = nn.LSTM

    def __init__(self, config):
        super().__init__(config)
        n = self.hidden_size
        with torch.no_grad():
            for layer in range(self.num_layers):
                bias = getattr(self.rnn, f"bias_ih_l{layer}")
                bias[0:n] += LSTM_INPUT_GATE_BIAS
                bias[n:2 * n] += LSTM_FORGET_GATE_BIAS


class GRU(Recurrent):
    architecture = "GRU"
    _cell = nn.GRU
