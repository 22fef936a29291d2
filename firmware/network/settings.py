"""The hotspot's own settings: its name, password and mode, and how long to wait for a
known network. One small JSON file that only root writes (the hotspot service and
install.sh) and only the web page's group may read (mode 0640): it holds the password, so
it never goes into the repository, the world-readable config.toml or a log line."""
import dataclasses
import grp
import json
import os
import secrets

from firmware.core.errors import HotspotError, OutputError
from firmware.core.outputs import atomic_path
from firmware.network import keyfile

SETTINGS_FILE = "/var/lib/tubeless-hotspot/hotspot.json"
MODES = ("auto", "always", "off")    # auto: only when no known network comes; always; never
MAX_SETTINGS = 4096
PROFILE_NAME = "tubeless-hotspot"


@dataclasses.dataclass(frozen=True)
class HotspotSettings:
    ssid: str
    password: str
    mode: str = "auto"
    wait_s: float = 20.0             # how long a boot waits for a known network
    interface: str = "wlan0"
    channel: int = 6
    security: str = "wpa2"           # wpa3 (SAE) where every phone that joins supports it

    def __post_init__(self):
        keyfile.check_ssid(self.ssid)
        keyfile.check_passphrase(self.password)
        if self.mode not in MODES:
            raise HotspotError(f"mode: one of {', '.join(MODES)}")
        if isinstance(self.wait_s, bool) or not isinstance(self.wait_s, (int, float)) or not 0 <= self.wait_s <= 600:
            raise HotspotError("wait_s: 0 to 600 seconds")
        if not isinstance(self.interface, str) or not self.interface.isascii() or not self.interface.isprintable() \
                or not 0 < len(self.interface) < 16 or "/" in self.interface or " " in self.interface:
            raise HotspotError("interface: a network interface name such as wlan0")
        if isinstance(self.channel, bool) or self.channel not in keyfile.CHANNELS_24GHZ:
            raise HotspotError("channel: a 2.4 GHz channel, 1 to 13")
        if self.security not in keyfile.SECURITY:
            raise HotspotError(f"security: one of {', '.join(keyfile.SECURITY)}")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def profile(self, uuid=None):
        return keyfile.access_point(PROFILE_NAME, self.ssid, self.password, interface=self.interface,
                                    channel=self.channel, security=self.security, uuid=uuid)


def machine_ssid(machine_id_file="/etc/machine-id"):
    """tubeless-XXXX: four hex digits of the machine id, so two pedals in one room differ."""
    try:
        with open(machine_id_file, encoding="ascii") as f:
            mid = f.read(64).strip().lower()
    except (OSError, UnicodeDecodeError):
        mid = ""
    tail = mid[-4:] if len(mid) >= 4 and all(c in "0123456789abcdef" for c in mid) else secrets.token_hex(2)
    return f"tubeless-{tail}"


def new_password():
    """Typed on a phone when a QR code will not do: 4 groups of 4 letters and digits, ~78 bits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"          # no 0/o, 1/l/i
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def load(path=SETTINGS_FILE):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SETTINGS + 1)
    except FileNotFoundError:
        raise HotspotError(f"{path}: no hotspot settings (sudo tubeless hotspot setup)") from None
    except OSError as e:
        raise HotspotError(f"{path}: cannot read: {e.strerror}") from None
    if len(data) > MAX_SETTINGS:
        raise HotspotError(f"{path}: larger than {MAX_SETTINGS} bytes")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HotspotError(f"{path}: not valid JSON") from None
    fields = {f.name for f in dataclasses.fields(HotspotSettings)}
    if not isinstance(raw, dict) or not {"ssid", "password"} <= raw.keys() or not raw.keys() <= fields:
        raise HotspotError(f"{path}: expected an object with {', '.join(sorted(fields))}")
    return HotspotSettings(**raw)


def save(settings, path=SETTINGS_FILE, group=None):
    """Atomically, mode 0640; `group` (the web page's) may read it, no one else."""
    try:
        with atomic_path(path, force=True, mode=0o640) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(dataclasses.asdict(settings), f, indent=1)
                f.write("\n")
            if group is not None:
                try:
                    os.chown(tmp, -1, grp.getgrnam(group).gr_gid)
                except KeyError:
                    pass                       # no such group (a test, a staged root): root only
    except OutputError as e:
        raise HotspotError(str(e)) from None
    return settings
