"""Presets, banks and the rig zip (firmware.presets): the format and its checks, hostile
files, the folder as the pedal watches it, atomic writes under a kill, banks and the
setlist, export and import of a rig, the bench phase's presets."""
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from firmware.core.errors import PresetError
from firmware.dsp import rig
from firmware.importers.library import EXTENSIONS
from firmware.presets import bundle
from firmware.presets import format as fmt
from firmware.presets.store import ALL, SETLIST, PresetFolder, presets_directory
from helpers import run_tubeless

FULL = textwrap.dedent('''\
    # my favourite
    version = 1
    amp = "Plexi.nam"
    ir = "V30.wav"
    colour = "red"                       # a key of a newer firmware
    [controls]
    drive = 0.6
    gate = -70
    pot_assign = "delay.mix"
    [rig.delay]
    on = true
    time_ms = 380
    [rig.tonestack]
    bass = 0.6
    [page]                               # a table of a newer firmware
    layout = [1, 2, {x = 3}]
    when = 2024-05-01T20:00:00
    [[snapshots]]
    name = "lead"
    led = "blue"
    [snapshots.rig.delay]
    mix = 0.5
    [snapshots.controls]
    level = 0.9
    ''')


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_preset_is_read_with_every_value_checked_and_named():
    p = fmt.parse(FULL, "solo")
    assert (p.amp, p.ir, p.drive_model) == ("Plexi.nam", "V30.wav", "")
    assert p.settings.controls == {"drive": 0.6, "gate": -70.0} and p.settings.pot_assign == "delay.mix"
    assert p.settings.rig == {"delay": {"on": True, "time_ms": 380.0}, "tonestack": {"bass": 0.6}}
    lead = p.snapshot_settings(1)                        # the snapshot over its preset
    assert lead.rig["delay"] == {"on": True, "time_ms": 380.0, "mix": 0.5} and lead.controls["level"] == 0.9
    assert lead.controls["drive"] == 0.6 and p.snapshot_settings(0) is p.settings
    with pytest.raises(PresetError, match="has 1 snapshot"):
        p.snapshot_settings(2)


def test_a_rewrite_keeps_the_keys_this_firmware_does_not_know():
    p = fmt.parse(FULL, "solo")
    p.settings.controls["drive"] = 0.7                    # a save changes what it knows ...
    again = fmt.parse(p.dumps(), "solo")
    assert again.settings.controls["drive"] == 0.7
    doc = again.document()                                # ... and keeps the rest as read
    assert doc["colour"] == "red" and doc["page"]["layout"] == [1, 2, {"x": 3}]
    assert doc["page"]["when"].isoformat() == "2024-05-01T20:00:00"
    assert doc["snapshots"][0]["led"] == "blue" and doc["snapshots"][0]["rig"] == {"delay": {"mix": 0.5}}
    assert fmt.parse(again.dumps(), "solo").document() == doc      # a fixed point


@pytest.mark.parametrize("text, why", [
    ('amp = "../../etc/passwd.nam"', "amp: '../../etc/passwd.nam' is not a plain file name in the models folder"),
    ('amp = "/var/lib/x.nam"', "is not a plain file name"),
    ('amp = ".hidden.nam"', "is not a plain file name"),
    ('amp = "readme.txt"', "amp: 'readme.txt' is not a .npz .nam .json .aidax file"),
    ('ir = "../cab.wav"', "ir: '../cab.wav' is not a plain file name in the models folder's irs/"),
    ('amp = 3', "amp: must be a file name in the models folder, not 3"),
    ("[rig.delay]\ntime_ms = 1e308", "rig.delay.time_ms: 1e\\+308 is outside 20..2000"),
    ("[rig.delay]\ntime_ms = nan", "rig.delay.time_ms: nan is outside 20..2000"),
    ("[rig.delay]\nfeedback = inf", "rig.delay.feedback: inf is outside 0..0.95"),
    ("[rig.delay]\nmix = true", "rig.delay.mix: must be a number, not True"),
    ('[rig.delay]\nmix = "0.3"', "rig.delay.mix: must be a number, not '0.3'"),
    ("[rig.delay]\nwarp = 1", "rig.delay.warp: unknown parameter"),
    ("[rig.flanger]\non = true", "rig.flanger: unknown block"),
    ("[rig.reverb]\non = 1", "rig.reverb.on: must be true or false, not 1"),
    ("[controls]\ngate = 12", "controls.gate: 12 is outside -100..0"),
    ("[controls]\nvolume = 1", "controls.volume: unknown control"),
    ('[controls]\npot_assign = "warp"', "controls.pot_assign: 'warp' is not knob2, gate or a rig parameter"),
    ("version = 2", "format version 2, newer than this firmware's 1"),
    ("version = 0", "version must be a whole number from 1"),
    ('[[snapshots]]\namp = "b.nam"', "snapshots\\[1\\].amp: a snapshot changes parameters only"),
    ("[[snapshots]]\n" * (fmt.MAX_SNAPSHOTS + 1), f"{fmt.MAX_SNAPSHOTS + 1} snapshots, at most {fmt.MAX_SNAPSHOTS}"),
    ("x = " + "[" * 40 + "]" * 40, "nested deeper than 16 levels|nested too deeply"),
    ("amp = ", "not valid TOML"),
])
def test_a_bad_preset_is_one_line_naming_the_key(text, why):
    with pytest.raises(PresetError, match=why) as e:
        fmt.parse(text, "bad")
    assert "\n" not in str(e.value) and str(e.value).startswith("bad.toml: ")


