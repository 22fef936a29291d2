"""Make the `.nam` test files the conformance corpus lacks, with NAM's trainer.

Run with a Python that has the official trainer (not a project dependency):

    python3 -m venv /tmp/namenv
    /tmp/namenv/bin/pip install torch==2.13.0 neural-amp-modeler
    /tmp/namenv/bin/python scripts/make_nam_test_files.py      # -> tests/data/nam/

Each case is an untrained model of the trainer's own classes (weights scaled up so the
nonlinearities are exercised), exported with its own `.export()` as `<case>.nam`, and
`<case>.expected.npy`: what a NeuralAmpModelerCore-faithful player gives for
`input.npy`, computed by the trainer's own PyTorch forward:

- WaveNet, ConvNet: receptive field - 1 zeros prepended (Core's prewarm), last samples kept.
- LSTM: from the h0/c0 stored in the file, 0.5 s of silence (Core's prewarm), then the input.
- Linear: Core applies the first stored tap to the newest sample, the reverse of the
  trainer's own conv; the expected output is the trainer's forward with the taps flipped
  (what Core plays).

Where Core and the trainer disagree the cases stay on common ground: `layer1x1_post_film`
only in blended layers (Core ignores it elsewhere), `layer1x1` always active.
"""
import argparse
import copy
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from nam.models.conv_net import ConvNet
from nam.models.linear import Linear
from nam.models.recurrent import LSTM
from nam.models.wavenet import WaveNet

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 48000
N = 3000


def test_input(n=N, seed=0):
    """Deterministic guitar-like input: a decaying chord over a little noise, then a pluck."""
    t = np.arange(n) / SAMPLE_RATE
    x = 0.5 * np.exp(-4 * t) * sum(np.sin(2 * np.pi * f * t) for f in (82.4, 110.0, 146.8)) / 3
    x += 0.03 * np.random.default_rng(seed).standard_normal(n)
    half = n // 2
    x[half:] += 0.6 * np.sin(2 * np.pi * 196.0 * t[:n - half]) * np.exp(-12 * t[:n - half])
    return x.astype(np.float32)


def _gated(primary, secondary="Sigmoid"):
    return {"name": "PairMultiply", "primary": primary, "secondary": secondary}


def _blended(primary, secondary="Sigmoid"):
    return {"name": "PairBlend", "primary": primary, "secondary": secondary}


def _array(input_size, channels, dilations, kernel_sizes, activation, head_out, head_kernel=1, head_bias=True,
           condition_size=1, **extra):
    return {"input_size": input_size, "condition_size": condition_size, "channels": channels,
            "dilations": dilations, "kernel_sizes": kernel_sizes, "activation": activation,
            "head": {"out_channels": head_out, "kernel_size": head_kernel, "bias": head_bias}, **extra}


def _film(shift=True, groups=1):
    return {"active": True, "shift": shift, "groups": groups}


ALL_FILMS = {slot: _film(shift=i % 3 != 1) for i, slot in enumerate(
    ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film", "activation_pre_film",
     "activation_post_film", "layer1x1_post_film", "head1x1_post_film"))}

WAVENETS = {
    "wavenet_gated": {"layers_configs": [
        _array(1, 4, [1, 2, 4, 8], [3, 3, 3, 3], _gated("Tanh"), 3, bottleneck=3,
               head_1x1_config={"active": True, "out_channels": 3, "groups": 1}),
        _array(4, 3, [1, 5], [2, 4], _gated("Tanh"), 1, head_kernel=2)], "head_scale": 0.05},
    "wavenet_blended": {"layers_configs": [
        _array(1, 4, [1, 3, 9], [3, 3, 5], _blended("LeakyReLU"), 1, head_kernel=3)],
        "head_scale": 0.1},
    "wavenet_film": {"layers_configs": [
        _array(1, 4, [1, 2, 5], [3, 2, 3], _blended("Tanh"), 3, bottleneck=3,
               head_1x1_config={"active": True, "out_channels": 3, "groups": 1}, film_params=ALL_FILMS),
        _array(4, 3, [1, 4], [3, 3], ["SiLU", _gated("Tanh", "Hardtanh")], 1, head_kernel=2,
               film_params={"conv_pre_film": _film(False), "activation_post_film": _film(True),
                            "input_mixin_pre_film": _film(True)})], "head_scale": 0.2},
    "wavenet_film_grouped_condition": {
        "condition_dsp": {"name": "WaveNet", "config": {"layers_configs": [
            _array(1, 4, [1, 2], [3, 3], "Tanh", 2)], "head_scale": 0.5}},
        "layers_configs": [_array(1, 4, [1, 3], [3, 3], _gated("Tanh"), 1, head_kernel=2, condition_size=2,
                                  groups_input_mixin=2,
                                  film_params={"conv_post_film": _film(True, 2), "activation_pre_film": _film(False, 2),
                                               "input_mixin_pre_film": _film(True, 2)})],
        "head_scale": 0.1},
    "wavenet_grouped": {"layers_configs": [
        _array(1, 6, [1, 2, 4], [3, 3, 3], _gated("Tanh"), 4, bottleneck=4, groups_input=2,
               layer_1x1_config={"active": True, "groups": 2},
               head_1x1_config={"active": True, "out_channels": 4, "groups": 2}),
        _array(6, 4, [1, 7], [2, 3], "Tanh", 1, head_kernel=2, groups_input=4,
               layer_1x1_config={"active": True, "groups": 2})], "head_scale": 0.1},
    "wavenet_post_head": {"layers_configs": [_array(1, 4, [1, 2, 4, 8], [3, 3, 3, 3], "Tanh", 2)],
                          "head": {"channels": 3, "activation": "Tanh", "out_channels": 1, "kernel_sizes": [3, 1, 2]},
                          "head_scale": 0.5},
}


