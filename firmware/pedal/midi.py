"""MIDI foot controllers and expression pedals, through the ALSA sequencer (alsa-midi).

A thread of the control process (the audio never waits for it) reads the sequencer, maps
each message through the [midi] config and calls `Pedal.submit`, like the footswitches:

- Program Change n: preset n - program_offset - program_base + 1 of the current bank, or on
  the bank "setlist" (no presets) model n of the setlist, as before presets.
- cc_bank, cc_snapshot: the CC's value picks the bank (0: the first) or the snapshot (0: the
  preset's own settings).
- Control Change: next, prev (a step per press), bypass, mute, tuner, record (switches, as
  `switch_mode` says), drive, level, knob2, gate (continuous: 0-127 over the pot's range,
  smoothed and held by the pots' own code, `controls.Pot`, polled 50 times a second here).
- `channel`: 0 listens to every channel (omni), 1-16 to one.

Controllers come and go: the thread listens to the sequencer's announcements, so one
plugged in after boot is connected and one pulled is dropped, each with a log line.
Without a sequencer (no /dev/snd/seq: a container, a kernel without snd-seq) it says so
once, looks again every few seconds, and still maps the messages that the control channel
brings (`{"cmd": "midi", ...}`, `tubeless ctl midi`).
"""
import logging
import os
import queue
import threading
import time

from firmware.core.errors import MessageError, MidiConfigError
from firmware.dsp import rig
from firmware.pedal.controls import Pot
from firmware.presets.format import MAX_SNAPSHOTS

log = logging.getLogger(__name__)

SWITCHES = ("next", "prev", "bypass", "mute", "tuner", "tap", "record")
CONTINUOUS = ("drive", "level", "knob2", "gate")
VALUES = ("bank", "snapshot")  # the CC's value picks one: bank value + 1, snapshot value (0: the preset's own)
SEQ_DEVICE = "/dev/snd/seq"
POLL_S = 0.02                  # the pots' 50 Hz
RETRY_S = 5.0                  # looking for a sequencer that was not there


class MidiValue:
    """What a CC last said, 0..1: the `device` a Pot reads."""

    def __init__(self, value=0.0):
        self.value = value

    def close(self):
        pass


class MidiMap:
    """The [midi] config: what a Control Change or Program Change does.

    `map(event)` takes {"type": "cc", "channel": 1-16, "control", "value"} or
    {"type": "program", "channel", "program"} and returns what follows: a list of
    ("submit", control message) and ("pot", role, 0..1)."""

    def __init__(self, cfg):
        self.channel = int(cfg.get("channel", 0))
        if not 0 <= self.channel <= 16:
            raise MidiConfigError(f"midi.channel must be 0 (omni) or 1-16, got {self.channel}")
        self.program_base = int(cfg.get("program_base", 0))
        if self.program_base not in (0, 1):
            raise MidiConfigError(f"midi.program_base must be 0 or 1, got {self.program_base}")
        self.program_offset = int(cfg.get("program_offset", 0))
        self.switch_mode = cfg.get("switch_mode", "momentary")
        if self.switch_mode not in ("momentary", "latching"):
            raise MidiConfigError(f"midi.switch_mode must be momentary or latching, got {self.switch_mode!r}")
        self.cc = {}
        for role in SWITCHES + CONTINUOUS + VALUES:
            n = int(cfg.get(f"cc_{role}", -1))
            if n < 0:
                continue
            if n > 127:
                raise MidiConfigError(f"midi.cc_{role} must be 0-127 (or -1: none), got {n}")
            if n in self.cc:
                raise MidiConfigError(f"midi.cc_{role}: CC {n} is already {self.cc[n]}")
            self.cc[n] = role
        self.rig = {}                      # CC -> ("param", qualified name) or ("block", name)
        table = cfg.get("cc_rig") or {}
        if not isinstance(table, dict):
            raise MidiConfigError("midi.cc_rig must be a table of CC number = rig parameter or block")
        for key, name in table.items():
            try:
                n = int(key)
            except (TypeError, ValueError):
                n = -1
            if not 0 <= n <= 127:
                raise MidiConfigError(f"midi.cc_rig: {key!r} is not a CC number 0-127")
            if n in self.cc or n in self.rig:
                raise MidiConfigError(f"midi.cc_rig: CC {n} is already {self.cc.get(n) or self.rig[n][1]}")
            if isinstance(name, str) and name in rig.BY_NAME:
                self.rig[n] = ("block", name)
                continue
            try:
                cls, p = rig.resolve(name) if isinstance(name, str) else rig.resolve(repr(name))
            except MessageError as e:
                raise MidiConfigError(f"midi.cc_rig: CC {n}: {e}") from None
            self.rig[n] = ("param", f"{cls.NAME}.{p.name}")

    def listens(self, channel):
        return self.channel == 0 or channel == self.channel

    def model_number(self, program):
        """The setlist's 1-based model number for a program (may be out of the setlist)."""
        return program - self.program_offset - self.program_base + 1

    def map(self, ev):
        if not self.listens(ev["channel"]):
            return []
        if ev["type"] == "program":
            n = self.model_number(ev["program"])
            return [("submit", {"cmd": "select", "name": str(n)})] if n >= 1 else []
        if ev["control"] in self.rig:
            return self._map_rig(self.rig[ev["control"]], ev["value"])
        role = self.cc.get(ev["control"])
        if role is None:
            return []
        v = ev["value"]
        if role == "bank":
            return [("submit", {"cmd": "bank", "name": str(v + 1)})]
        if role == "snapshot":
            return [("submit", {"cmd": "snapshot", "n": v})] if v <= MAX_SNAPSHOTS else []
        if role in CONTINUOUS:
            return [("pot", role, v / 127.0)]
        pressed = v >= 64
        if role in ("next", "prev", "tap"):
            # momentary: a press sends >= 64 and the release < 64; latching: one message a press
            return [("submit", {"cmd": role})] if pressed or self.switch_mode == "latching" else []
        if self.switch_mode == "latching":
            return [("submit", {"cmd": role, "on": pressed})]
        return [("submit", {"cmd": role})] if pressed else []


    def _map_rig(self, target, v):
        kind, name = target
        if kind == "param":
            # the block smooths it per sample: no pot smoothing on the way
            _, p = rig.resolve(name)
            return [("submit", {"cmd": "set", "param": name, "value": p.lo + (p.hi - p.lo) * v / 127.0})]
        pressed = v >= 64
        if self.switch_mode == "latching":
            return [("submit", {"cmd": "toggle", "block": name, "on": pressed})]
        return [("submit", {"cmd": "toggle", "block": name})] if pressed else []


