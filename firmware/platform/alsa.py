"""Full-duplex ALSA through pyalsaaudio: open, verify, read/write periods, recover xruns.

pyalsaaudio silently accepts parameters other than those asked for, so after opening we
read `info()` back and refuse a mismatch. On an overrun `read()` returns (-32, b'') and on
an underrun `write()` returns -32 (the PCM is already re-prepared): the xrun is counted and
the playback cushion rebuilt with `periods` periods of silence. Other errors raise.
"""
import logging

import numpy as np

from firmware.core.errors import AudioConfigError
from firmware.platform import samples

log = logging.getLogger(__name__)

# ALSA format name -> (pyalsaaudio constant name, bytes per sample, valid bits)
FORMATS = {
    "S32_LE": ("PCM_FORMAT_S32_LE", 4, 32),
    "S24_LE": ("PCM_FORMAT_S24_LE", 4, 24),
    "S24_3LE": ("PCM_FORMAT_S24_3LE", 3, 24),
    "S16_LE": ("PCM_FORMAT_S16_LE", 2, 16),
}
EPIPE = -32


_ERROR_HANDLER = None


def quiet_alsa_library():
    """Stop alsa-lib printing its own messages on stderr ("ALSA lib confmisc.c:855: ...", a
    page of them for a missing card): the pedal says what is wrong in one line instead."""
    global _ERROR_HANDLER
    import ctypes
    import ctypes.util
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return False
    proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
    _ERROR_HANDLER = proto(lambda *args: None)       # kept alive: alsa-lib holds the pointer
    lib.snd_lib_error_set_handler(_ERROR_HANDLER)
    return True


def _open(alsaaudio, kind, device, rate, channels, period, periods, formats):
    """Open one direction with the first format that the device really gives us."""
    problems = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise AudioConfigError(f"unknown sample format {fmt!r} (known: {', '.join(FORMATS)})")
        const, width, bits = FORMATS[fmt]
        try:
            pcm = alsaaudio.PCM(type=kind, mode=alsaaudio.PCM_NORMAL, device=device, rate=rate, channels=channels,
                                format=getattr(alsaaudio, const), periodsize=period, periods=periods)
        except alsaaudio.ALSAAudioError as e:
            raise AudioConfigError(f"cannot open ALSA device {device!r}: {e}") from None
        info = pcm.info()
        got = (info.get("format_name"), info.get("rate"), info.get("period_size"), info.get("channels"))
        if got == (fmt, rate, period, channels):
            return pcm, fmt, width, bits, info
        problems.append(f"{fmt}: got format {got[0]}, rate {got[1]}, period {got[2]}, channels {got[3]}")
        pcm.close()
    raise AudioConfigError(f"ALSA device {device!r} does not run at {rate} Hz, {channels} channels, period "
                           f"{period} in any of {', '.join(formats)} ({'; '.join(problems)})")


class AlsaDuplex:
    """Capture + playback of one device pair, period-sized, converted to/from float32."""

    def __init__(self, capture_device, playback_device, rate=48000, channels=2, period=64, periods=2,
                 formats=("S32_LE", "S24_LE", "S24_3LE", "S16_LE"), input_channel=0):
        import alsaaudio
        self.alsaaudio = alsaaudio
        self.rate, self.channels, self.period, self.periods = int(rate), int(channels), int(period), int(periods)
        self.input_channel = int(input_channel)
        self.capture, self.in_format, self.in_width, self.in_bits, _ = _open(
            alsaaudio, alsaaudio.PCM_CAPTURE, capture_device, self.rate, self.channels, self.period, self.periods, formats)
        try:
            self.playback, self.out_format, self.out_width, self.out_bits, _ = _open(
                alsaaudio, alsaaudio.PCM_PLAYBACK, playback_device, self.rate, self.channels, self.period,
                self.periods, formats)
        except Exception:
            self.capture.close()
            raise
        self.out_raw = np.zeros(self.period * self.channels * self.out_width, np.uint8)
        self.silence = np.zeros(self.period * self.channels * self.out_width, np.uint8)
        self.overruns = 0
        self.underruns = 0
        self.short_reads = 0
        log.info("audio: capture %s (%s), playback %s (%s), %d Hz, period %d x %d",
                 capture_device, self.in_format, playback_device, self.out_format, self.rate, self.period, self.periods)

    def prime(self):
        """Fill the playback cushion (periods x period frames of silence)."""
        for _ in range(self.periods):
            self.playback.write(self.silence)

    def read(self, out):
        """One period of the guitar channel into out (float32). Returns frames read
        (0 on an overrun: the caller plays silence for that period)."""
        n, data = self.capture.read()
        if n < 0:
            if n == EPIPE:
                self.overruns += 1
            return 0
        if n < self.period:
            self.short_reads += 1
            if n == 0:
                return 0
        samples.decode_channel(data, out, n, self.channels, self.input_channel, self.in_width, self.in_bits)
        return n

    def write(self, x, n, right=None):
        """n float32 samples to every output channel (with `right`: x to channel 0, right to
        channel 1, x to any further one). Returns False after an underrun."""
        if right is None:
            samples.encode_all(x, self.out_raw, n, self.channels, self.out_width, self.out_bits)
        else:
            samples.encode_pair(x, right, self.out_raw, n, self.channels, self.out_width, self.out_bits)
        buf = self.out_raw if n == self.period else self.out_raw[: n * self.channels * self.out_width]
        r = self.playback.write(buf)
        if r == EPIPE or (isinstance(r, int) and r < 0):
            self.underruns += 1
            self.prime()                       # rebuild the cushion
            self.playback.write(buf)
            return False
        return True

    @property
    def xruns(self):
        return self.overruns + self.underruns

    def close(self):
        for pcm in (self.capture, self.playback):
            try:
                pcm.close()
            except Exception:
                pass
