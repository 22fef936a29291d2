"""`tubeless hotspot`: the pedal's own Wi-Fi (docs/hotspot.md). Without a subcommand it
prints the network's name, password and a QR code to join it; `setup` (install.sh) makes
the settings and the NetworkManager profile; `watch` is the tubeless-hotspot service;
`status`, `set-password`, `set-ssid`, `mode` and `add-network` for a shell on the pedal."""
import getpass
import json
import os
import sys

from firmware.core.errors import HotspotError, UserError
from firmware.network import joinqr, keyfile, settings
from firmware.network import requests as hotspot_requests
from firmware.network.service import STATUS_FILE


def register(sub):
    p = sub.add_parser("hotspot", help="the pedal's own Wi-Fi: name, password and join QR code; setup, status, watch",
                       description="The pedal's own Wi-Fi access point, for a stage without a known network "
                                   "(docs/hotspot.md). Without a subcommand: print its name, password and a QR "
                                   "code a phone's camera joins with.")
    p.add_argument("--settings-file", default=settings.SETTINGS_FILE, help="default: %(default)s")
    p.add_argument("--profile-dir", default=keyfile.PROFILE_DIR, help="NetworkManager's keyfiles (%(default)s)")
    p.set_defaults(func=cmd_show)
    hs = p.add_subparsers(dest="hotspot_command", metavar="SUBCOMMAND")

    s = hs.add_parser("setup", help="make the settings (new name and password the first time) and the profile")
    s.add_argument("--mode", choices=settings.MODES, help="auto (when no known network comes), always, off")
    s.add_argument("--wait", type=float, help="seconds a boot waits for a known network (default 20)")
    s.add_argument("--interface", help="the Wi-Fi interface (default wlan0)")
    s.add_argument("--channel", type=int, help="a 2.4 GHz channel, 1-13 (default 6)")
    s.add_argument("--security", choices=tuple(keyfile.SECURITY), help="wpa2 (default) or wpa3")
    s.add_argument("--web-group", help="the group that may read the settings (the web page's)")
    s.add_argument("--no-load", action="store_true", help="write the profile but do not ask NetworkManager to read it")
    s.set_defaults(func=cmd_setup)

    st = hs.add_parser("status", help="what the hotspot service sees: state, network, phones on the hotspot")
    st.add_argument("--status-file", default=STATUS_FILE)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    w = hs.add_parser("watch", help="the tubeless-hotspot service: hotspot when no known network is there")
    w.add_argument("--status-file", default=STATUS_FILE)
    w.add_argument("--requests-dir", default=hotspot_requests.REQUESTS_DIR, help="the web page's change requests")
    w.add_argument("--web-group", help="the group that may read the settings (the web page's)")
    w.add_argument("--interval", type=float, default=1.0, help="seconds between looks (default 1)")
    w.set_defaults(func=cmd_watch)

    pw = hs.add_parser("set-password", help="a new password (random, or the first line of standard input)")
    pw.add_argument("--random", action="store_true")
    pw.set_defaults(func=cmd_set, field="password")
    sd = hs.add_parser("set-ssid", help="a new network name")
    sd.add_argument("value", metavar="SSID")
    sd.set_defaults(func=cmd_set, field="ssid")
    m = hs.add_parser("mode", help="auto, always or off")
    m.add_argument("value", choices=settings.MODES)
    m.set_defaults(func=cmd_set, field="mode")

    a = hs.add_parser("add-network", help="a known network the pedal joins when in range (password from stdin)")
    a.add_argument("ssid", metavar="SSID")
    a.add_argument("--open", action="store_true", help="a network without a password")
    a.set_defaults(func=cmd_add_network)


def _load(args):
    try:
        return settings.load(args.settings_file)
    except HotspotError as e:
        if not os.access(os.path.dirname(args.settings_file) or ".", os.R_OK) and os.path.exists(
                os.path.dirname(args.settings_file)):
            raise UserError(f"{args.settings_file}: readable by root only (sudo tubeless hotspot)") from None
        raise UserError(str(e)) from None


