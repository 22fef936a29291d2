"""The Pi's own health for the page: temperature, throttling, uptime, version. Each from
where this machine has it (sysfs, `vcgencmd` on Raspberry Pi OS); absent ones are None."""
import glob
import shutil
import subprocess
import time

# vcgencmd get_throttled bits (Raspberry Pi documentation)
THROTTLE_BITS = {0: "under-voltage now", 1: "frequency capped now", 2: "throttled now",
                 3: "soft temperature limit now", 16: "under-voltage has occurred",
                 17: "frequency capping has occurred", 18: "throttling has occurred",
                 19: "soft temperature limit has occurred"}


def temperature_c():
    best = None
    for path in sorted(glob.glob("/sys/class/thermal/thermal_zone*/temp")):
        try:
            with open(path) as f:
                t = int(f.read().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        if -40.0 < t < 150.0:
            best = t if best is None else max(best, t)
    return best


_vcgencmd = shutil.which("vcgencmd")


def throttling():
    """{"raw": "0x0", "flags": [...]} from vcgencmd, or None where there is none."""
    if not _vcgencmd:
        return None
    try:
        out = subprocess.run([_vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=2).stdout
        value = int(out.strip().split("=")[-1], 16)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return {"raw": hex(value), "flags": [why for bit, why in THROTTLE_BITS.items() if value >> bit & 1]}


def uptime_s():
    try:
        with open("/proc/uptime") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Health:
    """Cheap to call a few times a second: the throttling flags are read at most every 5 s."""

    def __init__(self):
        import firmware
        self.version = getattr(firmware, "__version__", "?")
        self.started = time.monotonic()
        self._throttle = (None, -1e9)

    def read(self):
        now = time.monotonic()
        if now - self._throttle[1] > 5.0:
            self._throttle = (throttling(), now)
        return {"temperature_c": temperature_c(), "throttling": self._throttle[0], "uptime_s": uptime_s(),
                "web_uptime_s": now - self.started, "version": self.version}
