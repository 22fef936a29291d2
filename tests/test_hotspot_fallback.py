"""The hotspot fallback: the state machine tick by tick, then `tubeless hotspot watch` as the
service runs it, against a fake nmcli/iw on PATH (firmware/testing/fakenm.py): a known
network there at boot, none, one appearing later, a phone on the hotspot; the page's
requests (new password, a known network) and hostile request files."""
import json
import os
import subprocess
import sys
import time

import pytest

from firmware.core.errors import HotspotError
from firmware.network import keyfile, requests, settings
from firmware.network.fallback import DOWN, JOIN, RESCAN, UP, Action, Fallback
from firmware.network.nmcli import Observation, split_terse
from firmware.testing.fakenm import FakeNetworkManager

HOME = Observation(connected="Home", hotspot_up=False, stations=0, visible_known=("Home",))
NOTHING = Observation(connected=None, hotspot_up=False, stations=0)
AP_ALONE = Observation(connected=None, hotspot_up=True, stations=0)


# --------------------------------------------------------------------- the state machine
def test_a_known_network_at_boot_means_no_hotspot():
    f = Fallback("auto", wait_s=20, now=0)
    assert [f.step(t, HOME) for t in (0, 10, 30, 300)] == [[], [], [], []]
    assert f.state == "client"


def test_no_known_network_starts_the_hotspot_after_the_wait_only():
    f = Fallback("auto", wait_s=20, now=0)
    assert f.step(19.9, NOTHING) == []
    assert f.step(20, NOTHING) == [Action(UP)]
    assert f.state == "hotspot"


def test_returns_to_a_known_network_only_with_no_phone_on_the_hotspot():
    f = Fallback("auto", wait_s=20, now=0)
    f.step(20, NOTHING)
    home_back = Observation(connected=None, hotspot_up=True, stations=1, visible_known=("Home",))
    assert f.step(30, home_back) == []                       # a phone is on it: stay
    unknown = Observation(connected=None, hotspot_up=True, stations=None, visible_known=("Home",))
    assert f.step(31, unknown) == []                         # cannot count phones: stay
    alone = Observation(connected=None, hotspot_up=True, stations=0, visible_known=("Home",))
    assert f.step(32, alone) == [Action(DOWN), Action(JOIN, "Home")]
    assert f.step(33, HOME) == [] and f.state == "client"


def test_a_failed_return_goes_back_to_the_hotspot_and_holds_off():
    f = Fallback("auto", wait_s=20, now=0, retry_s=300)
    f.step(20, NOTHING)
    f.step(30, Observation(connected=None, hotspot_up=True, stations=0, visible_known=("Home",)))
    assert f.state == "returning"
    assert f.step(49, NOTHING) == []
    assert f.step(50, NOTHING) == [Action(UP)]
    seen = Observation(connected=None, hotspot_up=True, stations=0, visible_known=("Home",))
    assert JOIN not in [a.kind for a in f.step(100, seen)]   # held off: no flapping
    assert f.step(351, seen) == [Action(DOWN), Action(JOIN, "Home")]


def test_rescans_while_alone_on_the_hotspot_and_retries_a_failed_start():
    f = Fallback("auto", wait_s=0, now=0, rescan_s=30, up_retry_s=10)
    assert f.step(0, NOTHING) == [Action(UP)]
    assert f.step(5, NOTHING) == []                          # the start failed: not every tick
    assert f.step(10, NOTHING) == [Action(UP)]
    assert f.step(11, AP_ALONE) == [Action(RESCAN)]
    assert f.step(20, AP_ALONE) == []
    assert f.step(41, AP_ALONE) == [Action(RESCAN)]


def test_losing_the_known_network_waits_again_before_the_hotspot():
    f = Fallback("auto", wait_s=20, now=0)
    f.step(0, HOME)
    assert f.step(100, NOTHING) == [] and f.state == "waiting"
    assert f.step(119, NOTHING) == []
    assert f.step(120, NOTHING) == [Action(UP)]