def test_hostile_files_are_refused_before_they_are_parsed(tmp_path):
    huge = tmp_path / "huge.toml"
    with open(huge, "wb") as f:                           # 1 GB (sparse): never read whole
        f.truncate(1 << 30)
    with pytest.raises(PresetError, match=f"more than a preset's {fmt.MAX_BYTES} bytes"):
        fmt.read(huge)
    (tmp_path / "binary.toml").write_bytes(b"amp = \"\xff\xfe\"")
    with pytest.raises(PresetError, match="not UTF-8"):
        fmt.read(tmp_path / "binary.toml")
    deep = "x = " + "{a = " * 5000 + "1" + "}" * 5000      # within the size, beyond any sane nesting
    with pytest.raises(PresetError, match="nested"):
        fmt.parse(deep, "deep")
    for name in ("", ".x", "a/b", "a\\b", "x" * 65, "tab\there"):
        with pytest.raises(PresetError):
            fmt.check_name(name)


def test_the_model_extensions_are_the_librarys():
    assert fmt.MODEL_EXTENSIONS == EXTENSIONS


def test_the_folder_picks_up_new_changed_broken_and_removed_files(tmp_path, caplog):
    folder = PresetFolder(tmp_path / "presets")
    assert not folder.poll() and folder.banks()[-1].name == SETLIST and len(folder.banks()) == 1
    write(tmp_path / "presets" / "verse.toml", 'amp = "a.npz"\n')
    write(tmp_path / "presets" / ".verse.toml.123.tmp.toml", "half a file")   # a write under way: not looked at
    assert folder.poll() and set(folder.presets) == {"verse"}
    assert [b.name for b in folder.banks()] == [ALL, SETLIST] and folder.banks()[0].presets == ("verse",)
    assert not folder.poll()                                                  # nothing changed: nothing read
    with caplog.at_level("WARNING", logger="firmware.presets"):
        write(tmp_path / "presets" / "verse.toml", "[rig.delay]\ntime_ms = 5\n")
        os.utime(tmp_path / "presets" / "verse.toml", ns=(1, 1))
        assert folder.poll() and "verse" not in folder.presets
        folder.poll()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "verse.toml: rig.delay.time_ms: 5 is outside 20..2000" in lines[0]
    assert "verse.toml" in folder.errors
    write(tmp_path / "presets" / "verse.toml", 'amp = "b.npz"\n')
    assert folder.poll() and folder.presets["verse"].amp == "b.npz" and "verse.toml" not in folder.errors
    os.unlink(tmp_path / "presets" / "verse.toml")
    assert folder.poll() and not folder.presets


def test_banks_are_ordered_lists_and_follow_renames_and_deletes(tmp_path, caplog):
    d = tmp_path / "presets"
    for name in ("verse", "chorus", "solo"):
        write(d / f"{name}.toml", 'amp = "a.npz"\n')
    write(d / "banks" / "Sunday.txt", "# the set\nverse\nsolo.toml\nnot yet written\nchorus\n")
    write(d / "banks" / "setlist.txt", "verse\n")                        # the pedal's own name: refused
    folder = PresetFolder(d)
    with caplog.at_level("WARNING", logger="firmware.presets"):
        folder.poll()
    assert [b.name for b in folder.banks()] == ["Sunday", SETLIST]
    assert folder.bank("Sunday").presets == ("verse", "solo", "chorus")
    assert folder.find("2", folder.bank("1")).name == "solo"
    assert any("the pedal's own bank" in r.getMessage() for r in caplog.records)
    folder.rename("solo", "Solo hot")
    assert folder.bank("sunday").presets == ("verse", "Solo hot", "chorus")
    assert "not yet written" in (d / "banks" / "Sunday.txt").read_text()   # the user's entries stay
    folder.duplicate("verse", "verse 2")
    assert folder.bank("Sunday").presets == ("verse", "verse 2", "Solo hot", "chorus")
    folder.delete("chorus")
    assert folder.bank("Sunday").presets == ("verse", "verse 2", "Solo hot") and not (d / "chorus.toml").exists()
    with pytest.raises(PresetError, match="exists"):
        folder.rename("verse", "verse 2")
    with pytest.raises(PresetError, match="no preset 'nope'"):
        folder.write_bank("Monday", ["verse", "nope"])
    folder.write_bank("Monday", ["Solo hot", "verse"])
    assert [b.name for b in folder.banks()] == ["Monday", "Sunday", SETLIST]


