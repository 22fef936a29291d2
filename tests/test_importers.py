"""Importers: NAM, GuitarML and AIDA-X files play sample for sample as their own players do.

Against the conformance corpus (../shared/corpus: real files and their reference players'
outputs) where it is present, and against independent references (PyTorch, a NumPy
WaveNet written from the .nam layout) for synthetic files everywhere.
"""
import json

import numpy as np
import pytest
import soundfile as sf
from helpers import NAM_DATA, classic_wavenet_nam, guitarml_lstm_doc, write_json
from reference import numpy_nam_wavenet, torch_rnn, torch_rnn_output

from firmware.importers import guitarml, import_file, load, nam
from firmware.models import modelfile
from firmware.tools.cli import main

# NAM Core's outputs: 1e-5, the deep WaveNets 1e-4 (corpus/README.md).
NAM_TOLERANCE = {"wavenet": 1e-5, "lstm": 1e-5, "slimmable_container": 1e-5, "wavenet_condition_dsp": 1e-5,
                 "wavenet_a1_standard": 1e-4, "A2": 1e-4}
AIDADSP_THRESHOLD = 1e-5  # aidadsp-lv2's own check of a file's reference pair


@pytest.fixture(scope="module")
def core_input(corpus):
    return _wav(corpus / "audio" / "nam_core_input.wav")


def _wav(path):
    x, _ = sf.read(str(path), dtype="float32")
    return x


def _play(mf, x, knobs=(), block=64):
    """The model's output for x the way its reference player makes it (blocks of 64)."""
    model = mf.build(max_block=block)
    for i, v in enumerate(knobs):
        model.set_knob(i, v)
    return model.render(x, block=block, prewarm=mf.prewarm)


# --- the corpus: real files against their reference players ---------------------------------
@pytest.mark.parametrize("block", [1, 64, 4096])
@pytest.mark.parametrize("name", sorted(NAM_TOLERANCE))
def test_nam_file_plays_as_neuralampmodelercore(corpus, core_input, name, block):
    mf = import_file(corpus / "nam" / f"{name}.nam")
    assert mf.prewarm and mf.sample_rate == 48000
    expected = _wav(corpus / "expected" / f"{name}.wav")
    # Blocks of 1 over the first 0.25 s (a sample at a time is slow in Python); whole otherwise.
    n = 12000 if block == 1 else len(core_input)
    err = np.max(np.abs(_play(mf, core_input[:n], block=block) - expected[:n]))
    assert err <= NAM_TOLERANCE[name], f"{name}: max error {err:.3g}"


@pytest.mark.parametrize("name, knob", [("TS9_FullD", None), ("BluesJr", 0.0), ("BluesJr", 0.5), ("BluesJr", 1.0)])
def test_guitarml_file_plays_as_pytorch(corpus, core_input, name, knob):
    mf = import_file(corpus / "guitarml" / f"{name}.json")
    assert not mf.prewarm and mf.sample_rate == guitarml.DEFAULT_SAMPLE_RATE
    assert mf.num_knobs == (0 if knob is None else 1)
    expected = _wav(corpus / "expected" / (name + ("" if knob is None else f"_knob{knob}") + ".wav"))
    err = np.max(np.abs(_play(mf, core_input, [] if knob is None else [knob]) - expected))
    assert err <= 1e-5, f"{name} knob {knob}: max error {err:.3g}"


@pytest.mark.parametrize("name", ["tw40_blues_deluxe_deerinkstudios", "tw40_british_lead_deerinkstudios"])
def test_aidax_file_reproduces_its_own_reference(corpus, name):
    mf = import_file(corpus / "aidax" / f"{name}.json")
    doc = json.loads((corpus / "aidax" / f"{name}.json").read_text())
    assert np.array_equal(mf.reference_input, np.float32(doc["input_batch"]))
    assert mf.verify() <= AIDADSP_THRESHOLD
    assert mf.sample_rate == 48000 and mf.metadata["author"] == "deer ink studios"


def test_slimmable_container_plays_the_largest_submodel_unless_asked(corpus):
    path = corpus / "nam" / "slimmable_container.nam"
    largest = import_file(path)
    assert largest.architecture == "WaveNet" and largest.metadata["submodel"]["max_value"] == 1.0
    smallest = import_file(path, submodel=0)
    assert smallest.architecture == "LSTM" and smallest.metadata["submodel"]["index"] == 0
    with pytest.raises(modelfile.ModelFileError, match="submodel 9 does not exist"):
        import_file(path, submodel=9)


@pytest.mark.parametrize("rel", ["nam/A2.nam", "nam/wavenet_condition_dsp.nam", "nam/lstm.nam",
                                 "guitarml/BluesJr.json", "aidax/tw40_blues_deluxe_deerinkstudios.json"])
def test_saved_import_plays_identically(corpus, tmp_path, rel):
    mf = import_file(corpus / rel)
    x = modelfile.default_reference_input(mf.sample_rate)
    direct = _play(mf, x, [0.5] * mf.num_knobs)
    saved = modelfile.load(mf.save(tmp_path / "m.npz"))
    assert saved.architecture == mf.architecture and saved.config == mf.config
    assert saved.metadata["source"]["format"] == rel.split("/")[0]
    assert np.array_equal(_play(saved, x, [0.5] * saved.num_knobs), direct)


def test_import_command_converts_a_batch(corpus, tmp_path, capsys):
    sources = [corpus / "nam" / "wavenet.nam", corpus / "guitarml" / "TS9_FullD.json",
               corpus / "aidax" / "tw40_british_lead_deerinkstudios.json"]
    out = tmp_path / "lib"
    assert main(["import", *map(str, sources), "--out-dir", str(out)]) == 0
    for src in sources:
        mf = modelfile.load(out / (src.stem + ".npz"))
        assert mf.metadata["source"]["file"] == src.name
    out_text = capsys.readouterr().out
    # Named for what it is: each saved file's self-check, not a comparison with the format's player.
    assert out_text.count("self-check") == 3 and "reference reproduced" not in out_text
    # An existing output is not overwritten without --force.
    assert main(["import", str(sources[0]), "-o", str(out / "wavenet.npz")]) == 2
    assert main(["import", str(sources[0]), "-o", str(out / "wavenet.npz"), "--force"]) == 0
    # GuitarML files state no rate: --sample-rate sets it.
    assert main(["import", str(sources[1]), "-o", str(tmp_path / "ts9.npz"), "--sample-rate", "48000"]) == 0
    assert modelfile.load(tmp_path / "ts9.npz").sample_rate == 48000


def test_convert_is_import_of_one_file(tmp_path, capsys):
    src = NAM_DATA / "convnet.nam"
    out = tmp_path / "c.npz"
    assert main(["convert", str(src), str(out)]) == 0
    assert modelfile.load(out).architecture == "ConvNet" and "self-check" in capsys.readouterr().out
    assert main(["convert", str(src), str(out)]) == 2  # exists: --force needed
    assert main(["convert", str(src), str(out), "--force"]) == 0


# --- the import command: a batch goes on past one file's trouble ----------------------------------
def test_import_batch_gives_clashing_names_distinct_outputs_and_says_so(tmp_path, capsys):
    from firmware.models import modelfile
    nam_src = tmp_path / "amp.nam"
    nam_src.write_text((NAM_DATA / "wavenet_gated.nam").read_text())
    json_src = write_json(tmp_path / "amp.json", guitarml_lstm_doc(seed=5))     # the same stem
    other = tmp_path / "lead.nam"
    other.write_text((NAM_DATA / "linear.nam").read_text())
    assert main(["import", str(nam_src), str(json_src), str(other)]) == 0
    captured = capsys.readouterr()
    assert "written as amp-nam.npz" in captured.err and "written as amp-json.npz" in captured.err
    assert modelfile.load(tmp_path / "amp-nam.npz").architecture == "WaveNet"
    assert modelfile.load(tmp_path / "amp-json.npz").metadata["source"]["format"] == "guitarml"
    assert (tmp_path / "lead.npz").exists() and not (tmp_path / "amp.npz").exists()
    # What import says of each file is its self-check, named as such (not a conformance result).
    assert "self-check of the saved file" in captured.out and "reference reproduced" not in captured.out

    # Again without --force: every output exists; each is reported and the batch goes on.
    assert main(["import", str(nam_src), str(json_src), str(other)]) == 1
    err = capsys.readouterr().err
    assert err.count("exists (use --force to overwrite); skipped") == 3 and "3 of 3 files not imported" in err
    # With --force each is rewritten to its own output: nothing overwrites another.
    assert main(["import", "--force", str(nam_src), str(json_src), str(other)]) == 0
    assert modelfile.load(tmp_path / "amp-nam.npz").architecture == "WaveNet"
    assert modelfile.load(tmp_path / "amp-json.npz").metadata["source"]["format"] == "guitarml"


def test_import_lists_the_widths_of_a_slimmable_wavenet(tmp_path, capsys):
    src = NAM_DATA / "core" / "slimmable_wavenet.nam"
    dst = tmp_path / "slim.npz"
    assert main(["import", str(src), "-o", str(dst), "--submodel", "1"]) == 0
    out = capsys.readouterr().out
    assert "sizes (--submodel N): 0: 1 channel, 1: 2 channels [imported], 2: 3 channels" in out
    from firmware.importers import submodel_sizes
    from firmware.models import modelfile
    mf = modelfile.load(dst)
    assert mf.config["layer_arrays"][0]["channels"] == 2
    assert submodel_sizes(mf.metadata) == (["1 channel", "2 channels", "3 channels"], 1)
    assert main(["import", str(src), "-o", str(tmp_path / "x.npz"), "--submodel", "3"]) == 2
    assert "submodel 3 does not exist" in capsys.readouterr().err


def test_aidax_extension_is_accepted(corpus, tmp_path):
    from firmware.importers import loader
    src = tmp_path / "capture.aidax"
    src.write_bytes((corpus / "aidax" / "tw40_blues_deluxe_deerinkstudios.json").read_bytes())
    assert loader.load(src).architecture == "LSTM"


def test_load_takes_our_files_and_foreign_ones(corpus, tmp_path):
    foreign = load(corpus / "nam" / "lstm.nam")
    ours = load(foreign.save(tmp_path / "lstm.npz"))
    assert ours.architecture == foreign.architecture == "LSTM"
    assert ours.reference_output is not None


# --- synthetic files: independent references, no corpus needed --------------------------------
@pytest.mark.parametrize("gated", [False, True])
def test_classic_nam_wavenet_matches_numpy_reference(tmp_path, rng, test_signal, gated):
    doc = classic_wavenet_nam(rng, gated=gated)
    mf = import_file(write_json(tmp_path / "m.nam", doc))
    x = test_signal(3000)
    # NAM prewarms with silence; prepending it to the NumPy input gives the same history.
    rf = mf.build().prewarm_samples
    expected = numpy_nam_wavenet(doc, np.concatenate([np.zeros(rf, np.float32), x]))[rf:]
    assert np.max(np.abs(_play(mf, x) - expected)) <= 1e-5


def test_nam_linear_applies_the_first_tap_to_the_newest_sample(tmp_path, rng, test_signal):
    taps = rng.standard_normal(7)
    doc = {"version": "0.5.4", "architecture": "Linear", "config": {"receptive_field": 7, "bias": True},
           "weights": taps.tolist() + [0.25]}
    mf = import_file(write_json(tmp_path / "lin.nam", doc))
    x = test_signal(500)
    expected = np.convolve(x.astype(np.float64), taps)[:len(x)] + 0.25
    assert np.max(np.abs(_play(mf, x) - expected)) <= 1e-5


@pytest.mark.parametrize("change, message", [
    (lambda d: d["weights"].pop(), r"'weights' has \d+ values, the config needs \d+"),
    (lambda d: d.update(version="0.4.0"), "version' 0.4.0 is not supported"),
    (lambda d: d.update(architecture="ConvNet"), r"missing field 'config\.channels'"),
    (lambda d: d.update(architecture="Transformer"), "'Transformer' is not a NAM architecture"),
    (lambda d: d["config"]["layers"][0].update(conv_pre_film={"active": True, "groups": 2}),
     "grouped convolution.*do not divide into 2 groups"),
    (lambda d: d["config"]["layers"][1].update(groups_input=3), r"arrays/1/layers/0/conv: 2 inputs and 2 outputs do not divide into 3 groups"),
    (lambda d: d["config"]["layers"][0].update(conv_pre_film=True), "conv_pre_film' must be an object or false"),
    (lambda d: d["config"]["layers"][0].update(layer1x1={"active": False, "groups": 1},
                                               layer1x1_post_film={"active": True}),
     "layer1x1_post_film' is active but layer1x1 is not"),
    (lambda d: d["config"]["layers"][0].update(slimmable={"method": "prune_magic"}),
     r"slimmable\.method' 'prune_magic' is not supported"),
    (lambda d: d["config"]["layers"][0].update(slimmable={"method": "slice_channels_uniform",
                                                          "kwargs": {"allowed_channels": [1, 2]}}),
     "allowed_channels' must rise and end at the array's 3 channels"),
    (lambda d: d["config"]["layers"][0].update(groups_input=3, slimmable={"method": "slice_channels_uniform"}),
     "slimmable WaveNet with grouped convolutions cannot be sliced"),
    (lambda d: d["config"].update(head={"kernel_sizes": [1]}), r"missing field 'config\.head\.channels'"),
    (lambda d: d["config"].update(head={"kernel_sizes": [1], "channels": 2, "out_channels": 2,
                                        "activation": "Tanh"}), "head.out_channels' must be 1"),
    (lambda d: d["config"]["layers"][0].update(activation="Wobble"), "unsupported activation 'Wobble'"),
    (lambda d: d["config"]["layers"][0].update(dilations=[1, 0, 4]), r"layers\[0\]\.dilations\[1\]"),
    (lambda d: d["config"]["layers"][0].pop("channels"), r"missing field 'config\.layers\[0\]\.channels'"),
    (lambda d: d["weights"].__setitem__(3, float("nan")), "NaN or Inf"),
    (lambda d: d.update(sample_rate=12), "sample_rate.*out of range"),
])
def test_nam_file_that_cannot_play_is_refused_with_the_field(tmp_path, rng, change, message):
    doc = classic_wavenet_nam(rng)
    change(doc)
    with pytest.raises(modelfile.ModelFileError, match=message):
        import_file(write_json(tmp_path / "bad.nam", doc))


def test_files_that_are_not_models_are_refused(tmp_path):
    broken = tmp_path / "a.nam"
    broken.write_bytes(b"{oops")
    with pytest.raises(modelfile.ModelFileError, match="not valid JSON"):
        import_file(broken)
    with pytest.raises(modelfile.ModelFileError, match="not a model format"):
        import_file(write_json(tmp_path / "b.json", {"hello": 1}))
    with pytest.raises(modelfile.ModelFileError, match="top level of the JSON is not an object"):
        import_file(write_json(tmp_path / "c.json", [1, 2]))
    with pytest.raises(modelfile.ModelFileError, match="cannot read"):
        load(tmp_path / "missing.nam")


# GuitarML and AIDA-X layouts against PyTorch's own nn.LSTM / nn.GRU (reference.torch_rnn).
@pytest.mark.parametrize("unit, n_in, layers, bias", [("LSTM", 1, 2, False), ("GRU", 2, 1, True),
                                                      ("GRU", 3, 2, True)])
def test_guitarml_layout_matches_pytorch(tmp_path, test_signal, unit, n_in, layers, bias):
    torch = pytest.importorskip("torch")
    rnn, lin = torch_rnn(torch, unit, n_in, 6, layers, seed=n_in, bias=bias)
    state = {f"rec.{k}": v.tolist() for k, v in rnn.state_dict().items()}
    state.update({f"lin.{k}": v.tolist() for k, v in lin.state_dict().items()})
    doc = {"model_data": {"model": "SimpleRNN", "input_size": n_in, "skip": 1, "output_size": 1, "unit_type": unit,
                          "num_layers": layers, "hidden_size": 6, "bias_fl": bias}, "state_dict": state}
    mf = import_file(write_json(tmp_path / "g.json", doc), sample_rate=48000)
    knobs = [0.3, 0.8][:n_in - 1]
    x = test_signal(2000)
    assert [k["name"] for k in mf.knobs] == list(guitarml.KNOB_NAMES[:n_in - 1])
    err = np.max(np.abs(_play(mf, x, knobs) - torch_rnn_output(torch, rnn, lin, x, knobs)))
    assert err <= 1e-5


def _keras_layers(torch, rnn, lin, unit):
    """RTNeural's Keras layout of a torch RNN: transposed, GRU gates z, r, h, GRU bias (2, 3H)."""
    layers = []
    H = rnn.hidden_size
    sd = {k: v.double().numpy() for k, v in rnn.state_dict().items()}
    for layer in range(rnn.num_layers):
        w_ih, w_hh = sd[f"weight_ih_l{layer}"], sd[f"weight_hh_l{layer}"]
        b_ih, b_hh = sd[f"bias_ih_l{layer}"], sd[f"bias_hh_l{layer}"]
        if unit == "GRU":
            order = np.r_[H:2 * H, 0:H, 2 * H:3 * H]
            weights = [w_ih[order].T, w_hh[order].T, np.stack([b_ih[order], b_hh[order]])]
        else:
            weights = [w_ih.T, w_hh.T, b_ih + b_hh]
        layers.append({"type": unit.lower(), "activation": "", "shape": [None, None, H],
                       "weights": [w.tolist() for w in weights]})
    layers.append({"type": "dense", "activation": "", "shape": [None, None, 1],
                   "weights": [lin.weight.detach().double().numpy().T.tolist(), lin.bias.tolist()]})
    return layers


@pytest.mark.parametrize("unit, n_in, layers", [("GRU", 1, 1), ("LSTM", 3, 2), ("GRU", 2, 2)])
def test_aidax_layout_matches_pytorch(tmp_path, test_signal, unit, n_in, layers):
    torch = pytest.importorskip("torch")
    rnn, lin = torch_rnn(torch, unit, n_in, 5, layers, seed=10 + n_in)
    x = test_signal(2048)
    in_db, out_db = 3.0, -2.0
    gains = dict(skip=True, in_gain=10 ** (in_db / 20), out_gain=10 ** (out_db / 20))
    # The player checks the pair with every knob at 0.
    y = torch_rnn_output(torch, rnn, lin, x, [0.0] * (n_in - 1), **gains)
    doc = {"in_shape": [None, None, n_in], "in_skip": 1, "in_gain": in_db, "out_gain": out_db,
           "layers": _keras_layers(torch, rnn, lin, unit), "input_batch": x.tolist(), "output_batch": y.tolist(),
           "metadata": {"name": "synthetic", "samplerate": 44100}}
    mf = import_file(write_json(tmp_path / "a.json", doc))
    assert mf.verify() <= AIDADSP_THRESHOLD
    assert mf.sample_rate == 44100 and [k["name"] for k in mf.knobs] == ["param1", "param2"][:n_in - 1]
    # Knobs away from 0 too.
    knobs = [0.7, 0.2][:n_in - 1]
    err = np.max(np.abs(_play(mf, x, knobs) - torch_rnn_output(torch, rnn, lin, x, knobs, **gains)))
    assert err <= 1e-5
    # A file whose pair the network does not reproduce is refused.
    doc["output_batch"] = (y + 1e-3).tolist()
    with pytest.raises(modelfile.ModelFileError, match="does not reproduce"):
        import_file(write_json(tmp_path / "bad.json", doc))
    assert import_file(tmp_path / "bad.json", verify=False).reference_output is not None


def test_aidax_and_guitarml_fields_are_checked(tmp_path):
    gru = {"type": "gru", "shape": [None, None, 2],
           "weights": [np.zeros((1, 6)).tolist(), np.zeros((2, 6)).tolist(), np.zeros(6).tolist()]}
    dense = {"type": "dense", "weights": [[[0.0], [0.0]], [0.0]]}
    with pytest.raises(modelfile.ModelFileError, match="reset_after"):
        import_file(write_json(tmp_path / "a.json", {"in_shape": [None, None, 1], "layers": [gru, dense]}))
    conv = {"type": "conv1d", "weights": []}
    with pytest.raises(modelfile.ModelFileError, match="'conv1d'"):
        import_file(write_json(tmp_path / "b.json", {"in_shape": [None, None, 1], "layers": [conv, dense]}))
    state = {"rec.weight_ih_l0": np.zeros((8, 1)).tolist(), "rec.weight_hh_l0": np.zeros((8, 3)).tolist(),
             "lin.weight": [[0.0, 0.0]]}
    md = {"model": "SimpleRNN", "input_size": 1, "unit_type": "LSTM", "hidden_size": 2, "skip": 1}
    with pytest.raises(modelfile.ModelFileError, match=r"state_dict\.rec\.weight_hh_l0' has shape \(8, 3\)"):
        import_file(write_json(tmp_path / "c.json", {"model_data": md, "state_dict": state}))


# --- NAM's trainer: files it exported (tests/data/nam, made by scripts/make_nam_test_files.py) ---
TRAINER_CASES = sorted(p.name[:-len(".nam")] for p in NAM_DATA.glob("*.nam"))


TRAINER_WIDTHS = sorted((p.name.split(".")[0], int(p.name.split(".")[1][1:]))
                        for p in NAM_DATA.glob("*.w*.expected.npy"))


@pytest.mark.parametrize("block", [1, 64, 4096])
@pytest.mark.parametrize("name", TRAINER_CASES)
def test_trainer_exported_file_plays_as_the_trainer_computes(name, block):
    """The trainer's forward (prewarmed the way Core prewarms) against our render in blocks
    of 1, 64 and 4096; for the features the corpus lacks: gating, blending, FiLM (the
    layer1x1's in plain and gated layers too), grouped convs, per-channel PReLU, the
    post-stack head, slimmable WaveNets (full width), ConvNet (with batchnorm), LSTM 2x8, Linear."""
    x = np.load(NAM_DATA / "input.npy")
    expected = np.load(NAM_DATA / f"{name}.expected.npy")
    mf = import_file(NAM_DATA / f"{name}.nam")
    assert mf.prewarm and mf.architecture == json.loads((NAM_DATA / f"{name}.nam").read_text())["architecture"]
    err = float(np.max(np.abs(_play(mf, x, block=block) - expected)))
    print(f"{name}: max error {err:.2e} (output peak {np.max(np.abs(expected)):.2f})")
    assert err <= 1e-5 * max(1.0, float(np.max(np.abs(expected)))), f"{name}: max error {err:.3g}"


@pytest.mark.parametrize("block", [1, 64, 4096])
@pytest.mark.parametrize("name, width", TRAINER_WIDTHS)
def test_each_width_of_a_trainer_slimmable_wavenet_plays_as_the_trainer_computes(name, width, block):
    """A slimmable WaveNet at every width (--submodel N, narrowest first) against the
    trainer's forward slimmed to that width."""
    x = np.load(NAM_DATA / "input.npy")
    expected = np.load(NAM_DATA / f"{name}.w{width}.expected.npy")
    mf = import_file(NAM_DATA / f"{name}.nam", submodel=width)
    assert mf.metadata["submodel"]["index"] == width and mf.metadata["submodel"]["kind"] == "slimmable WaveNet"
    err = float(np.max(np.abs(_play(mf, x, block=block) - expected)))
    assert err <= 1e-5 * max(1.0, float(np.max(np.abs(expected)))), f"{name} width {width}: max error {err:.3g}"


# --- NeuralAmpModelerCore's own example models the corpus lacks (tests/data/nam/core: MIT, made
# by scripts/make_nam_test_files.py --core: Core's output in blocks of 64) ----------------------
CORE_DATA = NAM_DATA / "core"
CORE_CASES = sorted([(p.name[:-len(".expected.npy")], None) for p in CORE_DATA.glob("*.expected.npy")
                     if ".w" not in p.name] +
                    [(p.name.split(".")[0], int(p.name.split(".")[1][1:])) for p in CORE_DATA.glob("*.w*.expected.npy")],
                    key=str)


@pytest.mark.parametrize("block", [1, 64, 4096])
@pytest.mark.parametrize("name, width", CORE_CASES)
def test_core_example_model_plays_as_neuralampmodelercore(name, width, block):
    """wavenet_a2_max (every 0.6 feature: per-channel PReLU in gated and blended layers of
    its condition_dsp, LeakyHardtanh, FiLM everywhere, grouped convs) and every width of
    slimmable_wavenet, within 1e-4 of Core."""
    x = np.load(CORE_DATA / "input.npy")
    suffix = "" if width is None else f".w{width}"
    expected = np.load(CORE_DATA / f"{name}{suffix}.expected.npy")
    mf = import_file(CORE_DATA / f"{name}.nam", submodel=width)
    err = float(np.max(np.abs(_play(mf, x, block=block) - expected)))
    print(f"{name}{suffix} block {block}: max error {err:.2e} (output peak {np.max(np.abs(expected)):.2f})")
    assert err <= 1e-4, f"{name}{suffix}: max error {err:.3g}"


def test_core_cases_cover_what_the_importer_once_refused():
    assert ("wavenet_a2_max", None) in CORE_CASES and ("slimmable_wavenet", 2) in CORE_CASES
    doc = json.loads((CORE_DATA / "wavenet_a2_max.nam").read_text())
    prelus = [a for a in doc["config"]["condition_dsp"]["config"]["layers"][1]["activation"]
              if isinstance(a, dict) and a.get("type") == "PReLU"]
    assert prelus and all(len(set(a["negative_slopes"])) > 1 for a in prelus)


def test_per_channel_prelu_slopes_each_reach_their_own_channel(tmp_path):
    """Swapping two channels' slopes changes the output (one shared slope would not)."""
    x = np.load(CORE_DATA / "input.npy")[:2000]
    outputs = []
    for slopes in ([0.0, 1.0], [1.0, 0.0]):
        doc = json.loads((CORE_DATA / "wavenet_a2_max.nam").read_text())
        doc["config"]["condition_dsp"]["config"]["layers"][1]["activation"][0]["negative_slopes"] = slopes
        outputs.append(_play(import_file(write_json(tmp_path / "m.nam", doc)), x))
    assert np.max(np.abs(outputs[0] - outputs[1])) > 1e-3


