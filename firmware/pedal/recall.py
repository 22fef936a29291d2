"""Presets, banks and snapshots on the pedal: recall, stepping, saving (docs/presets.md).

A recall changes only what differs: an amp model that differs crossfades as a `next` does
(the next and the previous preset's models are kept loaded, as the setlist's neighbours
are), one that stays keeps playing; every parameter goes through the rig's controls, so
it glides (each block smooths its targets) and the delay's and the reverb's tails ring on
under the new sound, or out when the new sound turns them off. A snapshot is a recall of
parameters only. A preset naming a model the library lacks says so in one line and plays
the rest. After a recall the pots move nothing until they reach the recalled value (soft
takeover, as after a `ctl set`).

The bank "setlist" is the models folder's own order: in it, footswitch 1, `next`/`prev`
and MIDI Program Change pick models exactly as they did before presets existed. A mixin
of Pedal (firmware.pedal.pedal), on the control thread.
"""
import logging
import os
import time

from firmware.core.errors import PresetError
from firmware.dsp import rig
from firmware.presets import format as fmt
from firmware.presets.store import SETLIST_BANK, PresetFolder, presets_directory

log = logging.getLogger(__name__)

CONTROL_DEFAULTS = {"drive": ("tone", "drive"), "level": ("tone", "level"), "gate": ("tone", "gate_threshold_db")}
KNOB2_DEFAULT = 0.5


