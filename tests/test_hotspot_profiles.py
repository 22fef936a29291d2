"""The NetworkManager keyfiles the pedal writes: byte for byte what NetworkManager's own
writer (`nmcli --offline connection add`, NM >= 1.42) makes for the same settings, read back
by our parser to the same values, refused when not an access point the pedal can run, and
written 0600 root. The hotspot's settings file: 0640, atomic, never without a password."""
import os
import shutil
import stat
import subprocess

import pytest

from firmware.core.errors import HotspotError
from firmware.network import keyfile, settings
from firmware.network.nmcli import write_profile

UUID = "9fd7ab1b-b6d0-420c-b7ed-eb42828431b9"


def nmcli_offline(*args):
    if shutil.which("nmcli") is None:
        pytest.skip("nmcli not installed (apt-get install network-manager)")
    proc = subprocess.run(["nmcli", "--offline", "connection", "add", *args, "connection.uuid", UUID],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "offline" in proc.stderr:
        pytest.skip(f"this nmcli has no --offline: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("ssid, password", [("tubeless-ab12", "secret-pass"), ("a;b c", "pa;ss\\word x"),
                                            ("café ☕", " leading space!")])
def test_access_point_is_what_networkmanager_writes(ssid, password):
    ours = keyfile.access_point("tubeless-hotspot", ssid, password, interface="wlan0", channel=6, uuid=UUID)
    nm = nmcli_offline("type", "wifi", "con-name", "tubeless-hotspot", "ifname", "wlan0", "ssid", ssid, "mode", "ap",
                       "802-11-wireless.band", "bg", "802-11-wireless.channel", "6", "wifi-sec.key-mgmt", "wpa-psk",
                       "wifi-sec.proto", "rsn", "wifi-sec.pairwise", "ccmp", "wifi-sec.group", "ccmp",
                       "wifi-sec.psk", password, "ipv4.method", "shared", "ipv4.addresses", "10.42.0.1/24",
                       "ipv6.method", "disabled", "connection.autoconnect", "no")
    assert ours.strip() == nm.strip()
    got = keyfile.check_access_point(nm)
    assert (got["ssid"], got["password"], got["security"], got["channel"]) == (ssid, password, "wpa2", 6)


def test_wpa3_and_a_known_network_are_what_networkmanager_writes():
    ours = keyfile.access_point("ap", "pedal", "passwordx", channel=11, security="wpa3", uuid=UUID)
    nm = nmcli_offline("type", "wifi", "con-name", "ap", "ifname", "wlan0", "ssid", "pedal", "mode", "ap",
                       "802-11-wireless.band", "bg", "802-11-wireless.channel", "11", "wifi-sec.key-mgmt", "sae",
                       "wifi-sec.pmf", "required", "wifi-sec.psk", "passwordx", "ipv4.method", "shared",
                       "ipv4.addresses", "10.42.0.1/24", "ipv6.method", "disabled", "connection.autoconnect", "no")
    assert ours.strip() == nm.strip()
    assert keyfile.check_access_point(ours)["security"] == "wpa3"
    known = keyfile.known_network("Band room", "Band room", "rehearsal1", uuid=UUID)
    nm = nmcli_offline("type", "wifi", "con-name", "Band room", "ssid", "Band room", "wifi-sec.key-mgmt", "wpa-psk",
                       "wifi-sec.psk", "rehearsal1")
    assert known.strip() == nm.strip()


def test_the_parser_reads_groups_escapes_and_byte_list_ssids():
    g = keyfile.parse("# c\n[wifi]\nssid=99;97;102;195;169;\nx = \\sa\\tb\\\\\n[wifi]\ny=1\n")
    assert keyfile.ssid_from(g["wifi"]["ssid"]) == "café"
    assert g["wifi"]["x"] == " a\tb\\" and g["wifi"]["y"] == "1"
    assert keyfile.ssid_from(keyfile.parse("[w]\ns=" + keyfile.ssid_value("16;17;") + "\n")["w"]["s"]) == "16;17;"
    for bad, why in (("k=v\n", "before any group"), ("[g\n", "group header"), ("[g]\nnovalue\n", "key=value"),
                     ("[g]\nk=a\\\n", "end of the line")):
        with pytest.raises(HotspotError, match=why):
            keyfile.parse(bad)


@pytest.mark.parametrize("change, why", [
    (("mode=ap", "mode=infrastructure"), "wifi.mode"),
    (("method=shared", "method=auto"), "ipv4.method"),
    (("band=bg", "band=a"), "wifi.band"),
    (("channel=6", "channel=36"), "2.4 GHz"),
    (("key-mgmt=wpa-psk", "key-mgmt=none"), "key-mgmt"),
    (("proto=rsn;", "proto=wpa;rsn;"), "RSN only"),
    (("psk=secret-pass", "psk=short"), "8 to 63"),
])
def test_profiles_that_are_not_the_pedals_access_point_are_refused(change, why):
    text = keyfile.access_point("tubeless-hotspot", "tubeless-ab12", "secret-pass")
    assert change[0] in text
    with pytest.raises(HotspotError, match=why):
        keyfile.check_access_point(text.replace(change[0], change[1]))


def test_bad_names_and_passwords_are_refused_before_any_file():
    for ssid, password, why in (("", "secret-pass", "SSID"), ("x" * 33, "secret-pass", "32 bytes"),
                                ("a\nb", "secret-pass", "control"), ("ok", "seven77", "8 to 63"),
                                ("ok", "x" * 64, "8 to 63"), ("ok", "naïve-password", "ASCII")):
        with pytest.raises(HotspotError, match=why):
            keyfile.access_point("t", ssid, password)


def test_profiles_are_written_0600_owned_by_root(tmp_path):
    path = tmp_path / "tubeless-hotspot.nmconnection"
    write_profile(str(path), keyfile.access_point("tubeless-hotspot", "tubeless-ab12", "secret-pass"))
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    if os.geteuid() == 0:
        assert st.st_uid == 0 and st.st_gid == 0
    path.chmod(0o644)
    with pytest.raises(HotspotError, match="not 0600"):
        keyfile.check_file_mode(str(path), owner_uid=os.geteuid())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]            # no temporary file left


def test_settings_file_is_0640_and_round_trips(tmp_path):
    path = tmp_path / "hotspot.json"
    s = settings.HotspotSettings(ssid=settings.machine_ssid(os.devnull), password=settings.new_password())
    settings.save(s, str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert settings.load(str(path)) == s and s.ssid.startswith("tubeless-") and len(s.ssid) == 13
    mid = tmp_path / "machine-id"
    mid.write_text("0123456789abcdef0123456789abcdef\n")
    assert settings.machine_ssid(str(mid)) == "tubeless-cdef"
    path.write_text('{"ssid": "x", "password": "secret-pass", "evil": 1}')
    with pytest.raises(HotspotError, match="expected an object"):
        settings.load(str(path))
    path.write_text("{" * 5000)
    with pytest.raises(HotspotError, match="larger than"):
        settings.load(str(path))
    with pytest.raises(HotspotError, match="mode"):
        s.replace(mode="sometimes")
