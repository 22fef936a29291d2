"""Record what you play: the DI and the pedal's output as two WAVs of the same length.

The audio thread leaves every block's raw input and output in the shared block's rings
(firmware.ipc.shared: `input`, `output`, `output_r`, counted by INPUT_POS) whether or not a
recording runs. While one runs, a thread of the control process copies what came since
its last look into `rec-YYYYMMDD-HHMMSS/` of the recordings folder: `di.wav` (the guitar,
mono), `out.wav` (the pedal's output, mono or stereo as the pedal plays) and
`recording.json`. The audio never waits for it: no lock, no file, only rings it fills anyway.

- Aligned: both files copy the same ring positions, so frame k of di.wav is the input of
  the block that made frame k of out.wav: a pair to reamp or train on as it is.
- Power: every second the samples are synced and the headers count them
  (firmware.core.wavstream): a cut leaves both files readable up to the last second.
- Disk: it stops itself, and says so, before the free space falls under `reserve_mb`, and
  after `max_minutes`; it refuses to start with less than a minute's room.
- Behind: a writer more than the ring (2.7 s at 48 kHz) behind, a card that stalls, would
  lose samples: the recording stops there, whole, and says so instead of keeping a gap.
"""
import json
import logging
import os
import shutil
import threading
import time
from datetime import datetime, timezone

import numpy as np

from firmware.core.errors import ConfigError, OutputError, RecordError
from firmware.core.wavstream import WavStream
from firmware.ipc import shared as sh

log = logging.getLogger(__name__)

MARGIN = 8192          # ring samples the audio thread may be writing while they are copied


def record_limits(cfg):
    """[record] reserve_mb and max_minutes, checked: Recorder's keyword arguments."""
    rec = cfg.get("record") or {}
    try:
        limits = {"reserve_mb": float(rec.get("reserve_mb", 200.0)),
                  "max_minutes": float(rec.get("max_minutes", 120.0))}
    except (TypeError, ValueError):
        limits = {}
    if not limits or limits["reserve_mb"] < 0 or not limits["max_minutes"] > 0:
        raise ConfigError("config: record.reserve_mb must be a number >= 0 and record.max_minutes one > 0")
    return limits


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Recorder:
    """start(about) -> the recording's name; stop() -> its summary; status(); close()."""

    def __init__(self, shared, rate, folder, stereo=False, reserve_mb=200.0, max_minutes=120.0,
                 poll_s=0.1, sync_s=1.0):
        self.shared, self.rate, self.folder, self.stereo = shared, int(rate), folder, bool(stereo)
        self.reserve = int(float(reserve_mb) * 1e6)
        self.max_frames = int(float(max_minutes) * 60 * self.rate)
        self.poll_s, self.sync_s = float(poll_s), float(sync_s)
        self.bytes_per_second = self.rate * 4 * (1 + (2 if self.stereo else 1))
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self._take = None              # the running recording (_Take), None when none runs
        self.last = None               # the last one's summary (after it stopped)

    # --- the control thread ---------------------------------------------------------------
    def start(self, about=None):
        with self._lock:
            if self._take is not None and not self._stop.is_set():
                return self._take.name
        self._join()                   # one still closing finishes first
        try:
            os.makedirs(self.folder, exist_ok=True)
            free = shutil.disk_usage(self.folder).free
        except OSError as e:
            raise RecordError(f"cannot record: the recordings folder cannot be made ({e.strerror})") from None
        room = free - self.reserve
        if room < 60 * self.bytes_per_second:
            raise RecordError(f"cannot record: {free / 1e6:.0f} MB free, and {self.reserve / 1e6:.0f} MB are kept "
                              "free (delete recordings or captures)")
        take = _Take.open(self.folder, self.rate, self.stereo, int(self.shared.counters[sh.INPUT_POS]), about)
        with self._lock:
            self._take = take
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(take,), name="recorder", daemon=True)
        self._thread.start()
        log.info("recording %s", take.name)
        return take.name

    def stop(self, timeout=None):
        """Stop the running recording, its last samples included, waiting until its files are
        closed (at most `timeout` s: then its thread finishes it); returns the last
        recording's summary (None: none yet)."""
        self._stop.set()
        self._join(timeout)
        return self.last

    def recording(self):
        with self._lock:
            return self._take is not None

    def status(self):
        with self._lock:
            take = self._take
            if take is not None:
                return {"on": True, "name": take.name, "seconds": round(take.frames / self.rate, 1)}
        last = self.last or {}
        return {"on": False, "name": last.get("name"), "seconds": last.get("seconds", 0.0),
                "stopped": last.get("stopped")}

    def close(self):
        self.stop()

    def _join(self, timeout=None):
        t = self._thread
        if t is not None:
            t.join(timeout)
            if not t.is_alive():
                self._thread = None

    # --- the recorder's thread ---------------------------------------------------------------
    def _run(self, take):
        why = None
        next_sync = time.monotonic() + self.sync_s
        try:
            while True:
                stopping = self._stop.wait(self.poll_s)
                why = self._copy(take)
                if why is None and take.frames >= self.max_frames:
                    why = f"stopped at {_clock(take.frames / self.rate)}: the longest recording ([record] max_minutes)"
                if why is None and time.monotonic() >= next_sync:
                    next_sync += self.sync_s
                    take.sync()
                    if shutil.disk_usage(self.folder).free < self.reserve:
                        why = (f"stopped at {_clock(take.frames / self.rate)}: the card is nearly full "
                               f"({self.reserve / 1e6:.0f} MB are kept free)")
                if stopping or why is not None:
                    break
        except OSError as e:
            why = f"stopped at {_clock(take.frames / self.rate)}: cannot write the recording ({e.strerror or e})"
        summary = take.finish(why)
        if why:
            log.warning("recording %s %s", take.name, why)
        else:
            log.info("recording %s: %s", take.name, _clock(summary["seconds"]))
        with self._lock:
            self.last = summary
            self._take = None

    def _copy(self, take):
        """Append what the rings hold beyond take.pos to both files; a reason to stop, or None."""
        c = self.shared.counters
        end = int(c[sh.INPUT_POS])
        at = f"stopped at {_clock(take.frames / self.rate)}"
        behind = f"{at}: the card was too slow and the recording fell behind the audio"
        if end < take.pos:
            return f"{at}: the audio restarted"
        if end - take.pos > sh.INPUT_RING - MARGIN:
            return behind
        end = min(end, take.pos + self.max_frames - take.frames)
        if end == take.pos:
            return None
        idx = np.arange(take.pos, end) & (sh.INPUT_RING - 1)
        di = self.shared.input[idx]
        out = self.shared.output[idx]
        if take.stereo:
            out = np.stack([out, self.shared.output_r[idx]], axis=1)
        # a second look: the ring must not have moved past the copied samples meanwhile
        if int(c[sh.INPUT_POS]) - take.pos > sh.INPUT_RING - MARGIN // 2:
            return behind
        take.append(di, out)
        take.pos = end
        return None


