"""Delay: time 20 ms - 2 s, feedback, mix and a tone (a low-pass in the feedback path), with trails.

    y = x + mix * echo          the dry signal stays at unity; mix is the echoes' level
    line <- r * x + feedback * lowpass(echo)

r is the on/off ramp: switched off, the block's *input* to the line fades out and what the line
holds rings on with its feedback (trails). Once every sample in the line is below -120 dB the
block goes idle (it only copies x to y) and its line is cleared.

The first echo is the input as it went in; each further one has been through the low-pass once
more, so every repeat is darker than the one before. The low-pass is a one-pole,
lp += g * (echo - lp), g = 1 - exp(-2 pi fc / fs), with fc = 800 Hz * 20 ** tone on a log
scale: 800 Hz at 0, 1.97 kHz at 0.3, 4.8 kHz at 0.6 (default), 16 kHz at 1. Its gain is 1 at
DC, so the low notes of each repeat are scaled by exactly the feedback; fc is its -3 dB point
while it is well below fs / 4 (800 Hz: 801 Hz, 4.8 kHz: 5.0 kHz at 48 kHz), and above that it
flattens towards Nyquist (fc 16 kHz is -2.2 dB at 24 kHz per pass).

A change of time (a turned knob, a tap tempo) crossfades between two read taps rather than
gliding one fractional tap: a tap tempo lands on the new tempo at once with the repeats in tune
(a glide at a pitch bend one can play along with takes seconds from 2 s to 20 ms, and bends
every repeat still in the line), the taps stay on whole samples so the repeats are the input
itself, not the output of an interpolator they pass through at every turn, and the cost is
the same at any time. The price: a knob swept by hand steps through the times (one crossfade
after another) instead of bending like tape.
"""
import math

import numpy as np
from numba import njit

from firmware.dsp.blocks.base import Block, Param, ramp_toward

MAX_TIME_MS = 2000.0
XFADE_MS = 40.0             # the crossfade between the old and the new time (raised cosine)
TONE_LO_HZ = 800.0          # the low-pass's fc at tone 0; x TONE_SPAN at tone 1 (16 kHz)
TONE_SPAN = 20.0
QUIET = 1e-6                # -120 dB: a line whose every sample is below this has rung out
TAP_WINDOW_S = 2.0          # taps further apart than this start a new tempo
TAP_MAX = 8                 # the tempo is the mean over at most the last 8 taps (it follows the player)

# `state`: smoothed mix, feedback and tone, the low-pass's coefficient and memory, the write
# position, the read tap and the one being faded to (-1: none), the crossfade's position 0..1,
# how many samples written in a row were quiet, and whether the block is idle
_MIX, _FB, _TONE, _G, _LP, _POS, _TAP, _NEXT, _FADE, _QUIETS, _IDLE = range(11)
_TIME, _FEEDBACK, _MIXT, _TONET = 1, 2, 3, 4     # in targets


@njit(cache=True, fastmath={"contract"})
def _tap_samples(time_ms, samples_per_ms, dmax):
    """A time in ms as a whole number of samples, 1..dmax (a NaN gives 1)."""
    d = time_ms * samples_per_ms + 0.5
    if not d >= 1.0:
        return 1
    if d > dmax:
        return dmax
    return int(d)


@njit(cache=True, fastmath={"contract"})
def _lowpass_g(tone, pole_w):
    """The one-pole's coefficient at `tone`: fc = 800 Hz * 20 ** tone (pole_w = 2 pi 800 / fs)."""
    return 1.0 - math.exp(-pole_w * TONE_SPAN ** tone)


@njit(cache=True, fastmath={"contract"})
def _settle(targets, state, samples_per_ms, dmax, pole_w):
    """The smoothed values and the read tap jump to their targets (no crossfade)."""
    state[_MIX] = targets[_MIXT]
    state[_FB] = targets[_FEEDBACK]
    state[_TONE] = targets[_TONET]
    state[_G] = _lowpass_g(targets[_TONET], pole_w)
    state[_TAP] = _tap_samples(targets[_TIME], samples_per_ms, dmax)
    state[_NEXT] = -1.0
    state[_FADE] = 0.0


@njit(cache=True, fastmath={"contract"})
def delay_block(x, y, n, targets, state, line, ramp, ramp_step, smooth, samples_per_ms, fade_step, pole_w):
    size = line.shape[0]
    dmax = size - 1             # read before write: a tap of size - 1 is the oldest sample kept
    if state[_IDLE] > 0.5:      # woken from idle: the line is empty, so start at the targets
        state[_IDLE] = 0.0
        _settle(targets, state, samples_per_ms, dmax, pole_w)
    on = targets[0]
    mix_t = targets[_MIXT]
    fb_t = targets[_FEEDBACK]
    tone_t = targets[_TONET]
    want = _tap_samples(targets[_TIME], samples_per_ms, dmax)
    mix = state[_MIX]
    fb = state[_FB]
    tone = state[_TONE]
    g = state[_G]
    lp = state[_LP]
    pos = int(state[_POS])
    tap = int(state[_TAP])
    nxt = int(state[_NEXT])
    fade = state[_FADE]
    quiets = int(state[_QUIETS])
    for i in range(n):
        r = ramp_toward(ramp, on, ramp_step)
        dry = np.float64(x[i])
        if mix != mix_t:
            d = mix_t - mix
            mix = mix_t if abs(d) < 1e-6 else mix + d * smooth
        if fb != fb_t:
            d = fb_t - fb
            fb = fb_t if abs(d) < 1e-6 else fb + d * smooth
        if tone != tone_t:
            d = tone_t - tone
            tone = tone_t if abs(d) < 1e-6 else tone + d * smooth
            g = _lowpass_g(tone, pole_w)
        if nxt < 0 and want != tap:     # a new time: fade to it (a time asked mid-fade waits its turn)
            nxt = want
            fade = 0.0
        k = pos - tap
        echo = np.float64(line[k if k >= 0 else k + size])
        if nxt >= 0:
            fade += fade_step
            k = pos - nxt
            other = np.float64(line[k if k >= 0 else k + size])
            if fade >= 1.0:
                tap = nxt
                nxt = -1
                echo = other
            else:
                echo += (0.5 - 0.5 * math.cos(math.pi * fade)) * (other - echo)
        lp += g * (echo - lp)
        # flush what decays towards denormals (they stall the FPU), in the line too: it is float32
        if abs(lp) < 1e-30:
            lp = 0.0
        v = r * dry + fb * lp
        if abs(v) < 1e-30:
            v = 0.0
        line[pos] = v
        if abs(v) > QUIET:
            quiets = 0
        elif quiets < size:
            quiets += 1
        pos += 1
        if pos == size:
            pos = 0
        y[i] = dry + mix * echo
    state[_MIX] = mix
    state[_FB] = fb
    state[_TONE] = tone
    state[_G] = g
    state[_LP] = lp
    state[_POS] = pos
    state[_TAP] = tap
    state[_NEXT] = nxt
    state[_FADE] = fade
    state[_QUIETS] = quiets
    if ramp[0] <= 0.0 and on <= 0.5 and quiets >= size:
        # off and rung out: every sample in the line is below -120 dB; from now on process copies
        line[:] = 0.0
        state[_LP] = 0.0
        state[_IDLE] = 1.0


class Delay(Block):
    NAME = "delay"
    PARAMS = (
        Param("time_ms", 20.0, MAX_TIME_MS, 380.0, "ms", "the time between repeats (tap tempo sets it)"),
        Param("feedback", 0.0, 0.95, 0.35, "", "the share of each echo fed back: how long the repeats go on"),
        Param("mix", 0.0, 1.0, 0.3, "", "the echoes' level (the dry signal stays at unity)"),
        Param("tone", 0.0, 1.0, 0.6, "", "a low-pass in the feedback path, 800 Hz (0) to 16 kHz (1): "
                                         "each repeat darker"),
    )
    DEFAULT_ON = False
    TRAILS = True
    N_STATE = 11

    def __init__(self, sample_rate, max_block, targets=None, crossfade_ms=XFADE_MS, spread=0.0):
        super().__init__(sample_rate, max_block, targets)
        # spread: this delay's times run that much longer (a wide stereo delay's right channel)
        self.samples_per_ms = self.sample_rate / 1000.0 * (1.0 + float(spread))
        # 2 s and the one sample a read-before-write line needs. float32: it holds audio, not a
        # filter's memory, and half the bytes is half the memory traffic on the Pi
        self.line = np.zeros(round(MAX_TIME_MS * self.samples_per_ms) + 1, np.float32)
        self.fade_step = 1.0 / max(1.0, crossfade_ms * self.samples_per_ms)
        self.pole_w = 2.0 * math.pi * TONE_LO_HZ / self.sample_rate
        self.reset()
        self.ramp[0] = 1.0 if self.on else 0.0

    def settle_state(self):
        line = getattr(self, "line", None)
        if line is None:
            return
        _settle(self.targets, self.state, self.samples_per_ms, len(line) - 1, self.pole_w)

    def reset(self):
        self.line[:] = 0.0
        self.state[:] = 0.0
        self.state[_QUIETS] = len(self.line)
        self.state[_IDLE] = 1.0
        self.settle_state()

    @property
    def idle(self):
        """Off and rung out: process only copies until the block is switched on again."""
        return bool(self.state[_IDLE] > 0.5)

    def resting(self):
        return self.state[_IDLE] > 0.5 and self.targets[0] <= 0.5

    def run(self, x, y, n):
        delay_block(x, y, n, self.targets, self.state, self.line, self.ramp, self.ramp_step, self.smooth,
                    self.samples_per_ms, self.fade_step, self.pole_w)

    # --- the control side ----------------------------------------------------------------------
    @classmethod
    def tap_time_ms(cls, tap_times_s):
        """The delay time a tap tempo asks for: the mean interval of the last taps (at most
        TAP_MAX), each within TAP_WINDOW_S of the next, in ms within the time_ms range; None
        when fewer than two taps are that close. tap_times_s: the taps' times in seconds, oldest
        first (a clock of the control side's, e.g. time.monotonic())."""
        taps = [float(t) for t in tap_times_s]
        if not taps:
            return None
        first, count = taps[-1], 1
        for t in reversed(taps[:-1]):
            if count == TAP_MAX or not 0.0 < first - t <= TAP_WINDOW_S:
                break
            first, count = t, count + 1
        if count < 2:
            return None
        p = cls.param("time_ms")
        return min(max(1000.0 * (taps[-1] - first) / (count - 1), p.lo), p.hi)
