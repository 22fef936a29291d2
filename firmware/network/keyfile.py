"""NetworkManager connection profiles in its keyfile format (GLib's key file), written and
read back without NetworkManager.

The pedal writes two kinds: its own access point (mode `ap`, `ipv4.method shared`: NM runs
the DHCP server and NATs nothing else) and the known networks a player adds from the page.
Both go to /etc/NetworkManager/system-connections/ as root, mode 0600 (NM ignores a
keyfile others can read: it holds the password). The text is what `nmcli --offline
connection add` writes for the same settings (tests/test_hotspot_profiles.py compares them).
"""
import os
import stat
import uuid as uuidlib

from firmware.core.errors import HotspotError

PROFILE_DIR = "/etc/NetworkManager/system-connections"
MAX_KEYFILE = 16 * 1024             # a profile is a few hundred bytes
SECURITY = {"wpa2": "wpa-psk", "wpa3": "sae"}
CHANNELS_24GHZ = range(1, 14)       # 2.4 GHz: every phone sees 1-11, Europe 12-13 too
# NM's own default for a shared connection, fixed so the page's address (and the mDNS
# name tubeless.local) is known before the first phone joins.
AP_ADDRESS = "10.42.0.1"


# --- GLib key file escapes ------------------------------------------------------------------
def escape_value(text):
    """A string as g_key_file_set_string writes it: backslash, newline, tab, CR escaped, and a
    leading space kept as \\s (a reader would strip it)."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return "\\s" + out[1:] if out.startswith(" ") else out


def unescape_value(raw, where="value"):
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(raw):
            raise HotspotError(f"{where}: escape character at the end of the line")
        nxt = raw[i + 1]
        mapped = {"\\": "\\", "s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(nxt)
        # NM's own escape inside a string value (\; in an SSID) is not GLib's: keep it whole
        out.append(mapped if mapped is not None else "\\" + nxt)
        i += 2
    return "".join(out)


def parse(text, where="keyfile"):
    """{group: {key: unescaped value}} of a key file; duplicate groups merge, as GLib does."""
    if len(text) > MAX_KEYFILE:
        raise HotspotError(f"{where}: larger than {MAX_KEYFILE} bytes")
    groups, group = {}, None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise HotspotError(f"{where} line {n}: a malformed group header")
            group = groups.setdefault(line[1:-1], {})
            continue
        key, eq, value = raw.partition("=")
        if not eq or not key.strip():
            raise HotspotError(f"{where} line {n}: not key=value")
        if group is None:
            raise HotspotError(f"{where} line {n}: a key before any group")
        group[key.strip()] = unescape_value(value.lstrip(), f"{where} line {n}")
    return groups


# --- SSIDs: NM stores them as bytes --------------------------------------------------------
def ssid_value(ssid):
    """An SSID as NM's keyfile writer stores it: printable ASCII as a string (';' escaped, so
    "16;17;" is not read as a byte list), anything else as a list of byte values."""
    data = ssid.encode("utf-8")
    if all(0x20 <= b < 0x7F for b in data):
        return escape_value(ssid.replace(";", "\\;"))
    return "".join(f"{b};" for b in data)


def ssid_from(value):
    """The SSID of a parsed [wifi] ssid= value (the inverse of ssid_value)."""
    parts = value.rstrip(";").split(";")
    if value.endswith(";") and all(p.isdigit() and int(p) < 256 for p in parts):
        try:
            return bytes(int(p) for p in parts).decode("utf-8")
        except UnicodeDecodeError:
            raise HotspotError("an SSID that is not UTF-8 text") from None
    return value.replace("\\;", ";")


def check_ssid(ssid):
    if not isinstance(ssid, str) or not ssid:
        raise HotspotError("a network name (SSID) is needed")
    if len(ssid.encode("utf-8")) > 32:
        raise HotspotError("a network name (SSID) of at most 32 bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in ssid):
        raise HotspotError("a network name (SSID) without control characters")
    return ssid


def check_passphrase(password, what="password"):
    """A WPA2/WPA3 passphrase: 8 to 63 printable ASCII characters (802.11i)."""
    if not isinstance(password, str) or not 8 <= len(password) <= 63:
        raise HotspotError(f"a Wi-Fi {what} of 8 to 63 characters")
    if not all(0x20 <= ord(c) < 0x7F for c in password):
        raise HotspotError(f"a Wi-Fi {what} of plain ASCII letters, digits and symbols")
    return password


# --- writing -------------------------------------------------------------------------------
def _render(groups):
    return "\n".join(f"[{name}]\n" + "".join(f"{k}={v}\n" for k, v in keys.items())
                     for name, keys in groups.items())


def access_point(name, ssid, password, *, interface="wlan0", channel=6, security="wpa2", uuid=None):
    """The hotspot's profile: mode ap on a 2.4 GHz channel, WPA2 (CCMP) or WPA3 (SAE), the
    pedal as the phones' DHCP server and gateway (ipv4.method shared). Not autoconnected:
    the hotspot service brings it up when no known network is there."""
    check_ssid(ssid)
    check_passphrase(password)
    if security not in SECURITY:
        raise HotspotError(f"security: one of {', '.join(SECURITY)}")
    if channel not in CHANNELS_24GHZ:
        raise HotspotError(f"channel: a 2.4 GHz channel, {CHANNELS_24GHZ[0]} to {CHANNELS_24GHZ[-1]}")
    sec = {"key-mgmt": SECURITY[security]}
    if security == "wpa2":
        sec.update({"group": "ccmp;", "pairwise": "ccmp;", "proto": "rsn;"})
    else:
        sec["pmf"] = "3"                 # SAE needs protected management frames
    sec["psk"] = escape_value(password)
    return _render({
        "connection": {"id": escape_value(name), "uuid": uuid or str(uuidlib.uuid4()), "type": "wifi",
                       "autoconnect": "false", "interface-name": interface},
        "wifi": {"band": "bg", "channel": str(channel), "mode": "ap", "ssid": ssid_value(ssid)},
        "wifi-security": dict(sorted(sec.items())),       # NM's order: keys sorted
        "ipv4": {"address1": f"{AP_ADDRESS}/24", "method": "shared"},
        "ipv6": {"addr-gen-mode": "default", "method": "disabled"},
        "proxy": {},
    })


def known_network(name, ssid, password, *, uuid=None):
    """A network the pedal joins by itself whenever it is in range (autoconnect), WPA2/WPA3
    personal with a password, or open without one."""
    check_ssid(ssid)
    groups = {"connection": {"id": escape_value(name), "uuid": uuid or str(uuidlib.uuid4()), "type": "wifi"},
              "wifi": {"mode": "infrastructure", "ssid": ssid_value(ssid)}}
    if password:
        check_passphrase(password)
        groups["wifi-security"] = {"key-mgmt": "wpa-psk", "psk": escape_value(password)}
    groups["ipv4"] = {"method": "auto"}
    groups["ipv6"] = {"addr-gen-mode": "default", "method": "auto"}
    groups["proxy"] = {}
    return _render(groups)


# --- checking ------------------------------------------------------------------------------
def check_access_point(text, where="hotspot profile"):
    """The settings of a hotspot profile, refused unless it is one NM will run as the pedal's
    access point: {ssid, password, security, channel, interface, id}."""
    g = parse(text, where)

    def need(group, key, allowed=None):
        value = g.get(group, {}).get(key)
        if value is None:
            raise HotspotError(f"{where}: no {group}.{key}")
        if allowed is not None and value not in allowed:
            raise HotspotError(f"{where}: {group}.{key} is {value!r}, not {' or '.join(map(repr, allowed))}")
        return value

    need("connection", "type", ("wifi", "802-11-wireless"))
    need("wifi", "mode", ("ap",))
    need("wifi", "band", ("bg",))
    need("ipv4", "method", ("shared",))
    channel = need("wifi", "channel")
    if not channel.isdigit() or int(channel) not in CHANNELS_24GHZ:
        raise HotspotError(f"{where}: wifi.channel {channel!r} is not a 2.4 GHz channel")
    mgmt = need("wifi-security", "key-mgmt", tuple(SECURITY.values()))
    if mgmt == "sae" and g["wifi-security"].get("pmf") != "3":
        raise HotspotError(f"{where}: WPA3 (sae) without required protected management frames (pmf=3)")
    if mgmt == "wpa-psk" and g["wifi-security"].get("proto", "rsn;") != "rsn;":
        raise HotspotError(f"{where}: WPA2 must be RSN only (no WPA1)")
    ssid = check_ssid(ssid_from(need("wifi", "ssid")))
    password = check_passphrase(need("wifi-security", "psk"))
    return {"id": need("connection", "id"), "ssid": ssid, "password": password, "channel": int(channel),
            "security": {v: k for k, v in SECURITY.items()}[mgmt],
            "interface": g["connection"].get("interface-name", "")}


def check_file_mode(path, owner_uid=0):
    """NM reads a keyfile only when it is a regular file owned by root and hidden from others."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise HotspotError(f"{path}: not a regular file")
    if stat.S_IMODE(st.st_mode) != 0o600:
        raise HotspotError(f"{path}: mode {stat.S_IMODE(st.st_mode):04o}, not 0600")
    if st.st_uid != owner_uid:
        raise HotspotError(f"{path}: owned by uid {st.st_uid}, not {owner_uid}")
    return st
