"""What the pedal reports: its status (`tubeless ctl status`, the web page, the status file
`tubeless status` reads) and its CPU figures. A mixin of Pedal (firmware.pedal.pedal)."""
import json
import logging
import os
import time

from firmware.core.errors import OutputError
from firmware.core.outputs import atomic_path
from firmware.ipc import shared as sh

log = logging.getLogger(__name__)


class Status:
    """Needs `shared`, `params`, `period`, `rate`, `entries`, `by_id`, `bad`, `pots`,
    `tuning`, `tuner`, `recorder`, `capture` and `midi` of Pedal."""

    def cpu_stats(self):
        s = self.shared.cpu_stats(self.period / self.rate)
        s["blocks"] = int(self.shared.counters[sh.BLOCKS])
        return s

    def status(self, brief=False):
        c = self.shared.counters
        ref = self.by_id.get(int(c[sh.CURRENT_SLOT]))
        out = {
            "model": ref.name if ref is not None else None,
            "model_file": os.path.basename(ref.path) if ref is not None else None,
            "bypass": self.params.bypassed, "mute": self.params.muted, "tuner": self.tuning,
            "record": self.recorder.status(),
        }
        capture = self.capture.status()
        if capture["on"]:
            out["capture"] = capture
        if brief:
            return out
        late = self.shared.late_stats(self.period / self.rate)
        out.update({
            "models": len(self.entries), "cpu": self.cpu_stats(), "late": late,
            "xruns": int(c[sh.OVERRUNS] + c[sh.UNDERRUNS]), "overruns": int(c[sh.OVERRUNS]),
            "underruns": int(c[sh.UNDERRUNS]), "faults": int(c[sh.FAULTS]), "clips": int(c[sh.CLIPS]),
            "realtime": bool(c[sh.REALTIME]), "pots": dict(self.pots), "frames": int(c[sh.FRAMES]),
            "switches": int(c[sh.SWITCHES]), "skipped": sorted(os.path.basename(p) for p in self.bad),
            "shared": self.shared.path, "time": time.time(), "rig": self.params.rig.values(),
            "stomp": self.stomp_info(), "stomp_faults": int(c[sh.STOMP_FAULTS]),
            "capture": capture,
        })
        if self.tuning:
            out["pitch"] = self.tuner.state()
        if self.midi is not None:
            out["midi"] = self.midi.status()
        return out

    def recording_about(self):
        """What a recording's recording.json keeps of the sound it was played with."""
        ref = self.by_id.get(int(self.shared.counters[sh.CURRENT_SLOT]))
        stomp = self.stomp_info()
        return {"model": os.path.basename(ref.path) if ref is not None else None,
                "preset": self.preset.name if getattr(self, "preset", None) is not None else None,
                "stomp": stomp["file"] if stomp else None, "bypass": self.params.bypassed,
                "rig": self.params.rig.values()}

    def write_status(self, path):
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with atomic_path(path, force=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
                json.dump(self.status(), f, indent=1)
        except (OSError, OutputError) as e:
            log.debug("status file %s: %s", path, e)
