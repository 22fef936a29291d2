"""Each Numba kernel against the independent PyTorch implementation in training.models.

Random weights (seeded) scaled so pre-activations sit mostly in the curved part of the
activations: the last test checks that they really exercise the nonlinearity. WaveNets
are compared after the firmware's prewarm with the torch model seeing receptive_field - 1
samples of silence first; recurrent models are compared from their initial state.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from firmware import models as fw  # noqa: E402
from firmware.models.wavenet import FILM_SLOTS  # noqa: E402
from training.models import PRESETS, build_torch_model, preset_config, reference_output, state_dict_to_weights  # noqa: E402
from training.models.recurrent import Recurrent  # noqa: E402

SHALLOW_TOL = 1e-5
DEEP_TOL = 1e-4          # NAM's 20-layer presets: float32 sums in another order, 4k-tap history
SECONDS = 0.1
SAMPLE_RATE = 48000


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # The dev machine's two cores are shared; these models are far too small to need more.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomized(architecture, config, seed=0, gain=1.0):
    """A torch model of `config` with N(0, gain^2 / fan_in) weights, small biases and states."""
    module = build_torch_model(architecture, config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * gain / np.sqrt(p[0].numel()))
            elif name in ("h0", "c0"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return module.eval()


def torch_output(module, x, knobs=()):
    if isinstance(module, Recurrent):
        with torch.no_grad():
            columns = [torch.from_numpy(x)] + [torch.full((len(x),), float(v)) for v in knobs]
            return module(torch.stack(columns, -1)[None])[0].numpy()
    return reference_output(module, x)


def firmware_output(module, x, knobs=(), block=256):
    """The kernel's output for x, processed in blocks of `block` (max_block = block too,
    so ring buffers are at their smallest and wrap often)."""
    model = fw.build(module.architecture, module.config, state_dict_to_weights(module), SAMPLE_RATE,
                     max_block=block)
    for i, v in enumerate(knobs):
        model.set_knob(i, v)
    return model.render(x, block=block, prewarm=not isinstance(module, Recurrent))


def max_error(module, x, knobs=(), block=256):
    return float(np.max(np.abs(firmware_output(module, x, knobs, block) - torch_output(module, x, knobs))))


def wavenet_array(input_size, channels, head_size, dilations, kernel_size=3, activation="Tanh", **extra):
    kernel_sizes = kernel_size if isinstance(kernel_size, list) else [kernel_size] * len(dilations)
    layer_extra = {k: extra.pop(k) for k in ("gating", "secondary_activation", "film") if k in extra}
    return {"input_size": input_size, "condition_size": 1, "channels": channels, "head_size": head_size,
            "layers": [{"kernel_size": k, "dilation": d, "activation": activation, **layer_extra}
                       for k, d in zip(kernel_sizes, dilations)],
            **extra}


def two_arrays(first=None, second=None, head_scale=0.1):
    """A small two-array WaveNet (8 then 4 channels); `first`/`second` override array fields."""
    return {"layer_arrays": [wavenet_array(1, 8, 4, [1, 2, 4, 8], **(first or {})),
                             wavenet_array(8, 4, 1, [1, 3, 9], **{"head_bias": True, **(second or {})})],
            "head_scale": head_scale}


def one_array(activation, **extra):
    return {"layer_arrays": [wavenet_array(1, 6, 1, [1, 2, 4, 8, 16], activation=activation, head_bias=True,
                                           **extra)],
            "head_scale": 0.1}


WAVENET_CASES = {
    "gated": two_arrays({"gating": "gated"}, {"gating": "gated"}),
    "gated_tanh_secondary": two_arrays({"gating": "gated", "secondary_activation": "Tanh"}),
    "blended": two_arrays({"gating": "blended"}, {"gating": "blended", "activation": "ReLU"}),
    "blended_hardtanh_secondary": two_arrays({"gating": "blended", "secondary_activation": "Hardtanh"}),
    "head_kernel_4": two_arrays({"head_kernel_size": 4}, {"head_kernel_size": 3, "head_dilation": 2}),
    "head_kernel_no_bias": two_arrays(second={"head_kernel_size": 5, "head_bias": False}),
    "bottleneck_head1x1": {"layer_arrays": [
        wavenet_array(1, 8, 5, [1, 2, 4, 8], bottleneck=4, head1x1=6),
        wavenet_array(8, 6, 1, [1, 2, 4], bottleneck=5, head_bias=True)], "head_scale": 0.1},
    "gated_bottleneck_head1x1": {"layer_arrays": [
        wavenet_array(1, 8, 1, [1, 2, 4, 8], bottleneck=3, head1x1=2, gating="gated", head_bias=True)],
        "head_scale": 0.3},
    "layer1x1_off": two_arrays({"layer1x1": False}, {"layer1x1": False}),
    "a2_like_kernels": {"layer_arrays": [wavenet_array(
        1, 3, 1, [1, 3, 7, 17, 41, 1, 13], kernel_size=[6, 6, 6, 6, 6, 15, 15],
        activation={"type": "LeakyReLU", "negative_slope": 0.01}, head_kernel_size=16, head_bias=True)],
        "head_scale": 1.0},
    "post_head": {"layer_arrays": [wavenet_array(1, 6, 3, [1, 2, 4, 8], head_bias=True)], "head_scale": 0.5,
                  "post_head": {"channels": 4, "out_channels": 1, "activation": "Tanh", "kernel_sizes": [3, 1, 4]}},
    "film_every_slot": {"layer_arrays": [
        wavenet_array(1, 6, 4, [1, 2, 4], bottleneck=4, head1x1=5, gating="blended",
                      film={slot: {"shift": i % 3 != 1} for i, slot in enumerate(FILM_SLOTS)}),
        wavenet_array(6, 4, 1, [1, 3], gating="gated", head_bias=True,
                      film={"conv_pre_film": {"shift": False}, "activation_post_film": {"shift": True}})],
        "head_scale": 0.3},
    "film_and_post_head": {"layer_arrays": [
        wavenet_array(1, 5, 2, [1, 2, 4, 8], activation="ReLU",
                      film={"input_mixin_post_film": {"shift": True}, "layer1x1_post_film": {"shift": False}})],
        "head_scale": 0.4,
        "post_head": {"channels": 3, "out_channels": 1, "activation": {"type": "LeakyReLU", "negative_slope": 0.2},
                      "kernel_sizes": [2, 5]}},
}

ACTIVATIONS = {
    "Tanh": "Tanh", "Fasttanh": "Fasttanh", "Hardtanh": "Hardtanh", "ReLU": "ReLU",
    "LeakyReLU": {"type": "LeakyReLU", "negative_slope": 0.2}, "Sigmoid": "Sigmoid", "SiLU": "SiLU",
    "Softsign": "Softsign", "Hardswish": "Hardswish",
    "LeakyHardtanh": {"type": "LeakyHardtanh", "min_val": -0.5, "max_val": 0.8, "min_slope": 0.05,
                      "max_slope": 0.1},
    "Identity": "Identity",
}


def recurrent_config(hidden_size, num_layers=1, knobs=0, skip=False, initial_state=False):
    return {"input_size": 1 + knobs, "hidden_size": hidden_size, "num_layers": num_layers, "skip": skip,
            "initial_state": initial_state}


@pytest.fixture(scope="module")
def signal(test_signal):
    return test_signal(int(SECONDS * SAMPLE_RATE))


@pytest.mark.parametrize("preset", PRESETS)
def test_nam_presets_match_torch(preset, signal):
    module = randomized("WaveNet", preset_config(preset), seed=1)
    err = max_error(module, signal)
    print(f"{preset}: max abs error {err:.2e}")
    assert err <= DEEP_TOL


@pytest.mark.parametrize("case", WAVENET_CASES)
def test_wavenet_variants_match_torch(case, signal):
    module = randomized("WaveNet", WAVENET_CASES[case], seed=2)
    err = max_error(module, signal)
    print(f"{case}: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_wavenet_activations_match_torch(name, signal):
    module = randomized("WaveNet", one_array(ACTIVATIONS[name]), seed=3, gain=1.5)
    err = max_error(module, signal)
    print(f"{name}: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL


@pytest.mark.parametrize("architecture, hidden_size, num_layers", [
    ("LSTM", 12, 1), ("LSTM", 16, 1), ("LSTM", 20, 1), ("LSTM", 24, 1), ("LSTM", 32, 1), ("LSTM", 40, 1),
    ("LSTM", 8, 2), ("GRU", 12, 1), ("GRU", 40, 1), ("GRU", 8, 2)])
@pytest.mark.parametrize("skip", [False, True], ids=["no_skip", "skip"])
def test_recurrent_matches_torch(architecture, hidden_size, num_layers, skip, signal):
    module = randomized(architecture, recurrent_config(hidden_size, num_layers, skip=skip), seed=4, gain=1.5)
    err = max_error(module, signal)
    print(f"{architecture} {num_layers}x{hidden_size} skip={skip}: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL


@pytest.mark.parametrize("architecture, knobs", [("LSTM", (0.3,)), ("LSTM", (0.8, 0.1)), ("GRU", (0.7,))])
def test_conditioned_recurrent_matches_torch(architecture, knobs, signal):
    config = recurrent_config(16, knobs=len(knobs), skip=True)
    module = randomized(architecture, config, seed=5, gain=1.5)
    err = max_error(module, signal, knobs)
    print(f"{architecture} knobs={knobs}: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL
    # The knobs must matter, or this test would pass with the knob inputs ignored.
    moved = torch_output(module, signal, [1.0 - k for k in knobs])
    assert np.max(np.abs(moved - torch_output(module, signal, knobs))) > 100 * SHALLOW_TOL


@pytest.mark.parametrize("architecture, num_layers", [("LSTM", 1), ("LSTM", 2), ("GRU", 2)])
def test_trained_initial_state_matches_torch(architecture, num_layers, signal):
    module = randomized(architecture, recurrent_config(12, num_layers, initial_state=True), seed=6, gain=1.5)
    err = max_error(module, signal)
    print(f"{architecture} {num_layers}x12 with h0/c0: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL


@pytest.mark.parametrize("bias", [False, True])
def test_linear_matches_torch(bias, signal):
    module = randomized("Linear", {"receptive_field": 300, "bias": bias}, seed=7)
    err = max_error(module, signal)
    print(f"Linear bias={bias}: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL


CONVNET = {"channels": 6, "dilations": [1, 2, 4, 8, 16, 32], "activation": "Tanh"}


def randomized_convnet(config, seed):
    """A ConvNet with random weights and, with batchnorm, random running statistics and
    affine parameters (PyTorch's defaults would make the batchnorm an identity)."""
    module = randomized("ConvNet", config, seed=seed, gain=1.5)
    if config.get("batchnorm"):
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for bn in module.norms:
                bn.running_mean.copy_(0.3 * torch.randn(bn.running_mean.shape, generator=g))
                bn.running_var.copy_(0.5 + torch.rand(bn.running_var.shape, generator=g))
                bn.weight.copy_(1.0 + 0.3 * torch.randn(bn.weight.shape, generator=g))
                bn.bias.copy_(0.2 * torch.randn(bn.bias.shape, generator=g))
    return module


@pytest.mark.parametrize("batchnorm", [False, True], ids=["bias", "batchnorm"])
@pytest.mark.parametrize("activation", ["Tanh", "ReLU", {"type": "LeakyReLU", "negative_slope": 0.1}],
                         ids=["Tanh", "ReLU", "LeakyReLU"])
def test_convnet_matches_torch(batchnorm, activation, signal):
    module = randomized_convnet({**CONVNET, "activation": activation, "batchnorm": batchnorm}, seed=9)
    err = max_error(module, signal)
    print(f"ConvNet batchnorm={batchnorm} {activation}: max abs error {err:.2e}")
    assert err <= SHALLOW_TOL


BLOCK_CASES = {
    "wavenet": ("WaveNet", WAVENET_CASES["head_kernel_4"], ()),
    "wavenet_gated_head1x1": ("WaveNet", WAVENET_CASES["gated_bottleneck_head1x1"], ()),
    "wavenet_film_post_head": ("WaveNet", WAVENET_CASES["film_and_post_head"], ()),
    "wavenet_film": ("WaveNet", WAVENET_CASES["film_every_slot"], ()),
    "lstm_knob": ("LSTM", recurrent_config(12, 2, knobs=1, skip=True, initial_state=True), (0.4,)),
    "gru": ("GRU", recurrent_config(12, knobs=2), (0.2, 0.9)),
    "linear": ("Linear", {"receptive_field": 200, "bias": True}, ()),
    "convnet": ("ConvNet", {**CONVNET, "batchnorm": True}, ()),
}


@pytest.mark.parametrize("case", BLOCK_CASES)
def test_block_size_does_not_change_output(case, signal):
    architecture, config, knobs = BLOCK_CASES[case]
    module = randomized(architecture, config, seed=8, gain=1.5)
    expected = torch_output(module, signal, knobs)
    outputs = {block: firmware_output(module, signal, knobs, block) for block in (1, 17, 64, 128, len(signal))}
    for block, y in outputs.items():
        assert np.max(np.abs(y - expected)) <= SHALLOW_TOL, f"block {block}"
    whole = outputs[len(signal)]
    spread = max(float(np.max(np.abs(y - whole))) for y in outputs.values())
    print(f"{case}: largest difference between block sizes {spread:.2e}")
    assert spread <= 1e-6


@pytest.mark.parametrize("architecture, config, gain", [
    ("WaveNet", preset_config("nano"), 1.0), ("WaveNet", WAVENET_CASES["gated"], 1.0),
    ("WaveNet", one_array("Tanh"), 1.5), ("LSTM", recurrent_config(16), 1.5), ("GRU", recurrent_config(16), 1.5),
    ("ConvNet", CONVNET, 1.5), ("WaveNet", WAVENET_CASES["film_every_slot"], 1.0)])
def test_random_weights_exercise_the_nonlinearity(architecture, config, gain, signal):
    """Guards the tests above (same configs and gains): with too small weights every model
    is nearly linear, and a kernel with a wrong activation would still pass."""
    module = randomized(architecture, config, seed=1, gain=gain)
    offset = torch_output(module, np.zeros_like(signal))
    y1 = torch_output(module, signal) - offset
    y2 = torch_output(module, 2 * signal) - offset
    nonlinearity = np.linalg.norm(y2 - 2 * y1) / np.linalg.norm(2 * y1)
    print(f"{architecture}: nonlinearity {nonlinearity:.2f}")
    assert nonlinearity > 0.05
