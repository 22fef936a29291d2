"""training.models: the API the trainer builds on (shapes, names, presets, state, gradients)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from firmware.models import weight_shapes  # noqa: E402
from training.models import PRESETS, build_torch_model, preset_config, state_dict_to_weights, to_modelfile  # noqa: E402

# Weight counts of NAM's .nam files for its presets (the last float is head_scale).
NAM_WEIGHT_COUNTS = {"standard": 13_802, "lite": 6_554, "feather": 3_026, "nano": 842}

SMALL_WAVENET = {"layer_arrays": [
    {"input_size": 1, "condition_size": 1, "channels": 4, "bottleneck": 3, "head_size": 3, "head1x1": 2,
     "head_kernel_size": 3, "head_dilation": 2,
     "layers": [{"kernel_size": 3, "dilation": d, "activation": "Tanh", "gating": "gated"} for d in (1, 2)]},
    {"input_size": 4, "condition_size": 1, "channels": 3, "head_size": 1, "head_bias": True,
     "layers": [{"kernel_size": 2, "dilation": d, "activation": "ReLU"} for d in (1, 4)]}],
    "head_scale": 0.5}
MODELS = {
    "wavenet": ("WaveNet", SMALL_WAVENET),
    "lstm": ("LSTM", {"input_size": 3, "hidden_size": 5, "num_layers": 2, "skip": True, "initial_state": True}),
    "gru": ("GRU", {"input_size": 2, "hidden_size": 4, "num_layers": 2, "initial_state": True}),
    "linear": ("Linear", {"receptive_field": 16, "bias": True}),
}


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_have_nams_weight_counts(preset):
    config = preset_config(preset)
    module = build_torch_model("WaveNet", config)
    parameters = sum(p.numel() for p in module.parameters())
    assert parameters + 1 == NAM_WEIGHT_COUNTS[preset]  # + head_scale
    assert sum(int(np.prod(s)) for s in weight_shapes("WaveNet", config).values()) == parameters
    assert module.receptive_field == 4093


@pytest.mark.parametrize("case", MODELS)
def test_weights_have_the_model_files_names_and_shapes(case):
    architecture, config = MODELS[case]
    module = build_torch_model(architecture, config)
    weights = state_dict_to_weights(module)
    expected = weight_shapes(architecture, config)
    assert list(weights) == list(expected)
    for name, shape in expected.items():
        assert weights[name].shape == tuple(shape) and weights[name].dtype == np.float32
    # Every trainable value reaches the file exactly once (LSTM biases are summed in pairs).
    lstm_bias_pairs = sum(p.numel() for n, p in module.named_parameters() if n.startswith("rnn.bias_hh")) \
        if architecture == "LSTM" else 0
    assert sum(w.size for w in weights.values()) == sum(p.numel() for p in module.parameters()) - lstm_bias_pairs


def test_lstm_bias_is_the_sum_of_both_torch_biases():
    module = build_torch_model(*MODELS["lstm"])
    weights = state_dict_to_weights(module)
    for layer in range(2):
        expected = getattr(module.rnn, f"bias_ih_l{layer}") + getattr(module.rnn, f"bias_hh_l{layer}")
        np.testing.assert_array_equal(weights[f"layers/{layer}/bias"], expected.detach().numpy())


@pytest.mark.parametrize("case", ["wavenet", "linear"])
def test_convolutional_models_return_the_valid_part(case):
    module = build_torch_model(*MODELS[case])
    x = torch.randn(2, 100)
    assert module(x).shape == (2, 100 - module.receptive_field + 1)
    with pytest.raises(ValueError, match="receptive field") if case == "wavenet" else pytest.raises(RuntimeError):
        module(torch.randn(2, module.receptive_field - 1))


def test_wavenet_is_causal_within_its_receptive_field():
    torch.manual_seed(0)
    module = build_torch_model(*MODELS["wavenet"])
    rf = module.receptive_field
    x = torch.randn(1, 3 * rf)
    k = 2 * rf                      # perturb one input sample...
    changed = x.clone()
    changed[0, k] += 1.0
    diff = (module(changed) - module(x)).abs()[0].detach()
    # ...output j is time j + rf - 1, so only outputs j in [k - rf + 1, k] may see it.
    affected = torch.zeros_like(diff, dtype=torch.bool)
    affected[k - rf + 1:k + 1] = True
    assert torch.all(diff[~affected] == 0) and diff[k - rf + 1] > 0  # the output at time k itself


@pytest.mark.parametrize("case", ["lstm", "gru"])
def test_recurrent_state_carries_across_calls(case):
    torch.manual_seed(0)
    module = build_torch_model(*MODELS[case])
    x = torch.rand(3, 40, module.input_size)
    whole = module(x)
    first, state = module(x[:, :25], return_state=True)
    second = module(x[:, 25:], state=state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_recurrent_models_need_their_knob_inputs():
    module = build_torch_model(*MODELS["lstm"])
    with pytest.raises(ValueError, match="knob"):
        module(torch.randn(1, 10))
    with pytest.raises(ValueError, match="3 input"):
        module(torch.randn(1, 10, 2))


@pytest.mark.parametrize("case", MODELS)
def test_every_parameter_gets_a_gradient(case):
    torch.manual_seed(0)
    architecture, config = MODELS[case]
    module = build_torch_model(architecture, config)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))   # no all-zero initial state blocking gradients
    x = torch.rand(2, 64, config["input_size"]) if architecture in ("LSTM", "GRU") else torch.randn(2, 64)
    module(x).square().mean().backward()
    # As in NAM, the last layer's residual 1x1 feeds nothing: its weights are in the file, unused.
    last = f"arrays.{len(config['layer_arrays']) - 1}.layers.{len(config['layer_arrays'][-1]['layers']) - 1}." \
        "layer1x1." if architecture == "WaveNet" else None
    for name, p in module.named_parameters():
        if last and name.startswith(last):
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_to_modelfile_checks_knob_descriptions():
    module = build_torch_model(*MODELS["lstm"])
    with pytest.raises(ValueError, match="2 knob input"):
        to_modelfile(module, knobs=[{"name": "gain"}])
    mf = to_modelfile(module)
    assert [k["name"] for k in mf.knobs] == ["knob1", "knob2"] and mf.reference_knobs == [0.5, 0.5]


def test_to_modelfile_leaves_the_module_in_training_mode():
    module = build_torch_model(*MODELS["gru"]).train()
    to_modelfile(module)
    assert module.training


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="architecture"):
        build_torch_model("Transformer", {})
    with pytest.raises(KeyError, match="preset"):
        preset_config("huge")
    config = {"layer_arrays": [{**SMALL_WAVENET["layer_arrays"][1], "input_size": 1,
                                "layers": [{"kernel_size": 2, "dilation": 1, "activation": "Mish"}]}]}
    with pytest.raises(ValueError, match="Mish"):
        build_torch_model("WaveNet", config)


# --- NAM's packed A2 ---------------------------------------------------------------------

def test_a2_widths_are_nams_real_a2_model(corpus):
    """Our a2_config is the A2 that NAM 0.13 writes: NAM Core's example A2.nam (3 and 8
    channels), loaded into our PyTorch modules by name, plays NAM Core's reference output."""
    import soundfile as sf

    from firmware.importers import import_file
    from training.models import a2_config

    x, _ = sf.read(str(corpus / "audio" / "nam_core_input.wav"), dtype="float32")
    expected, _ = sf.read(str(corpus / "expected" / "A2.wav"), dtype="float32")
    for index, channels in enumerate((3, 8)):
        imported = import_file(str(corpus / "nam" / "A2.nam"), submodel=index)
        module = build_torch_model("WaveNet", a2_config(channels))
        assert module.config["layer_arrays"][0]["layers"] == imported.config["layer_arrays"][0]["layers"]
        with torch.no_grad():
            for name, tensor in module.weights().items():
                tensor.copy_(torch.from_numpy(imported.weights[name]))
        module.head_scale = imported.config["head_scale"]
        if index == 1:                                   # the widest is what Core played
            y = to_modelfile(module).build().render(x)
            np.testing.assert_allclose(y, expected, atol=1e-4)


