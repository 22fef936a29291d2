"""Hostile model files, written by `hostile_cases(folder)`: sizes, depths, dilations, layer
counts, NaN/Inf, wrong types, nested JSON, zip members, claims (tolerance, loudness, knobs,
rates), and real files truncated at every 1/16. Each case says whether it must be refused,
must play, or may do either. test_hostile_files.py runs them through every command that
reads a model file, test_librarian_hostile.py through the pedal's librarian."""
import io
import json
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from helpers import (
    NAM_DATA,
    REPO,
    classic_wavenet_config,
    classic_wavenet_nam,
    edit_header,
    guitarml_lstm_doc,
    read_npz,
    write_npz,
)

from firmware.testing.models import make_model

CORPUS = REPO.parent / "shared" / "corpus"


@dataclass
class Case:
    name: str          # what the file tries
    path: str          # the file, written by hostile_cases
    expect: str        # "refuse", "play" or "either"


# --- the files ---------------------------------------------------------------------------------
def _lstm_nam(H=3, L=1, **config):
    n = sum(4 * H * ((1 if i == 0 else H) + H) + 4 * H + 2 * H for i in range(L)) + H + 1
    rng = np.random.default_rng(H * 100 + L)
    return {"version": "0.5.4", "architecture": "LSTM",
            "config": {"input_size": 1, "hidden_size": H, "num_layers": L, **config},
            "weights": (0.3 * rng.standard_normal(n)).tolist(), "sample_rate": 48000,
            "metadata": {"name": "fuzz lstm", "loudness": -20.0}}


def _wavenet_config(C=2, K=3, dilations=(1, 2), **layer):
    return classic_wavenet_config((C,), (dilations,), K, layer=layer)


def _wavenet_nam(C=2, K=3, dilations=(1, 2)):
    """A valid small WaveNet; hostile ones swap in a _wavenet_config and keep these weights."""
    return classic_wavenet_nam(np.random.default_rng(C * 10 + K), channels=(C,), dilations=(dilations,), kernel=K)


def _guitarml():
    return guitarml_lstm_doc(hidden=4, seed=4, sample_rate=48000)


def _npz_arrays(folder):
    """The arrays of a valid tubeless .npz (an LSTM made here), to corrupt."""
    path = Path(folder) / "valid.npz"
    make_model("LSTM", hidden=4, seed=3, name="fuzz npz", loudness=-20.0).save(path)
    return path, read_npz(path)