class _Take:
    """One recording's folder and files."""

    def __init__(self, path, name, rate, stereo, pos, about):
        self.path, self.name, self.rate, self.stereo, self.pos = path, name, rate, stereo, pos
        self.about = dict(about or {})
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.frames = 0
        self.di = WavStream(os.path.join(path, "di.wav"), rate, 1)
        try:
            self.out = WavStream(os.path.join(path, "out.wav"), rate, 2 if stereo else 1)
        except OSError:
            self.di.close()
            raise
        try:
            self.write_json(None)
        except (OSError, OutputError):
            self.di.close()
            self.out.close()
            raise
        _fsync_dir(path)

    @classmethod
    def open(cls, folder, rate, stereo, pos, about):
        base = "rec-" + datetime.now().strftime("%Y%m%d-%H%M%S")
        for k in range(1, 100):
            name = base if k == 1 else f"{base}-{k}"
            path = os.path.join(folder, name)
            try:
                os.mkdir(path)
                os.chmod(path, 0o2775)     # the SSH user, in the pedal's group, may delete it (install.sh)
            except FileExistsError:
                continue
            except OSError as e:
                raise RecordError(f"cannot record: {e.strerror}") from None
            try:
                take = cls(path, name, rate, stereo, pos, about)
            except (OSError, OutputError) as e:
                shutil.rmtree(path, ignore_errors=True)
                raise RecordError(f"cannot record: {getattr(e, 'strerror', None) or 'the folder is not writable'}") \
                    from None
            _fsync_dir(folder)
            return take
        raise RecordError("cannot record: too many recordings started this second")

    def append(self, di, out):
        self.di.append(di)
        self.out.append(out)
        self.frames += len(di)

    def sync(self):
        self.di.sync()
        self.out.sync()

    def summary(self, why, finished=False):
        return {"name": self.name, "finished": finished, "rate": self.rate, "frames": self.frames,
                "seconds": round(self.frames / self.rate, 3), "channels_out": 2 if self.stereo else 1,
                "started": self.started, "stopped": why, "files": ["di.wav", "out.wav"], **self.about}

    def write_json(self, why, finished=False):
        from firmware.core.outputs import atomic_path
        with atomic_path(os.path.join(self.path, "recording.json"), force=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.summary(why, finished), f, indent=1, ensure_ascii=False)

    def finish(self, why):
        """Close both files (synced) and write the summary; never raises."""
        for f in (self.di, self.out):
            try:
                f.close()
            except OSError as e:
                why = why or f"the last second could not be written ({e.strerror})"
        try:
            self.write_json(why, finished=True)
        except (OSError, OutputError):
            pass
        return self.summary(why, finished=True)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
