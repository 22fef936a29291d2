"""NetworkManager as the hotspot service sees it, through `nmcli` (and `iw` for the phones
on the access point, which NM does not count). One small interface, `observe`, `up`,
`down`, `rescan`, `load`: the fallback never runs a command itself, and the tests put a
fake `nmcli` first on PATH."""
import dataclasses
import os
import subprocess

from firmware.core.errors import NetworkManagerError
from firmware.network import keyfile

WIFI = "802-11-wireless"
MAX_PROFILES = 64                   # known networks looked at; more are ignored
TIMEOUT_S = 20.0


@dataclasses.dataclass(frozen=True)
class Observation:
    connected: str | None           # the known network (profile name) the interface is on
    hotspot_up: bool
    stations: int | None            # phones on the hotspot; None: cannot tell
    visible_known: tuple = ()       # known profiles whose network is in range, strongest first
    known: tuple = ()               # (profile name, SSID) of every known Wi-Fi network


def split_terse(line):
    """The fields of one `nmcli -t -e yes` line: ':' separates, '\\' escapes ':' and '\\'."""
    fields, cur, i = [], [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if c == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    fields.append("".join(cur))
    return fields


class Nmcli:
    def __init__(self, interface="wlan0", hotspot=None, nmcli="nmcli", iw="iw"):
        self.interface = interface
        self.hotspot = hotspot
        self.nmcli, self.iw = nmcli, iw
        self._ssids = {}               # profile name -> SSID (profiles rarely change: read once)

    def _run(self, *args, tool=None, check=True, timeout=TIMEOUT_S):
        cmd = [tool or self.nmcli, *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "LC_ALL": "C"})
        except FileNotFoundError:
            raise NetworkManagerError(f"{cmd[0]} is not installed (NetworkManager manages Wi-Fi on "
                                      "Raspberry Pi OS Bookworm and later)") from None
        except subprocess.TimeoutExpired:
            raise NetworkManagerError(f"{cmd[0]} {args[0] if args else ''} took over {timeout:.0f} s") from None
        if check and proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:200]
            raise NetworkManagerError(f"{cmd[0]} {' '.join(args[:3])}: {why}")
        return proc.stdout

    def _rows(self, *args):
        return [split_terse(ln) for ln in self._run("-t", "-e", "yes", *args).splitlines() if ln]

    def known(self):
        """(name, SSID) of the Wi-Fi client profiles NM has, the hotspot's left out."""
        out = []
        for name, kind in (r[:2] for r in self._rows("-f", "NAME,TYPE", "connection", "show") if len(r) >= 2):
            if kind != WIFI or name == self.hotspot or len(out) >= MAX_PROFILES:
                continue
            if name not in self._ssids:
                fields = dict(r[:2] for r in self._rows("-f", f"{WIFI}.ssid,{WIFI}.mode", "connection", "show",
                                                        "id", name) if len(r) >= 2)
                self._ssids[name] = (fields.get(f"{WIFI}.ssid", ""), fields.get(f"{WIFI}.mode", ""))
            ssid, mode = self._ssids[name]
            if mode != "ap" and ssid:
                out.append((name, ssid))
        return tuple(out)

    def stations(self):
        try:
            dump = self._run("dev", self.interface, "station", "dump", tool=self.iw)
        except NetworkManagerError:
            return None
        return sum(1 for ln in dump.splitlines() if ln.startswith("Station "))

    def observe(self):
        active = {r[0]: r[2] for r in self._rows("-f", "NAME,TYPE,DEVICE", "connection", "show", "--active")
                  if len(r) >= 3 and r[1] == WIFI}
        known = self.known()
        names = {n for n, _ in known}
        hotspot_up = self.hotspot in active
        connected = next((n for n, dev in active.items() if n in names and dev == self.interface), None)
        visible = [r[0] for r in self._rows("-f", "SSID", "device", "wifi", "list", "ifname", self.interface,
                                            "--rescan", "no") if r and r[0]]
        in_range = tuple(n for ssid in dict.fromkeys(visible) for n, s in known if s == ssid)
        return Observation(connected=connected, hotspot_up=hotspot_up,
                           stations=self.stations() if hotspot_up else 0, visible_known=in_range, known=known)

    def up(self, name, wait_s=30):
        self._run("-w", str(int(wait_s)), "connection", "up", "id", name, timeout=wait_s + 10)

    def down(self, name):
        self._run("connection", "down", "id", name, check=False)

    def rescan(self):
        self._run("device", "wifi", "rescan", "ifname", self.interface, check=False)

    def load(self, path):
        """Make NM read a profile file written (or rewritten) just now."""
        self._ssids.clear()
        self._run("connection", "load", path)

    def forget(self):
        self._ssids.clear()


def write_profile(path, text, uid=0):
    """A keyfile into NM's folder: atomically, 0600, owned by root (NM's rule for a secret)."""
    from firmware.core.errors import HotspotError, OutputError
    from firmware.core.outputs import atomic_path
    try:
        with atomic_path(path, force=True, mode=0o600) as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            if os.geteuid() == 0:
                os.chown(tmp, uid, 0)
    except OutputError as e:
        raise HotspotError(str(e)) from None
    keyfile.check_file_mode(path, owner_uid=os.geteuid())
    return path
