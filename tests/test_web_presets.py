"""The web page's presets and drive slot (issues 22 and 23): the commands the Presets view
sends that had none (`preset-duplicate`, `bank-set`) on the pedal; a rig zip uploaded
through the page (told from a zip of models, imported whole by the bundle's checks within
the upload's one budget, a hostile one refused with nothing left); the presets' page
routes at the HTTP level; and in a real browser against the real pedal on a JACK dummy
device: recall by a tap, snapshots, save, save as, rename, duplicate, delete, reorder, a
bank of one's own, the drive slot's picker loading a capture, a rig zip's preset showing,
the library's scan error shown. Screenshots: web-presets.png, web-play.png (the drive slot)."""
import io
import os
import shutil
import time
import zipfile

import pytest
from browserpage import (SMALL_TARGETS, TARGETS, all_css, browser, css, ctl, log_in, page_errors,  # noqa: F401
                         press, rig, shot, status_of, upload, wait)

from firmware.core.errors import MessageError
from firmware.ipc.commands import check_control
from firmware.presets import bundle
from firmware.presets import format as fmt
from firmware.testing.models import write_model

PASSWORD = "correct-horse-battery"


def ask(pedal, **req):
    return pedal.handle(check_control(req))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def gig(small_pedal):
    """Models A, B, C; presets verse (A), chorus (A, a snapshot), solo (B), the bank Gig in
    that order, verse playing."""
    pedal, engine, cfg = small_pedal()
    d = pedal.presets.directory
    write(f"{d}/verse.toml", 'amp = "a.npz"\n[rig.reverb]\non = true\n')
    write(f"{d}/chorus.toml", 'amp = "a.npz"\nmine = "kept"\n[rig.delay]\non = true\n'
                              '[[snapshots]]\nname = "big"\n[snapshots.rig.delay]\nmix = 0.6\n')
    write(f"{d}/solo.toml", 'amp = "b.npz"\n[rig.boost]\non = true\n')
    write(f"{d}/banks/Gig.txt", "verse\nchorus\nsolo\n")
    pedal.poll_presets(force=True)
    assert ask(pedal, cmd="preset", name="verse")["ok"]
    return pedal, d