def from_alsa(ev):
    """An alsa_midi event -> the dict MidiMap takes, or None (not a message we map)."""
    import alsa_midi
    if isinstance(ev, alsa_midi.ControlChangeEvent):
        return {"type": "cc", "channel": ev.channel + 1, "control": ev.param, "value": ev.value}
    if isinstance(ev, alsa_midi.ProgramChangeEvent):
        return {"type": "program", "channel": ev.channel + 1, "program": ev.value}
    return None


class MidiInput:
    """The MIDI thread: `start()`, `inject(events)` (from the control channel), `status()`,
    `close()`. `sequencer=False` never opens one (tests, `simulate`)."""

    def __init__(self, pedal, cfg, pot_cfg=None, sequencer=True):
        self.pedal = pedal
        self.cfg = cfg
        self.map = MidiMap(cfg)
        pc = pot_cfg or {}
        smoothing = float(pc.get("pot_smoothing", 0.3))
        # half a MIDI step: every step of a pedal gets through, as smooth as a pot
        self.pots = {role: Pot(MidiValue(), role, smoothing, 0.5 / 127) for role in CONTINUOUS}
        self.moving = set()
        self.want_sequencer = sequencer
        self.connect = [str(p) for p in cfg.get("connect", ["*"])]
        self.client = None
        self.port = None
        self.ports = {}                     # (client, port) -> name, the controllers we listen to
        self.injected = queue.SimpleQueue()
        self.events = self.actions = 0
        self._stop = threading.Event()
        self._next_try = 0.0
        self._told_no_sequencer = False
        self.thread = None

    # --- any thread ---------------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self._run, name="tubeless-midi", daemon=True)
        self.thread.start()
        return self

    def inject(self, events):
        """Messages (dicts, firmware.ipc.messages) to map as if a controller had sent them."""
        for ev in events:
            self.injected.put(ev)

    def status(self):
        return {"sequencer": self.client is not None, "ports": sorted(f"{n} ({c}:{p})" for (c, p), n in
                                                                    self.ports.items()),
                "events": self.events, "actions": self.actions}

    def close(self):
        self._stop.set()
        if self.thread is not None:
            self.thread.join(2.0)
        self._close_sequencer()

    # --- mapping (the MIDI thread; tests call these directly) -----------------------------
    def handle(self, ev):
        """One message (a dict) through the map: submits, or moves a pot's target."""
        self.events += 1
        for action in self.map.map(ev):
            self.actions += 1
            if action[0] == "submit":
                msg = action[1]
                if msg["cmd"] == "select" and getattr(self.pedal, "preset_mode", False):
                    msg = {"cmd": "preset", "name": msg["name"]}       # preset n of the bank
                if msg["cmd"] == "select" and int(msg["name"]) > len(self.pedal.entries):
                    log.info("MIDI program %d: no model %s (the setlist has %d)", ev["program"], msg["name"],
                             len(self.pedal.entries))
                    continue
                self.pedal.submit(msg)
            else:
                _, role, v = action
                self.pots[role].device.value = v
                self.moving.add(role)

    def poll_pots(self):
        """The smoothed continuous controls that moved: to the pedal, as the pots do."""
        for role in list(self.moving):
            pot = self.pots[role]
            v = pot.poll()
            if v is not None:
                self.pedal.set_pot(role, v)
            elif abs(pot.smoothed - pot.device.value) < 1e-4:
                self.moving.discard(role)           # arrived: nothing to poll until the next CC

    def handle_alsa(self, ev):
        """One sequencer event: a message to map, or a controller that came or went."""
        import alsa_midi
        msg = from_alsa(ev)
        if msg is not None:
            self.handle(msg)
        elif isinstance(ev, alsa_midi.PortStartEvent):
            self._maybe_connect(tuple(ev.addr))
        elif isinstance(ev, (alsa_midi.PortExitEvent, alsa_midi.ClientExitEvent)):
            gone = [a for a in self.ports if a == tuple(ev.addr) or
                    (isinstance(ev, alsa_midi.ClientExitEvent) and a[0] == ev.addr[0])]
            for a in gone:
                log.info("MIDI: %s (%d:%d) is gone", self.ports.pop(a), *a)

    # --- the sequencer ------------------------------------------------------------------
    def _wanted(self, name):
        low = name.lower()
        if "*" in self.connect:
            return "midi through" not in low
        return any(p.lower() in low for p in self.connect)

    def _maybe_connect(self, addr, info=None):
        import alsa_midi
        from alsa_midi import PortCaps
        if addr in self.ports or addr[0] in (0, self.client.client_id):
            return
        try:
            info = info or self.client.get_port_info(addr)
            client_name = getattr(info, "client_name", None) or self.client.get_client_info(addr[0]).name
        except alsa_midi.ALSAError:
            return                          # gone again already
        caps = info.capability
        if not (caps & PortCaps.READ and caps & PortCaps.SUBS_READ) or caps & PortCaps.NO_EXPORT:
            return
        name = f"{client_name}:{info.name}"
        if not self._wanted(name):
            return
        try:
            self.port.connect_from(addr)
        except alsa_midi.ALSAError as e:
            log.warning("MIDI: cannot listen to %s (%d:%d): %s", name, *addr, e)
            return
        self.ports[addr] = name
        log.info("MIDI: listening to %s (%d:%d)", name, *addr)

    def _open_sequencer(self):
        now = time.monotonic()
        if not self.want_sequencer or now < self._next_try:
            return
        self._next_try = now + RETRY_S
        why = None
        if not os.path.exists(SEQ_DEVICE):
            why = f"no {SEQ_DEVICE} (the kernel's snd-seq is not loaded)"
        else:
            try:
                import alsa_midi
                from alsa_midi import PortCaps, PortType
                self.client = alsa_midi.SequencerClient("tubeless")
                self.port = self.client.create_port(
                    "tubeless in", caps=PortCaps.WRITE | PortCaps.SUBS_WRITE,
                    type=PortType.MIDI_GENERIC | PortType.APPLICATION)
                self.port.connect_from(alsa_midi.SYSTEM_ANNOUNCE)      # controllers coming and going
                for info in self.client.list_ports(input=True, include_midi_through=True):
                    self._maybe_connect((info.client_id, info.port_id), info)
                log.info("MIDI: ALSA sequencer client %d; %s", self.client.client_id,
                         f"{len(self.ports)} controller(s)" if self.ports else "no controller yet")
                return
            except ImportError as e:
                why = f"alsa-midi is not installed ({e})"
                self.want_sequencer = False
            except Exception as e:          # ALSAError, or a libasound that will not load
                why = f"{type(e).__name__}: {e}"
                self._close_sequencer()
        if not self._told_no_sequencer:
            log.info("MIDI: no ALSA sequencer (%s): no controllers until there is one; "
                     "`tubeless ctl midi` works regardless", why)
            self._told_no_sequencer = True

    def _close_sequencer(self):
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass
        self.client = self.port = None
        self.ports.clear()

    def _run(self):
        try:
            from alsa_midi import ALSAError as SeqError
        except Exception:                   # no alsa-midi, or no libasound: injected messages only
            SeqError = OSError
        last_poll = time.monotonic()
        while not self._stop.is_set():
            if self.client is None:
                self._open_sequencer()
            try:
                if self.client is not None:
                    ev = self.client.event_input(timeout=POLL_S)
                    if ev is not None:
                        self.handle_alsa(ev)
                else:
                    ev = self.injected.get(timeout=POLL_S)
                    self.handle(ev)
            except queue.Empty:
                pass
            except SeqError as e:
                log.warning("MIDI: the sequencer failed (%s): looking for it again", e)
                self._close_sequencer()
            except Exception:
                log.exception("MIDI")
            while True:
                try:
                    self.handle(self.injected.get_nowait())
                except queue.Empty:
                    break
            now = time.monotonic()
            if now - last_poll >= POLL_S:
                last_poll = now
                self.poll_pots()


def start_midi(pedal, cfg):
    """`tubeless run`: the MIDI thread as [midi] says, or None when it is off."""
    m = cfg.get("midi", {})
    if not m.get("enabled", True):
        return None
    try:
        return MidiInput(pedal, m, cfg.get("controls"), sequencer=True).start()
    except MidiConfigError as e:
        log.error("MIDI off: %s", e)
        return None
