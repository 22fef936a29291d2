"""One take through the running pedal: its engine plays the signal and its input ring holds the return.

The engine never closes its duplex stream, so every take of a capture (and every level check)
shares one clock, and the pedal keeps its models, presets and state. The audio thread only
copies what this side has put in the shared block's `send` ring, up to `SEND_END`, into its
output instead of the tone chain's (firmware.ipc.shared, `dsp.kernels.send_block`); it leaves
every block's input and output in the rings it fills for the tuner and the recorder anyway.
From the control process, `poll()` (ten times a second) keeps the send ring a second ahead
of the audio and copies what came back since its last look.

The take is whole only if every frame of it was played as meant: it compares the output ring
(what the engine really sent) with the signal frame for frame, so a sender that came late, an
audio restart or a ring overrun is found where it happened, and so is an xrun (the device
dropped or repeated a period: the engine's overrun/underrun counters moved).
"""
import numpy as np

from firmware.ipc import shared as sh

from . import checks

LEAD_S = 1.0                 # how far ahead of the audio the signal is written
SETTLE_S = 0.2               # silence before the signal, as DuplexTake starts
MARGIN = 8192                # ring frames the audio thread may be writing while this side copies
FADE = 480                   # an abort fades the signal out over 10 ms at 48 kHz
BEHIND = "the capture fell behind the audio (the pedal was too busy)"
XRUN = f"{checks.DROPPED} (an xrun)"


class EngineTake:
    """Play `send` (float32) through the engine's shared block and record as many frames plus
    `tail` (room for the round trip), rounded up to whole periods: DuplexTake's interface
    (`start`, `poll`, `stop`, `join`, `running`, `complete`, `frames`, `total`, `recorded`,
    `broken_at`, `error`)."""

    def __init__(self, shared, send, tail, period, rate):
        self.shared = shared
        total = -(-(len(send) + int(tail)) // int(period)) * int(period)
        self.send = np.zeros(total, np.float32)
        self.send[:len(send)] = send
        self.recorded = np.zeros(total, np.float32)
        self.total = total
        self.rate = int(rate)
        self.frames = 0                  # copied so far
        self.broken_at = None            # frame of the take where it stopped being whole
        self.error = None
        self.why = None                  # what broke it, in words
        self.first = None                # the audio clock's frame of the take's frame 0
        self._written = 0                # frames of self.send in the ring
        self._xruns = 0
        self._stopped = False
        self._settled = None             # the heartbeat after which the last xrun check is final
        self._done = False

    def _counters(self):
        return self.shared.counters

    def _xrun_count(self):
        c = self._counters()
        return int(c[sh.OVERRUNS]) + int(c[sh.UNDERRUNS])

    def start(self):
        c = self._counters()
        if not c[sh.RUNNING]:
            raise RuntimeError("the audio engine is not running")
        now = int(c[sh.FRAMES])
        self.first = now + int(SETTLE_S * self.rate)
        self._xruns = self._xrun_count()
        self._top_up(now)

    def _top_up(self, now):
        """The signal up to a second ahead of the audio (silence from now to its first frame),
        then the end mark: the audio thread reads the ring only below it."""
        c, ring, mask = self._counters(), self.shared.send, sh.INPUT_RING - 1
        if self._written == 0 and c[sh.SEND_END] < self.first:
            # stale frames of an earlier take must not play: the block being played now reads
            # below its own, older end mark, so none of these is read until the new one is stored
            ring[np.arange(now, self.first) & mask] = 0.0
        upto = min(self.total, now + int(LEAD_S * self.rate) - self.first)
        if upto > self._written:
            ring[np.arange(self.first + self._written, self.first + upto) & mask] = self.send[self._written:upto]
            self._written = upto
        c[sh.SEND_END] = self.first + self._written

    def poll(self):
        if not self.running:
            return
        c = self._counters()
        if int(c[sh.FRAMES]) < self.first - int(SETTLE_S * self.rate) or not c[sh.RUNNING]:
            return self._broken("the audio restarted")
        if self.frames < self.total:
            self._copy()
            if self.broken_at is None:
                self._top_up(int(c[sh.FRAMES]))
            if self.frames == self.total:
                self._settled = int(c[sh.HEARTBEAT]) + 2      # the engine's counters after the last frame
        elif int(c[sh.HEARTBEAT]) >= self._settled:
            if self._xrun_count() != self._xruns:
                return self._broken(XRUN)
            self._done = True

    def _copy(self):
        c = self._counters()
        end = min(int(c[sh.INPUT_POS]), self.first + self.total)
        at = self.first + self.frames
        if end <= at:
            return
        if int(c[sh.INPUT_POS]) - at > sh.INPUT_RING - MARGIN:
            return self._broken(BEHIND)
        idx = np.arange(at, end) & (sh.INPUT_RING - 1)
        got = self.shared.input[idx]
        sent = self.shared.output[idx]
        if int(c[sh.INPUT_POS]) - at > sh.INPUT_RING - MARGIN // 2:     # the ring moved past it meanwhile
            return self._broken(BEHIND)
        meant = self.send[self.frames:self.frames + len(idx)]
        wrong = np.flatnonzero(sent != meant)
        if len(wrong):
            self.recorded[self.frames:self.frames + wrong[0]] = got[:wrong[0]]
            self.frames += int(wrong[0])
            return self._broken("the signal did not reach the output in time (the pedal was too busy)")
        if self._xrun_count() != self._xruns:
            return self._broken(XRUN)
        self.recorded[self.frames:self.frames + len(idx)] = got
        self.frames += len(idx)

    def _broken(self, why):
        self.broken_at = self.frames
        self.why = why
        self._end_signal()

    def _end_signal(self):
        """Stop sending: what is left fades out over FADE frames from a frame the audio thread
        has not reached, instead of a step into the amp."""
        c, ring, mask = self._counters(), self.shared.send, sh.INPUT_RING - 1
        k0 = int(c[sh.FRAMES]) + MARGIN // 4
        end = int(c[sh.SEND_END])
        if end > k0:
            k = np.arange(k0, min(end, k0 + FADE))
            ring[k & mask] *= np.linspace(1.0, 0.0, FADE, dtype=np.float32)[:len(k)]
            c[sh.SEND_END] = min(end, k0 + FADE)

    def stop(self):
        if not self._stopped:
            self._stopped = True
            self._end_signal()

    def join(self, timeout=None):
        return True

    @property
    def running(self):
        return (self.first is not None and not self._stopped and self.broken_at is None and self.error is None
                and not self._done)

    @property
    def complete(self):
        return self._done and self.broken_at is None and self.error is None
