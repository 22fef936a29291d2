"""Footswitches, pots and LEDs through gpiozero; the keyboard when there is no GPIO.

Each control only calls the pedal's action methods (`next_model`, `prev_model`,
`toggle_bypass`, `press_bypass`, `toggle_mute`, `toggle_tuner`, `set_pot`); nothing here
touches audio. Footswitch 2 held is the tuner (it mutes); its short press leaves it. Pots are read by
the pedal's control thread through `Pots.poll()`: exponential smoothing, then hysteresis,
so a noisy pot never makes a parameter dither.
"""
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


class Footswitch:
    """A debounced button: short press -> on_short, long press (hold_time) -> on_long."""

    def __init__(self, pin, on_short, on_long, hold_time=0.6, bounce_time=0.02):
        from gpiozero import Button
        self.button = Button(pin, pull_up=True, bounce_time=bounce_time, hold_time=hold_time)
        self.hold_time = hold_time
        self.combos = []                    # the Combinations this switch is part of
        self.number = 0                     # 1, 2, 3: its place on the pedal (set by GpioControls)
        self.intercept = None               # () -> True when something else took the press (a capture)
        self._held = False
        self.on_short, self.on_long = on_short, on_long
        self.button.when_pressed = self._pressed
        self.button.when_held = self._long
        self.button.when_released = self._released

    def _pressed(self):
        self._held = False

    def _long(self):
        self._held = True
        if any(c.claims(self) for c in self.combos):
            return
        if not self._intercepted():
            self.on_long()

    def _released(self):
        if not self._held and not self._intercepted():
            self.on_short()
        self._held = False
        for c in self.combos:
            c.released()

    def _intercepted(self):
        return self.intercept is not None and self.intercept()

    def close(self):
        self.button.close()