class PresetRecall:
    """Needs `cfg`, `params`, `state`, `pots`, `controls`, `entries`, `_find`, `_playable`,
    `_switch_to`, `_neighbour`, `current_path` and `_state_dirty` of Pedal."""

    def _init_presets(self):
        self.presets = PresetFolder(presets_directory(self.cfg))
        self.bank = SETLIST_BANK            # the bank the footswitch walks
        self.preset = None                  # the Preset playing (None: a model of the setlist)
        self.snapshot = 0                   # its snapshot (0: its own settings)
        self.presets_poll_s = float((self.cfg.get("presets") or {}).get("poll_s", 1.0))
        self._presets_polled = -1e9
        self._drive_told = False

    @property
    def preset_mode(self):
        """Whether footswitch 1 and Program Change walk presets (else the setlist's models)."""
        return not self.bank.is_setlist

    # --- the folder ---------------------------------------------------------------------
    def poll_presets(self, now=None, force=False):
        """Look at the presets folder (every presets.poll_s; the control loop calls this)."""
        now = time.monotonic() if now is None else now
        if not force and now - self._presets_polled < self.presets_poll_s:
            return False
        self._presets_polled = now
        if not self.presets.poll():
            return False
        self._presets_changed()
        return True

    def _presets_changed(self):
        banks = self.presets.banks()
        same = next((b for b in banks if b.name == self.bank.name), None)
        self.bank = same or banks[0]
        if self.preset is not None:
            new = self.presets.presets.get(self.preset.name)
            if new is None:
                log.info("preset %s: its file is gone; what plays stays", self.preset.name)
                self.preset = None
            elif new is not self.preset:
                log.info("preset %s changed on disk: recalled again", new.name)
                self.recall(new, self.snapshot if self.snapshot <= len(new.snapshots) else 0)
        self._prepare_neighbours()

    # --- recall -------------------------------------------------------------------------
    def recall(self, preset, snapshot=0, step=0, immediate=False):
        """Play a preset (and one of its snapshots): its models, its IR, every parameter."""
        settings = preset.snapshot_settings(snapshot)
        self._recall_models(preset, step, immediate)
        self._recall_settings(settings, immediate)
        self.preset, self.snapshot = preset, snapshot
        self.state.update({"preset": preset.name, "snapshot": snapshot, "bank": self.bank.name})
        self._state_dirty = True
        log.info("preset: %s%s", preset.name, f", snapshot {snapshot}" if snapshot else "")

    def _recall_models(self, preset, step, immediate):
        if preset.amp:
            path = self._find_file(preset.amp)
            if path is None:
                log.warning("preset %s: no model %s in the library: the rest of it plays", preset.name, preset.amp)
            elif not self._playable(path):
                log.warning("preset %s: %s cannot be played: the rest of it plays", preset.name, preset.amp)
            else:
                self._switch_to(path, step, immediate=immediate)   # nothing happens when it plays already
        self._apply_drive_model(preset.drive_model)
        if preset.ir is not None and preset.ir != self._global_ir_name():
            from firmware.pedal.handlers import HANDLERS
            reply = HANDLERS["global_ir"].run(self, {"cmd": "global_ir", "file": preset.ir}, {})
            if not reply.get("ok"):
                log.warning("preset %s: %s: the rest of it plays", preset.name, reply.get("error"))

    def _apply_drive_model(self, name):
        """The drive slot's model of a preset ("" = none): the one place a preset sets it."""
        set_stomp = getattr(self, "set_stomp", None)
        if set_stomp is None:
            if name and not self._drive_told:
                log.warning("drive slot not available yet: %s is not played", name)
                self._drive_told = True
            return
        try:
            path = self.stomp_by_name(name or "none")
        except LookupError as e:
            log.warning("preset drive_model: %s: the rest of the preset plays", e)
            return
        if path != getattr(self, "stomp_path", None):
            set_stomp(path)

    def _find_file(self, name):
        """A library entry's path by its exact file name (else as `select` finds it)."""
        for e in self.entries:
            if e["file"] == name:
                return e["path"]
        return self._find(name)

    def _global_ir_name(self):
        return os.path.basename(self.cfg["models"].get("ir") or "")

    def _recall_settings(self, s, immediate=False):
        """Every control and rig parameter: the preset's, or the default where it has none."""
        for name in ("drive", "level", "gate", "knob2"):
            v = s.controls.get(name)
            if v is None:
                table, key = CONTROL_DEFAULTS.get(name, (None, None))
                v = self.cfg[table][key] if table else KNOB2_DEFAULT
            self._set_control(name, float(v), immediate)
        if s.pot_assign is not None:
            self._assign_pot(s.pot_assign)
        wanted = dict([(b.NAME, b.DEFAULT_ON) for b in rig.BLOCKS]
                      + [(n, rig.resolve(n)[1].default) for n in rig.names()])
        wanted.update(dict(s.rig_settings()))
        self.params.rig.apply(list(wanted.items()))      # each block glides to its targets
        self.state["rig"] = dict(wanted)
        self._state_dirty = True

    def _set_control(self, name, v, immediate):
        """A pot's control as a recall sets it: the pot takes over again once it reaches v."""
        p = self.params
        if name == "gate":
            p.set_gate_threshold_db(v)
            self.state["gate_threshold_db"] = v
        else:
            {"drive": p.set_drive, "level": p.set_level, "knob2": p.set_knob2}[name](v, immediate=immediate)
            if name == "knob2":
                self.state["knob2"] = v
        self._pickup[name] = v
        self.pots[name] = v

    def _assign_pot(self, role):
        pot = getattr(self.controls, "assign_pot", None) if self.controls is not None else None
        if pot is not None and pot.role != role:
            pot.role = role
            log.info("the third pot: %s", role)
        self.cfg["controls"]["pot_assign_role"] = role

    # --- stepping -----------------------------------------------------------------------
    def _bank_index(self):
        names = self.bank.presets
        return names.index(self.preset.name) if self.preset is not None and self.preset.name in names else None

    def _preset_neighbour(self, step):
        names = self.bank.presets
        if not names:
            return None
        i = self._bank_index()
        if i is None:
            return self.presets.presets[names[0] if step > 0 else names[-1]]
        return self.presets.presets[names[(i + step) % len(names)]]

    def play_preset(self, ref, step=0):
        """`preset NAME|N|next|prev`: the reply."""
        if ref in ("next", "prev"):
            step = 1 if ref == "next" else -1
            p = self._preset_neighbour(step)
            if p is None:
                raise PresetError(f"bank {self.bank.name!r} has no presets")
        else:
            p = self.presets.find(ref, None if self.bank.is_setlist else self.bank)
            if p.name not in self.bank.presets:      # named outside the bank: its first bank with it
                self.bank = next((b for b in self.presets.banks() if p.name in b.presets), self.bank)
        self.recall(p, 0, step)

    def play_snapshot(self, ref):
        if self.preset is None:
            raise PresetError("no preset is playing: snapshots belong to a preset")
        count = len(self.preset.snapshots)
        if ref in ("next", "prev"):
            n = (self.snapshot + (1 if ref == "next" else -1)) % (count + 1)
        else:
            n = ref
        settings = self.preset.snapshot_settings(n)     # PresetError: no such snapshot
        self._recall_settings(settings)
        self.snapshot = n
        self.state["snapshot"] = n
        self._state_dirty = True
        log.info("preset %s: snapshot %d%s", self.preset.name, n,
                 f" ({self.preset.snapshots[n - 1].name})" if n else "")

    def play_bank(self, ref):
        b = self.presets.bank(ref)
        self.bank = b
        self.state["bank"] = b.name
        self._state_dirty = True
        log.info("bank: %s", b.name)
        if b.presets and (self.preset is None or self.preset.name not in b.presets):
            self.recall(self.presets.presets[b.presets[0]])
        elif b.is_setlist:
            self.preset, self.snapshot = None, 0
            self.state.update({"preset": None, "snapshot": 0})

    def _neighbour_paths(self):
        """The models to keep loaded: the next and the previous preset's in the bank."""
        if not self.preset_mode:
            return super()._neighbour_paths()
        out = []
        for step in (1, -1):
            p = self._preset_neighbour(step)
            path = self._find_file(p.amp) if p is not None and p.amp else None
            if path is not None and self._playable(path):
                out.append(path)
        return out

    # --- saving -------------------------------------------------------------------------
    def settings_now(self):
        """The settings as they are (what `save` writes)."""
        controls = {}
        for name in ("drive", "level"):
            controls[name] = float(self.pots.get(name, self.cfg["tone"][name]))
        gate = self.state.get("gate_threshold_db")
        controls["gate"] = float(gate if gate is not None else self.cfg["tone"]["gate_threshold_db"])
        knob2 = self.state.get("knob2")
        controls["knob2"] = float(knob2 if knob2 is not None else KNOB2_DEFAULT)
        values = self.params.rig.values()
        return fmt.Settings(controls, self.cfg["controls"].get("pot_assign_role", "knob2"),
                            {b: dict(v) for b, v in values.items()})

    def _models_now(self, preset):
        preset.amp = os.path.basename(self.current_path) if self.current_path else preset.amp
        stomp = getattr(self, "stomp_path", None)
        preset.drive_model = os.path.basename(stomp) if stomp else ""
        preset.ir = self._global_ir_name()

    def save_preset(self):
        """`save`: the settings as they are into the playing preset (or its snapshot)."""
        if self.preset is None:
            raise PresetError("no preset is playing: `preset-save-as NAME` makes one of this sound")
        p = fmt.parse(self.preset.dumps(), self.preset.name)       # a copy: unknown keys and all
        now = self.settings_now()
        if self.snapshot:
            p.snapshots[self.snapshot - 1].settings = now.differences(p.settings)
        else:
            p.settings = now
            self._models_now(p)
        self.preset = self.presets.save(p)
        log.info("preset %s saved%s", p.name, f" (snapshot {self.snapshot})" if self.snapshot else "")

    def save_preset_as(self, name):
        p = fmt.Preset(fmt.check_name(name), settings=self.settings_now())
        self._models_now(p)
        self.preset = self.presets.save(p, replace=False)
        self.presets.add_to_bank(self.bank, p.name)
        banks = self.presets.banks()
        self.bank = next((b for b in banks if b.name == self.bank.name and p.name in b.presets),
                         next(b for b in banks if p.name in b.presets or b.is_setlist))
        self.snapshot = 0
        self.state.update({"preset": p.name, "snapshot": 0, "bank": self.bank.name})
        self._state_dirty = True
        log.info("preset %s saved (new)", p.name)

    def rename_preset(self, name, to):
        was = self.preset is not None and self.presets.find(name).name == self.preset.name
        self.presets.rename(name, to)
        self._rebind(to if was else None)

    def delete_preset(self, name):
        was = self.preset is not None and self.presets.find(name).name == self.preset.name
        self.presets.delete(name)
        self._rebind(None if was else (self.preset.name if self.preset else None))

    def _rebind(self, playing):
        banks = self.presets.banks()
        self.bank = next((b for b in banks if b.name == self.bank.name), banks[0])
        self.preset = self.presets.presets.get(playing) if playing else (
            self.presets.presets.get(self.preset.name) if self.preset is not None else None)
        self.state.update({"preset": self.preset.name if self.preset else None, "bank": self.bank.name})
        self._state_dirty = True

    # --- reports and start --------------------------------------------------------------
    def preset_status(self):
        return {"preset": self.preset.name if self.preset is not None else None, "bank": self.bank.name,
                "snapshot": self.snapshot}

    def status(self, brief=False):
        out = super().status(brief)
        out.update(self.preset_status())
        return out

    def presets_listing(self):
        return {"banks": [{"name": b.name, "presets": list(b.presets)} for b in self.presets.banks()],
                "presets": [{"name": p.name, "amp": p.amp, "drive_model": p.drive_model, "ir": p.ir,
                             "snapshots": [s.name for s in p.snapshots]}
                            for _, p in sorted(self.presets.presets.items(), key=lambda kv: kv[0].lower())],
                "errors": [{"file": f, "error": e} for f, e in sorted(self.presets.errors.items(), key=str)
                           if isinstance(f, str)],
                **self.preset_status()}

    def _restore_presets(self):
        """At start: the bank, preset and snapshot of the state file, played from the first
        sample (the preset as its file says; the setlist as before presets)."""
        self.poll_presets(force=True)
        banks = self.presets.banks()
        want = self.state.get("bank")
        self.bank = next((b for b in banks if b.name == want), banks[0])
        name = self.state.get("preset")
        p = self.presets.presets.get(name) if isinstance(name, str) else None
        if p is None and self.preset_mode and self.bank.presets:
            p = self.presets.presets[self.bank.presets[0]]
        if p is not None and self.preset_mode:
            snap = self.state.get("snapshot")
            snap = snap if isinstance(snap, int) and not isinstance(snap, bool) and 0 <= snap <= len(p.snapshots) else 0
            self.recall(p, snap, immediate=True)
