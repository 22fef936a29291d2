"""A WAV file written as it grows, readable whole after a power cut up to its last sync.

32-bit float samples are appended block by block; `sync()` fsyncs them, then rewrites the
header's RIFF, fact and data sizes to count them and fsyncs again. A cut between the two
leaves the header of the sync before, which WAV readers take as the file's length (the
bytes after it are ignored): either way the file reads whole up to a sync.
"""
import os
import struct

import numpy as np

FORMAT_IEEE_FLOAT = 3
HEADER_BYTES = 58                  # RIFF (12) + fmt (8 + 18) + fact (8 + 4) + data (8)
MAX_DATA_BYTES = (1 << 32) - 1 - HEADER_BYTES    # the RIFF size field's 32 bits


def header(frames, rate, channels):
    data = frames * channels * 4
    return (b"RIFF" + struct.pack("<I", HEADER_BYTES - 8 + data) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHHH", 18, FORMAT_IEEE_FLOAT, channels, rate, rate * channels * 4,
                                    channels * 4, 32, 0)
            + b"fact" + struct.pack("<II", 4, frames)
            + b"data" + struct.pack("<I", data))


class WavStream:
    """`append(block)` ((frames,) or (frames, channels) float32), `sync()`, `close()`.
    The file is created new (an existing one is an OSError) and counts 0 frames until the
    first sync."""

    def __init__(self, path, rate, channels=1):
        self.path, self.rate, self.channels = path, int(rate), int(channels)
        self.max_frames = MAX_DATA_BYTES // (4 * self.channels)
        self.frames = 0                # appended
        self.synced = 0                # counted by the header on disk
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            os.write(self._fd, header(0, self.rate, self.channels))
        except OSError:
            self.close()
            raise

    def append(self, block):
        block = np.ascontiguousarray(block, np.float32)
        frames = block.shape[0]
        if self.frames + frames > self.max_frames:
            raise OSError(f"{os.path.basename(self.path)}: a WAV file holds at most {self.max_frames} frames")
        data = memoryview(block).cast("B")
        while data:
            data = data[os.write(self._fd, data):]
        self.frames += frames

    def sync(self):
        os.fsync(self._fd)
        os.pwrite(self._fd, header(self.frames, self.rate, self.channels), 0)
        os.fsync(self._fd)
        self.synced = self.frames

    def close(self):
        if self._fd is not None:
            try:
                if self.synced != self.frames:
                    self.sync()
            finally:
                os.close(self._fd)
                self._fd = None
