"""Make the `.nam` test files the conformance corpus lacks, with NAM's trainer and NAM Core.

Trainer-made files, with a Python that has the official trainer (not a project dependency):

    python3 -m venv /tmp/namenv
    /tmp/namenv/bin/pip install torch==2.13.0 neural-amp-modeler==0.13.0
    /tmp/namenv/bin/python scripts/make_nam_test_files.py      # -> tests/data/nam/

NeuralAmpModelerCore's example models the corpus lacks (`--core`, any Python with numpy,
a C++ compiler, CMake and Eigen 3.4): builds scripts/nam_core_render.cpp against a Core
checkout, outside the repo, and renders each model (and each width of a slimmable one)
over core/input.npy in blocks of 64 into tests/data/nam/core/:

    git clone https://github.com/sdatkinson/NeuralAmpModelerCore /tmp/nam-core
    python3 scripts/make_nam_test_files.py --core /tmp/nam-core --core-only

The checkout must have Core's PR #322 (layer1x1_post_film under every gating mode, merged
2026-08-22); the files kept were rendered by daae2d0 with that change applied.

Each case is an untrained model of the trainer's own classes (weights scaled up so the
nonlinearities are exercised), exported with its own `.export()` as `<case>.nam`, and
`<case>.expected.npy`: what a NeuralAmpModelerCore-faithful player gives for
`input.npy`, computed by the trainer's own PyTorch forward:

- WaveNet, ConvNet: receptive field - 1 zeros prepended (Core's prewarm), last samples kept.
- LSTM: from the h0/c0 stored in the file, 0.5 s of silence (Core's prewarm), then the input.
- Linear: Core applies the first stored tap to the newest sample, the reverse of the
  trainer's own conv; the expected output is the trainer's forward with the taps flipped
  (what Core plays).

- Slimmable WaveNet: one expected output per width (`<case>.w<N>.expected.npy`, N as
  `--submodel` counts, narrowest first), the trainer's forward at a slimming value inside
  that width's interval.

Where Core and the trainer disagree the cases stay on common ground: `layer1x1` always
active. (`layer1x1_post_film` in plain and gated layers is common ground since Core's PR #322.)
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

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


def _prelu(channels):
    return {"name": "PReLU", "num_parameters": channels}


WAVENETS.update({
    # Per-channel PReLU in layers and in a condition_dsp (the trainer's gates take named
    # activations only; Core's wavenet_a2_max.nam has per-channel PReLU in gated and blended layers).
    "wavenet_prelu": {
        "condition_dsp": {"name": "WaveNet", "config": {"layers_configs": [
            _array(1, 3, [1, 2], [3, 3], _prelu(3), 2)], "head_scale": 0.5}},
        "layers_configs": [
            _array(1, 4, [1, 2, 4], [3, 3, 3], [_prelu(4), _gated("Tanh"), _prelu(4)], 3, condition_size=2),
            _array(4, 3, [1, 3], [2, 3], _prelu(3), 1, head_kernel=2, condition_size=2)],
        "head_scale": 0.1},
    # layer1x1_post_film in plain and gated layers (Core before its PR #322 ignored it there).
    "wavenet_layer1x1_film": {"layers_configs": [
        _array(1, 4, [1, 2, 4], [3, 3, 3], "Tanh", 3, film_params={"layer1x1_post_film": _film(True)}),
        _array(4, 3, [1, 5], [3, 2], _gated("Tanh"), 1, head_kernel=2,
               film_params={"layer1x1_post_film": _film(False)})], "head_scale": 0.2},
})

# Channel-sliced slimmable WaveNets: every width is a case of its own.
SLIMMABLE = {
    "wavenet_slimmable": {"layers_configs": [
        _array(1, 6, [1, 2, 4, 8, 16], [3, 3, 3, 3, 3], "Tanh", 1,
               slimmable={"method": "slice_channels_uniform", "kwargs": {"allowed_channels": [2, 3, 6]}})],
        "head_scale": 0.1},
    "wavenet_slimmable_gated": {"layers_configs": [
        _array(1, 4, [1, 3, 9], [3, 3, 3], _gated("Tanh"), 1,
               slimmable={"method": "slice_channels_uniform", "kwargs": {}})],
        "head_scale": 0.1},
}


def _set_slimming(model, value):
    from nam.models.wavenet._slimmable import Slimmable
    for module in model.modules():
        if isinstance(module, Slimmable):
            module._set_slimming(value=value, recurse=False)


def _randomise_prelus_(model, generator):
    """PReLU's slopes start equal; distinct ones per channel exercise the per-channel path."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.PReLU):
                module.weight.copy_(0.5 * torch.rand(module.weight.shape, generator=generator) - 0.1)


def _scale_(module, factor):
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(factor)


def _export(model, out, name):
    with tempfile.TemporaryDirectory() as tmp:
        model.export(Path(tmp), basename=name)
        shutil.copy(Path(tmp) / f"{name}.nam", out / f"{name}.nam")
    return json.loads((out / f"{name}.nam").read_text())


def make(out):
    global torch, ConvNet, Linear, LSTM, WaveNet
    import torch
    from nam.models.conv_net import ConvNet
    from nam.models.linear import Linear
    from nam.models.recurrent import LSTM
    from nam.models.wavenet import WaveNet
    with torch.no_grad():
        _make(out)


