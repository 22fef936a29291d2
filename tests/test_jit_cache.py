"""One compile per architecture family, reused from Numba's on-disk cache on the next start."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware import models
from firmware.models import convnet, gru, linear, lstm, presets, wavenet
from firmware.models.random import random_weights
from firmware.tools import bench

ROOT = Path(__file__).resolve().parents[1]


def _run_once(arch, config):
    model = models.build(arch, config, random_weights(arch, config, seed=3), 48000, 32)
    x = np.linspace(-0.5, 0.5, 100).astype(np.float32)
    y = np.empty_like(x)
    model.process(x, y, len(x))
    assert np.all(np.isfinite(y))


def test_new_models_of_a_known_family_do_not_compile_again():
    wavenets = [presets.wavenet_preset("nano"), presets.wavenet_preset("feather", gated=True),
                {"layer_arrays": [{"input_size": 1, "condition_size": 1, "channels": 5, "bottleneck": 3,
                                   "head_size": 2, "head_kernel_size": 4, "head_bias": True, "head1x1": 2,
                                   "layers": [{"kernel_size": 6, "dilation": d, "gating": "blended",
                                               "activation": {"type": "LeakyReLU", "negative_slope": 0.1}}
                                              for d in (1, 7, 13)]}], "head_scale": 0.5}]
    recurrent = [presets.recurrent_config(h, num_layers=layers, knobs=k, skip=s)
                 for h, layers, k, s in ((3, 1, 0, False), (12, 2, 1, True), (24, 1, 2, False))]
    for config in wavenets:
        _run_once("WaveNet", config)
    for config in recurrent:
        _run_once("LSTM", config)
        _run_once("GRU", config)
    for taps in (1, 5, 300):
        _run_once("Linear", {"receptive_field": taps, "bias": taps > 1})
    for channels, dilations in ((2, [1, 2]), (8, [1, 2, 4, 8, 16, 32])):
        _run_once("ConvNet", {"channels": channels, "dilations": dilations, "activation": "Tanh"})
    # Entry points called from Python: exactly one compile each. wavenet_block is also an
    # entry point, for models with a condition_dsp; here it runs inside wavenet_mono, which
    # (as lstm_block, gru_block) runs inside the family's state kernel (models._state).
    for kernel in (wavenet.wavenet_state_mono, lstm.lstm_state_block, gru.gru_state_block, linear.linear_block,
                   convnet.convnet_block):
        assert len(kernel.signatures) == 1, f"{kernel.__name__} compiled {len(kernel.signatures)} times"
    for kernel in (wavenet.wavenet_block, wavenet.wavenet_mono, lstm.lstm_block, gru.gru_block):
        assert len(kernel.signatures) <= 1, f"{kernel.__name__} compiled {len(kernel.signatures)} times"


def test_second_start_loads_every_kernel_from_the_cache(warmed_cache):
    # the first start (`tubeless warm` on an empty cache, shared with the compile tests) wrote it
    cache, out, _ = warmed_cache
    assert any(Path(cache).rglob("*.nbi")), "nothing was written to the cache directory"
    second = bench.jit_probe(str(cache))
    # Every entry point (one per family) loads from the cache; nothing compiles again.
    assert second["misses"] == 0 and second["hits"] >= 5
    assert "kernels compiled" in out and not out.startswith("0 kernels compiled")   # that start did compile


@pytest.mark.parametrize("bad", ["/proc/forbidden-cache", "/dev/null/x"])
def test_an_unwritable_cache_directory_falls_back_to_a_writable_one(tmp_path, bad):
    env = dict(os.environ, NUMBA_CACHE_DIR=bad, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env.pop("TUBELESS_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", "import firmware, os; print(firmware.NUMBA_CACHE_DIR); "
                          "print(os.environ['NUMBA_CACHE_DIR'])"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1] == str(tmp_path / "xdg" / "tubeless" / "numba")
    assert os.access(out[0], os.W_OK)


def test_a_compile_is_announced_and_a_cache_load_is_not(tmp_path):
    """Issue 24: "compiling kernels, first run only" where a compile happens (a cache miss),
    naming the kernel; nothing on a start that loads the cache."""
    from firmware.models._jit import NOTICE
    script = ("import logging, numpy as np; logging.basicConfig(level=logging.INFO); "
              "from firmware import models; from firmware.models._jit import WATCH; "
              "m = models.build('Linear', {'receptive_field': 3, 'bias': True}, "
              "{'taps': np.ones(3, np.float32), 'bias': np.zeros(1, np.float32)}, 48000, 16); "
              "x = np.zeros(16, np.float32); m.process(x, x.copy(), 16); print(WATCH.compiles)")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                           check=True) for _ in range(2)]
    assert f"{NOTICE} (Numba's cache keeps them for the next start): firmware.models.linear.linear_block" \
        in runs[0].stderr
    assert runs[0].stdout.split() == ["1"]
    assert NOTICE not in runs[1].stderr and runs[1].stdout.split() == ["0"]
