"""The hotspot service (`tubeless hotspot watch`, systemd/tubeless-hotspot.service, root):
each tick it looks at NetworkManager, lets the fallback decide, does what it says, acts on
the page's requests and writes what it sees for the page. Nothing of the audio waits on
it: it is its own process in its own cgroup, niced, and the pedal never reads its files."""
import json
import logging
import os
import re
import shutil
import subprocess
import time

from firmware.core.errors import HotspotError, NetworkManagerError, OutputError
from firmware.core.outputs import atomic_path
from firmware.network import fallback, keyfile, requests, settings
from firmware.network.nmcli import write_profile

log = logging.getLogger(__name__)
STATUS_FILE = "/run/tubeless-hotspot/status.json"
MDNS_NAME = "tubeless.local"
KNOWN_PREFIX = "tubeless-known-"
KEEP_RESULTS = 16
RESTART_GRACE_S = 2.0


class MdnsAlias:
    """tubeless.local -> the hotspot's address while the hotspot is up (avahi-publish), so a
    phone on it finds the page by name; on a home network <hostname>.local does that."""

    def __init__(self, name=MDNS_NAME, address=keyfile.AP_ADDRESS):
        self.name, self.address, self.proc = name, address, None

    def set(self, on):
        if on and self.proc is None and shutil.which("avahi-publish"):
            self.proc = subprocess.Popen(["avahi-publish", "-a", "-R", self.name, self.address],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        elif not on and self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def known_profile_path(profile_dir, ssid):
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", ssid).strip("-")[:24] or "net"
    return os.path.join(profile_dir, f"{KNOWN_PREFIX}{slug}-{ssid.encode().hex()[:16]}.nmconnection")


def existing_uuid(path):
    try:
        with open(path, encoding="utf-8") as f:
            return keyfile.parse(f.read(keyfile.MAX_KEYFILE + 1), path).get("connection", {}).get("uuid")
    except (OSError, UnicodeDecodeError, HotspotError):
        return None


def _mtime(path):
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        return None


def add_known_network(nm, profile_dir, ssid, password=""):
    """A network the pedal joins whenever it is in range, stored by NetworkManager (a keyfile
    of ours, root 0600, read at once); adding the same SSID again replaces its password."""
    path = known_profile_path(profile_dir, ssid)
    write_profile(path, keyfile.known_network(ssid, ssid, password, uuid=existing_uuid(path)))
    nm.load(path)
    return path


class HotspotService:
    def __init__(self, nm, settings_file=settings.SETTINGS_FILE, status_file=STATUS_FILE,
                 requests_dir=requests.REQUESTS_DIR, profile_dir=keyfile.PROFILE_DIR, web_group=None,
                 clock=time.monotonic, mdns=None):
        self.nm, self.clock = nm, clock
        self.settings_file, self.status_file, self.requests_dir = settings_file, status_file, requests_dir
        self.profile_dir, self.web_group = profile_dir, web_group
        self.mdns = mdns or MdnsAlias()
        self.settings = settings.load(settings_file)
        self.fallback = fallback.Fallback(self.settings.mode, self.settings.wait_s, now=clock())
        self.settings_mtime = _mtime(settings_file)
        self.results = {}
        self.last = None
        self.restart_at = None

    @property
    def profile_path(self):
        return os.path.join(self.profile_dir, f"{settings.PROFILE_NAME}.nmconnection")

    def install_profile(self):
        """(Re)write the access point's profile from the settings; NM reads it at once."""
        text = self.settings.profile(uuid=existing_uuid(self.profile_path))
        write_profile(self.profile_path, text)
        self.nm.load(self.profile_path)

    # --- one tick ------------------------------------------------------------------------
    def tick(self):
        self._reload_if_changed()
        try:
            taken = requests.take(self.requests_dir)
        except HotspotError as e:
            log.warning("%s", e)
            taken = []
        for rid, req in taken:
            self._answer(rid, req)
        if taken:
            self._publish(self.last)                 # the answers at once, before any radio change
        if self.restart_at is not None and self.clock() >= self.restart_at:
            self.restart_at = None
            log.info("restarting the hotspot with its new settings")
            self._do(fallback.Action(fallback.DOWN))
            self._do(fallback.Action(fallback.UP))
        try:
            obs = self.nm.observe()
        except NetworkManagerError as e:
            log.warning("%s", e)
            self._publish(None, str(e))
            return
        for action in self.fallback.step(self.clock(), obs):
            self._do(action)
        self.mdns.set(obs.hotspot_up)
        self.last = obs
        self._publish(obs)

    def _do(self, action):
        log.info("%s%s", action.kind, f" {action.name}" if action.name else "")
        try:
            if action.kind == fallback.UP:
                self.nm.up(settings.PROFILE_NAME)
            elif action.kind == fallback.DOWN:
                self.nm.down(settings.PROFILE_NAME)
            elif action.kind == fallback.JOIN:
                self.nm.up(action.name, wait_s=max(5, self.settings.wait_s))
            elif action.kind == fallback.RESCAN:
                self.nm.rescan()
        except NetworkManagerError as e:
            log.warning("%s", e)

    # --- the page's requests -------------------------------------------------------------
    def _answer(self, rid, req):
        try:
            if isinstance(req, Exception):
                raise req
            self._apply(req)
            result = {"ok": True}
        except (HotspotError, NetworkManagerError) as e:
            result = {"ok": False, "error": str(e)}
        # never the request itself in the log: it may carry a password
        log.info("request %s (%s): %s", rid[:8], req.get("op") if isinstance(req, dict) else "refused",
                 "done" if result["ok"] else result["error"])
        self.results[rid] = result
        while len(self.results) > KEEP_RESULTS:
            self.results.pop(next(iter(self.results)))

    def _apply(self, req):
        if req["op"] == "add_network":
            add_known_network(self.nm, self.profile_dir, req["ssid"], req.get("password", ""))
            return
        new = self.settings.replace(**{k: req[k] for k in ("ssid", "password", "mode") if k in req})
        settings.save(new, self.settings_file, group=self.web_group)
        self._use(new)

    def _use(self, new):
        """Settings that changed (from the page, or the file by `tubeless hotspot`) take effect now."""
        old, self.settings = self.settings, new
        self.settings_mtime = _mtime(self.settings_file)
        if new.profile(uuid="same") != old.profile(uuid="same"):      # name, password, channel...
            self.install_profile()
            if self.last is not None and self.last.hotspot_up:
                # the new name and password now, not at the next boot: phones join again. In a
                # moment: the page that asked is on this hotspot and waits for its answer first.
                self.restart_at = self.clock() + RESTART_GRACE_S
        if new.mode != self.fallback.mode:
            self.fallback.set_mode(new.mode, self.clock())
        self.fallback.wait_s = new.wait_s

    def _reload_if_changed(self):
        if _mtime(self.settings_file) == self.settings_mtime:
            return
        try:
            new = settings.load(self.settings_file)
        except HotspotError as e:
            log.warning("%s (keeping the settings in use)", e)
            self.settings_mtime = _mtime(self.settings_file)
            return
        log.info("settings file changed: using it")
        self._use(new)

    # --- what the page reads -------------------------------------------------------------
    def _publish(self, obs, error=None):
        s = self.settings
        status = {"state": self.fallback.state, "mode": s.mode, "ssid": s.ssid, "security": s.security,
                  "interface": s.interface, "address": keyfile.AP_ADDRESS, "mdns": self.mdns.name,
                  "hotspot_up": bool(obs and obs.hotspot_up), "stations": obs.stations if obs else None,
                  "connected": obs.connected if obs else None,
                  "known": sorted({ssid for _, ssid in obs.known}) if obs else [],
                  "error": error, "results": self.results, "time": time.time()}
        try:
            with atomic_path(self.status_file, force=True, mode=0o644) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(status, f)
        except OutputError as e:
            log.warning("%s", e)

    def run(self, interval=1.0, stop=None):
        self.install_profile()
        while stop is None or not stop():
            self.tick()
            time.sleep(interval)
        self.mdns.set(False)
