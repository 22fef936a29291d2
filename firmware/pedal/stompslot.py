"""The drive slot's captured pedal: which library model plays before the amp.

Any model of the library can be the stomp (`ctl stomp "TS9 Full Drive"`, the state file
remembers it). It is loaded into an engine slot of its own, built for the drive slot
(`"role": "stomp"`: at the capture's own gain), and handed to the rig's `stomp` block,
which crossfades to it; the amp slot's models and their neighbours are untouched. A
capture that changes on disk is reloaded, one that is removed or cannot be built leaves
the slot empty with one log line. A mixin of Pedal, on the control thread.
"""
import logging
import os

from firmware.ipc import shared as sh
from firmware.pedal.slots import SlotRef

log = logging.getLogger(__name__)

NONE_WORDS = ("none", "off", "")


class StompSlot:
    """Needs `engine`, `by_path`, `by_id`, `state`, `_find`, `_next_id` of Pedal."""

    def _init_stomp(self):
        self.stomp_path = None             # the capture asked for (loading or playing)
        self.stomp_ref = None              # its engine slot
        self.stomp_error = None            # why the last one could not play

    def set_stomp(self, path):
        """Play the library model at `path` in the drive slot (None: no capture)."""
        old = self.stomp_ref
        self.stomp_path = path
        self.stomp_error = None
        if path is None:
            self.stomp_ref = None
            self.engine.send({"op": "stomp", "slot": None})
            log.info("stomp: none")
        else:
            e = self.by_path[path]
            ref = SlotRef(self._next_id, e)
            ref.role = "stomp"
            self._next_id += 1
            self.by_id[ref.id] = ref
            self.stomp_ref = ref
            self.engine.send({"op": "load", "slot": ref.id, "model": e["model"], "ir": None, "name": e["name"],
                              "role": "stomp"})
            self.engine.send({"op": "stomp", "slot": ref.id})
            log.info("stomp: %s (%s)", e["name"], os.path.basename(path))
        if old is not None:
            self.by_id.pop(old.id, None)
            self.engine.send({"op": "drop", "slot": old.id})    # freed once faded out
        self.state["stomp"] = os.path.basename(path) if path else None
        self._state_dirty = True

    def stomp_by_name(self, name):
        """(path or None) for a `stomp` request's NAME; LookupError when it names nothing."""
        if str(name).lower() in NONE_WORDS:
            return None
        path = self._find(str(name))
        if path is None:
            raise LookupError(f"no model {name!r} in the library")
        return path

    def stomp_info(self):
        ref = self.stomp_ref
        if ref is None:
            return None
        playing = self.shared.counters[sh.STOMP_SLOT] == ref.id
        return {"name": ref.name, "file": os.path.basename(ref.path), "status": "playing" if playing else ref.status}

    def _on_stomp_event(self, ref, kind, error=None):
        if ref is not self.stomp_ref:
            return                         # an old capture's late news
        if kind == "loaded":
            ref.status = "ready"
        else:
            log.error("stomp: %s cannot be built: %s; the drive slot is empty", os.path.basename(ref.path), error)
            self.set_stomp(None)
            self.stomp_error = error       # after set_stomp, which clears it

    def _stomp_library_changed(self):
        """The capture changed on disk (reload it) or went away (the slot empties)."""
        path, ref = self.stomp_path, self.stomp_ref
        if path is None or ref is None:
            return
        e = self.by_path.get(path)
        if e is None:
            log.warning("stomp: %s was removed from the library; the drive slot is empty", os.path.basename(path))
            self.set_stomp(None)
        elif e["stamp"] != ref.stamp:
            log.info("stomp: %s changed on disk: reloading", os.path.basename(path))
            self.set_stomp(path)

    def _restore_stomp(self):
        want = self.state.get("stomp")
        if not want:
            return
        path = next((e["path"] for e in self.entries if e["file"] == want), None)
        if path is None:
            log.warning("state: stomp %s is not in the library: the drive slot is empty", want)
            return
        self.set_stomp(path)
