"""The tone chain: what the pedal does to every block, reusable by `tubeless render`.

    input -> the rig's blocks before the model (boost, the drive slot's captured pedal; the
    tone stack in position "pre") ->
    drive (input gain) -> model (loudness-normalised; a conditioned model's knob follows the
    drive pot; resampled when trained at another rate) -> noise gate (detected on the raw
    input) -> cabinet IR (the model's own, else the global one) -> DC blocker -> the rig's
    blocks after it (tone stack, delay, reverb: firmware.dsp.rig) -> output level -> bypass
    crossfade (to the raw input) -> limiter (under -0.1 dBFS, NaN -> silence)

A model switch crossfades whole paths: when the two models use different IRs, each plays
through its own, the new one faded in before its IR, the old one faded out after its IR
(its tail fades instead of being cut); with the same IR the mix goes through it once.

Usage (offline, e.g. render):

    chain = ToneChain(48000, block=64, ir=ir_array, model=model_file)   # defaults = pedal's
    chain.process(x, y, len(x))          # any length; state carries between calls

In the pedal, the control side only writes targets (`set_drive`, `set_level`, `set_bypass`,
`request_switch`...), each a single store that the audio thread picks up at its next
block; every parameter is smoothed per sample there. Every buffer is allocated here, in
`__init__`/`make_slot`: `process` allocates nothing.
"""
import logging
import math

import numpy as np

from firmware.core.units import db_to_gain
from firmware.dsp import kernels as dsp
from firmware.dsp import resample
from firmware.dsp.convolver import Convolver, IRCrossfade
from firmware.dsp.rig import Rig, RigControls

log = logging.getLogger(__name__)

DEFAULTS = {
    "drive": 0.5,                 # pot position 0..1
    "drive_range_db": (-12.0, 12.0),
    "level": 0.8,                 # pot position 0..1
    "level_range_db": (-24.0, 6.0),
    "gate_threshold_db": -80.0,   # NAM's default: effectively open
    "gate_attack_ms": 5.0,
    "gate_hold_ms": 10.0,
    "gate_release_ms": 50.0,
    "ceiling_db": -0.1,
    "limiter_release_ms": 80.0,
    "smooth_ms": 20.0,            # pots, level, drive: one-pole time constant
    "ramp_ms": 10.0,              # bypass and mute crossfades
    "fade_ms": 30.0,              # model switch crossfade
    "target_loudness_db": -18.0,  # NAM plugin's output normalisation
    "normalize": True,
    "interface_input_dbu": 12.0,  # 0 dBFS at the input = this many dBu
    "calibrate_input": True,
    "dc_hz": 5.0,
    "tonestack_position": "post",  # the rig's tone stack: "post" (after the model) or "pre"
    "stereo_out": False,          # two output channels, a wide delay and reverb (audio.stereo_out)
}


def pot_to_db(v, lo, hi):
    return lo + (hi - lo) * min(1.0, max(0.0, float(v)))


class Slot:
    """A model ready to play: built, prewarmed, with its gains. Made off the audio thread."""

    def __init__(self, model, name="", out_gain=1.0, in_gain=1.0, conditioned=False, tag=None,
                 convolver=None):
        self.model = model
        self.name = name
        self.out_gain = float(out_gain)
        self.in_gain = float(in_gain)
        self.conditioned = bool(conditioned)
        self.tag = tag                  # the library's key (path) of this model
        self.faulted = False
        self.convolver = convolver      # the model's own cabinet IR (dsp.Convolver), or None
        self.stamp = None               # the library entry's stamp it was built from


def model_gains(model_file, settings):
    """(input gain, output gain) from a model file's metadata and the chain settings."""
    meta = getattr(model_file, "metadata", {}) or {}
    out_gain = in_gain = 1.0
    loud = meta.get("loudness")
    if settings.get("normalize", True) and isinstance(loud, (int, float)) and math.isfinite(loud):
        out_gain = db_to_gain(settings.get("target_loudness_db", -18.0) - loud)
    lvl = meta.get("input_level_dbu")
    if settings.get("calibrate_input", True) and isinstance(lvl, (int, float)) and math.isfinite(lvl):
        in_gain = db_to_gain(settings.get("interface_input_dbu", 12.0) - lvl)
    return in_gain, out_gain


