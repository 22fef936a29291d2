"""Which model plays: the librarian's list, the engine's slots, and the way between them.

The pedal keeps the playing model and its two neighbours in the setlist loaded in engine
slots, so a footswitch press switches at once; it reloads a model whose file changed,
skips one the engine could not build, and falls back to the last model that played
cleanly when one produces NaN/Inf. A mixin of Pedal (firmware.pedal.pedal): these run on
the control thread, from Pedal.tick and the command handlers.
"""
import bisect
import logging
import os

from firmware.ipc import shared as sh

log = logging.getLogger(__name__)


class SlotRef:
    """The control side's view of one engine slot."""

    def __init__(self, sid, entry):
        self.id = sid
        self.path = entry["path"]
        self.stamp = entry["stamp"]
        self.name = entry["name"]
        self.status = "loading"           # -> "ready" | "failed"
        self.error = None
        self.role = "amp"                 # or "stomp": the drive slot's (firmware.pedal.stompslot)


class ModelSlots:
    """Needs `cfg`, `rate`, `engine`, `shared`, `controls`, `state` and `_state_dirty` of Pedal."""

    def _init_slots(self):
        self.entries = []                  # the librarian's list, playing order
        self.by_path = {}
        self.global_ir = None
        self.library_version = 0
        self.slots = {}                    # path -> SlotRef (loading or loaded in the engine)
        self.by_id = {}                    # slot id -> SlotRef
        self._next_id = 1
        self.bad = {}                      # path -> stamp that the engine could not build
        self.rejected = {}                 # file name -> why the librarian refused it
        self.current_path = None           # what plays, or is being faded in
        self.last_good_path = None
        self._step = 0                     # direction of a next/prev still looking for a model
        self._seen_faults = 0

    # --- the setlist --------------------------------------------------------------------
    def _playable(self, path):
        e = self.by_path.get(path)
        return e is not None and self.bad.get(path) != e["stamp"]

    def _neighbour(self, step, start=None):
        """The next playable model from `start` (default: the current one) in direction step."""
        paths = [e["path"] for e in self.entries]
        if not paths:
            return None
        start = self.current_path if start is None else start
        if start in paths:
            i = paths.index(start)
        else:   # the current model was removed (or none yet): its place by name
            names = [e["file"].lower() for e in self.entries]
            i = bisect.bisect_left(names, os.path.basename(start or "").lower()) - (1 if step > 0 else 0)
        for k in range(1, len(paths) + 1):
            p = paths[(i + step * k) % len(paths)]
            if self._playable(p):
                return p
        return None

    def _find(self, name):
        paths = [e["path"] for e in self.entries]
        if name.isdigit() and 1 <= int(name) <= len(paths):
            return paths[int(name) - 1]
        low = name.lower()
        for e in self.entries:
            if low in (e["file"].lower(), os.path.splitext(e["file"])[0].lower(), str(e["name"]).lower()):
                return e["path"]
        return None

    def _first(self):
        for e in self.entries:
            if self._playable(e["path"]):
                return e["path"]
        return None

    # --- the engine's slots -------------------------------------------------------------
    def _slot(self, path, reload=False):
        """The SlotRef for path's current version, asking the engine to load it if needed."""
        e = self.by_path[path]
        ref = self.slots.get(path)
        if ref is not None and ref.stamp == e["stamp"] and not reload:
            return ref
        if ref is not None:
            self._drop(ref)
        ref = SlotRef(self._next_id, e)
        self._next_id += 1
        self.slots[path] = ref
        self.by_id[ref.id] = ref
        self.engine.send({"op": "load", "slot": ref.id, "model": e["model"], "ir": e.get("ir"), "name": e["name"]})
        return ref

    def _drop(self, ref):
        if self.slots.get(ref.path) is ref:
            del self.slots[ref.path]
        self.engine.send({"op": "drop", "slot": ref.id})

    def _switch_to(self, path, step=0, reload=False, immediate=False):
        if path is None:
            return
        cur = self.shared.counters[sh.CURRENT_SLOT]
        ref = self.slots.get(path)
        if (not reload and path == self.current_path and ref is not None and ref.id == cur
                and ref.stamp == self.by_path[path]["stamp"] and self.shared.counters[sh.FAULT_SLOT] != cur):
            return
        ref = self._slot(path, reload)
        if self.current_path and self.current_path != path and self._healthy_now():
            self.last_good_path = self.current_path
        self.current_path = path
        self._step = step
        self.engine.send({"op": "play", "slot": ref.id, "immediate": bool(immediate)})
        log.info("model: %s (%s)", ref.name, os.path.basename(path))
        if self.controls:
            self.controls.blink_model()
        self.state["model"] = os.path.basename(path)
        self._state_dirty = True

    def _healthy_now(self):
        c = self.shared.counters
        return c[sh.CURRENT_SLOT] != sh.NO_SLOT and c[sh.FAULT_SLOT] != c[sh.CURRENT_SLOT]

    def _neighbour_paths(self):
        """The models a footswitch press plays next: the setlist's neighbours (presets
        override it: firmware.pedal.recall)."""
        return [p for p in (self._neighbour(+1), self._neighbour(-1)) if p]

    def _prepare_neighbours(self):
        want = {self.current_path} | set(self._neighbour_paths())
        c = self.shared.counters
        playing = {c[sh.CURRENT_SLOT], c[sh.INCOMING_SLOT], c[sh.PENDING_SLOT]}
        for path, ref in list(self.slots.items()):
            stale = path not in self.by_path or ref.stamp != self.by_path[path]["stamp"]
            if (path not in want or stale or ref.status == "failed") and ref.id not in playing:
                self._drop(ref)
        for p in want:
            if p in self.by_path and self._playable(p):
                self._slot(p)

    # --- events -------------------------------------------------------------------------
    def _on_slot_event(self, ev):
        """The engine's `loaded` / `load_failed`."""
        kind = ev.get("ev")
        ref = self.by_id.get(ev.get("slot"))
        if ref is not None and ref.role == "stomp":
            self._on_stomp_event(ref, kind, ev.get("error"))
            return
        if kind == "loaded" and ref is not None:
            ref.status = "ready"
        elif kind == "load_failed" and ref is not None:
            ref.status, ref.error = "failed", ev.get("error")
            if self.bad.get(ref.path) != ref.stamp:
                self.bad[ref.path] = ref.stamp
                log.error("model skipped: %s cannot be built: %s", os.path.basename(ref.path), ref.error)
            if ref.path == self.current_path:       # it was to play: move on
                if self._step:
                    self._switch_to(self._neighbour(self._step, ref.path), self._step)
                elif self.last_good_path and self._playable(self.last_good_path):
                    self._switch_to(self.last_good_path)

    def _on_library(self, msg):
        self.entries = msg["entries"]
        self.by_path = {e["path"]: e for e in self.entries}
        self.global_ir = msg.get("global_ir")
        self.library_version += 1
        folder = self.cfg["models"]["directory"]
        present = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        for f in [f for f in self.rejected if f in {e["file"] for e in self.entries} or f not in present]:
            del self.rejected[f]                # now playable, or gone
        for p in [p for p in self.bad if p not in self.by_path or self.by_path[p]["stamp"] != self.bad[p]]:
            del self.bad[p]                   # changed or gone: try it again when it returns

    def _library_changed(self, started):
        if not started:
            return
        cur = self.current_path
        if cur is None or cur not in self.by_path:
            if self.shared.counters[sh.CURRENT_SLOT] == sh.NO_SLOT or cur is None:
                self._switch_to(self._neighbour(+1, cur) if cur else self._first(), 1)
        else:
            ref = self.slots.get(cur)
            if ref is not None and ref.stamp != self.by_path[cur]["stamp"]:
                log.info("model %s changed on disk: reloading", os.path.basename(cur))
                self._switch_to(cur, 0, reload=True)
        self._prepare_neighbours()

    def _check_faults(self):
        c = self.shared.counters
        if c[sh.FAULTS] == self._seen_faults:
            return
        self._seen_faults = int(c[sh.FAULTS])
        bad = self.by_id.get(int(c[sh.FAULT_SLOT]))
        name = bad.name if bad is not None else "?"
        back = self.last_good_path if bad is None or self.last_good_path != bad.path else None
        log.error("model %s produced NaN/Inf: silenced%s", name,
                  f", falling back to {os.path.basename(back)}" if back else "")
        if back and self._playable(back):
            self._switch_to(back)

    def _note_good_model(self):
        """A model that has played cleanly for a quarter second, with no switch under way, is
        the one to fall back to; a next/prev still looking for a model has found it."""
        c = self.shared.counters
        if (c[sh.CURRENT_SLOT] != sh.NO_SLOT and c[sh.INCOMING_SLOT] == sh.NO_SLOT
                and c[sh.PENDING_SLOT] == sh.NO_SLOT and c[sh.FAULT_SLOT] != c[sh.CURRENT_SLOT]
                and c[sh.SAMPLES] - c[sh.LAST_SWITCH_DONE] > self.rate // 4):
            ref = self.by_id.get(int(c[sh.CURRENT_SLOT]))
            if ref is not None:
                self.last_good_path = ref.path
                self._step = 0