def bank_file(d, name):
    with open(f"{d}/banks/{name}.txt", encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


# --- the commands ------------------------------------------------------------------------
def test_duplicate_copies_a_preset_after_it_and_what_plays_keeps_playing(gig):
    pedal, d = gig
    reply = ask(pedal, cmd="preset-duplicate", name="chorus", to="chorus live")
    assert reply["ok"] and reply["preset"] == "verse" and reply["bank"] == "Gig", reply
    copy = fmt.read(f"{d}/chorus live.toml")
    assert copy.snapshots[0].name == "big" and copy.extra == {"mine": "kept"} and copy.amp == "a.npz"
    assert bank_file(d, "Gig") == ["verse", "chorus", "chorus live", "solo"]
    assert pedal.bank.presets == ("verse", "chorus", "chorus live", "solo")        # the pedal's bank follows
    assert ask(pedal, cmd="preset", name="next")["preset"] == "chorus"
    for bad, why in ((dict(name="chorus", to="solo"), "exists"), (dict(name="nope", to="x"), "no preset 'nope'")):
        reply = ask(pedal, cmd="preset-duplicate", **bad)
        assert not reply["ok"] and why in reply["error"] and "\n" not in reply["error"], reply
    with pytest.raises(MessageError, match="no leading dot"):
        check_control({"cmd": "preset-duplicate", "name": "chorus", "to": "../x"})
    assert sorted(os.listdir(d)) == ["banks", "chorus live.toml", "chorus.toml", "solo.toml", "verse.toml"]


def test_bank_set_orders_a_bank_and_makes_a_new_one(gig):
    pedal, d = gig
    reply = ask(pedal, **{"cmd": "bank-set", "name": "Gig", "presets": ["solo", "verse", "chorus"]})
    assert reply["ok"] and reply["bank"] == "Gig" and reply["preset"] == "verse", reply
    assert bank_file(d, "Gig") == ["solo", "verse", "chorus"]
    assert ask(pedal, cmd="preset", name="next")["preset"] == "chorus"            # the footswitch's new order
    assert ask(pedal, cmd="preset", name="next")["preset"] == "solo"
    # a new bank, as the folder spells the names; the pedal stays on its bank until asked
    reply = ask(pedal, **{"cmd": "bank-set", "name": "Short", "presets": ["SOLO", "verse"]})
    assert reply["ok"] and reply["bank"] == "Gig"
    assert bank_file(d, "Short") == ["solo", "verse"]
    assert ask(pedal, cmd="bank", name="Short")["preset"] == "solo"
    # refused in one line, nothing written
    before = {n: bank_file(d, n) for n in ("Gig", "Short")}
    reply = ask(pedal, **{"cmd": "bank-set", "name": "Gig", "presets": ["solo", "ghost"]})
    assert not reply["ok"] and reply["error"].startswith("no preset 'ghost'") and "\n" not in reply["error"], reply
    reply = ask(pedal, **{"cmd": "bank-set", "name": "Gig", "presets": ["solo", "Solo"]})
    assert not reply["ok"] and "twice" in reply["error"], reply
    for bad, why in (({"name": "setlist", "presets": ["solo"]}, "the pedal's own bank"),
                     ({"name": "All", "presets": ["solo"]}, "the pedal's own bank"),
                     ({"name": "a/b", "presets": ["solo"]}, "no leading dot"),
                     ({"name": "Gig", "presets": []}, "a list of 1..128"),
                     ({"name": "Gig", "presets": ["x"] * 129}, "a list of 1..128"),
                     ({"name": "Gig", "presets": [3]}, "a preset name")):
        with pytest.raises(MessageError, match=why):
            check_control({"cmd": "bank-set", **bad})
    assert {n: bank_file(d, n) for n in ("Gig", "Short")} == before
    assert sorted(os.listdir(f"{d}/banks")) == ["Gig.txt", "Short.txt"]             # no temporary file left


# --- a rig zip through the upload ---------------------------------------------------------
def rig_zip(tmp_path, name="solo", amp="amp1.npz"):
    """A rig as `tubeless preset export` writes it: the preset, its model."""
    src = tmp_path / f"src-{name}"
    (src / "models").mkdir(parents=True, exist_ok=True)
    write_model(src / "models" / amp, arch="Linear", seed=5, name="Rig amp")
    write(f"{src}/presets/{name}.toml", f'amp = "{amp}"\n[rig.delay]\non = true\ntime_ms = 400\n')
    out = tmp_path / f"{name}-rig.zip"
    bundle.export_rig(src / "presets" / f"{name}.toml", src / "models", out, force=True)
    return out.read_bytes()


def zip_of(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:        # zeros compress: sizes stated, not sent
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def web(tmp_path):
    """`tubeless web` with no pedal behind it (uploads and the checks come before the pedal)."""
    pytest.importorskip("aiohttp")
    from firmware.testing.web import Client, free_port, start_web, stop
    from firmware.web import auth
    models = tmp_path / "models"
    models.mkdir()
    cfg = tmp_path / "pedal.toml"
    cfg.write_text(f'[models]\ndirectory = "{models}"\n[control]\nsocket = "{tmp_path}/none.sock"\n'
                   f'[web]\nmax_upload_mb = 1\n')
    pw = tmp_path / "password"
    auth.write_password(str(pw), PASSWORD)
    port = free_port()
    proc = start_web(cfg, pw, port, tmp_path / "web.log")
    client = Client(port)
    client.login(PASSWORD)
    yield client, models, tmp_path / "presets"
    stop(proc)


def everything(*folders):
    return sorted(os.path.relpath(os.path.join(r, f), folders[0].parent) for d in folders if d.exists()
                  for r, _, fs in os.walk(d) for f in fs)


def test_a_rig_zip_uploaded_lands_in_the_models_and_presets_folders(web, tmp_path):
    client, models, presets = web
    status, data, _ = client.upload([("solo-rig.zip", rig_zip(tmp_path)),
                                     ("pack.zip", zip_of([("pack/b.nam", b"{}")]))])       # a plain zip beside it
    assert status == 200, data
    by = {r["file"]: r for r in data["results"]}
    assert by["solo-rig.zip/solo.toml"]["kind"] == "preset" and by["solo-rig.zip/solo.toml"]["name"] == "solo"
    assert by["solo-rig.zip/amp1.npz"]["status"] == "checking" and by["solo-rig.zip/amp1.npz"]["kind"] == "model"
    assert by["pack.zip/pack/b.nam"]["status"] == "checking"
    assert everything(models, presets) == ["models/amp1.npz", "models/b.nam", "presets/solo.toml"]
    assert fmt.read(presets / "solo.toml").settings.rig["delay"]["time_ms"] == 400.0
    # the same rig again: the same files, nothing changes; a different preset of that name is refused
    status, data, _ = client.upload([("solo-rig.zip", rig_zip(tmp_path))])
    assert {r["rig"] for r in data["results"]} == {"same"}, data
    (presets / "solo.toml").write_text('amp = "amp1.npz"\n')
    status, data, _ = client.upload([("solo-rig.zip", rig_zip(tmp_path))])
    (r,) = data["results"]
    assert r["status"] == "refused" and "differs" in r["error"] and "--force" not in r["error"], r
    assert (presets / "solo.toml").read_text() == 'amp = "amp1.npz"\n'


@pytest.mark.parametrize("members, why", [
    ([("presets/x.toml", b'amp = "a.npz"\n'), ("models/../../escape.npz", b"x")], "rig member"),
    ([("presets/x.toml", b'amp = "a.npz"\n'), ("presets/y.toml", b"")], "holds one preset"),
    ([("presets/x.toml", b"[controls]\ndrive = 1e999\n"), ("models/a.npz", b"x")], "x.toml"),
    ([("presets/x.toml", b"amp = 'a.npz'\n")] + [(f"models/m{i}.npz", b"x") for i in range(20)], "at most 16"),
    ([("presets/x.toml", b"amp = 'a.npz'\n"), ("models/big.npz", bytes(900 << 10)),
      ("models/big2.npz", bytes(900 << 10))], "unpack to more than 1 MB"),
])
def test_a_hostile_rig_zip_is_refused_and_leaves_nothing(web, members, why):
    client, models, presets = web
    status, data, _ = client.upload([("evil.zip", zip_of(members))])
    assert status == 200, data
    (r,) = data["results"]
    assert r["status"] == "refused" and why in r["error"], r
    assert ".tmp-web" not in r["error"] and str(models.parent) not in r["error"], r       # its name, no path
    assert everything(models, presets) == []                                     # no temporary file either


def test_a_rigs_stated_size_counts_against_the_uploads_budget(web, tmp_path):
    """One budget for the upload: a zip of models takes its part, the rig what is left."""
    client, models, presets = web
    plain = zip_of([("pack/big.nam", bytes(700 << 10))])
    rig = zip_of([("presets/x.toml", b"amp = 'a.npz'\n"), ("models/a.npz", bytes(400 << 10))])
    status, data, _ = client.upload([("pack.zip", plain), ("x-rig.zip", rig)])
    by = {r["file"]: r for r in data["results"]}
    assert by["pack.zip/pack/big.nam"]["status"] == "checking"
    assert by["x-rig.zip"]["status"] == "refused" and "unpack to more than 1 MB" in by["x-rig.zip"]["error"], by
    assert everything(models, presets) == ["models/big.nam"]


def test_the_presets_routes(web):
    client, _, _ = web
    status, data, _ = client.get("/api/presets")
    assert status == 503 and "not running" in data["error"]
    # the Presets view's commands go through /api/control (to a pedal that is down: 503);
    # what is not a page command, or not a valid one, is refused before the pedal
    for body in ({"cmd": "preset", "name": "verse"}, {"cmd": "bank-set", "name": "Gig", "presets": ["a"]},
                 {"cmd": "stomp", "name": "none"}, {"cmd": "preset-duplicate", "name": "a", "to": "b"}):
        assert client.post("/api/control", body)[0] == 503, body
    for body, why in (({"cmd": "presets"}, "unknown control"), ({"cmd": "global_ir", "file": ""}, "unknown control"),
                      ({"cmd": "bank-set", "name": "setlist", "presets": ["a"]}, "the pedal's own bank")):
        status, data, _ = client.post("/api/control", body)
        assert status == 400 and why in data["error"], (body, data)
    client.cookie = None
    assert client.get("/api/presets")[0] == 401


# --- in a browser, against the real pedal ----------------------------------------------------
SNAPSHOTTED = '''amp = "a_clean.npz"
[controls]
level = 0.5
[rig.delay]
on = true
mix = 0.2
[[snapshots]]
name = "lead"
[snapshots.controls]
level = 0.9
[[snapshots]]
name = "wet"
[snapshots.rig.delay]
mix = 0.6
'''


def names_listed(d, where="#presets"):
    return [e.get_attribute("data-name") for e in all_css(d, f"{where} .preset")]


def tap(d, selector):
    """press() on what `selector` finds, again if the list was drawn anew in between (the
    live stream redraws it when the pedal's presets change)."""
    wait(lambda: press(d, css(d, selector)) or True, 10, f"a tap on {selector}")


def open_actions(d, name):
    """A preset's actions opened: act(NAME) taps one of them."""
    item = f'.preset[data-name="{name}"]'
    wait(lambda: all_css(d, f"{item} .details") or tap(d, f"{item} .more"), 10, f"{name}'s actions")
    return lambda act: tap(d, f'{item} [data-act="{act}"]')


def on_pedal(sock, key):
    return ctl(sock, cmd="status")["status"][key]


def test_presets_and_the_drive_slot_on_the_page(rig, browser, tmp_path):
    d, sock, p = browser, rig["sock"], rig["presets"]
    write(f"{p}/verse.toml", 'amp = "a_clean.npz"\n')
    write(f"{p}/chorus.toml", SNAPSHOTTED)
    write(f"{p}/solo.toml", 'amp = "b_crunch.npz"\n[rig.boost]\non = true\n')
    write(f"{p}/banks/Gig.txt", "verse\nchorus\nsolo\n")
    wait(lambda: [b["name"] for b in ctl(sock, cmd="presets")["banks"]] == ["Gig", "setlist"], 20, "the bank")
    log_in(d, rig["url"])
    wait(lambda: len(all_css(d, "#models .model")) == 2, 30, "the model list")
    press(d, css(d, '#tabs [data-view="presets"]'))

    # the bank picked on the page: its presets in order, the first playing and marked
    wait(lambda: "Gig" in [o.get_attribute("value") for o in all_css(d, "#bank option")], 20, "the banks offered")
    d.execute_script("const s = document.querySelector('#bank'); s.value = 'Gig'; s.dispatchEvent(new Event('change'))")
    wait(lambda: on_pedal(sock, "bank") == "Gig" and on_pedal(sock, "preset") == "verse", 20, "bank Gig on the pedal")
    wait(lambda: names_listed(d) == ["verse", "chorus", "solo"], 20, "the bank's presets in order")
    wait(lambda: css(d, ".preset.playing").get_attribute("data-name") == "verse", 20, "verse marked")

    # recall in one tap: the pedal plays it (its model), the page marks it, its snapshots show
    tap(d, '.preset[data-name="solo"] .play')
    wait(lambda: on_pedal(sock, "preset") == "solo" and on_pedal(sock, "model_file") == "b_crunch.npz", 30, "solo")
    wait(lambda: css(d, ".preset.playing").get_attribute("data-name") == "solo", 20, "solo marked")
    tap(d, '.preset[data-name="chorus"] .play')
    wait(lambda: [e.text.split("\n")[-1] for e in all_css(d, "#snapshots .snapshot")] == ["as saved", "lead", "wet"],
         20, "chorus's snapshots")
    tap(d, '#snapshots [data-snapshot="2"]')
    wait(lambda: on_pedal(sock, "snapshot") == 2 and on_pedal(sock, "rig")["delay"]["mix"] == 0.6, 20, "snapshot 2")
    wait(lambda: css(d, '#snapshots .snapshot.on').get_attribute("data-snapshot") == "2", 20, "snapshot 2 marked")
    ctl(sock, cmd="snapshot", n=1)                                     # a footswitch: the page follows
    wait(lambda: css(d, '#snapshots .snapshot.on').get_attribute("data-snapshot") == "1", 20, "snapshot 1 marked")
    tap(d, '#snapshots [data-snapshot="0"]')
    wait(lambda: on_pedal(sock, "snapshot") == 0, 20, "back to the preset as saved")

    # save: the sound as it is into the playing preset
    ctl(sock, cmd="set", param="delay.time_ms", value=610)
    press(d, css(d, "#preset-save"))
    wait(lambda: "saved into chorus" in css(d, "#presets-msg").text, 20, "saved")
    assert fmt.read(p / "chorus.toml").settings.rig["delay"]["time_ms"] == 610.0
    assert [s.name for s in fmt.read(p / "chorus.toml").snapshots] == ["lead", "wet"]

    # save as: a new preset of this sound, added to the bank, playing
    d.execute_script("window.prompt = () => 'bridge'")
    press(d, css(d, "#preset-save-as"))
    wait(lambda: names_listed(d) == ["verse", "chorus", "solo", "bridge"], 20, "bridge in the bank")
    assert on_pedal(sock, "preset") == "bridge" and (p / "bridge.toml").exists()
    # a refusal in one line where the player looks: the name is taken
    d.execute_script("window.prompt = () => 'verse'")
    press(d, css(d, "#preset-save-as"))
    wait(lambda: css(d, "#toast").is_displayed() and "exists" in css(d, "#toast").text, 20, "the refusal")
    assert str(tmp_path) not in css(d, "#toast").text

    # rename (the bank follows), duplicate (after it), delete (after a confirm), reorder
    act = open_actions(d, "bridge")
    d.execute_script("window.prompt = () => 'outro'")
    act("rename")
    wait(lambda: names_listed(d) == ["verse", "chorus", "solo", "outro"], 20, "bridge renamed outro")
    assert (p / "outro.toml").exists() and not (p / "bridge.toml").exists() and on_pedal(sock, "preset") == "outro"
    act = open_actions(d, "chorus")
    d.execute_script("window.prompt = () => 'chorus 2'")
    act("duplicate")
    wait(lambda: names_listed(d) == ["verse", "chorus", "chorus 2", "solo", "outro"], 20, "the copy after chorus")
    act = open_actions(d, "chorus 2")
    d.execute_script("window.confirm = () => false")
    act("delete")
    time.sleep(1.0)
    assert (p / "chorus 2.toml").exists()                              # not confirmed: nothing deleted
    d.execute_script("window.confirm = () => true")
    act("delete")
    wait(lambda: names_listed(d) == ["verse", "chorus", "solo", "outro"], 20, "chorus 2 deleted")
    assert not (p / "chorus 2.toml").exists()
    act = open_actions(d, "outro")
    act("up")
    wait(lambda: names_listed(d) == ["verse", "chorus", "outro", "solo"], 20, "outro up")
    act = open_actions(d, "verse")
    act("down")
    wait(lambda: names_listed(d) == ["chorus", "verse", "outro", "solo"], 20, "verse down")
    assert [ln for ln in (p / "banks" / "Gig.txt").read_text().splitlines() if not ln.startswith("#")] == \
        ["chorus", "verse", "outro", "solo"]
    assert ctl(sock, cmd="preset", name="next")["preset"] == "solo"     # the footswitch walks the new order

    # a rig zip through the page: its preset shows (in no bank yet), one tap adds it to this one
    upload(d, _rig_file(tmp_path), field="#rig-input")
    wait(lambda: status_of(d, "blues-rig.zip/blues.toml", "#rig-results") == "stored", 60, "the rig imported")
    wait(lambda: names_listed(d, "#other-presets") == ["blues"], 30, "the rig's preset listed")
    act = open_actions(d, "blues")
    act("add")
    wait(lambda: names_listed(d) == ["chorus", "verse", "outro", "solo", "blues"], 20, "blues added to Gig")
    tap(d, '.preset[data-name="blues"] .play')
    wait(lambda: on_pedal(sock, "preset") == "blues" and on_pedal(sock, "model_file") == "blues_amp.npz", 60,
         "the rig playing")
    # the screenshot: a preset with snapshots playing, its second one on
    tap(d, '.preset[data-name="blues"] .more')                            # its actions closed
    tap(d, '.preset[data-name="chorus"] .play')
    wait(lambda: on_pedal(sock, "model_file") == "a_clean.npz", 30, "chorus's model")
    tap(d, '#snapshots [data-snapshot="1"]')
    wait(lambda: css(d, "#now-name").text == "a_clean" and
         css(d, '#snapshots .snapshot.on').get_attribute("data-snapshot") == "1", 20, "chorus, snapshot 1, shown")
    d.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    shot(d, "presets", tmp_path)
    assert d.execute_script(SMALL_TARGETS, TARGETS) == [], "a target under 48 px on the Presets view"

    # the drive slot: its card says so, its picker searches the library and loads a capture
    press(d, css(d, '#tabs [data-view="play"]'))
    wait(lambda: css(d, "#block-stomp h2").text == "drive slot" and css(d, "#stomp-name").text == "none", 20,
         "the empty drive slot")
    press(d, css(d, "#stomp-pick"))
    css(d, "#stomp-search").send_keys("crunch")
    wait(lambda: [e.get_attribute("data-stomp") for e in all_css(d, "#stomp-list [data-stomp]")] ==
         ["none", "b_crunch.npz"], 20, "the search in the picker")
    tap(d, '#stomp-list [data-stomp="b_crunch.npz"]')
    wait(lambda: (on_pedal(sock, "stomp") or {}).get("file") == "b_crunch.npz", 30, "the capture in the pedal's slot")
    wait(lambda: (on_pedal(sock, "stomp") or {}).get("status") == "playing", 60, "the capture playing")
    wait(lambda: css(d, "#stomp-name").text == "b_crunch", 20, "the capture shown")
    assert on_pedal(sock, "rig")["stomp"]["on"] is True
    assert css(d, "#block-stomp .switch").text == "on"
    assert [e.get_attribute("data-control") for e in all_css(d, "#block-stomp input[type=range]")] == \
        ["stomp.trim_db", "stomp.level_db", "stomp.knob"]
    d.execute_script("window.scrollTo(0, document.querySelector('#block-stomp').getBoundingClientRect().top"
                     " + window.scrollY - document.querySelector('header').offsetHeight - 8)")
    time.sleep(0.3)
    shot(d, "play", tmp_path)
    ctl(sock, cmd="stomp", name="none")                                  # from the pedal: the page follows
    wait(lambda: css(d, "#stomp-name").text == "none", 20, "the slot emptied")

    # the library's scan error, a notice above the list: the models folder gone (a card
    # pulled, a bad mount), a file in its place
    press(d, css(d, '#tabs [data-view="models"]'))
    assert not css(d, "#library-error").is_displayed()
    listed = [e.get_attribute("data-file") for e in all_css(d, "#models .model")]
    assert listed == ["a_clean.npz", "b_crunch.npz", "blues_amp.npz"], listed
    models = rig["models"]
    shutil.move(models, tmp_path / "models-away")
    models.write_text("not a folder")
    try:
        wait(lambda: css(d, "#library-error").is_displayed(), 60, "the scan error shown")
        text = css(d, "#library-error").text
        assert text.startswith("The pedal could not read its models folder") and str(tmp_path) not in text, text
        assert [e.get_attribute("data-file") for e in all_css(d, "#models .model")] == listed    # as it was
    finally:
        models.unlink()
        shutil.move(tmp_path / "models-away", models)
    assert page_errors(d) == []


def _rig_file(tmp_path):
    path = tmp_path / "up" / "blues-rig.zip"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(rig_zip(tmp_path, "blues", "blues_amp.npz"))
    return path