def hostile_cases(folder):
    """Write every hostile file into `folder`; a list of Case (name, path, expect)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []

    def add(name, content, expect="refuse", suffix=".nam"):
        path = folder / (name + suffix)
        if isinstance(content, (dict, list)):
            content = json.dumps(content)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        cases.append(Case(name, str(path), expect))

    def nam(name, doc, expect="refuse"):
        add(name, doc, expect)

    # baselines that must play
    nam("ok_lstm", _lstm_nam(), "play")
    nam("ok_wavenet", _wavenet_nam(), "play")
    add("ok_guitarml", _guitarml(), "play", ".json")

    # sizes, depths, dilations, layer counts: refused by the limits, before allocation
    nam("lstm_billion_layers", _lstm_nam(num_layers=10 ** 9) | {"weights": [0.1] * 70})
    nam("lstm_hidden_1e6", _lstm_nam() | {"config": {"input_size": 1, "hidden_size": 10 ** 6}})
    for bits in (20, 26, 31, 63):
        nam(f"wavenet_dilation_2e{bits}", _wavenet_nam(dilations=(1, 2 ** bits)))
    nam("wavenet_channels_1e5", _wavenet_nam() | {"config": _wavenet_config(C=100000)})
    nam("wavenet_100k_layers", _wavenet_nam() | {"config": _wavenet_config(dilations=[1] * 100000)})
    nam("wavenet_kernel_1e9", _wavenet_nam() | {"config": _wavenet_config(K=10 ** 9)})
    nam("linear_1e9_taps", {"version": "0.5.4", "architecture": "Linear",
                            "config": {"receptive_field": 10 ** 9, "bias": False}, "weights": [0.5] * 8})
    nam("convnet_channels_1e5", {"version": "0.5.4", "architecture": "ConvNet",
                                 "config": {"channels": 100000, "dilations": [1, 2], "activation": "Tanh"},
                                 "weights": [0.1] * 10})
    nam("convnet_dilation_2e40", {"version": "0.5.4", "architecture": "ConvNet",
                                  "config": {"channels": 2, "dilations": [1, 2 ** 40], "activation": "Tanh"},
                                  "weights": [0.1] * 10})
    post = json.loads((NAM_DATA / "wavenet_post_head.nam").read_text()) if (NAM_DATA / "wavenet_post_head.nam").exists() else None
    if post is not None:
        doc = json.loads(json.dumps(post))
        doc["config"]["head"]["kernel_sizes"] = [10 ** 9]
        nam("post_head_kernel_1e9", doc)
        doc = json.loads(json.dumps(post))
        doc["config"]["head"]["kernel_sizes"] = [1] * 100000
        nam("post_head_100k_convs", doc)
    inner = _wavenet_nam()
    for _ in range(40):
        inner = _wavenet_nam() | {"config": dict(_wavenet_nam()["config"], condition_dsp=inner)}
    nam("condition_dsp_nested_40", inner)
    box = _lstm_nam()
    for _ in range(40):
        box = {"version": "0.7.0", "architecture": "SlimmableContainer",
               "config": {"submodels": [{"max_value": 1.0, "model": box}]}, "weights": []}
    nam("slimmable_nested_40", box)

    # JSON structure
    nam("json_nested_100k", "[" * 100000 + "]" * 100000)
    nam("json_nested_in_metadata", json.dumps(_lstm_nam()).replace('"metadata": {', '"metadata": {"x": '
                                                                   + "[" * 5000 + "]" * 5000 + ", "))
    nam("json_top_level_list", [1, 2, 3])
    nam("json_top_level_number", "3")
    nam("json_empty", "")
    nam("json_binary", bytes(range(256)) * 4)
    nam("json_over_size_limit", b" " * (16 * 2 ** 20 + 10) + b"{}")
    nam("json_bad_utf8", b'{"a": "\xff\xfe"}')

    # NaN / Inf / wrong types in weights and config
    w = _lstm_nam()
    first = json.dumps(w["weights"][5])
    for name, literal in (("weights_nan", "NaN"), ("weights_infinity", "Infinity"), ("weights_huge_int", "1" + "0" * 400)):
        nam(name, json.dumps(w).replace(first, literal, 1))
    nam("weights_string", _lstm_nam() | {"weights": ["a"] * 70})
    nam("weights_null", _lstm_nam() | {"weights": None})
    nam("weights_dict", _lstm_nam() | {"weights": {"a": 1}})
    nam("weights_nested", _lstm_nam() | {"weights": [[0.1]] * 70})
    nam("weights_too_few", _lstm_nam() | {"weights": [0.1] * 10})
    nam("output_overflows_to_inf", {"version": "0.5.4", "architecture": "Linear",   # finite weights, Inf out
                                    "config": {"receptive_field": 8, "bias": False}, "weights": [3e38] * 8})
    for bad in ("16", 2.5, True, None, -1, 0, [], {}):
        nam(f"channels_{type(bad).__name__}_{str(bad)[:3]}", _wavenet_nam() | {"config": _wavenet_config(channels=bad)})
    nam("hidden_size_float_inf", json.dumps(_lstm_nam()).replace('"hidden_size": 3', '"hidden_size": 1e999'))
    nam("architecture_unknown", _lstm_nam() | {"architecture": "Transformer"})
    nam("version_weird", _lstm_nam() | {"version": "9999999999999999999.1"})
    nam("version_number", _lstm_nam() | {"version": 5})

    # what a file claims
    for name, value in (("m200", -200), ("m1e308", -1e308), ("p1e308", 1e308), ("string", "loud")):
        nam(f"loudness_{name}", _lstm_nam() | {"metadata": {"loudness": value}}, "play")
    nam("loudness_nan", json.dumps(_lstm_nam() | {"metadata": {"loudness": 0}}).replace('"loudness": 0', '"loudness": NaN'),
        "play")
    for rate in (0, -48000, 10 ** 12, "fast", 1e300):
        nam(f"sample_rate_{str(rate)[:6]}", _lstm_nam() | {"sample_rate": rate})
    add("guitarml_hidden_1e9", _guitarml() | {"model_data": _guitarml()["model_data"] | {"hidden_size": 10 ** 9}},
        suffix=".json")
    add("guitarml_input_size_99", _guitarml() | {"model_data": _guitarml()["model_data"] | {"input_size": 99}},
        suffix=".json")
    aidax = {"in_shape": [None, None, 1], "in_skip": 0, "in_gain": 1e308, "out_gain": 0,
             "layers": [{"type": "lstm", "shape": [None, None, 2],
                         "weights": [[[0.1] * 8], [[0.1] * 8] * 2, [0.0] * 8]},
                        {"type": "dense", "weights": [[[0.5], [0.5]], [0.0]]}]}
    add("aidax_gain_1e308", aidax, suffix=".json")
    add("aidax_100k_layers", aidax | {"in_gain": 0, "layers": [aidax["layers"][0]] * 100000 + [aidax["layers"][1]]},
        suffix=".json")

    # .npz: zip members, declared sizes, claims in the header
    valid, arrays = _npz_arrays(folder)
    cases.append(Case("npz_valid", str(valid), "play"))
    write_npz(folder / "npz_unknown_member.npz", {**arrays, "evil": np.zeros(3, np.float32)})
    write_npz(folder / "npz_object_member.npz", {**arrays, "weights/head/bias": np.array([object()], dtype=object)})
    write_npz(folder / "npz_tolerance_1e30.npz", {**edit_header(arrays, lambda h: h["reference"].update(
        tolerance=1e30)), "reference/output": arrays["reference/output"] + 0.5})
    write_npz(folder / "npz_loudness_m200.npz", edit_header(arrays, lambda h: h["metadata"].update(loudness=-200)))
    write_npz(folder / "npz_knob_nan.npz", edit_header(arrays, lambda h: h.update(
        knobs=[{"name": "k", "min": 0, "max": 1, "default": float("nan")}])))
    write_npz(folder / "npz_billion_layers.npz", edit_header(arrays, lambda h: h["config"].update(num_layers=10 ** 9)))
    write_npz(folder / "npz_sample_rate_1.npz", edit_header(arrays, lambda h: h.update(sample_rate=1)))
    with zipfile.ZipFile(folder / "npz_text_member.npz", "w") as z:
        for k, v in arrays.items():
            with z.open(k + ".npy", "w") as f:
                np.lib.format.write_array(f, v)
        z.writestr("readme.txt", "hello")
    with zipfile.ZipFile(folder / "npz_gigabyte_member.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for k, v in arrays.items():
            with z.open(k + ".npy", "w") as f:
                np.lib.format.write_array(f, v)
        with z.open("weights/extra.npy", "w") as f:      # 200 MB of zeros, ~0.2 MB in the file
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (50 * 2 ** 20,)})
            chunk = bytes(2 ** 20)
            for _ in range(200):
                f.write(chunk)
    shape_lie = dict(arrays)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 10,)})
    raw = buf.getvalue() + arrays["weights/head/bias"].tobytes()
    with zipfile.ZipFile(folder / "npz_npy_header_lies.npz", "w") as z:
        for k, v in shape_lie.items():
            if k == "weights/head/bias":
                z.writestr(k + ".npy", raw)
            else:
                with z.open(k + ".npy", "w") as f:
                    np.lib.format.write_array(f, v)
    with zipfile.ZipFile(folder / "npz_20k_members.npz", "w") as z:
        for i in range(20000):
            z.writestr(f"weights/{i}.npy", b"")
    with zipfile.ZipFile(folder / "npz_duplicate_member.npz", "w") as z:
        for k, v in arrays.items():
            with z.open(k + ".npy", "w") as f:
                np.lib.format.write_array(f, v)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z.writestr("header.npy", b"\x93NUMPY")
    for name in ("npz_unknown_member", "npz_object_member", "npz_tolerance_1e30", "npz_knob_nan",
                 "npz_billion_layers", "npz_sample_rate_1", "npz_text_member", "npz_gigabyte_member",
                 "npz_npy_header_lies", "npz_20k_members", "npz_duplicate_member"):
        cases.append(Case(name, str(folder / (name + ".npz")), "refuse"))
    cases.append(Case("npz_loudness_m200", str(folder / "npz_loudness_m200.npz"), "play"))

    # real files truncated at every 1/16
    real = [valid, NAM_DATA / "lstm_2x8.nam", NAM_DATA / "convnet.nam", NAM_DATA / "wavenet_post_head.nam"]
    if CORPUS.is_dir():
        real += [CORPUS / "nam" / "wavenet_a1_standard.nam", CORPUS / "nam" / "A2.nam",
                 CORPUS / "aidax" / "tw40_blues_deluxe_deerinkstudios.json", CORPUS / "guitarml" / "BluesJr.json"]
        for path in real[4:]:
            cases.append(Case("real_" + path.stem, str(path), "play"))
    for path in real:
        if not Path(path).exists():
            continue
        data = Path(path).read_bytes()
        for k in range(1, 16):
            add(f"truncated_{Path(path).stem}_{k}of16", data[:len(data) * k // 16], "refuse", Path(path).suffix)
    return cases
