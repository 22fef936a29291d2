"""The tuner: within a cent on plucked strings (7-string low B and drop tunings to the 24th
fret of the high E), settled 150 ms after the pluck, also on a mains multiple (200 Hz) and
over hum, never a partial behind a chorus; silent on silence, noise and mains hum; on the
pedal: hold footswitch 2, the LEDs, the control messages."""
import math
import time

import numpy as np
import pytest

from firmware.ipc import shared as sh
from firmware.pedal.tuner import PitchDetector, Reading, Tuner, led_states, note_frequency, note_of
from firmware.testing.signals import chorused_plucks, hum, pluck

RATE = 48000
HOP = int(0.02 * RATE)          # the control side's 50 Hz


def cents(f, ref):
    return 1200.0 * math.log2(f / ref)


def readings_after(x, onset, det=None, until=None, start=None):
    """(seconds after onset, Reading or None) every 20 ms, as the pedal reads its ring (the
    detector follows the input from `start`, by default 0.3 s before the onset)."""
    det = det or PitchDetector(RATE)
    end = len(x) if until is None else min(len(x), onset + int(until * RATE))
    first = max(HOP, onset - int(0.3 * RATE)) if start is None else start + HOP
    out = []
    for e in range(first, end + 1, HOP):
        r = det.analyse(x[max(0, e - Tuner.READ):e], e)
        if e >= onset + HOP:
            out.append(((e - onset) / RATE, r))
    return out


E4 = note_frequency("E", 4)
STRINGS = [("B", 1), ("E", 2), ("A", 2), ("D", 3), ("G", 3), ("B", 3), ("E", 4),    # 7-string standard
           ("A", 1), ("C", 2), ("D", 2)]                                             # drop A (7), drop C, drop D
FRETS = [1, 5, 7, 12, 15, 19, 22, 24]                                                # the high E


def cases():
    rng = np.random.default_rng(15)
    out = []
    for name, octave in STRINGS:
        f = note_frequency(name, octave)
        out.append((f"{name}{octave}", f * 2 ** (rng.uniform(-30, 30) / 1200), rng.uniform(1e-5, 2e-4), 3.0))
    for fret in FRETS:
        f = E4 * 2 ** (fret / 12)
        # a fretted string is shorter: B grows with 1/L^2 (1e-4 open -> 1.6e-3 at the 24th fret)
        out.append((f"E4 fret {fret}", f * 2 ** (rng.uniform(-30, 30) / 1200), 1e-4 * (f / E4) ** 2, 1.0))
    return out


