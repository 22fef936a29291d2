"""Independent references the firmware's kernels are checked against: written from the file
layouts, in NumPy and float64, sharing no code with the firmware."""
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
