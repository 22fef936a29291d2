"""A stand-in for NetworkManager's `nmcli` (and `iw`) for the hotspot's tests: the commands
firmware/network/nmcli.py runs, answered from a JSON state file the test edits (networks in
range, phones on the hotspot), each call logged. Put on PATH by `install(folder)`."""
import json
import os
import stat
import sys

SCRIPT = r'''
import json, os, re, sys
state_path, log_path = os.environ["FAKE_NM_STATE"], os.environ["FAKE_NM_LOG"]
args = sys.argv[1:]
tool = os.path.basename(sys.argv[0])
with open(log_path, "a") as f:
    f.write(json.dumps([tool] + args) + "\n")
with open(state_path) as f:
    st = json.load(f)
def save():
    tmp = state_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, state_path)
esc = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")
if tool == "iw":
    if args[:1] == ["dev"] and args[2:] == ["station", "dump"]:
        for i in range(st.get("stations", 0)):
            print(f"Station 02:00:00:00:00:{i:02x} (on {args[1]})\n\tsignal:  -40 dBm")
        sys.exit(0)
    sys.exit(1)
while args and args[0] in ("-t", "-e", "yes", "-w") or (args and args[0].isdigit()):
    args = args[1:]
fields = None
if args[:1] == ["-f"]:
    fields, args = args[1], args[2:]
W = "802-11-wireless"
if args == ["general", "status"]:
    print("connected"); sys.exit(0)
if args[:2] == ["connection", "show"]:
    if args[2:] == ["--active"]:
        if st.get("active"):
            print(f"{esc(st['active'])}:{W}:wlan0")
    elif args[2:3] == ["id"]:
        p = st["profiles"].get(args[3])
        if p is None:
            print("Error: no such connection", file=sys.stderr); sys.exit(10)
        print(f"{W}.ssid:{esc(p['ssid'])}\n{W}.mode:{p['mode']}")
    else:
        for name in st["profiles"]:
            print(f"{esc(name)}:{W}")
    sys.exit(0)
if args[:3] == ["device", "wifi", "list"]:
    for ssid in st.get("visible", []):
        print(esc(ssid))
    sys.exit(0)
if args[:3] == ["device", "wifi", "rescan"]:
    sys.exit(0)
if args[:2] == ["connection", "up"]:
    name = args[3]
    p = st["profiles"].get(name)
    if p is None or (p["mode"] != "ap" and p["ssid"] not in st.get("visible", [])):
        print("Error: Connection activation failed: no network with that SSID", file=sys.stderr); sys.exit(4)
    st["active"] = name; save(); sys.exit(0)
if args[:2] == ["connection", "down"]:
    if st.get("active") == args[3]:
        st["active"] = None; save(); sys.exit(0)
    print("Error: not an active connection", file=sys.stderr); sys.exit(10)
if args[:2] == ["connection", "load"]:
    text = open(args[2]).read()
    name = re.search(r"^id=(.*)$", text, re.M).group(1)
    ssid = re.search(r"^ssid=(.*)$", text, re.M).group(1)
    mode = re.search(r"^mode=(.*)$", text, re.M).group(1)
    st["profiles"][name] = {"ssid": ssid, "mode": mode, "psk": (re.findall(r"^psk=(.*)$", text, re.M) or [""])[0]}
    save(); sys.exit(0)
print("fake nmcli: unknown command " + " ".join(args), file=sys.stderr)
sys.exit(2)
'''


class FakeNetworkManager:
    """The state file, the call log and a folder to put first on PATH."""

    def __init__(self, folder, profiles=None, visible=(), stations=0, active=None):
        self.folder = os.fspath(folder)
        self.bin = os.path.join(self.folder, "bin")
        os.makedirs(self.bin, exist_ok=True)
        self.state_path = os.path.join(self.folder, "nm-state.json")
        self.log_path = os.path.join(self.folder, "nm-calls")
        self.write({"profiles": profiles or {}, "visible": list(visible), "stations": stations, "active": active})
        for tool in ("nmcli", "iw"):
            path = os.path.join(self.bin, tool)
            with open(path, "w") as f:
                f.write(f"#!{sys.executable}\n{SCRIPT}")
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def env(self, base=None):
        env = dict(os.environ if base is None else base)
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}", FAKE_NM_STATE=self.state_path,
                   FAKE_NM_LOG=self.log_path)
        return env

    def read(self):
        with open(self.state_path) as f:
            return json.load(f)

    def write(self, state):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, self.state_path)

    def update(self, **changes):
        st = self.read()
        st.update(changes)
        self.write(st)

    def calls(self):
        try:
            with open(self.log_path) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []
