"""The model file: round trip, and a clear ModelFileError (file + field) for every bad input."""
import numpy as np
import pytest
from helpers import npz_header, read_npz, with_header, write_npz

torch = pytest.importorskip("torch")

from firmware.core import limits
from firmware.models import modelfile  # noqa: E402
from firmware.models.modelfile import ModelFileError  # noqa: E402
from training.models import build_torch_model, to_modelfile  # noqa: E402

LSTM_CONFIG = {"input_size": 2, "hidden_size": 8, "num_layers": 1, "skip": True, "initial_state": True}
WAVENET_CONFIG = {"layer_arrays": [{
    "input_size": 1, "condition_size": 1, "channels": 4, "head_size": 1, "head_bias": True,
    "layers": [{"kernel_size": 3, "dilation": d, "activation": "Tanh"} for d in (1, 2, 4)]}],
    "head_scale": 0.5}


def _trained_looking(architecture, config, seed=0):
    torch.manual_seed(seed)
    module = build_torch_model(architecture, config)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return module


@pytest.fixture(scope="module")
def lstm_file():
    knobs = [{"name": "drive", "min": 0.0, "max": 10.0, "default": 0.3}]
    return to_modelfile(_trained_looking("LSTM", LSTM_CONFIG), sample_rate=44100,
                        metadata={"name": "test lstm"}, knobs=knobs)


@pytest.fixture
def saved(lstm_file, tmp_path):
    """A valid file on disk, and its arrays to corrupt."""
    path = tmp_path / "model.npz"
    lstm_file.save(path)
    return path, read_npz(path)


def _load_error(path, verify=True):
    with pytest.raises(ModelFileError) as info:
        modelfile.load(path, verify=verify)
    message = str(info.value)
    assert info.value.path == str(path) and str(path) in message
    return message


# --- round trip -------------------------------------------------------------------------

@pytest.mark.parametrize("architecture, config", [("LSTM", LSTM_CONFIG), ("WaveNet", WAVENET_CONFIG),
                                                  ("GRU", {"input_size": 1, "hidden_size": 6, "num_layers": 2})])
def test_round_trip(architecture, config, tmp_path):
    written = to_modelfile(_trained_looking(architecture, config), metadata={"name": "round trip"})
    path = tmp_path / "m.npz"
    written.save(path)
    loaded = modelfile.load(path, verify=True)
    assert (loaded.architecture, loaded.config, loaded.sample_rate) == (architecture, config, 48000)
    assert loaded.metadata == {"name": "round trip"} and loaded.knobs == written.knobs
    assert loaded.prewarm is True
    assert set(loaded.weights) == set(written.weights)
    for name, w in written.weights.items():
        assert loaded.weights[name].dtype == np.float32
        np.testing.assert_array_equal(loaded.weights[name], w)
    np.testing.assert_array_equal(loaded.reference_output, written.reference_output)
    assert loaded.verify() <= loaded.tolerance


def test_round_trip_keeps_knobs_and_rate(lstm_file, saved):
    path, _ = saved
    loaded = modelfile.load(path)
    assert loaded.sample_rate == 44100 and loaded.knobs == lstm_file.knobs
    assert loaded.reference_knobs == [0.3] and loaded.name == "test lstm"


def test_reference_is_sensitive_to_the_knob(lstm_file):
    """The reference pair depends on the knob value it was made with, so verify() checks it."""
    other = modelfile.ModelFile(lstm_file.architecture, lstm_file.config, lstm_file.weights,
                                lstm_file.sample_rate, knobs=lstm_file.knobs,
                                reference_input=lstm_file.reference_input,
                                reference_output=lstm_file.reference_output, reference_knobs=[0.9])
    with pytest.raises(ModelFileError, match="does not reproduce"):
        other.verify()


# --- files that are not model files ------------------------------------------------------

def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert "truncated" in _load_error(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "model.npz"
    path.write_text('{"this is": "a .nam file, not ours"}')
    assert "not .npz" in _load_error(path)


def test_missing_file(tmp_path):
    assert "cannot read" in _load_error(tmp_path / "absent.npz")


def test_huge_file_is_refused_before_reading(saved, monkeypatch):
    path, _ = saved
    monkeypatch.setattr(limits, "_active", limits.Limits(npz_bytes=path.stat().st_size - 1))
    assert "limit" in _load_error(path)


def test_pickled_object_arrays_are_never_unpickled(saved, tmp_path):
    path, arrays = saved
    write_npz(path, {**arrays, "weights/head/bias": _tripwire_array()})
    before = len(_TRIPPED)
    message = _load_error(path)
    assert "'weights/head/bias'" in message and "object" in message
    assert len(_TRIPPED) == before


_TRIPPED = []


def _trip():
    _TRIPPED.append(True)


class _Tripwire:
    """Calls _trip() when unpickled: a malicious file could run any code at that point."""

    def __reduce__(self):
        return (_trip, ())


def _tripwire_array():
    payload = np.empty(1, dtype=object)
    payload[0] = _Tripwire()
    return payload


def test_tripwire_works_when_pickles_are_allowed(saved):
    """Proves the tripwire above would have fired, so its silence means something."""
    path, arrays = saved
    write_npz(path, {**arrays, "weights/head/bias": _tripwire_array()})
    before = len(_TRIPPED)
    with np.load(path, allow_pickle=True) as npz:
        npz["weights/head/bias"]
    assert len(_TRIPPED) == before + 1


# --- header -------------------------------------------------------------------------------

def test_missing_header(saved):
    path, arrays = saved
    write_npz(path, {k: v for k, v in arrays.items() if k != "header"})
    assert "'header'" in _load_error(path)


def test_header_not_json(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "header": np.frombuffer(b'{"format": "tubeless-model", ', np.uint8)})
    assert "header is not valid JSON" in _load_error(path)


def test_header_of_another_format(saved):
    path, arrays = saved
    write_npz(path, with_header(arrays, {**npz_header(arrays), "format": "something-else"}))
    assert "'format'" in _load_error(path)


@pytest.mark.parametrize("version", [2, 0, "1"])
def test_unknown_format_version(saved, version):
    path, arrays = saved
    write_npz(path, with_header(arrays, {**npz_header(arrays), "version": version}))
    message = _load_error(path)
    assert "format version" in message and repr(version) in message


@pytest.mark.parametrize("key", ["version", "architecture", "config", "sample_rate"])
def test_missing_header_key(saved, key):
    path, arrays = saved
    header = npz_header(arrays)
    del header[key]
    write_npz(path, with_header(arrays, header))
    assert f"'{key}'" in _load_error(path)


def test_wrongly_typed_header_field(saved):
    path, arrays = saved
    write_npz(path, with_header(arrays, {**npz_header(arrays), "sample_rate": "48k"}))
    assert "'sample_rate'" in _load_error(path)


def test_unknown_architecture(saved):
    path, arrays = saved
    write_npz(path, with_header(arrays, {**npz_header(arrays), "architecture": "Transformer"}))
    assert "'Transformer'" in _load_error(path)


def test_config_missing_a_field(saved):
    path, arrays = saved
    header = npz_header(arrays)
    del header["config"]["hidden_size"]
    write_npz(path, with_header(arrays, header))
    assert "config.hidden_size" in _load_error(path)


# --- weights ------------------------------------------------------------------------------

def test_wrong_weight_shape(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "weights/layers/0/weight_hh": arrays["weights/layers/0/weight_hh"].T.copy()})
    message = _load_error(path)
    assert "'weights/layers/0/weight_hh'" in message and "(32, 8)" in message


def test_wrong_weight_count(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "weights/layers/0/h0": np.zeros(9, np.float32)})
    message = _load_error(path)
    assert "'weights/layers/0/h0'" in message and "(9,)" in message


def test_config_that_needs_other_weights(saved):
    """A header edited to a bigger model: the arrays no longer fit its config."""
    path, arrays = saved
    header = npz_header(arrays)
    header["config"]["hidden_size"] = 12
    write_npz(path, with_header(arrays, header))
    assert "'weights/layers/0/weight_ih' has shape (32, 2), expected (48, 2)" in _load_error(path)


def test_float64_weights(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "weights/head/weight": arrays["weights/head/weight"].astype(np.float64)})
    message = _load_error(path)
    assert "'weights/head/weight'" in message and "float64" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(saved, bad):
    path, arrays = saved
    w = arrays["weights/layers/0/bias"].copy()
    w[3] = bad
    write_npz(path, {**arrays, "weights/layers/0/bias": w})
    message = _load_error(path)
    assert "'weights/layers/0/bias'" in message and "NaN or Inf" in message


def test_missing_weight_array(saved):
    path, arrays = saved
    write_npz(path, {k: v for k, v in arrays.items() if k != "weights/layers/0/c0"})
    assert "missing weight array 'weights/layers/0/c0'" in _load_error(path)


def test_extra_weight_array(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "weights/layers/1/weight_ih": np.zeros((32, 8), np.float32)})
    assert "unexpected weight array 'weights/layers/1/weight_ih'" in _load_error(path)


# --- reference pair ------------------------------------------------------------------------

def test_reference_that_does_not_reproduce(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "reference/output": arrays["reference/output"] + np.float32(1e-3)})
    assert "reference output does not reproduce" in _load_error(path)
    modelfile.load(path, verify=False)  # still readable for inspection


def test_weights_changed_after_the_reference_was_made(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "weights/head/bias": arrays["weights/head/bias"] + np.float32(0.01)})
    assert "reference output does not reproduce" in _load_error(path)


def test_missing_reference(saved):
    path, arrays = saved
    write_npz(path, {k: v for k, v in arrays.items() if k != "reference/output"})
    assert "'reference/output'" in _load_error(path)


def test_reference_of_wrong_length(saved):
    path, arrays = saved
    write_npz(path, {**arrays, "reference/output": arrays["reference/output"][:-1]})
    assert "reference arrays" in _load_error(path)


def test_non_finite_reference(saved):
    path, arrays = saved
    ref = arrays["reference/input"].copy()
    ref[10] = np.nan
    write_npz(path, {**arrays, "reference/input": ref})
    assert "reference arrays contain NaN or Inf" in _load_error(path)