def _scale_(module, factor):
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(factor)


def _export(model, out, name):
    with tempfile.TemporaryDirectory() as tmp:
        model.export(Path(tmp), basename=name)
        shutil.copy(Path(tmp) / f"{name}.nam", out / f"{name}.nam")
    return json.loads((out / f"{name}.nam").read_text())


@torch.no_grad()
def make(out):
    out.mkdir(parents=True, exist_ok=True)
    x = test_input()
    np.save(out / "input.npy", x)
    xt = torch.tensor(x)
    cases = {}

    for seed, (name, config) in enumerate(WAVENETS.items()):
        torch.manual_seed(seed)
        model = WaveNet.init_from_config(dict(copy.deepcopy(config), sample_rate=SAMPLE_RATE)).eval()
        _scale_(model, 2.0)
        rf = model.receptive_field
        y = model(torch.cat([torch.zeros(rf - 1), xt])[None], pad_start=False)[0]
        cases[name] = (model, y)

    for name, batchnorm, activation in (("convnet", False, "Tanh"), ("convnet_batchnorm", True, "ReLU")):
        torch.manual_seed(10)
        model = ConvNet(channels=5, dilations=[1, 2, 4, 8, 16], batchnorm=batchnorm, activation=activation,
                        sample_rate=SAMPLE_RATE).eval()
        _scale_(model, 1.5)
        if batchnorm:
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm1d):
                    module.running_mean.copy_(0.3 * torch.randn(module.num_features))
                    module.running_var.copy_(0.5 + torch.rand(module.num_features))
                    module.weight.copy_(1.0 + 0.3 * torch.randn(module.num_features))
                    module.bias.copy_(0.2 * torch.randn(module.num_features))
        rf = model.receptive_field
        cases[name] = (model, model(torch.cat([torch.zeros(rf - 1), xt])[None], pad_start=False)[0])

    torch.manual_seed(20)
    model = LSTM(8, num_layers=2, sample_rate=SAMPLE_RATE).eval()
    _scale_(model, 1.5)
    h0, c0 = model._get_initial_state()
    silence = torch.zeros(int(0.5 * SAMPLE_RATE))
    y = model._forward(torch.cat([silence, xt])[None], initial_state=(h0, c0))[0]
    cases["lstm_2x8"] = (model, y[-len(x):])

    torch.manual_seed(30)
    model = Linear(64, bias=True, sample_rate=SAMPLE_RATE).eval()
    _scale_(model, 3.0)
    played = Linear(64, bias=True, sample_rate=SAMPLE_RATE).eval()
    played._net.weight.copy_(model._net.weight.flip(-1))
    played._net.bias.copy_(model._net.bias)
    cases["linear"] = (model, played(torch.cat([torch.zeros(63), xt])[None], pad_start=False)[0])

    for name, (model, y) in cases.items():
        doc = _export(model, out, name)
        y = y.numpy().astype(np.float32)
        assert y.shape == x.shape, (name, y.shape)
        np.save(out / f"{name}.expected.npy", y)
        print(f"{name}: {doc['architecture']} {len(doc['weights'])} weights, output peak {np.max(np.abs(y)):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "nam")
    make(parser.parse_args().out)


if __name__ == "__main__":
    main()
