"""The .nam 0.7 layout features the corpus does not cover, against NAM's own trainer.

Runs where the official trainer is installed (`pip install neural-amp-modeler==0.13.0`
beside the project's torch; not a project dependency, so CI skips it). The trainer builds
WaveNets with gating, blending, bottlenecks, head 1x1s, head convolutions, per-layer
activations and a condition DSP, and exports them as its `.nam` export does; its PyTorch
forward over silence + input is what a prewarmed player gives.

Not covered on purpose: `layer1x1.active = false`. There the trainer adds the activation
to the residual while NeuralAmpModelerCore passes the input through unchanged; the pedal
plays files as Core does.
"""
import copy
import json

import numpy as np
import pytest

from firmware.importers import import_file

torch = pytest.importorskip("torch")
_wavenet = pytest.importorskip("nam.models.wavenet._wavenet", reason="the NAM trainer is not installed")


def _gated(primary, secondary):
    return {"name": "PairMultiply", "primary": primary, "secondary": secondary}


def _blended(primary, secondary):
    return {"name": "PairBlend", "primary": primary, "secondary": secondary}


def _array(input_size, channels, dilations, kernel_sizes, activation, head_out, head_kernel, head_bias,
           bottleneck=None, head1x1=None, condition_size=1):
    config = {"input_size": input_size, "condition_size": condition_size, "channels": channels,
              "dilations": dilations, "kernel_sizes": kernel_sizes, "activation": activation,
              "head": {"out_channels": head_out, "kernel_size": head_kernel, "bias": head_bias}}
    if bottleneck is not None:
        config["bottleneck"] = bottleneck
    if head1x1 is not None:
        config["head_1x1_config"] = {"active": True, "out_channels": head1x1, "groups": 1}
    return config


CASES = {
    "gated, bottleneck, head1x1": {"layers_configs": [
        _array(1, 4, [1, 2, 4], [3, 2, 5], _gated("Tanh", "Sigmoid"), 3, 4, True, bottleneck=2, head1x1=3),
        _array(4, 3, [8, 1], [3, 3], _gated("Tanh", "Sigmoid"), 1, 2, True, bottleneck=2, head1x1=3)],
        "head_scale": 0.05},
    "blended": {"layers_configs": [
        _array(1, 3, [1, 3, 9], [3, 3, 3], _blended("LeakyReLU", "Sigmoid"), 1, 3, True)], "head_scale": 0.1},
    "per-layer activations": {"layers_configs": [
        _array(1, 4, [1, 2, 5, 11], [3, 6, 2, 4],
               ["Tanh", _gated("SiLU", "Sigmoid"), _blended("ReLU", "Hardtanh"),
                {"name": "LeakyReLU", "negative_slope": 0.2}], 2, 1, False),
        _array(4, 2, [1, 7], [15, 2], ["Softsign", "Hardswish"], 1, 16, True)], "head_scale": 0.02},
    "condition_dsp": {"condition_dsp": {"name": "WaveNet", "config": {"layers_configs": [
        _array(1, 3, [1, 2], [3, 3], "Tanh", 2, 1, True)], "head_scale": 0.3}},
        "layers_configs": [_array(1, 3, [1, 4], [3, 3], _gated("Tanh", "Sigmoid"), 1, 2, True, condition_size=2)],
        "head_scale": 0.05},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_exported_wavenet_plays_as_the_trainer_computes(tmp_path, test_signal, name):
    torch.manual_seed(0)
    net = _wavenet.WaveNet.init_from_config(copy.deepcopy(CASES[name])).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # well into the nonlinearities
    doc = {"version": "0.7.0", "architecture": "WaveNet", "config": net.export_config(sample_rate=48000),
           "weights": net.export_weights().tolist(), "sample_rate": 48000}
    path = tmp_path / "model.nam"
    path.write_text(json.dumps(doc))
    x = test_signal(6000)
    with torch.no_grad():
        padded = np.concatenate([np.zeros(net.receptive_field - 1, np.float32), x])
        expected = net(torch.tensor(padded)[None, None])[0, 0].numpy()
    y = import_file(path).build(max_block=64).render(x, block=64)
    assert np.max(np.abs(y - expected)) <= 1e-5 * max(1.0, float(np.max(np.abs(expected))))