def _make(out):
    out.mkdir(parents=True, exist_ok=True)
    x = test_input()
    np.save(out / "input.npy", x)
    xt = torch.tensor(x)
    cases = {}

    for seed, (name, config) in enumerate(WAVENETS.items()):
        torch.manual_seed(seed)
        model = WaveNet.init_from_config(dict(copy.deepcopy(config), sample_rate=SAMPLE_RATE)).eval()
        _scale_(model, 2.0)
        _randomise_prelus_(model, torch.Generator().manual_seed(seed))
        rf = model.receptive_field
        y = model(torch.cat([torch.zeros(rf - 1), xt])[None], pad_start=False)[0]
        cases[name] = (model, y)

    for seed, (name, config) in enumerate(SLIMMABLE.items(), start=40):
        torch.manual_seed(seed)
        model = WaveNet.init_from_config(dict(copy.deepcopy(config), sample_rate=SAMPLE_RATE)).eval()
        _scale_(model, 2.0)
        rf = model.receptive_field
        padded = torch.cat([torch.zeros(rf - 1), xt])[None]
        allowed = config["layers_configs"][0]["slimmable"]["kwargs"].get("allowed_channels") or list(
            range(1, config["layers_configs"][0]["channels"] + 1))
        widths = []
        for i in range(len(allowed)):
            _set_slimming(model, (i + 0.5) / len(allowed))  # the middle of width i's interval
            widths.append(model(padded, pad_start=False)[0].numpy().astype(np.float32))
        _set_slimming(model, 1.0)
        doc = _export(model, out, name)
        for i, y in enumerate(widths):
            np.save(out / f"{name}.w{i}.expected.npy", y)
        np.save(out / f"{name}.expected.npy", widths[-1])
        print(f"{name}: slimmable WaveNet {len(doc['weights'])} weights, widths {allowed}, "
              f"output peaks {[round(float(np.max(np.abs(y))), 3) for y in widths]}")

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


# --- NAM Core's example models --------------------------------------------------------------
CORE_MODELS = ("wavenet_a2_max", "slimmable_wavenet")  # those ../shared/corpus lacks
CORE_INPUT_LENGTH = 9000  # > 2 x 4096, so blocks of 4096 are tested whole


def build_core_renderer(core, build):
    """scripts/nam_core_render.cpp built against the Core checkout `core`, in `build`."""
    build.mkdir(parents=True, exist_ok=True)
    (build / "CMakeLists.txt").write_text(f"""cmake_minimum_required(VERSION 3.16)
project(nam_core_render CXX)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_BUILD_TYPE Release)
file(GLOB NAM_SOURCES "{core}/NAM/*.cpp" "{core}/NAM/*/*.cpp")
add_compile_definitions(NAM_ENABLE_A2_FAST)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
add_executable(nam_core_render {ROOT / 'scripts' / 'nam_core_render.cpp'} ${{NAM_SOURCES}})
target_include_directories(nam_core_render PRIVATE {core} {core}/NAM {core}/Dependencies/nlohmann)
target_link_libraries(nam_core_render Eigen3::Eigen)
""")
    subprocess.run(["cmake", "-S", str(build), "-B", str(build / "out")], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build / "out"), "-j", str(os.cpu_count() or 1)], check=True)
    return build / "out" / "nam_core_render"


def core_render(tool, model, x, block=64, slimmable_size=None):
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.f32", Path(tmp) / "out.f32"
        x.astype(np.float32).tofile(src)
        extra = [] if slimmable_size is None else [repr(slimmable_size)]
        subprocess.run([str(tool), str(model), str(src), str(dst), str(block)] + extra, check=True,
                       capture_output=True)
        return np.fromfile(dst, np.float32)


def make_core(core, out, build):
    """Copy CORE_MODELS from Core's example_models and save Core's output for each (per
    width for a slimmable WaveNet, at the slimmable size the importer names for it)."""
    import sys
    sys.path.insert(0, str(ROOT))
    from firmware.importers import import_file
    tool = build_core_renderer(core, build)
    out.mkdir(parents=True, exist_ok=True)
    x = test_input(CORE_INPUT_LENGTH, seed=1)
    np.save(out / "input.npy", x)
    shutil.copy(core / "LICENSE", out / "LICENSE-NeuralAmpModelerCore")
    for name in CORE_MODELS:
        model = out / f"{name}.nam"
        shutil.copy(core / "example_models" / f"{name}.nam", model)
        sub = import_file(model).metadata.get("submodel")
        if sub and sub.get("kind") == "slimmable WaveNet":
            for i, size in enumerate(sub["sizes"]):
                y = core_render(tool, model, x, slimmable_size=size["slimmable_size"])
                np.save(out / f"{name}.w{i}.expected.npy", y)
                print(f"core {name} width {i} {size['channels']}: output peak {np.max(np.abs(y)):.3f}")
        else:
            y = core_render(tool, model, x)
            np.save(out / f"{name}.expected.npy", y)
            print(f"core {name}: output peak {np.max(np.abs(y)):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "nam")
    parser.add_argument("--core", type=Path, metavar="DIR", help="a NeuralAmpModelerCore checkout")
    parser.add_argument("--core-build", type=Path, default=Path(tempfile.gettempdir()) / "nam-core-render",
                        help="where to build the Core renderer (outside the repo)")
    parser.add_argument("--core-only", action="store_true", help="only the Core files (no trainer needed)")
    args = parser.parse_args()
    if not args.core_only:
        make(args.out)
    if args.core:
        make_core(args.core.resolve(), args.out / "core", args.core_build)


if __name__ == "__main__":
    main()
