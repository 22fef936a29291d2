"""Random weights of plausible scale for any registered architecture: what `tubeless warm`
compiles the kernels with, and what the benchmarks and tests play."""
import numpy as np

from firmware import models


def random_weights(architecture, config, seed=0):
    """Weights of plausible scale (fan-in normalised) so activations are neither dead nor saturated."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in models.weight_shapes(architecture, config).items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        weights[name] = (rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))).astype(np.float32)
    return weights