class Combination:
    """Two footswitches held down together: one action (footswitches 1 and 2 held for
    `hold_s`: save; 2 and 3: record) instead of either's own. A switch whose long press comes
    while its partner is down joins it; neither's short or long action follows until both
    are up."""

    def __init__(self, first, second, action, hold_s, what="save"):
        self.switches = (first, second)
        first.combos.append(self)
        second.combos.append(self)
        self.what = what
        self.action = action
        self.hold_s = float(hold_s)
        self.active = False
        self._timer = None

    def claims(self, switch):
        """From a switch's long press: True when it belongs to the combination now."""
        if self.active:
            return True
        if any(c.active for s in self.switches for c in s.combos if c is not self):
            return False                      # one combination at a time
        other = self.switches[1] if switch is self.switches[0] else self.switches[0]
        if not other.button.is_pressed:
            return False
        self.active = True
        for s in self.switches:
            s._held = True                    # no short press when they come up
        self._timer = threading.Timer(max(0.0, self.hold_s - switch.hold_time), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return True

    def _fire(self):
        if self.active and all(s.button.is_pressed for s in self.switches):
            log.info("footswitches %s held: %s", " and ".join(str(s.number) for s in self.switches), self.what)
            self.action()

    def released(self):
        if self.active and not any(s.button.is_pressed for s in self.switches):
            self.active = False
            if self._timer is not None:
                self._timer.cancel()

    def close(self):
        if self._timer is not None:
            self._timer.cancel()


FOOTSWITCH1_MODES = ("presets", "snapshots")


def check_footswitch1_mode(mode):
    from firmware.core.errors import ConfigError
    if mode not in FOOTSWITCH1_MODES:
        raise ConfigError(f"config: controls.footswitch1_mode: {mode!r} is not {' or '.join(FOOTSWITCH1_MODES)}")


def footswitch_action(pedal, name):
    """What a configurable footswitch does: switch a rig block ("stomp", "delay"...), tap the
    tempo ("tap"), start or stop a recording ("record") or nothing ("none"). Names are checked
    with the config (check_footswitch_action)."""
    if name == "tap":
        return pedal.tap
    if name == "record":
        return pedal.toggle_record
    if name == "none":
        return lambda: None
    return lambda: pedal.submit({"cmd": "toggle", "block": name})


def check_footswitch_action(name, key):
    from firmware.core.errors import ConfigError
    from firmware.dsp import rig
    if not isinstance(name, str) or (name not in ("tap", "record", "none") and name not in rig.BY_NAME):
        raise ConfigError(f"config: controls.{key}: {name!r} is not tap, record, none or a rig block "
                          f"({', '.join(rig.BY_NAME)})")


class Pot:
    """One ADC channel -> a stable 0..1 value (smoothing + hysteresis), read by poll()."""

    def __init__(self, device, role, smoothing=0.3, hysteresis=0.01):
        self.device = device
        self.role = role
        self.alpha = float(smoothing)
        self.hysteresis = float(hysteresis)
        self.smoothed = None
        self.value = None

    def poll(self):
        """Returns the new value when it moved past the hysteresis, else None."""
        raw = float(self.device.value)
        self.smoothed = raw if self.smoothed is None else self.smoothed + self.alpha * (raw - self.smoothed)
        # on a grid of half the hysteresis (an ADC's 1/1023 steps never reach 0.5 exactly)
        step = self.hysteresis / 2 if self.hysteresis > 0 else 1e-3
        v = min(1.0, max(0.0, round(self.smoothed / step) * step))
        if self.value is None or abs(v - self.value) >= self.hysteresis or (v in (0.0, 1.0) and v != self.value):
            self.value = v
            return v
        return None

    def close(self):
        self.device.close()


def _adc_class(name):
    import gpiozero
    cls = getattr(gpiozero, name, None)
    if cls is None:
        raise ValueError(f"unknown ADC {name!r} (gpiozero has no such class)")
    return cls


class GpioControls:
    """Everything on the GPIO header, as the [controls] config says."""

    def __init__(self, pedal, cfg):
        from gpiozero import LED
        self.pedal = pedal
        c = cfg
        self.devices = []
        # footswitch 1: the next preset (a model, on the setlist), held: the previous; or the snapshots
        fs1 = ((pedal.next_snapshot, pedal.prev_snapshot) if c.get("footswitch1_mode") == "snapshots"
               else (pedal.next_model, pedal.prev_model))
        self.footswitches = [
            Footswitch(c["footswitch1"], *fs1, c["hold_time"], c["bounce_time"]),
            # short: bypass (or leave the tuner); hold: the tuner, which mutes (mute itself: ctl, MIDI, keyboard)
            Footswitch(c["footswitch2"], pedal.press_bypass, pedal.toggle_tuner, c["hold_time"], c["bounce_time"]),
        ]
        if c.get("footswitch3", -1) is not None and c.get("footswitch3", -1) >= 0:
            self.footswitches.append(Footswitch(c["footswitch3"], footswitch_action(pedal, c["footswitch3_press"]),
                                                footswitch_action(pedal, c["footswitch3_hold"]), c["hold_time"],
                                                c["bounce_time"]))
        for number, fs in enumerate(self.footswitches, 1):
            fs.number = number
            fs.intercept = getattr(getattr(pedal, "capture", None), "stomp", None)   # a capture: continue, abort
        self.devices += self.footswitches
        self.combination = None
        if float(c.get("save_hold_s", 0) or 0) > 0:     # 1 and 2 held: save into the playing preset
            self.combination = Combination(self.footswitches[0], self.footswitches[1], pedal.save_current,
                                           c["save_hold_s"])
            self.devices.append(self.combination)
        self.record_combination = None
        if len(self.footswitches) > 2 and float(c.get("record_hold_s", 0) or 0) > 0:   # 2 and 3 held: record
            self.record_combination = Combination(self.footswitches[1], self.footswitches[2], pedal.toggle_record,
                                                  c["record_hold_s"], "record on/off")
            self.devices.append(self.record_combination)
        self.pots = []
        self.assign_pot = None                         # the third pot (a preset may assign it anew)
        adc = _adc_class(c["adc"])
        for role, key in (("drive", "pot_drive"), ("level", "pot_level"), (c["pot_assign_role"], "pot_assign")):
            ch = c[key]
            if ch is None or ch < 0:
                continue
            dev = adc(channel=ch, port=c["adc_spi_port"], device=c["adc_spi_device"])
            self.pots.append(Pot(dev, role, c["pot_smoothing"], c["pot_hysteresis"]))
            if key == "pot_assign":
                self.assign_pot = self.pots[-1]
        self.devices += self.pots
        self.led_bypass = LED(c["led_bypass"]) if c.get("led_bypass", -1) >= 0 else None
        self.led_model = LED(c["led_model"]) if c.get("led_model", -1) >= 0 else None
        self.led_clip = LED(c["led_clip"]) if c.get("led_clip", -1) >= 0 else None
        self.devices += [d for d in (self.led_bypass, self.led_model, self.led_clip) if d is not None]
        by_name = {"bypass": self.led_bypass, "model": self.led_model, "clip": self.led_clip}
        names = list(c.get("tuner_leds", ("model", "bypass", "clip")))
        if len(names) != 3 or any(n not in by_name for n in names):
            raise ValueError(f"controls.tuner_leds must name three of bypass, model, clip, got {names!r}")
        self.tuner_leds = [by_name[n] for n in names]      # flat, in tune, sharp
        self._tuner_shown = False

    def poll_pots(self):
        for pot in self.pots:
            v = pot.poll()
            if v is not None:
                self.pedal.set_pot(pot.role, v)

    def show(self, active, clip):
        if self._tuner_shown:               # back from the tuner: the model LED is dark between blinks
            self._tuner_shown = False
            if self.led_model is not None:
                self.led_model.off()
        if self.led_bypass is not None:
            self.led_bypass.value = bool(active)
        if self.led_clip is not None:
            self.led_clip.value = bool(clip)

    def show_tuner(self, states):
        """(flat, in tune, sharp) from firmware.pedal.tuner.led_states, 50 times a second."""
        self._tuner_shown = True
        for led, on in zip(self.tuner_leds, states):
            if led is not None and bool(led.value) != on:
                led.value = on

    def blink_model(self):
        if self.led_model is not None:
            self.led_model.blink(on_time=0.08, off_time=0.08, n=2)

    def close(self):
        for d in self.devices:
            try:
                d.close()
            except Exception:
                pass


class KeyboardControls:
    """n = next, p = previous, b = bypass, m = mute, t = tuner, q = quit; only on a terminal."""

    def __init__(self, pedal, stream=None):
        self.pedal = pedal
        self.stream = stream or sys.stdin
        self.pots = []
        self._thread = threading.Thread(target=self._run, name="tubeless-keys", daemon=True)
        self._thread.start()

    def _run(self):
        fd = self.stream.fileno()
        old = None
        try:
            import termios
            import tty
            old = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except Exception:
            old = None
        try:
            print("keys: n = next model, p = previous, b = bypass, m = mute, t = tuner, q = quit", file=sys.stderr)
            while not self.pedal.stopped:
                ch = os.read(fd, 1).decode(errors="ignore")
                if not ch:
                    break
                action = {"n": self.pedal.next_model, "p": self.pedal.prev_model, "b": self.pedal.toggle_bypass,
                          "m": self.pedal.toggle_mute, "t": self.pedal.toggle_tuner, "q": self.pedal.stop}.get(ch.lower())
                if action:
                    action()
        finally:
            if old is not None:
                import termios
                termios.tcsetattr(fd, termios.TCSADRAIN, old)

    def poll_pots(self):
        pass

    def show(self, active, clip):
        pass

    def show_tuner(self, states):
        pass

    def blink_model(self):
        pass

    def close(self):
        pass


class NoControls(KeyboardControls):
    def __init__(self, pedal):
        self.pedal = pedal
        self.pots = []


def make_controls(pedal, cfg):
    """GPIO when available; else the keyboard on a terminal; else nothing."""
    if cfg.get("enabled", True):
        try:
            return GpioControls(pedal, cfg)
        except Exception as e:    # BadPinFactory on a laptop, a busy pin, no SPI...
            # the pedal plays on without them, and says so once (journalctl -u tubeless)
            log.warning("no footswitches, pots or LEDs (%s: %s): playing without them; control it with "
                        "`tubeless ctl`%s", type(e).__name__, e,
                        " or the keys on this terminal" if sys.stdin is not None and sys.stdin.isatty() else "")
            try:
                from gpiozero import Device
                if Device.pin_factory is not None:
                    Device.pin_factory.close()    # release what was opened before the failure
            except Exception:
                pass
    if cfg.get("keyboard", True) and sys.stdin is not None and sys.stdin.isatty():
        return KeyboardControls(pedal)
    return NoControls(pedal)
