"""One take: a buffer played out of the HAT while its input is recorded, in one duplex stream.

The loop thread does only what keeps the two directions locked: read a period into the
recording (decoded in place), write the next period of the buffer, count. It allocates
nothing, logs nothing and takes no lock; the main thread reads `frames` to show progress and
measures only what the loop has already finished with. Any xrun ends the take: a dropped or
repeated period would shift the return against what was sent, and the pair would no longer
be sample-locked.
"""
import os
import threading

import numpy as np


class DuplexTake:
    """Play `send` (float32, mono to every output channel) and record as many frames plus
    `tail` (room for the round trip), rounded up to whole periods."""

    SETTLE_FRAMES = 9600            # 0.2 s at 48 kHz

    def __init__(self, io, send, tail, rt_priority=None):
        self.io = io
        period = io.period
        total = -(-(len(send) + int(tail)) // period) * period
        self.send = np.zeros(total, np.float32)
        self.send[:len(send)] = send
        self.recorded = np.zeros(total, np.float32)
        self.total = total
        self.frames = 0                  # written by the loop thread only
        self.broken_at = None            # frame of the first xrun
        self.why = None                  # check_take's own words for an xrun (EngineTake says more)
        self.error = None
        self.rt_priority = rt_priority
        self._stop = threading.Event()
        self._thread = None

    # --- the loop thread --------------------------------------------------------------
    def _loop(self):
        try:
            self._go_realtime()
            io, send, rec, P, stop = self.io, self.send, self.recorded, self.io.period, self._stop
            io.prime()
            # A short run of silence first: the two directions start a period or two apart, and
            # the xrun that start may cost is harmless before anything is sent.
            scratch = np.zeros(P, np.float32)
            for _ in range(-(-self.SETTLE_FRAMES // P)):
                if stop.is_set():
                    return
                io.read(scratch)
                io.write(scratch, P)
            pos = 0
            while pos < self.total and not stop.is_set():
                if io.read(rec[pos:pos + P]) != P or not io.write(send[pos:pos + P], P):
                    self.broken_at = pos
                    break
                pos += P
                self.frames = pos
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self.error = e

    def _go_realtime(self):
        if self.rt_priority is None:
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0),
                                  os.sched_param(int(self.rt_priority)))
        except (OSError, AttributeError):
            pass                          # normal priority: the xrun check still guards the take

    # --- the main thread --------------------------------------------------------------
    def warm_up(self):
        """Compile the sample converters before the loop needs them (a first-call JIT compile
        in the loop thread would be an xrun)."""
        from firmware.platform import samples
        io, P = self.io, self.io.period
        raw = np.zeros(P * io.channels * io.in_width, np.uint8)
        scratch = np.zeros(P, np.float32)
        samples.decode_channel(raw, scratch, P, io.channels, io.input_channel, io.in_width, io.in_bits)
        samples.encode_all(scratch, np.zeros(P * io.channels * io.out_width, np.uint8), P, io.channels,
                           io.out_width, io.out_bits)

    def start(self):
        self.warm_up()
        self._thread = threading.Thread(target=self._loop, name="tubeless-capture", daemon=True)
        self._thread.start()

    def poll(self):
        """Nothing to do from the main thread: the loop thread fills the recording itself
        (EngineTake's poll does the copying)."""

    def stop(self):
        self._stop.set()

    def join(self, timeout=None):
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    @property
    def complete(self):
        return self.frames >= self.total and self.broken_at is None and self.error is None