def make_slot(model_file, max_block, settings=None, tag=None, sample_rate=None, ir=None):
    """Build and prewarm a model file's Model for the chain (slow: call off the audio thread).

    sample_rate: the chain's; a model trained at another rate is wrapped in a resampler
    (resample.ResampledModel). ir: the model's own cabinet IR (an array at the chain's
    rate, see load_ir), played instead of the chain's global one."""
    settings = {**DEFAULTS, **(settings or {})}
    rate = int(sample_rate or model_file.sample_rate)
    model = model_file.build(max_block=resample.model_block(max_block, rate, model_file.sample_rate))
    model = resample.wrap(model, rate, max_block)
    model.reset()
    model.prewarm()
    in_gain, out_gain = model_gains(model_file, settings)
    conv = Convolver(ir, block=max_block) if ir is not None and len(ir) else None
    return Slot(model, model_file.name, out_gain, in_gain, model.num_knobs > 0, tag, conv)


def make_stomp_slot(model_file, max_block, settings=None, tag=None, sample_rate=None):
    """A model file's slot for the drive slot (the rig's `stomp`): not levelled to the
    target loudness (a pedal capture plays at the pedal's own gain), its input calibrated
    like the amp's and its output converted back by the same gain (firmware.dsp.blocks.stomp)."""
    slot = make_slot(model_file, max_block, {**(settings or {}), "normalize": False}, tag, sample_rate)
    slot.out_gain = 1.0 / slot.in_gain
    return slot


class ChainParams:
    """The chain's controls as targets in `params` (and, with immediate=True, in `state`):
    what the control side writes. The audio thread reads them at its next block and smooths
    every one per sample. Over a SharedBlock's arrays it drives an engine in another process."""

    def __init__(self, settings, params, state, rig=None):
        self.settings = {**DEFAULTS, **settings}
        self.params = params
        self.state = state
        self.rig = RigControls(rig) if rig is None or isinstance(rig, np.ndarray) else rig

    # --- single stores, picked up at the next block ------------------------------------
    def set_drive(self, v, immediate=False):
        lo, hi = self.settings["drive_range_db"]
        self._set(dsp.P_DRIVE_GAIN, dsp.S_DRIVE_GAIN, db_to_gain(pot_to_db(v, lo, hi)), immediate)
        self._set(dsp.P_DRIVE, dsp.S_DRIVE, min(1.0, max(0.0, float(v))), immediate)

    def set_level(self, v, immediate=False):
        lo, hi = self.settings["level_range_db"]
        v = min(1.0, max(0.0, float(v)))
        self._set(dsp.P_LEVEL_GAIN, dsp.S_LEVEL_GAIN, 0.0 if v <= 0.0 else db_to_gain(pot_to_db(v, lo, hi)), immediate)

    def set_gate_threshold_db(self, db):
        self.params[dsp.P_GATE_OPEN] = 0.0 if db <= -120 else db_to_gain(db)

    def set_knob2(self, v, immediate=False):
        self._set(dsp.P_KNOB2, dsp.S_KNOB2, min(1.0, max(0.0, float(v))), immediate)

    def set_bypass(self, on, immediate=False):
        self._set(dsp.P_BYPASS, dsp.S_BYPASS, 1.0 if on else 0.0, immediate)

    def set_mute(self, on, immediate=False):
        self._set(dsp.P_MUTE, dsp.S_MUTE, 1.0 if on else 0.0, immediate)

    @property
    def bypassed(self):
        return bool(self.params[dsp.P_BYPASS] > 0.5)

    @property
    def muted(self):
        return bool(self.params[dsp.P_MUTE] > 0.5)

    def _set(self, p, s, value, immediate):
        self.params[p] = value
        if immediate:
            self.state[s] = value


