"""Compile every kernel into the Numba cache now (at install or first boot),
so the pedal starts playing in a second instead of after minutes of JIT on a Pi."""
import logging
import time

import numpy as np

log = logging.getLogger(__name__)


def warm(rate=48000, block=64):
    """Run one block through each architecture family, the resampler and the tone chain;
    returns seconds taken."""
    from firmware import models
    from firmware.dsp import resample, rig
    from firmware.dsp.chain import ToneChain
    from firmware.models import presets
    from firmware.models.random import random_weights
    t0 = time.perf_counter()
    x = np.zeros(max(64, block), np.float32)     # a period longer than 64 (audio.period 128, 512) too
    y = np.empty_like(x)
    cases = [("WaveNet", presets.wavenet_preset("nano")), ("LSTM", presets.recurrent_config(4, knobs=1)),
             ("LSTM", presets.recurrent_config(4, num_layers=2)), ("GRU", presets.recurrent_config(4)),
             ("GRU", presets.recurrent_config(4, num_layers=2)), ("Linear", {"receptive_field": 8, "bias": True}),
             ("ConvNet", {"channels": 2, "dilations": [1, 2], "activation": "Tanh"})]
    for arch, config in cases:
        model = models.build(arch, config, random_weights(arch, config), 48000, 64)
        model.process(x, y, 64)
    # a model trained at 44.1 kHz played at the pedal's rate goes through the resampler
    config = presets.recurrent_config(4)
    other = 44100 if rate != 44100 else 48000
    model = models.build("LSTM", config, random_weights("LSTM", config), other,
                         resample.model_block(block, rate, other))
    resampled = resample.wrap(model, rate, block)
    resampled.process(np.zeros(block, np.float32), np.empty(block, np.float32), block)
    chain = ToneChain(rate, block=block, ir=np.r_[1.0, np.zeros(255)])
    chain.process(x, y, 64)
    # every block of the rig on, its knobs moving (their kernels' other paths), then off:
    # the first stomp on the pedal must not compile anything on the audio thread
    for b in rig.BLOCKS:
        chain.rig.set_on(b.NAME, True)
    chain.process(x, y, 64)
    for name in rig.names():
        cls, p = rig.resolve(name)
        chain.rig.set(name, p.hi)
    chain.process(x, y, 64)
    for b in rig.BLOCKS:
        chain.rig.set_on(b.NAME, False)
    for _ in range(1 + int(0.05 * rate) // block):      # past the ramps
        chain.process(x, y, block)
    # the global IR changing while it plays (the page, a preset): the two IRs crossfading,
    # to another IR and to none
    from firmware.dsp.convolver import Convolver
    for ir in (np.r_[0.5, np.zeros(127)], None):
        chain.request_ir(Convolver(ir, block=block) if ir is not None else None)
        for _ in range(2 + int(0.05 * rate) // block):
            chain.process(x, y, block)
    for cls in rig.BLOCKS:                               # each block alone, out of place: off, then on
        b = cls(rate, block)
        b.process(x, y, block)
        b.set_on(not b.on)
        b.process(x, y, block)
    # audio.stereo_out: the wide twins, the linked limiter and the two-channel PCM encoder
    from firmware.platform import samples
    wide = ToneChain(rate, block=block, stereo_out=True)
    for b in rig.BLOCKS:
        wide.rig.set_on(b.NAME, True)
    wide.process_stereo(x, y, np.empty_like(y), 64)
    raw = np.zeros(block * 2 * 4, np.uint8)
    samples.encode_pair(y, y, raw, block, 2, 4, 32)
    samples.encode_all(y, raw, block, 2, 4, 32)
    # the drive slot with a capture in it, then crossfading to another: its trim, fade and mix
    from firmware.dsp.chain import Slot
    stomp = rig.BY_NAME["stomp"](rate, block)
    stomp.set_on(True)
    for in_gain in (1.0, 2.0):
        lstm = models.build("LSTM", config, random_weights("LSTM", config), rate, block)
        stomp.request(Slot(lstm, in_gain=in_gain, out_gain=1.0 / in_gain))
        for _ in range(2 + int(0.05 * rate) // block):   # past the crossfade
            stomp.process(x, y, block)
            stomp.process(y, y, block)
    # the engine's own: the input and output rings (for the tuner and the recorder), the
    # capture's signal played instead of the output, and the capture's decoder, fed the bytes
    # pyalsaaudio reads; without them a pedal's first start compiled these
    from firmware.dsp import kernels
    from firmware.platform import samples
    ring = np.zeros(4 * block, np.float32)
    kernels.ring_write_block(x, y, y, block, ring, ring.copy(), ring.copy(), 0, False)
    kernels.send_block(y, y.copy(), block, ring, np.int64(0), np.int64(block // 2))
    samples.decode_channel(bytes(block * 2 * 4), y, block, 2, 0, 4, 32)
    return time.perf_counter() - t0