def test_presets_live_beside_the_models_unless_the_config_says():
    assert presets_directory({"models": {"directory": "/var/lib/tubeless/models"}}) == "/var/lib/tubeless/presets"
    assert presets_directory({"models": {"directory": "/m"}, "presets": {"directory": "/p"}}) == "/p"


SAVER = textwrap.dedent('''\
    import sys
    from firmware.presets import format as fmt
    from firmware.presets.store import PresetFolder
    folder = PresetFolder(sys.argv[1])
    a = fmt.parse(sys.argv[2], "live")
    b = fmt.parse(sys.argv[3], "live")
    print("ready", flush=True)
    i = 0
    while True:
        folder.save(a if i % 2 else b)
        i += 1
    ''')


def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_preset(tmp_path):
    d = tmp_path / "presets"
    d.mkdir()
    old = 'amp = "a.npz"\n' + "".join(f'note{i} = "{"x" * 200}"\n' for i in range(100))      # ~20 KB
    new = old.replace('"a.npz"', '"b.npz"')
    write(d / "live.toml", fmt.parse(old, "live").dumps())
    wanted = {fmt.parse(t, "live").document()["amp"] for t in (old, new)}
    for k in range(8):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(d), old, new], stdout=subprocess.PIPE,
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.02 + 0.013 * k)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        p = fmt.read(d / "live.toml")                      # whole, and one of the two
        assert p.amp in wanted and len(p.extra) == 100
    folder = PresetFolder(d)
    folder.poll()
    assert set(folder.presets) == {"live"} and not folder.errors             # leftovers are hidden


# --- the rig zip ------------------------------------------------------------------------------
def rig_folders(tmp_path):
    models, presets = tmp_path / "pedal" / "models", tmp_path / "pedal" / "presets"
    write(models / "Plexi.nam", '{"fake": "model"}')
    write(models / "Plexi.wav", "own ir")
    write(models / "TS9.nam", '{"fake": "drive"}')
    write(models / "irs" / "V30.wav", "cab ir")
    write(presets / "solo.toml", 'amp = "Plexi.nam"\ndrive_model = "TS9.nam"\nir = "V30.wav"\n[rig.delay]\non = true\n')
    return models, presets


def test_a_rig_exports_with_its_models_and_imports_elsewhere(tmp_path):
    models, presets = rig_folders(tmp_path)
    out = tmp_path / "rig.zip"
    members = bundle.export_rig(presets / "solo.toml", models, out)
    assert sorted(members) == ["models/Plexi.nam", "models/Plexi.wav", "models/TS9.nam", "models/irs/V30.wav",
                               "presets/solo.toml"]
    other_models, other_presets = tmp_path / "other" / "models", tmp_path / "other" / "presets"
    got = bundle.import_rig(out, other_presets, other_models)
    assert sorted(w for _, _, w in got) == ["added"] * 5
    assert (other_models / "irs" / "V30.wav").read_text() == "cab ir"
    assert fmt.read(other_presets / "solo.toml").drive_model == "TS9.nam"
    assert {w for _, _, w in bundle.import_rig(out, other_presets, other_models)} == {"same"}   # again: nothing new
    write(other_models / "TS9.nam", "a different TS9")
    with pytest.raises(PresetError, match="TS9.nam exists on the pedal and differs"):
        bundle.import_rig(out, other_presets, other_models)
    assert (other_models / "TS9.nam").read_text() == "a different TS9"
    assert not [f for f in os.listdir(other_models) if f.startswith(".")]    # no temporary left behind
    bundle.import_rig(out, other_presets, other_models, force=True)
    assert (other_models / "TS9.nam").read_text() == '{"fake": "drive"}'
    os.unlink(models / "TS9.nam")
    with pytest.raises(PresetError, match="TS9.nam is not in"):
        bundle.export_rig(presets / "solo.toml", models, tmp_path / "rig2.zip")