def show(s, out):
    join = joinqr.join_string(s.ssid, s.password, s.security)
    print(f"Wi-Fi network: {s.ssid}", file=out)
    print(f"password:      {s.password}", file=out)
    print(f"page:          http://{keyfile.AP_ADDRESS}/ or http://tubeless.local/ (on the hotspot)", file=out)
    print(f"hotspot:       {s.mode} ({'when no known network is there' if s.mode == 'auto' else s.mode})", file=out)
    print("scan to join:", file=out)
    joinqr.terminal(join, out)


def cmd_show(args):
    show(_load(args), sys.stdout)
    return 0


def cmd_setup(args):
    try:
        current = settings.load(args.settings_file) if os.path.exists(args.settings_file) else None
    except HotspotError as e:
        raise UserError(f"{e} (move it away to start afresh)") from None
    changes = {k: v for k, v in (("mode", args.mode), ("wait_s", args.wait), ("interface", args.interface),
                                 ("channel", args.channel), ("security", args.security)) if v is not None}
    if current is None:
        new = settings.HotspotSettings(ssid=settings.machine_ssid(), password=settings.new_password(), **changes)
    else:
        new = current.replace(**changes)
    folder = os.path.dirname(os.path.abspath(args.settings_file))
    os.makedirs(folder, mode=0o750, exist_ok=True)
    settings.save(new, args.settings_file, group=args.web_group)
    from firmware.network.nmcli import Nmcli, write_profile
    from firmware.network.service import existing_uuid
    path = os.path.join(args.profile_dir, f"{settings.PROFILE_NAME}.nmconnection")
    write_profile(path, new.profile(uuid=existing_uuid(path)))
    if not args.no_load:
        Nmcli(new.interface, settings.PROFILE_NAME).load(path)
    print(f"hotspot {new.ssid}: {new.mode}; profile {path}")
    return 0


def cmd_status(args):
    try:
        with open(args.status_file, "rb") as f:
            st = json.loads(f.read(1 << 16))
    except FileNotFoundError:
        raise UserError(f"{args.status_file}: the hotspot service is not running (systemctl status "
                        "tubeless-hotspot)") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{args.status_file}: cannot read: {e}") from None
    if args.json:
        print(json.dumps(st, indent=1))
        return 0
    where = (f"hotspot {st.get('ssid')} up, {st.get('stations')} phone(s) on it, page at http://{st.get('address')}/"
             if st.get("hotspot_up") else f"on {st.get('connected')}" if st.get("connected") else "no network")
    print(f"{where}; mode {st.get('mode')}, state {st.get('state')}")
    print(f"known networks: {', '.join(st.get('known') or []) or 'none'}")
    if st.get("error"):
        print(f"error: {st['error']}")
    return 0


def cmd_watch(args):
    from firmware.network.nmcli import Nmcli
    from firmware.network.service import HotspotService
    s = _load(args)
    service = HotspotService(Nmcli(s.interface, settings.PROFILE_NAME), settings_file=args.settings_file,
                             status_file=args.status_file, requests_dir=args.requests_dir,
                             profile_dir=args.profile_dir, web_group=args.web_group)
    import signal
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        service.run(interval=args.interval, stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        service.mdns.set(False)
    return 0


def _read_secret(prompt):
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def cmd_set(args):
    s = _load(args)
    if args.field == "password":
        value = settings.new_password() if args.random else _read_secret("new Wi-Fi password: ")
    else:
        value = args.value
    try:
        new = s.replace(**{args.field: value})
        settings.save(new, args.settings_file, group=_group_of(args.settings_file))
    except HotspotError as e:
        raise UserError(str(e)) from None
    # the service sees the file change and applies it within a second
    print("saved; the hotspot service applies it now (phones on the hotspot join again)")
    if args.field == "password":
        show(new, sys.stdout)
    return 0


def _group_of(path):
    import grp
    try:
        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError):
        return None


def cmd_add_network(args):
    from firmware.network.nmcli import Nmcli
    from firmware.network.service import add_known_network
    password = "" if args.open else _read_secret(f"password of {args.ssid}: ")
    try:
        hotspot_requests.check({"op": "add_network", "ssid": args.ssid, "password": password})
        path = add_known_network(Nmcli(hotspot=settings.PROFILE_NAME), args.profile_dir, args.ssid, password)
    except HotspotError as e:
        raise UserError(str(e)) from None
    print(f"added {args.ssid} ({path}); the pedal joins it whenever it is in range")
    return 0