@pytest.mark.parametrize("label,freq,inharmonicity,decay", cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_plucked_string_within_a_cent_150_ms_after_the_pluck(label, freq, inharmonicity, decay):
    onset = int(0.1 * RATE)
    x = np.concatenate([np.zeros(onset), pluck(freq, 1.0, inharmonicity=inharmonicity, decay_s=decay,
                                               seed=hash(label) % 1000)])
    name, octave, _ = note_of(freq)
    for t, r in readings_after(x, onset):
        if t < 0.15:
            continue
        assert r is not None, f"{label}: no reading {t * 1000:.0f} ms after the pluck"
        assert (r.note, r.octave) == (name, octave)
        err = cents(r.frequency, freq)
        assert abs(err) <= 1.0, f"{label} at {t * 1000:.0f} ms: {err:+.2f} cents"


def test_a_new_pluck_over_the_last_one_settles_within_150_ms():
    """String after string: the window still holds the previous one, damped by the hand
    (30 ms) as the next is plucked. (Two strings left ringing together have no one pitch.)"""
    notes = [note_frequency("E", 2) * 2 ** (12 / 1200), note_frequency("A", 2) * 2 ** (-20 / 1200),
             note_frequency("B", 1) * 2 ** (7 / 1200), note_frequency("E", 4) * 2 ** (-3 / 1200)]
    seg = int(0.8 * RATE)
    x = np.zeros(seg * len(notes))
    damp = np.exp(-np.arange(seg) / (0.01 * RATE))
    for i, f in enumerate(notes):
        x[i * seg:(i + 1) * seg] = pluck(f, 0.8, seed=i, decay_s=2.0)
        if i:
            x[i * seg:(i + 1) * seg] += pluck(notes[i - 1], 1.6, seed=i - 1, decay_s=2.0)[seg:] * damp
    det = PitchDetector(RATE)
    for i, f in enumerate(notes):
        late = [(t, r) for t, r in readings_after(x, i * seg, det, until=0.7) if t >= 0.15]
        assert all(r is not None and abs(cents(r.frequency, f)) <= 1.0 for _, r in late), \
            [(round(t, 2), r and round(cents(r.frequency, f), 2)) for t, r in late]


def test_weak_hum_under_a_string_keeps_it_within_a_cent():
    f = note_frequency("A", 2) * 2 ** (9 / 1200)
    onset = int(0.1 * RATE)
    n = onset + RATE
    for mains in (50.0, 60.0):
        x = np.concatenate([np.zeros(onset), pluck(f, 1.0, seed=3)]) + hum(n / RATE, mains, level_db=-40.0)[:n]
        late = [r for t, r in readings_after(x, onset) if t >= 0.15]
        assert all(r is not None and abs(cents(r.frequency, f)) <= 1.0 for r in late)


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_never_a_note_on_silence_noise_or_hum(mains):
    rng = np.random.default_rng(1)
    det = PitchDetector(RATE)
    signals = {"silence": np.zeros(RATE), "noise -90 dB": 10 ** (-90 / 20) * rng.standard_normal(RATE),
               "noise -30 dB": 10 ** (-30 / 20) * rng.standard_normal(RATE)}
    for level in (-60, -40, -20, -6):
        signals[f"hum {level} dB"] = hum(1.0, mains, level_db=level, seed=-level)
        # no fundamental (a humbucker's hum is mostly its harmonics), or only odd ones
        signals[f"hum {level} dB harmonics"] = hum(1.0, mains, level_db=level, harmonics=(0, 1.0, 0.7, 0.5), seed=1)
        signals[f"hum {level} dB odd"] = hum(1.0, mains, level_db=level, harmonics=(1.0, 0, 0.5, 0, 0.3), seed=2)
    for what, x in signals.items():
        got = [r for _, r in readings_after(x, 0, det)]
        assert all(r is None for r in got), f"{what}: {[r.note + str(r.octave) for r in got if r][:3]}"


# strings tuned onto a mains multiple: G3 +34 cents is 200 Hz (4 x 50), and the others
MAINS_STRINGS = [100.0, 120.0, 150.0, 180.0, 200.0, 240.0, 250.0, 300.0]


@pytest.mark.parametrize("freq", MAINS_STRINGS)
def test_a_string_on_a_mains_multiple_reads_within_a_cent(freq):
    onset = int(0.3 * RATE)
    n = onset + RATE
    dry = np.concatenate([np.zeros(onset), pluck(freq, 1.0, decay_s=2.0, seed=int(freq))])
    mains = 50.0 if freq % 50 == 0 else 60.0
    signals = {"alone": dry,
               # the hum that sits on it, there before the pluck and after
               "over its hum": dry + hum(n / RATE, mains, level_db=-40.0, seed=3, offset_hz=0.1)[:n]}
    for what, x in signals.items():
        late = [(t, r) for t, r in readings_after(x, onset) if t >= 0.15]
        bad = [(round(t, 2), r and round(cents(r.frequency, freq), 2)) for t, r in late
               if r is None or abs(cents(r.frequency, freq)) > 1.0]
        assert not bad, f"{freq} Hz {what}: {bad[:5]}"


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_hum_on_any_harmonic_is_never_a_note(mains):
    """Hum whose periodicity is its fundamental or 2-4 times it (a humbucker cancels the
    fundamental; a ground loop is mostly its 2nd or 3rd harmonic), off the grid's nominal
    frequency as a real grid is, heard for 2 s."""
    det = PitchDetector(RATE)
    mixes = {"typical": (1.0, 0.6, 0.8, 0.3, 0.4, 0.2), "no fundamental": (0, 1.0, 0.7, 0.5)}
    for k in range(2, 5):
        mixes[f"{k}x only"] = (0,) * (k - 1) + (1.0,)
    for what, harmonics in mixes.items():
        for level in (-50, -10):
            for offset in (-0.15, 0.2):
                x = hum(2.0, mains, level_db=level, harmonics=harmonics, seed=-level, offset_hz=offset)
                got = [(r.note, r.octave, round(r.frequency, 1)) for _, r in readings_after(x, 0, det) if r]
                assert not got, f"{what} {level} dB {offset:+} Hz: {got[:3]}"


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_a_string_over_hum_reads_the_string_then_nothing_as_it_dies_into_the_hum(mains):
    """The hum under a string's whole life: the string's pitch while it rings (on a mains
    multiple or not), never the hum's, before the pluck or after the string died under it."""
    onset = int(0.5 * RATE)
    for freq in (note_frequency("A", 2), 4 * mains, 2 * mains):
        x = np.concatenate([np.zeros(onset), pluck(freq, 3.0, decay_s=0.5, seed=7)])
        x = x + hum(len(x) / RATE, mains, level_db=-40.0, seed=5)[:len(x)]
        det = PitchDetector(RATE)
        before = readings_after(x[:onset], 0, det)
        assert all(r is None for _, r in before)
        got = readings_after(x, onset, det, start=onset - HOP)
        ok = [r is not None and abs(cents(r.frequency, freq)) <= 1.0 for t, r in got if 0.15 <= t <= 0.3]
        assert all(ok), f"{freq} Hz: {ok}"
        others = [(round(t, 2), round(r.frequency, 1)) for t, r in got
                  if r is not None and 0.15 <= t <= 1.2 and abs(cents(r.frequency, freq)) > 50.0]
        assert not others, f"{freq} Hz string over {mains} Hz hum: {others[:5]}"
        assert all(r is None for t, r in got if t >= 2.5)          # 30 dB under the hum by then


def test_hum_that_starts_is_silenced_within_half_a_second():
    """Plugging a humming cable in looks like a pluck (the level jumps); then it is steady."""
    onset = int(0.5 * RATE)
    x = np.concatenate([np.zeros(onset), hum(2.0, 50.0, level_db=-20.0, seed=4)])
    late = [(round(t, 2), r.note) for t, r in readings_after(x, onset) if r is not None and t >= 0.6]
    assert not late, late


def test_a_knock_on_the_hum_does_not_read_it():
    """A tap on the cable over steady hum: an attack, and then the same hum as before."""
    n = 2 * RATE
    x = hum(2.0, 60.0, level_db=-30.0, seed=6)
    rng = np.random.default_rng(2)
    knock = int(1.0 * RATE)
    x[knock:knock + 480] += 0.3 * rng.standard_normal(480) * np.linspace(1, 0, 480)
    got = [(round(t, 2), r.note) for t, r in readings_after(x[:n], knock) if r is not None]
    assert not got, got


def test_a_chorus_in_front_never_moves_the_reading_to_a_partial():
    """A plucked string through a 2-voice chorus (random delays, depths, rates, mix): its
    comb can notch the fundamental and the octave until the period YIN finds first is a
    partial's. The voices' own pitch moves tens of cents (that is the chorus); a partial is
    1200 cents or more away."""
    det = PitchDetector(RATE)
    jumps = []
    for i, (freq, y) in enumerate(chorused_plucks(48, seed=27)):
        x = np.concatenate([np.zeros(int(0.3 * RATE)), y])
        errs = [cents(r.frequency, freq) for t, r in readings_after(x, int(0.3 * RATE), det) if r and t >= 0.15]
        assert len(errs) > 40, f"case {i} ({freq:.1f} Hz): {len(errs)} readings"
        far = [round(e) for e in errs if abs(e) > 600]
        if far:
            jumps.append((i, round(freq, 1), far[:3]))
    assert not jumps, jumps


def test_reference_pitch_is_configurable():
    x = pluck(432.0, 0.5, seed=1)
    r = PitchDetector(RATE, a4=432.0).analyse(x[:RATE // 4])
    assert (r.note, r.octave) == ("A", 4) and abs(r.cents) < 1.0
    r = PitchDetector(RATE).analyse(x[:RATE // 4])
    assert (r.note, r.octave) == ("A", 4) and r.cents == pytest.approx(cents(432.0, 440.0), abs=1.0)


def test_note_names():
    assert note_of(440.0) == ("A", 4, 0.0)
    assert note_of(note_frequency("E", 2))[:2] == ("E", 2)
    name, octave, c = note_of(note_frequency("C", 4) * 2 ** (49 / 1200))
    assert (name, octave) == ("C", 4) and c == pytest.approx(49.0)
    assert note_of(note_frequency("B", 3) * 2 ** (51 / 1200))[:2] == ("C", 4)


def test_the_corpus_di_clip(corpus):
    """NAM Core's input.wav: one second of silence, then a 220 Hz tone (it is a test signal,
    not a guitar: the plucked strings above stand in for a guitar's DI)."""
    import soundfile as sf
    x, rate = sf.read(corpus / "audio" / "nam_core_input.wav", dtype="float64")
    assert rate == RATE
    onset = int(np.flatnonzero(np.abs(x) > 1e-4)[0])
    det = PitchDetector(RATE)
    assert all(r is None for _, r in readings_after(x[:onset], 0, det))
    after = [(t, r) for t, r in readings_after(x, onset, det)]
    for t, r in after:
        if t >= 0.15:
            assert (r.note, r.octave) == ("A", 3) and abs(r.cents) <= 1.0


def test_leds_flat_in_tune_sharp_and_blink_faster_further_off():
    def reading(c):
        return Reading(440 * 2 ** (c / 1200), "A", 4, c, -20.0, 0.99)
    assert led_states(None, 0.0) == (False, False, False)
    assert led_states(reading(1.0), 0.3) == (False, True, False)
    assert led_states(reading(-1.9), 0.3) == (False, True, False)

    def toggles(c, led):
        states = [led_states(reading(c), k * 0.02)[led] for k in range(200)]     # 4 s at 50 Hz
        assert not any(led_states(reading(c), k * 0.02)[2 - led] for k in range(200))
        return sum(a != b for a, b in zip(states, states[1:]))
    assert toggles(-8, 0) < toggles(-20, 0) < toggles(-45, 0)
    assert toggles(8, 2) < toggles(30, 2)


# --- on the pedal ---------------------------------------------------------------------
def feed(shared, x):
    """What the audio thread does with the input: the ring and its counter."""
    pos = int(shared.counters[sh.INPUT_POS])
    x = np.asarray(x, np.float32)[-sh.INPUT_RING:]
    shared.input[(pos + np.arange(len(x))) & (sh.INPUT_RING - 1)] = x
    shared.counters[sh.INPUT_POS] = pos + len(x)


def test_tuner_message_mutes_reads_and_restores(small_pedal):
    pedal, _, _ = small_pedal(names="AB")
    pedal.handle({"cmd": "mute", "on": "off"})
    r = pedal.handle({"cmd": "pitch"})
    assert r["ok"] and not r["tuner"] and not r["pitch"]["signal"]          # nothing played yet
    r = pedal.handle({"cmd": "tuner"})
    assert r["ok"] and r["status"]["tuner"] and r["status"]["mute"] and pedal.params.muted
    f = note_frequency("D", 3) * 2 ** (-14 / 1200)
    feed(pedal.shared, pluck(f, 0.3, seed=5))
    pedal.tick()
    p = pedal.handle({"cmd": "pitch"})["pitch"]
    assert p["signal"] and (p["note"], p["octave"]) == ("D", 3) and p["cents"] == pytest.approx(-14, abs=1.0)
    assert not p["in_tune"]
    s = pedal.status()
    assert s["tuner"] and s["pitch"]["note"] == "D"
    assert pedal.handle({"cmd": "tuner", "on": "off"})["status"]["mute"] is False
    assert not pedal.status()["tuner"] and "pitch" not in pedal.status()
    pedal.handle({"cmd": "mute", "on": "on"})                           # muted before: muted after
    pedal.handle({"cmd": "tuner", "on": "on"})
    pedal.handle({"cmd": "tuner", "on": "off"})
    assert pedal.params.muted


def test_hold_footswitch_2_to_tune_press_to_leave(small_pedal, mock_pins):
    from firmware.pedal.controls import GpioControls
    pedal, _, cfg = small_pedal(names="AB")
    c = cfg["controls"]
    controls = GpioControls(pedal, c)
    pedal.controls = controls
    try:
        pin = mock_pins.pin(c["footswitch2"])
        count = pedal.submitted
        pin.drive_low()
        time.sleep(c["hold_time"] + 0.3)          # held: the tuner
        pin.drive_high()
        assert pedal.wait_submitted(count + 1)
        pedal.tick()
        assert pedal.tuning and pedal.params.muted and not pedal.params.bypassed
        # the LEDs as the control loop drives them: flat / in tune / sharp
        feed(pedal.shared, pluck(note_frequency("G", 3), 0.3, seed=2))
        pedal.tick()
        controls.show_tuner(pedal.tuner.leds(time.monotonic()))
        flat, ok, sharp = controls.tuner_leds
        assert (flat.value, ok.value, sharp.value) == (0, 1, 0)
        count = pedal.submitted
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()                          # short press: leaves the tuner, bypass untouched
        assert pedal.wait_submitted(count + 1)
        pedal.tick()
        assert not pedal.tuning and not pedal.params.muted and not pedal.params.bypassed
        controls.show(True, False)
        assert not controls.led_model.value       # the tuner's LED does not stay lit
        count = pedal.submitted
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()                          # and now a short press is bypass again
        assert pedal.wait_submitted(count + 1)
        pedal.tick()
        assert pedal.params.bypassed
    finally:
        controls.close()


def test_keyboard_t_is_the_tuner(small_pedal):
    import os

    from firmware.pedal.controls import KeyboardControls
    pedal, _, _ = small_pedal(names="AB")
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as stream:
        keys = KeyboardControls(pedal, stream=stream)
        os.write(w, b"t")
        assert pedal.wait_submitted(1, timeout=10)
        os.close(w)
        keys._thread.join(5)                  # it reads the end of the stream and stops
        pedal.tick()
    assert pedal.tuning


def test_tuner_config_leds_must_name_the_three(mock_pins):
    from unittest.mock import Mock

    from firmware.core.config import load_config
    from firmware.pedal.controls import GpioControls
    cfg = load_config(overrides={"controls": {"tuner_leds": ["model", "bypass", "power"]}})
    with pytest.raises(ValueError, match="tuner_leds"):
        GpioControls(Mock(), cfg["controls"])


def test_ctl_tuner_pitch_and_midi_through_the_socket(small_pedal, tmp_path, capsys):
    """`tubeless ctl` against a pedal behind its control socket: pitch, tuner on/off, the
    live line (ended from the pedal's side, as footswitch 2 would), midi."""
    import threading

    from firmware.pedal.control import ControlServer
    from firmware.pedal.midi import MidiInput
    from firmware.tools.cli import main
    pedal, _, cfg = small_pedal(names="AB")
    pedal.midi = MidiInput(pedal, cfg["midi"], cfg["controls"], sequencer=False).start()
    sock = str(tmp_path / "control.sock")
    server = ControlServer(sock, pedal).start()
    stop = threading.Event()

    def control_thread():
        while not stop.is_set():
            pedal.tick()
            time.sleep(0.005)
    t = threading.Thread(target=control_thread, daemon=True)
    t.start()
    try:
        feed(pedal.shared, pluck(note_frequency("A", 2) * 2 ** (6 / 1200), 0.3, seed=9))
        assert main(["ctl", "--socket", sock, "pitch"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("tuner off:") and "A2" in out and "+6." in out and "sharp" in out
        assert main(["ctl", "--socket", sock, "tuner", "on"]) == 0
        assert capsys.readouterr().out.startswith("tuner on:") and pedal.params.muted
        threading.Timer(0.5, lambda: pedal.submit({"cmd": "tuner", "on": "off"})).start()
        assert main(["ctl", "--socket", sock, "tuner"]) == 0       # live, until the pedal leaves the tuner
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) >= 2 and all("A2" in line for line in lines)
        assert not pedal.tuning and not pedal.params.muted
        assert main(["ctl", "--socket", sock, "midi", "cc", "106", "127"]) == 0
        assert "1 MIDI message(s)" in capsys.readouterr().out
        end = time.monotonic() + 5
        while not pedal.tuning and time.monotonic() < end:
            time.sleep(0.01)
        assert pedal.tuning
    finally:
        stop.set()
        t.join()
        server.close()
        pedal.midi.close()