def test_trainer_cases_cover_the_features_the_corpus_lacks():
    assert len(TRAINER_CASES) >= 10
    film = json.loads((NAM_DATA / "wavenet_film.nam").read_text())["config"]["layers"][0]
    assert all(film[slot]["active"] for slot in nam.FILM_KEYS)
    grouped = json.loads((NAM_DATA / "wavenet_grouped.nam").read_text())["config"]["layers"][0]
    assert grouped["groups_input"] == 2 and grouped["layer1x1"]["groups"] == 2 and grouped["head1x1"]["groups"] == 2
    assert json.loads((NAM_DATA / "wavenet_post_head.nam").read_text())["config"]["head"]["kernel_sizes"]
    assert json.loads((NAM_DATA / "convnet_batchnorm.nam").read_text())["config"]["batchnorm"]
    plain_film = json.loads((NAM_DATA / "wavenet_layer1x1_film.nam").read_text())["config"]["layers"]
    assert all(a["layer1x1_post_film"]["active"] for a in plain_film)
    assert {a["gating_mode"] if isinstance(a["gating_mode"], str) else a["gating_mode"][0]
            for a in plain_film} == {"none", "gated"}
    prelu = json.loads((NAM_DATA / "wavenet_prelu.nam").read_text())["config"]["layers"][0]["activation"][0]
    assert prelu["type"] == "PReLU" and len(set(prelu["negative_slopes"])) == 4
    assert ("wavenet_slimmable", 2) in TRAINER_WIDTHS and ("wavenet_slimmable_gated", 3) in TRAINER_WIDTHS


def _two_layer_nam(rng, gating, film_weights=None):
    """A 0.7 WaveNet of two 2-channel layers (the first layer's layer1x1 feeds the second);
    with film_weights, layer1x1_post_film is active and takes them in each layer (4
    scale/shift x 1 condition, then 4 biases) after the layer1x1."""
    Z = 2 if gating == "none" else 4
    weights = rng.standard_normal(2).tolist()
    for _ in range(2):
        weights += (rng.standard_normal(Z * 2 * 3 + Z).tolist() + rng.standard_normal(Z).tolist()
                    + rng.standard_normal(2 * 2 + 2).tolist() + list(film_weights or []))
    weights += [0.7, -0.4, 0.1, 0.5]
    config = {"input_size": 1, "condition_size": 1, "channels": 2, "dilations": [2, 1], "kernel_sizes": [3, 3],
              "activation": "Tanh", "gating_mode": gating, "secondary_activation": "Sigmoid",
              "head": {"out_channels": 1, "kernel_size": 1, "bias": True},
              "layer1x1": {"active": True, "groups": 1}, "head1x1": {"active": False, "out_channels": 1, "groups": 1}}
    if film_weights is not None:
        config["layer1x1_post_film"] = {"active": True, "shift": True, "groups": 1}
    return {"version": "0.7.0", "architecture": "WaveNet", "weights": weights,
            "config": {"layers": [config], "head": None, "head_scale": 0.5}}


@pytest.mark.parametrize("gating", ["none", "gated", "blended"])
def test_layer1x1_post_film_applies_under_every_gating_mode(tmp_path, test_signal, gating):
    """layer1x1_post_film modulates the layer1x1's output whatever the gating mode, as NAM's
    trainer does and NeuralAmpModelerCore since its PR #322 (before it, Core applied it in
    blended layers only): an identity FiLM (scale 1, shift 0) changes nothing, another does."""
    x = test_signal(1000)
    plain = _play(import_file(write_json(tmp_path / "p.nam", _two_layer_nam(np.random.default_rng(3), gating))), x)
    identity = [0.0] * 4 + [1.0, 1.0, 0.0, 0.0]  # weights (4 x 1 condition), then biases: scale 1, shift 0
    outputs = {}
    for name, film in (("identity", identity), ("strong", [5.0] * 8)):
        mf = import_file(write_json(tmp_path / "m.nam", _two_layer_nam(np.random.default_rng(3), gating, film)))
        assert mf.config["layer_arrays"][0]["layers"][0]["film"] == {"layer1x1_post_film": {"shift": True}}
        outputs[name] = _play(mf, x)
    assert np.max(np.abs(outputs["identity"] - plain)) <= 1e-6
    assert np.max(np.abs(outputs["strong"] - plain)) > 0.1
