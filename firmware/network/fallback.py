"""When the pedal runs its own access point: a pure state machine, fed what NetworkManager
sees (nmcli.Observation) and the time, answering the actions to take. No commands, no
clock of its own: tests drive it tick by tick.

auto:   waiting --(a known network within wait_s)--> client
        waiting --(none)--> hotspot --(a known network in range, no phone on it)--> returning
        returning --(joined)--> client;  --(not within wait_s)--> hotspot, that return held
        off for retry_s so the radio does not flap between the two
        client --(lost)--> waiting
always: the hotspot, whatever else is in range.   off: never the hotspot.
"""
import dataclasses

UP, DOWN, JOIN, RESCAN = "up_hotspot", "down_hotspot", "join", "rescan"


@dataclasses.dataclass(frozen=True)
class Action:
    kind: str
    name: str | None = None          # JOIN: the known network's profile


class Fallback:
    def __init__(self, mode="auto", wait_s=20.0, *, now=0.0, rescan_s=30.0, retry_s=300.0, up_retry_s=10.0):
        self.wait_s, self.rescan_s, self.retry_s, self.up_retry_s = wait_s, rescan_s, retry_s, up_retry_s
        self.last_up = self.last_rescan = float("-inf")
        self.hold_return_until = float("-inf")
        self.set_mode(mode, now)

    def set_mode(self, mode, now):
        self.mode = mode
        self.state = {"auto": "waiting", "always": "hotspot", "off": "off"}[mode]
        self.since = now

    def _up(self, now, obs):
        if obs.hotspot_up or now - self.last_up < self.up_retry_s:
            return []
        self.last_up = now
        return [Action(UP)]

    def step(self, now, obs):
        if self.mode == "off":
            return [Action(DOWN)] if obs.hotspot_up else []
        if self.mode == "always":
            return self._up(now, obs)
        if obs.connected and not obs.hotspot_up:
            self.state, self.since = "client", now
            return []
        if self.state == "client":                  # lost it: NM may find another, give it time
            self.state, self.since = "waiting", now
        if self.state == "waiting":
            if now - self.since < self.wait_s:
                return []
            self.state, self.since = "hotspot", now
            return self._up(now, obs)
        if self.state == "returning":
            if now - self.since < self.wait_s:
                return []
            self.hold_return_until = now + self.retry_s
            self.state, self.since = "hotspot", now
            return self._up(now, obs)
        # hotspot
        if not obs.hotspot_up:
            return self._up(now, obs)
        if obs.stations != 0:                       # a phone on it (or cannot tell): stay
            return []
        if obs.visible_known and now >= self.hold_return_until:
            self.state, self.since = "returning", now
            return [Action(DOWN), Action(JOIN, obs.visible_known[0])]
        if now - self.last_rescan >= self.rescan_s:
            self.last_rescan = now
            return [Action(RESCAN)]
        return []