class ToneChain(ChainParams):
    def __init__(self, sample_rate=48000, block=64, ir=None, model=None, params=None, state=None, rig=None,
                 **settings):
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown ToneChain setting(s): {', '.join(sorted(unknown))}")
        s = {**DEFAULTS, **settings}
        self.sample_rate = sr = int(sample_rate)
        self.block = int(block)
        B = self.block
        # the rig's blocks over their targets (the shared block's in the engine): defaults now
        self.stereo = bool(s["stereo_out"])
        blocks = Rig(sr, B, rig, tonestack_position=s["tonestack_position"], stereo=self.stereo)
        blocks.reset_defaults()
        blocks.settle()
        super().__init__(settings, np.zeros(dsp.N_PARAMS) if params is None else params,
                         np.zeros(dsp.N_STATE) if state is None else state, blocks)
        self.coef = np.zeros(dsp.N_COEF)
        c = self.coef
        c[dsp.C_SMOOTH] = 1.0 - math.exp(-1.0 / (s["smooth_ms"] * 1e-3 * sr))
        c[dsp.C_RAMP] = 1.0 / max(1.0, s["ramp_ms"] * 1e-3 * sr)
        c[dsp.C_GATE_DET] = math.exp(-1.0 / (0.010 * sr))
        c[dsp.C_GATE_ATTACK] = 1.0 / max(1.0, s["gate_attack_ms"] * 1e-3 * sr)
        c[dsp.C_GATE_RELEASE] = math.exp(-1.0 / (s["gate_release_ms"] * 1e-3 * sr / 4.6))  # -40 dB in release_ms
        c[dsp.C_GATE_HOLD] = s["gate_hold_ms"] * 1e-3 * sr
        c[dsp.C_DC_R] = math.exp(-2 * math.pi * s["dc_hz"] / sr)
        c[dsp.C_LIM_RELEASE] = math.exp(-1.0 / (s["limiter_release_ms"] * 1e-3 * sr))
        c[dsp.C_CEILING] = db_to_gain(s["ceiling_db"])
        self.fade_samples = max(1, int(round(s["fade_ms"] * 1e-3 * sr)))
        c[dsp.C_FADE_STEP] = 1.0 / self.fade_samples
        # buffers, all made now
        self.x = np.zeros(B, np.float32)       # raw input
        self.xr = np.zeros(B, np.float32)      # after the rig's blocks before the model
        self.src = self.x                      # what the models play this block: x or xr
        self.xa = np.zeros(B, np.float32)      # after drive
        self.xm = np.zeros(B, np.float32)      # one model's input (calibration gain)
        self.gate = np.zeros(B, np.float32)
        self.ma = np.zeros(B, np.float32)
        self.mb = np.zeros(B, np.float32)
        self.wet = np.zeros(B, np.float32)
        self.wf = np.zeros(B, np.float32)      # crossfade weight, when it follows the IRs
        self.out = np.zeros(B, np.float32)
        self.wet_r = np.zeros(B, np.float32)   # stereo: the right channel after the split
        self.out_r = np.zeros(B, np.float32)   # stereo: the right output (mono: unused)
        self.convolver = None
        if ir is not None and len(ir):
            self.convolver = Convolver(ir, block=B)
        # switching state: written by the control side, consumed by the audio thread
        self.ir_next = None       # an IRCrossfade to the new global IR, taken at the next block
        self.ir_swap = None       # the one fading now
        self.current = None
        self.incoming = None
        self.pending = None       # Slot to fade to (a single attribute store: atomic)
        self.retired = []         # slots done playing and IR crossfades done, dropped by the control side
        self.faults = 0           # counts NaN/Inf blocks (control side logs them)
        self.fault_slot = None
        self.clips = 0
        self.switches = 0
        self.samples = 0          # samples processed (the audio clock)
        self.last_switch_done = 0  # sample index where the last crossfade ended
        self.set_drive(s["drive"], immediate=True)
        self.set_level(s["level"], immediate=True)
        self.set_gate_threshold_db(s["gate_threshold_db"])
        self.set_bypass(False, immediate=True)
        self.set_mute(False, immediate=True)
        self.set_knob2(0.5, immediate=True)
        self.state[dsp.S_GATE_GAIN] = 1.0 if s["gate_threshold_db"] <= -79.0 else 0.0
        if model is not None:
            if hasattr(model, "build"):
                model = make_slot(model, B, s, sample_rate=sr)
            self.current = model

    def request_ir(self, convolver):
        """Crossfade the global IR to `convolver` (None: no IR) at the next block; before the
        first block, simply use it (offline renders start with their IR)."""
        if self.samples == 0:
            self.convolver = convolver
        else:
            self.ir_next = IRCrossfade(convolver, self.block, self.fade_samples)

    def request_switch(self, slot):
        """Fade to `slot` (prepared off the audio thread) at the next block."""
        self.pending = slot

    @property
    def switching(self):
        return self.pending is not None or self.incoming is not None

    def set_model(self, slot):
        """Offline use: play `slot` from now on, no crossfade."""
        self.current = slot
        self.pending = self.incoming = None

    def reset(self):
        self.state[dsp.S_GATE_ENV] = self.state[dsp.S_DC_X1] = self.state[dsp.S_DC_Y1] = 0
        self.state[dsp.S_LIM_ENV] = 0
        if self.convolver is not None:
            self.convolver.reset()
        if self.current is not None and self.current.convolver is not None:
            self.current.convolver.reset()
        self.rig.reset()

    # --- audio side ---------------------------------------------------------------------
    def process(self, input, output, n):
        """n samples of float32 input -> output (any n; split into blocks). No allocation."""
        if n > len(input) or n > len(output):
            raise ValueError(f"n={n} is longer than the input ({len(input)}) or output ({len(output)})")
        done = 0
        B = self.block
        while done < n:
            m = n - done
            if m > B:
                m = B
            if done == 0 and m == n:
                dsp.scale_into(input, self.x, m, 1.0)
            else:
                dsp.scale_into(input[done:done + m], self.x, m, 1.0)
            self._block(m)
            if done == 0 and m == n:
                dsp.scale_into(self.out, output, m, 1.0)
            else:
                dsp.scale_into(self.out, output[done:done + m], m, 1.0)
            done += m

    def process_stereo(self, input, left, right, n):
        """process() for stereo_out: n samples of mono input -> the left and right outputs."""
        if not self.stereo:
            raise ValueError("process_stereo: this chain was made without stereo_out")
        B = self.block
        done = 0
        while done < n:
            m = min(B, n - done)
            dsp.scale_into(input[done:done + m], self.x, m, 1.0)
            self._block(m)
            dsp.scale_into(self.out, left[done:done + m], m, 1.0)
            dsp.scale_into(self.out_r, right[done:done + m], m, 1.0)
            done += m

    def process_block(self, n):
        """The pedal's entry: self.x holds n <= block input samples; self.out gets the result."""
        self._block(n)

    def _block(self, n):
        st = self.state
        swap = self.ir_next
        if swap is not None:
            self.ir_next = None
            old = self.convolver
            if old is not None and old is self.ir_swap:     # a fade cut short: from its new IR on
                self.retired.append(old)
                old = old.new
            swap.old = old
            self.convolver = self.ir_swap = swap
        if self.incoming is None and self.pending is not None:
            self.incoming = b = self.pending
            self.pending = None
            st[dsp.S_FADE] = 0.0
            a = self.current
            ca = self.convolver if a is None or a.convolver is None else a.convolver
            cb = self.convolver if b.convolver is None else b.convolver
            if cb is not None and cb is not ca:
                cb.reset()              # an IR that was idle starts from silence, no stale tail
        if self.rig.pre_active():
            self.rig.process_pre(self.x, self.xr, n)
            self.src = self.xr
        else:
            self.src = self.x
        dsp.pre_block(self.x, self.src, self.xa, self.gate, n, self.params, st, self.coef)
        a = self.current
        b = self.incoming
        use_a = a is not None and not a.faulted
        use_b = b is not None and not b.faulted
        if use_a:
            self._run(a, self.ma, n)
        if use_b:
            self._run(b, self.mb, n)
        ca = self.convolver if a is None or a.convolver is None else a.convolver
        cb = ca if b is None else (self.convolver if b.convolver is None else b.convolver)
        shared = cb is ca
        flags = dsp.fade_block(self.ma, self.mb, use_a, use_b, a.out_gain if use_a else 0.0,
                               b.out_gain if use_b else 0.0, b is not None, shared, self.gate, self.wf, n,
                               st, self.coef)
        if flags:
            if flags & dsp.F_BAD_A:
                a.faulted = True
                self.fault_slot = a
                self.faults += 1
            if flags & dsp.F_BAD_B:
                b.faulted = True
                self.fault_slot = b
                self.faults += 1
        if ca is not None:
            ca.process(self.ma, self.ma, n)
        if not shared and cb is not None:
            cb.process(self.mb, self.mb, n)
        swap = self.ir_swap
        if swap is not None and (swap.done or (ca is not swap and cb is not swap)):
            self.convolver = swap.new           # faded in (or not heard: no model uses it)
            self.ir_swap = None
            self.retired.append(swap)           # the old IR's buffers are freed off the audio thread
        dsp.mix_block(self.ma, self.mb, self.wf, not shared, self.wet, n, st, self.coef)
        if a is None and b is None:
            dsp.scale_into(self.x, self.wet, n, 0.0)
        if self.stereo:
            self.rig.process_post_stereo(self.wet, self.wet_r, n)
            if dsp.final_block_stereo(self.wet, self.wet_r, self.x, self.out, self.out_r, n, self.params, st,
                                      self.coef):
                self.clips += 1
        else:
            self.rig.process_post(self.wet, n)
            if dsp.final_block(self.wet, self.x, self.out, n, self.params, st, self.coef):
                self.clips += 1
        self.samples += n
        if b is not None and st[dsp.S_FADE] >= 1.0:
            self.retired.append(a)      # list.append of an existing object: no new buffer
            self.current = b
            self.incoming = None
            self.switches += 1
            self.last_switch_done = self.samples

    def _run(self, slot, y, n):
        m = slot.model
        if slot.conditioned:
            m.knobs[0] = self.state[dsp.S_DRIVE]
            if m.num_knobs > 1:
                m.knobs[1] = self.state[dsp.S_KNOB2]
            src = self.src
        else:
            src = self.xa
        if slot.in_gain != 1.0:
            dsp.scale_into(src, self.xm, n, slot.in_gain)
            src = self.xm
        m.process(src, y, n)


# The cab's gain is set where a guitar amp's output lives: 80 Hz to 8 kHz, each frequency
# weighted by 1/f^1.5 (an amp's output falls ~4.5 dB an octave there). Unit energy counted
# the cab's whole band and raised the level 6-12.5 dB (the corpus' V30 IRs); this keeps the
# corpus amp models' outputs (A1 standard, an AIDA-X lead) within 0.9 dB through both V30
# IRs and the bundled cab (the DI standard input: within 1.6 dB). tests/test_cabinet_ir.py
IR_BAND_HZ = (80.0, 8000.0)
IR_TILT = 1.5
IR_MAX_PEAK_DB = 24.0   # no response peak above this after levelling (an IR with no energy in the band)


def load_ir(path, sample_rate=48000, max_ms=500.0, normalize=True):
    """A cabinet IR from a WAV file: first channel, resampled to the chain's rate,
    truncated, levelled so that a guitar amp's output keeps its loudness (IR_BAND_HZ)."""
    import soundfile as sf
    data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    ir = data[:, 0]
    if sr != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly
        g = gcd(int(sr), int(sample_rate))
        ir = resample_poly(ir, sample_rate // g, sr // g)
    ir = ir[: int(max_ms * 1e-3 * sample_rate)]
    if not np.all(np.isfinite(ir)) or not np.any(ir):
        raise ValueError(f"{path}: IR is silent or not finite")
    if normalize:
        n = 1 << max(16, int(np.ceil(np.log2(2 * len(ir)))))
        response = np.abs(np.fft.rfft(ir, n)) ** 2
        f = np.fft.rfftfreq(n, 1.0 / sample_rate)
        band = (f >= IR_BAND_HZ[0]) & (f <= min(IR_BAND_HZ[1], 0.45 * sample_rate))
        weight = f[band] ** -IR_TILT
        power = float(np.sum(response[band] * weight) / np.sum(weight))
        power = max(power, float(response.max()) * 10 ** (-IR_MAX_PEAK_DB / 10))
        ir = ir / np.sqrt(power)
    return ir.astype(np.float64)