def test_packed_a2_has_nams_weight_counts_and_plays_each_width():
    from training.models import a2_packed_config
    module = build_torch_model("SlimmableContainer", a2_packed_config())
    assert [sum(p.numel() for p in m.parameters()) + 1 for m in module.submodels] == [1871, 12146]
    assert module.max_values == [0.5, 1.0] and module.widths == [3, 8]
    x = torch.randn(2, module.receptive_field + 99)
    narrow, wide = module.forward_all(x)
    assert torch.equal(module(x), wide) and narrow.shape == wide.shape == (2, 100)
    assert not torch.allclose(narrow, wide)
    played = to_modelfile(module, submodel=0)
    assert played.config["layer_arrays"][0]["channels"] == 3


def test_lstm_starts_with_its_forget_gate_open_and_input_gate_nearly_shut():
    import torch

    from training.models.recurrent import LSTM_FORGET_GATE_BIAS, LSTM_INPUT_GATE_BIAS
    m = build_torch_model("LSTM", {"input_size": 1, "hidden_size": 8, "num_layers": 2})
    for layer in range(2):
        bias = getattr(m.rnn, f"bias_ih_l{layer}") + getattr(m.rnn, f"bias_hh_l{layer}")
        bound = 2 / 8 ** 0.5                  # two of PyTorch's uniform(-1/sqrt(n), 1/sqrt(n))
        assert torch.all((bias[:8] - LSTM_INPUT_GATE_BIAS).abs() <= bound)
        assert torch.all((bias[8:16] - LSTM_FORGET_GATE_BIAS).abs() <= bound)
        assert torch.all(bias[16:].abs() <= bound)


def test_a_recurrent_reference_off_by_float32_drift_takes_the_kernels_output(monkeypatch):
    # an LSTM whose state keeps moving in silence: torch's float32 and the pedal's differ by
    # a few 1e-4 (above the format's 1e-4). Simulated by nudging torch's reference by 5e-4.
    import training.models as tm
    from firmware.core.errors import ModelFileError
    from firmware.models import modelfile
    true_reference = tm.reference_output
    monkeypatch.setattr(tm, "reference_output", lambda *a, **k: true_reference(*a, **k) + np.float32(5e-4))
    lstm = build_torch_model("LSTM", {"input_size": 1, "hidden_size": 4})
    mf = to_modelfile(lstm)
    assert mf.metadata["reference"]["made_by"] == "the pedal's kernel"
    assert mf.metadata["reference"]["torch_max_error"] == pytest.approx(5e-4, rel=0.05)
    assert mf.verify() == 0.0
    # off by the signal itself (a wrong export): refused, recurrent or not
    monkeypatch.setattr(tm, "reference_output", lambda *a, **k: true_reference(*a, **k) + np.float32(0.3))
    with pytest.raises(ModelFileError, match="disagree"):
        to_modelfile(lstm)
    monkeypatch.setattr(tm, "reference_output", lambda *a, **k: true_reference(*a, **k) + np.float32(5e-4))
    with pytest.raises(ModelFileError, match="does not reproduce"):
        to_modelfile(build_torch_model(*MODELS["linear"]))      # only recurrent models drift so
    assert modelfile.DEFAULT_TOLERANCE == 1e-4