def hostile_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("members, why", [
    ([("presets/a.toml", ""), ("models/../../../etc/cron.d/x.nam", "x")], "not presets/NAME.toml, models/FILE"),
    ([("presets/a.toml", ""), ("/etc/x.nam", "x")], "not presets/NAME.toml"),
    ([("presets/a.toml", ""), ("models/.bashrc.nam", "x")], "not a plain file name"),
    ([("presets/a.toml", ""), ("models/run.sh", "x")], "is not a .npz .nam .json .aidax .wav file"),
    ([("presets/a.toml", ""), ("presets/b.toml", "")], "a rig holds one preset"),
    ([("models/a.nam", "x")], "a rig holds one preset"),
    ([("presets/a.toml", "[rig.delay]\nmix = 7")], "rig.delay.mix: 7 is outside"),
    ([("presets/a.toml", "")] + [(f"models/m{i}.nam", "x") for i in range(bundle.MAX_ENTRIES)],
     f"entries, a rig holds at most {bundle.MAX_ENTRIES}"),
    ([("presets/a.toml", "x" * (fmt.MAX_BYTES + 1))], "unpacks to"),
])
def test_a_hostile_rig_zip_is_one_line_and_changes_nothing(tmp_path, members, why):
    z = hostile_zip(tmp_path / "rig.zip", members)
    target = tmp_path / "pedal"
    with pytest.raises(PresetError, match=why) as e:
        bundle.import_rig(z, target / "presets", target / "models")
    assert "\n" not in str(e.value)
    left = [f for _, _, files in os.walk(target) for f in files]
    assert left == []


def test_a_zip_whose_sizes_lie_is_refused(tmp_path):
    z = hostile_zip(tmp_path / "rig.zip", [("presets/a.toml", 'amp = "a.nam"\n' + "#" * 2000)])
    data = bytearray(z.read_bytes())
    at = data.rfind(b"PK\x01\x02")                        # the central directory's entry: say 10 bytes
    data[at + 24:at + 28] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    with pytest.raises(PresetError, match="more data than its zip entry declares|cannot be unpacked"):
        bundle.import_rig(z, tmp_path / "p", tmp_path / "m")
    (tmp_path / "not.zip").write_bytes(b"just text")
    with pytest.raises(PresetError, match="not a zip"):
        bundle.import_rig(tmp_path / "not.zip", tmp_path / "p", tmp_path / "m")


def test_the_preset_command_is_one_line_on_errors(tmp_path):
    models, presets = rig_folders(tmp_path)
    out = tmp_path / "rig.zip"
    r = run_tubeless("preset", "export", "solo", "-o", str(out), "--models", str(models))
    assert r.returncode == 0 and "presets/solo.toml" in r.stdout, r.stderr
    r = run_tubeless("preset", "export", "nope", "-o", str(tmp_path / "x.zip"), "--models", str(models))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no preset 'nope'" in r.stderr
    write(tmp_path / "bad.toml", "[rig.delay]\nmix = 7\n")
    r = run_tubeless("preset", "check", str(tmp_path / "bad.toml"), str(presets / "solo.toml"))
    assert r.returncode == 2 and "bad.toml: rig.delay.mix: 7 is outside 0..1" in r.stdout and "solo.toml: ok" in r.stdout
    r = run_tubeless("preset", "import", str(tmp_path / "bad.toml"), "--models", str(tmp_path / "m"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a zip" in r.stderr
    r = run_tubeless("preset", "import", str(out), "--models", str(tmp_path / "m"))
    assert r.returncode == 0 and "preset solo.toml: added" in r.stdout
    r = run_tubeless("preset", "list", "--models", str(tmp_path / "m"))
    assert "solo: Plexi.nam + TS9.nam, IR V30.wav" in r.stdout


def test_the_bench_phase_stomps_through_twenty_valid_mixed_presets():
    from firmware.tools.presetstorm import STOMP_EVERY_S, bench_presets, stomps
    presets = bench_presets(["a.nam", "b.npz", "c.json"], irs=["V30.wav"], seed=3)
    assert len(presets) == 20 and len({p.name for p in presets}) == 20
    assert {p.amp for p in presets} == {"a.nam", "b.npz", "c.json"} and {p.ir for p in presets} == {None, "V30.wav"}
    for block in ("delay", "reverb", "boost"):                     # effects on and off among them
        assert {p.settings.rig[block]["on"] for p in presets} == {True, False}
    for p in presets:                                              # each one the pedal would play
        assert fmt.parse(p.dumps(), p.name).document() == p.document()
    assert bench_presets(["a.nam"], seed=3)[5].dumps() == bench_presets(["a.nam"], seed=3)[5].dumps()
    plan = stomps(presets, 7.0)
    assert len(plan) == round(7.0 / STOMP_EVERY_S) and plan[1] == (STOMP_EVERY_S, presets[1].name)
    assert plan[20][1] == presets[0].name                          # round and round
    assert all(n in {p.name for p in presets} for _, n in plan) and rig.BY_NAME