def test_always_and_off():
    f = Fallback("always", wait_s=20, now=0)
    assert f.step(0, HOME) == [Action(UP)]
    assert f.step(1, AP_ALONE) == []
    f.set_mode("off", 2)
    assert f.step(3, AP_ALONE) == [Action(DOWN)]
    assert f.step(4, NOTHING) == [] and f.step(1000, NOTHING) == []


def test_nmcli_terse_fields_unescape():
    assert split_terse(r"my\:net:802-11-wireless:wlan0") == ["my:net", "802-11-wireless", "wlan0"]
    assert split_terse(r"back\\slash:x") == ["back\\slash", "x"]


# --------------------------------------------------------------------- the service program
def write_settings(path, **over):
    s = settings.HotspotSettings(ssid="tubeless-ab12", password="first-password", **over)
    settings.save(s, str(path))
    return s


@pytest.fixture
def pedal_net(tmp_path):
    nm = FakeNetworkManager(tmp_path / "nm", profiles={"Home": {"ssid": "Home", "mode": "infrastructure"}})
    paths = {"settings": tmp_path / "hotspot.json", "status": tmp_path / "status.json",
             "requests": tmp_path / "requests", "profiles": tmp_path / "system-connections"}
    paths["profiles"].mkdir()
    procs = []

    def start(**over):
        write_settings(paths["settings"], **{"wait_s": 1.0, **over})
        proc = subprocess.Popen([sys.executable, "-m", "firmware", "hotspot", "--settings-file", str(paths["settings"]),
                                 "--profile-dir", str(paths["profiles"]), "watch", "--interval", "0.1",
                                 "--status-file", str(paths["status"]), "--requests-dir", str(paths["requests"])],
                                env=nm.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        procs.append(proc)
        return proc

    yield nm, paths, start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def status(paths):
    try:
        return json.loads(paths["status"].read_text())
    except (OSError, ValueError):
        return {}


def ups(nm, name="tubeless-hotspot"):
    return [c for c in nm.calls() if c[0] == "nmcli" and c[-4:] == ["connection", "up", "id", name]]


def test_known_network_present_keeps_the_hotspot_off(pedal_net):
    nm, paths, start = pedal_net
    nm.update(visible=["Home"], active="Home")
    start()
    wait_for(lambda: status(paths).get("state") == "client", "the service seeing Home")
    time.sleep(1.5)                                         # past the 1 s wait
    assert status(paths)["connected"] == "Home" and not ups(nm)
    # its profile was written and loaded all the same, ready for when it is needed
    profile = paths["profiles"] / "tubeless-hotspot.nmconnection"
    assert keyfile.check_access_point(profile.read_text())["ssid"] == "tubeless-ab12"
    assert nm.read()["profiles"]["tubeless-hotspot"]["mode"] == "ap"


def test_no_known_network_then_hotspot_then_back_when_alone(pedal_net):
    nm, paths, start = pedal_net
    start()
    wait_for(lambda: nm.read()["active"] == "tubeless-hotspot", "the hotspot coming up")
    wait_for(lambda: status(paths).get("hotspot_up"), "the status saying so")
    # Home appears while a phone is on the hotspot: the pedal stays
    nm.update(visible=["Home"], stations=1)
    wait_for(lambda: status(paths).get("stations") == 1, "the phone counted")
    time.sleep(1.0)
    assert nm.read()["active"] == "tubeless-hotspot"
    # the phone leaves: back to Home
    nm.update(stations=0)
    wait_for(lambda: nm.read()["active"] == "Home", "the return to Home")
    wait_for(lambda: status(paths).get("state") == "client", "the client state")


def test_a_known_network_appearing_later_is_joined(pedal_net):
    nm, paths, start = pedal_net
    start()
    wait_for(lambda: nm.read()["active"] == "tubeless-hotspot", "the hotspot coming up")
    nm.update(visible=["Home"])
    wait_for(lambda: nm.read()["active"] == "Home", "joining Home")
    assert ["nmcli", "connection", "down", "id", "tubeless-hotspot"] in nm.calls()


def test_the_pages_requests_change_the_password_and_add_a_network(pedal_net):
    nm, paths, start = pedal_net
    start()
    wait_for(lambda: status(paths).get("hotspot_up"), "the hotspot coming up")
    rid = requests.submit({"op": "set", "password": "second-password"}, str(paths["requests"]))
    wait_for(lambda: rid in status(paths).get("results", {}), "the answer")
    assert status(paths)["results"][rid] == {"ok": True}
    assert settings.load(str(paths["settings"])).password == "second-password"
    profile = paths["profiles"] / "tubeless-hotspot.nmconnection"
    assert keyfile.check_access_point(profile.read_text())["password"] == "second-password"
    # without a reboot: the hotspot restarts with it
    before = len(ups(nm))
    wait_for(lambda: len(ups(nm)) > before, "the hotspot restarting")
    assert nm.read()["profiles"]["tubeless-hotspot"]["psk"] == "second-password"

    rid = requests.submit({"op": "add_network", "ssid": "Band room", "password": "rehearsal1"}, str(paths["requests"]))
    wait_for(lambda: rid in status(paths).get("results", {}), "the answer")
    assert status(paths)["results"][rid] == {"ok": True}
    added = [p for p in paths["profiles"].iterdir() if p.name.startswith("tubeless-known-")]
    assert len(added) == 1 and oct(added[0].stat().st_mode & 0o777) == "0o600"
    wait_for(lambda: "Band room" in status(paths).get("known", []), "the new network listed")
    out = "".join(open(nm.log_path).read())
    assert "rehearsal1" not in out and "second-password" not in out      # never on a command line


def test_hostile_request_files_are_answered_or_dropped(pedal_net, tmp_path):
    nm, paths, start = pedal_net
    paths["requests"].mkdir(mode=0o700)
    secret = tmp_path / "secret"
    secret.write_text('{"op": "set", "password": "stolen-password"}')
    bad = {"a" * 32: '{"op": "set", "password": "short"}', "b" * 32: "[" * 100000,
           "c" * 32: '{"op": "rm -rf", "path": "/"}'}
    for name, text in bad.items():
        (paths["requests"] / f"{name}.json").write_text(text)
    (paths["requests"] / f"{'d' * 32}.json").symlink_to(secret)
    start()
    wait_for(lambda: len(status(paths).get("results", {})) == 4, "four answers")
    results = status(paths)["results"]
    assert all(not r["ok"] for r in results.values()), results
    assert "8 to 63" in results["a" * 32]["error"] and "larger than" in results["b" * 32]["error"]
    assert "cannot open" in results["d" * 32]["error"]                       # a link is not followed
    assert list(paths["requests"].iterdir()) == [] and secret.exists()
    assert settings.load(str(paths["settings"])).password == "first-password"


def test_a_service_that_reads_nothing_does_not_answer_and_the_page_withdraws(tmp_path):
    rid = requests.submit({"op": "set", "mode": "off"}, str(tmp_path / "r"))
    assert requests.withdraw(rid, str(tmp_path / "r")) and not requests.withdraw(rid, str(tmp_path / "r"))


def test_requests_are_checked_before_they_are_written(tmp_path):
    for req, why in (({"op": "set"}, "nothing to change"), ({"op": "set", "mode": "sometimes"}, "mode"),
                     ({"op": "set", "ssid": "x" * 33}, "32 bytes"), ({"op": "add_network", "ssid": ""}, "SSID"),
                     ({"op": "set", "password": "pässword-long"}, "ASCII"), ({"op": "x"}, "one of")):
        with pytest.raises(HotspotError, match=why):
            requests.submit(req, str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_a_folder_writable_by_others_is_refused(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(HotspotError, match="writable by others"):
        requests.take(str(folder))
