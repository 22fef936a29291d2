"""Independent references the firmware's kernels are checked against, sharing no code with
the firmware: a NumPy WaveNet written from the .nam layout, and PyTorch's own recurrent
layers for GuitarML and AIDA-X files (the caller passes torch: it is optional)."""
import math

import numpy as np


def numpy_nam_wavenet(doc, x):
    """The .nam WaveNet forward (classic 0.5.x layout) straight from its layout, in float64,
    zero history."""
    flat = np.asarray(doc["weights"], np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = math.prod(shape)
        out = flat[pos:pos + n].reshape(shape)
        pos += n
        return out

    T = len(x)
    cond = x[None, :].astype(np.float64)
    y, head = cond, None
    for arr in doc["config"]["layers"]:
        C, K, gated = arr["channels"], arr["kernel_size"], arr["gated"]
        Z = 2 * C if gated else C
        R = take(C, arr["input_size"], 1)[:, :, 0]
        params = [(take(Z, C, K), take(Z), take(Z, 1, 1)[:, :, 0], take(C, C, 1)[:, :, 0], take(C))
                  for _ in arr["dilations"]]
        H = take(arr["head_size"], C, 1)[:, :, 0]
        hb = take(arr["head_size"]) if arr["head_bias"] else np.zeros(arr["head_size"])
        h = R @ y
        acc = np.zeros((C, T)) if head is None else head
        for d, (Wc, bc, M, W1, b1) in zip(arr["dilations"], params):
            z = bc[:, None] + M @ cond
            for k in range(K):
                shift = d * (K - 1 - k)
                past = np.zeros_like(h)
                past[:, shift:] = h[:, :T - shift]
                z += Wc[:, :, k] @ past
            a = np.tanh(z[:C]) / (1 + np.exp(-z[C:])) if gated else np.tanh(z)
            acc = acc + a
            h = h + W1 @ a + b1[:, None]
        head = H @ acc + hb[:, None]
        y = h
    assert pos == len(flat) - 1
    return flat[-1] * head[0]


def torch_rnn(torch, unit, n_in, H, L, seed, bias=True):
    """A seeded torch nn.LSTM/nn.GRU (`unit`) and its nn.Linear head, weights doubled."""
    torch.manual_seed(seed)
    rnn = getattr(torch.nn, unit)(n_in, H, num_layers=L, batch_first=True, bias=bias)
    lin = torch.nn.Linear(H, 1)
    with torch.no_grad():  # larger than the defaults, so the nonlinearity is exercised
        for p in list(rnn.parameters()) + list(lin.parameters()):
            p.mul_(2.0)
    return rnn, lin


def torch_rnn_output(torch, rnn, lin, x, knobs=(), skip=True, in_gain=1.0, out_gain=1.0):
    """What GuitarML's and AIDA-X's players compute with that network, in float64: the RNN over
    the input (times in_gain) and the knobs as constant inputs, the head, the skip, out_gain."""
    with torch.no_grad():
        v = torch.tensor(x, dtype=torch.float64)[None, :, None] * in_gain
        cols = [v] + [torch.full_like(v, k) for k in knobs]
        rnn, lin = rnn.double(), lin.double()
        h, _ = rnn(torch.cat(cols, dim=-1))
        y = lin(h)[0, :, 0] + (v[0, :, 0] if skip else 0)
        return (out_gain * y).numpy()
