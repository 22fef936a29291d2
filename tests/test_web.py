"""The web page's server at the HTTP level (`tubeless web` as a process): sessions, CSRF,
names, upload limits, the login limit; and its parts (names, zips, config edits, the
HAT gain). The browser tests against a real pedal are in test_web_browser.py."""
import io
import os
import stat
import tomllib
import zipfile

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("aiohttp")
from firmware.dsp import rig  # noqa: E402
from firmware.ipc.commands import check_control  # noqa: E402
from firmware.testing.web import Client, free_port, start_web, stop  # noqa: E402
from firmware.web import auth, files, settings  # noqa: E402
from firmware.web.app import rig_table  # noqa: E402

PASSWORD = "correct-horse-battery"


@pytest.fixture
def web(tmp_path):
    """`tubeless web` with no pedal behind it (the security checks come before the pedal)."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "keep.npz").write_bytes(b"x")
    cfg = tmp_path / "pedal.toml"
    cfg.write_text(f'[models]\ndirectory = "{models}"\n[control]\nsocket = "{tmp_path}/none.sock"\n'
                   f'[web]\nmax_upload_mb = 1\n')
    pw = tmp_path / "password"
    auth.write_password(str(pw), PASSWORD)
    port = free_port()
    proc = start_web(cfg, pw, port, tmp_path / "web.log")
    yield Client(port), models, tmp_path
    stop(proc)


def test_no_session_no_api(web):
    client, models, _ = web
    for method, path in [("GET", "/api/models"), ("GET", "/api/events"), ("GET", "/api/settings"),
                         ("GET", "/api/rig"), ("POST", "/api/control"), ("POST", "/api/delete"), ("POST", "/api/play"), ("POST", "/api/setlist")]:
        status, data, _ = client.request(method, path, {"file": "keep.npz"} if method == "POST" else None)
        assert status == 401, (path, status, data)
    status, _, _ = client.upload([("evil.nam", b"{}")])
    assert status == 401
    assert sorted(os.listdir(models)) == ["keep.npz"]
    # a made-up cookie is no session either
    client.cookie = "tubeless_session=forged"
    assert client.get("/api/models")[0] == 401
    # the page itself and its static files are public (they hold no data)
    status, _, headers = client.get("/")
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]


def test_login_cookie_and_csrf(web):
    client, models, _ = web
    assert client.login("wrong password")[0] == 403
    assert client.cookie is None
    status, data = client.login(PASSWORD)
    assert status == 200 and data["csrf"]
    # the cookie: HttpOnly, SameSite=Strict
    c2 = Client(client.port)
    _, _, headers = c2.request("POST", "/api/login", {"password": PASSWORD})
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    # a change without the token, or with another session's token: refused, nothing changes
    for token in (None, "", c2.csrf or "other", data["csrf"][:-2] + "xx"):
        h = {} if token is None else {"X-CSRF-Token": token}
        status, reply, _ = client.request("POST", "/api/delete", {"file": "keep.npz"}, headers=h, csrf=False)
        assert status == 403 and "CSRF" in reply["error"]
    status, _, _ = client.upload([("a.npz", b"x")], csrf=False)
    assert status == 403
    assert sorted(os.listdir(models)) == ["keep.npz"]
    # a change sent from another site's page (a browser sends its Origin): refused
    status, _, _ = client.request("POST", "/api/delete", {"file": "keep.npz"}, headers={"Origin": "http://evil.example"})
    assert status == 403
    # with the token: done
    status, reply, _ = client.post("/api/delete", {"file": "keep.npz"})
    assert status == 200, reply
    assert os.listdir(models) == []
    # after logout the session is gone
    assert client.post("/api/logout")[0] == 200
    assert client.get("/api/settings")[0] == 401


def test_traversal_names_refused(web):
    client, models, tmp = web
    client.login(PASSWORD)
    (tmp / "outside.npz").write_bytes(b"secret")
    for bad in ("../outside.npz", "..", "/etc/passwd", "a/../../outside.npz", ".hidden.npz", "x\x00.npz"):
        for path, body in [("/api/delete", {"file": bad}), ("/api/rename", {"file": "keep.npz", "to": bad}),
                           ("/api/play", {"file": bad}), ("/api/setlist", {"order": [bad]}),
                           ("/api/ir", {"model": bad, "ir": "x.wav"}), ("/api/ir", {"model": "keep.npz", "ir": bad})]:
            status, data, _ = client.post(path, body)
            assert status == 400, (path, bad, status, data)
    status, data, _ = client.upload([("../../outside.npz", b"overwritten"), ("..\\..\\x.nam", b"{}"),
                                     ("ok.exe", b"MZ")])
    assert status == 200
    assert [r["status"] for r in data["results"]] == ["refused"] * 3
    assert (tmp / "outside.npz").read_bytes() == b"secret"
    assert sorted(os.listdir(models)) == ["keep.npz"]
    # a zip whose members climb out: each refused, nothing outside the folder
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../outside.npz", b"zip overwrite")
        z.writestr("amps/../../../x.nam", b"{}")
        z.writestr("inner.zip", b"PK")
    status, data, _ = client.upload([("pack.zip", buf.getvalue())])
    assert status == 200
    assert {r["status"] for r in data["results"]} == {"refused"}, data
    assert (tmp / "outside.npz").read_bytes() == b"secret"
    assert sorted(os.listdir(models)) == ["keep.npz"]


def test_oversized_upload_refused_and_nothing_left(web):
    client, models, _ = web
    client.login(PASSWORD)
    big = os.urandom((1 << 20) + 1000)              # max_upload_mb = 1
    status, data, _ = client.upload([("big.npz", big)])
    assert status == 413 and "1 MB" in data["error"]
    assert sorted(os.listdir(models)) == ["keep.npz"]       # no temporary file left behind either
    # a zip bomb: small on the wire, large when unpacked
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.nam", b"0" * (files.MAX_BYTES + 1))
    assert len(buf.getvalue()) < 1 << 20
    status, data, _ = client.upload([("bomb.zip", buf.getvalue())])
    assert status == 200 and data["results"][0]["status"] == "refused"
    assert "more than" in data["results"][0]["error"]
    assert sorted(os.listdir(models)) == ["keep.npz"]


def test_login_rate_limited(web):
    client, _, _ = web
    statuses = [client.login("wrong-password")[0] for _ in range(auth.LoginLimiter.FREE + 1)]
    assert statuses[:auth.LoginLimiter.FREE] == [403] * auth.LoginLimiter.FREE
    assert statuses[-1] == 429
    status, data = client.login(PASSWORD)           # even the right password must wait now
    assert status == 429 and "try again" in data["error"]


def wav(samples, rate=48000, subtype="PCM_24"):
    """A WAV file's bytes."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, np.float64), rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def cab():
    """A short cabinet-like IR: a decaying burst."""
    t = np.arange(2400)
    return wav(np.exp(-t / 300.0) * np.cos(t * 0.3))


def test_upload_places_models_and_irs(web):
    client, models, _ = web
    client.login(PASSWORD)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pack/b.nam", b"{}")
        z.writestr("pack/cab.wav", cab())
    status, data, _ = client.upload([("a.npz", b"npz"), ("a.wav", cab()), ("pack.zip", buf.getvalue())])
    assert status == 200, data
    by = {r["file"]: r for r in data["results"]}
    assert by["a.npz"]["status"] == "checking" and by["a.wav"]["model"] == "a"
    assert by["pack.zip/pack/b.nam"]["status"] == "checking"
    assert by["pack.zip/pack/cab.wav"]["status"] == "stored"
    assert sorted(os.listdir(models)) == ["a.npz", "a.wav", "b.nam", "irs", "keep.npz"]
    assert os.listdir(models / "irs") == ["cab.wav"]
    assert stat.S_IMODE(os.stat(models / "a.npz").st_mode) == 0o664
    # attach the stored IR to a model, rename it (its IR follows), reorder, delete
    assert client.post("/api/ir", {"model": "b.nam", "ir": "cab.wav"})[0] == 200
    assert (models / "b.wav").read_bytes() == (models / "irs" / "cab.wav").read_bytes()
    assert client.post("/api/rename", {"file": "b.nam", "to": "Plexi"})[1]["file"] == "Plexi.nam"
    assert (models / "Plexi.wav").exists() and not (models / "b.wav").exists()
    assert client.post("/api/setlist", {"order": ["Plexi.nam", "a.npz"]})[0] == 200
    lines = [ln for ln in (models / "setlist.txt").read_text().splitlines() if not ln.startswith("#")]
    assert lines == ["Plexi.nam", "a.npz"]
    assert client.post("/api/setlist", {"order": ["Plexi.nam", "nope.nam"]})[0] == 400
    assert client.post("/api/delete", {"file": "Plexi.nam"})[0] == 200
    assert not (models / "Plexi.wav").exists()
    lines = [ln for ln in (models / "setlist.txt").read_text().splitlines() if not ln.startswith("#")]
    assert lines == ["a.npz"]


def test_pedal_not_running_is_one_line(web):
    client, _, tmp = web
    client.login(PASSWORD)
    status, data, _ = client.get("/api/models")
    assert status == 503 and "not running" in data["error"]
    assert str(tmp) not in data["error"] and "sock" not in data["error"], data     # no server path


def test_upload_checks_irs_before_storing(web):
    """A cabinet IR is stored (in irs/ or beside its model) only once it reads as the pedal
    will read it; a refusal says why in a player's words and keeps nothing."""
    client, models, tmp = web
    client.login(PASSWORD)
    t = np.arange(4800)
    nan = np.exp(-t / 300.0)
    nan[10] = np.nan
    cases = {"text.wav": (b"this is not audio at all" * 40, "not a WAV"),
             "riff.wav": (b"RIFF\x10\x00\x00\x00WAVEfmt ", "not a WAV"),
             "silent.wav": (wav(np.zeros(4800)), "silent"),
             "nan.wav": (wav(nan, subtype="FLOAT"), "not numbers"),
             "slow.wav": (wav(np.exp(-t / 30.0), rate=4000), "sample rate"),
             "keep.wav": (b"named like a model, still not audio", "not a WAV"),      # beside keep.npz
             "good.wav": (cab(), None)}
    status, data, _ = client.upload([(n, b) for n, (b, _) in cases.items()])
    assert status == 200, data
    by = {r["file"]: r for r in data["results"]}
    for name, (_, why) in cases.items():
        if why is None:
            assert by[name]["status"] == "stored", by[name]
        else:
            assert by[name]["status"] == "refused" and why in by[name]["error"], by[name]
            assert str(tmp) not in by[name]["error"] and "\n" not in by[name]["error"]
    assert os.listdir(models / "irs") == ["good.wav"]
    assert sorted(os.listdir(models)) == ["irs", "keep.npz"]
    # one copied into irs/ by hand is checked again before it is attached or made the global IR
    (models / "irs" / "byhand.wav").write_bytes(b"not audio")
    for path, body in [("/api/ir", {"model": "keep.npz", "ir": "byhand.wav"}),
                       ("/api/settings", {"global_ir": "byhand.wav"})]:
        status, data, _ = client.post(path, body)
        assert status == 400 and "not a WAV" in data["error"], (path, data)
    assert sorted(os.listdir(models)) == ["irs", "keep.npz"]
    assert "ir =" not in (tmp / "pedal.toml").read_text()


def test_settings_checked_before_the_pedal_takes_them(web):
    """Nothing reaches the pedal (here: none, which would answer 503) unless every value
    passed its check and the config file can hold it."""
    client, models, tmp = web
    client.login(PASSWORD)
    before = (tmp / "pedal.toml").read_text()
    for body, why in [({"gate_threshold_db": "loud"}, "gate"), ({"global_ir": "nope.wav"}, "no such IR"),
                      ({"gate_threshold_db": -50, "input_gain_db": "12"}, "input gain"),
                      ({"global_ir": "../pedal.toml"}, "a name with a folder")]:
        status, data, _ = client.post("/api/settings", body)
        assert status == 400 and why in data["error"], (body, data)
    # all good: only then the pedal is asked (not running: 503), and nothing is saved
    (models / "irs").mkdir()
    (models / "irs" / "🎸 Cab.wav").write_bytes(cab())
    status, data, _ = client.post("/api/settings", {"gate_threshold_db": -50, "global_ir": "🎸 Cab.wav"})
    assert status == 503 and "not running" in data["error"], data
    assert (tmp / "pedal.toml").read_text() == before


@pytest.mark.parametrize("file,to,want", [("amp.nam", "TS9 Full Drive.json", "TS9 Full Drive.nam"),
                                          ("amp.nam", "Lead.NAM", "Lead.nam"),
                                          ("amp.nam", "Plexi 1.5", "Plexi 1.5.nam"),
                                          ("tw40.json", "Blues Deluxe", "Blues Deluxe.json"),
                                          ("tw40.json", "Blues Deluxe.json", "Blues Deluxe.json"),
                                          ("tw40.json", "Blues.aidax", "Blues.json")])
def test_rename_keeps_the_files_extension(web, file, to, want):
    client, models, _ = web
    client.login(PASSWORD)
    (models / file).write_bytes(b"model")
    status, data, _ = client.post("/api/rename", {"file": file, "to": to})
    assert status == 200 and data["file"] == want, data
    assert sorted(os.listdir(models)) == sorted(["keep.npz", want])
    assert (models / want).read_bytes() == b"model"


def test_rig_table_for_the_play_view(web):
    """GET /api/rig: the page builds its blocks from it, so it must be the rig's own table."""
    client, _, _ = web
    assert client.get("/api/rig")[0] == 401
    client.login(PASSWORD)
    status, data, headers = client.get("/api/rig")
    assert status == 200, data
    assert "default-src 'self'" in headers["Content-Security-Policy"] and headers["Cache-Control"] == "no-store"
    assert [b["name"] for b in data["blocks"]] == [b.NAME for b in rig.BLOCKS]
    for got, cls in zip(data["blocks"], rig.BLOCKS):
        assert got["on"] is cls.DEFAULT_ON
        assert [(p["name"], p["lo"], p["hi"], p["default"], p["unit"], p["doc"]) for p in got["params"]] == \
            [tuple(p) for p in cls.PARAMS]
        for p in got["params"]:             # every control the page will send is one the pedal takes
            assert p["control"] == f"{cls.NAME}.{p['name']}"
            assert check_control({"cmd": "set", "param": p["control"], "value": p["hi"]})["value"] == p["hi"]
            if p["short"]:
                assert rig.ALIASES[p["short"]] == p["control"]
    by = {b["name"]: b for b in data["blocks"]}
    assert {p["short"] for b in data["blocks"] for p in b["params"]} - {None} == set(rig.ALIASES)
    assert [p["short"] for p in by["tonestack"]["params"]] == ["bass", "mid", "treble", "presence"]
    assert [b["name"] for b in data["blocks"] if b["tap"]] == ["delay"] and by["delay"]["tap"] == "time_ms"
    assert by["boost"]["position"] == "pre" and by["tonestack"]["position"] == "post"
    # the tone stack before the amp model (tone.tonestack_position = "pre"): shown there
    assert {b["name"]: b["position"] for b in rig_table("pre")}["tonestack"] == "pre"


def test_bad_rig_control_refused_in_one_line(web):
    client, _, _ = web
    client.login(PASSWORD)
    for body, named in [({"cmd": "set", "param": "delay.time_ms", "value": 5000}, "delay.time_ms"),
                        ({"cmd": "set", "param": "bass", "value": "loud"}, "tonestack.bass"),
                        ({"cmd": "set", "param": "delay.nope", "value": 1}, "nope"),
                        ({"cmd": "toggle", "block": "flanger"}, "flanger"),
                        ({"cmd": "toggle", "block": "delay", "on": "maybe"}, "on")]:
        status, data, _ = client.post("/api/control", body)
        assert status == 400 and named in data["error"] and "\n" not in data["error"], (body, status, data)
    # good ones pass the checks and go on to the pedal (none here: 503)
    for body in ({"cmd": "set", "param": "delay.time_ms", "value": 380}, {"cmd": "set", "param": "bass", "value": 0.6},
                 {"cmd": "toggle", "block": "delay", "on": True}, {"cmd": "toggle", "block": "delay"}, {"cmd": "tap"}):
        status, data, _ = client.post("/api/control", body)
        assert status == 503 and "not running" in data["error"], (body, status, data)
    # and every change needs the CSRF token, as every other POST
    assert client.post("/api/control", {"cmd": "tap"}, csrf=False)[0] == 403


def test_password_change(web):
    client, _, tmp = web
    client.login(PASSWORD)
    other = Client(client.port)
    other.login(PASSWORD)
    assert client.post("/api/password", {"current": "nope", "new": "another-one-1"})[0] == 403
    assert client.post("/api/password", {"current": PASSWORD, "new": "short"})[0] == 400
    assert client.post("/api/password", {"current": PASSWORD, "new": "another-one-1"})[0] == 200
    assert other.get("/api/settings")[0] == 401             # other phones log in again
    assert client.get("/api/settings")[0] == 200
    assert Client(client.port).login("another-one-1")[0] == 200
    assert stat.S_IMODE(os.stat(tmp / "password").st_mode) == 0o600
    assert "another-one-1" not in (tmp / "password").read_text()


# --- the parts ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,want", [("plexi.nam", "plexi.nam"), ("C:\\amps\\plexi.nam", "plexi.nam"),
                                      ("amps/plexi.nam", "plexi.nam"), ("  Twin Reverb.json ", "Twin Reverb.json")])
def test_clean_name_keeps_plain_names(raw, want):
    assert files.clean_name(raw, folders=True) == want
    if "/" in raw or "\\" in raw:
        with pytest.raises(files.FileError):
            files.clean_name(raw)                   # a name the page sends never has a folder


@pytest.mark.parametrize("raw", ["", "..", "../x.nam", "a/../../x.nam", ".x.nam", "x\x00.nam", "x\n.nam",
                                 "a:b.nam", "x" * 200 + ".nam", None])
def test_clean_name_refuses(raw):
    with pytest.raises(files.FileError):
        files.clean_name(raw)


def test_password_hash_roundtrip(tmp_path):
    h = auth.hash_password("s3cret-pass")
    assert auth.check_password("s3cret-pass", h) and not auth.check_password("s3cret-pasS", h)
    assert not auth.check_password("x", "garbage") and not auth.check_password("x", "")
    with pytest.raises(auth.PasswordError):
        auth.write_password(str(tmp_path / "p"), "short")
    assert len(set(auth.new_password() for _ in range(20))) == 20


def test_limiter_backs_off_and_forgives():
    now = [0.0]
    lim = auth.LoginLimiter(clock=lambda: now[0])
    for _ in range(lim.FREE):
        assert lim.begin("a") == 0
        lim.done("a", False)
    assert lim.begin("a") == pytest.approx(1.0) and lim.wait_s("b") == 0     # turned away, not counted
    now[0] += 1.0
    assert lim.begin("a") == 0
    lim.done("a", False)
    assert lim.wait_s("a") == pytest.approx(2.0)
    now[0] += 2.5
    assert lim.begin("a") == 0
    lim.done("a", True)
    assert lim.wait_s("a") == 0


def test_config_edit_keeps_the_file(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text("# mine\n[models]\n# ir = \"\"    # the default\npoll_s = 0.5\n\n[tone]\ndrive = 0.4  # keep\n")
    settings.set_config_value(str(p), "models", "ir", "/x/irs/cab \"1\".wav")
    settings.set_config_value(str(p), "tone", "gate_threshold_db", -60.0)
    settings.set_config_value(str(p), "web", "input_gain_db", 12.5)
    settings.set_config_value(str(p), "models", "ir", "")
    text = p.read_text()
    assert text.startswith("# mine\n[models]\n# ir = \"\"    # the default\nir = \"\"\npoll_s = 0.5\n")
    assert "drive = 0.4  # keep" in text
    t = tomllib.loads(text)
    assert t["models"] == {"ir": "", "poll_s": 0.5} and t["tone"]["gate_threshold_db"] == -60.0
    assert t["web"]["input_gain_db"] == 12.5
    assert [n for n in os.listdir(tmp_path)] == ["config.toml"]


@pytest.mark.parametrize("value", ["🎸 Cab.wav", "Ünïcödé ǅ 日本語 Кабинет.wav", "tab\there", "quote \" and \\ back",
                                   "new\nline", "del\x7f and \x01 and \x1f", "e\u0301 combining", "\U0010FFFF max"])
def test_config_edit_keeps_any_unicode(tmp_path, value):
    """What the pedal takes, the config keeps: any Unicode round-trips through the TOML file."""
    p = tmp_path / "config.toml"
    p.write_text("[models]\n# ir = \"\"\n")
    settings.set_config_value(str(p), "models", "ir", f"/x/irs/{value}")
    assert tomllib.loads(p.read_text(encoding="utf-8"))["models"]["ir"] == f"/x/irs/{value}"
    assert len(p.read_text(encoding="utf-8").splitlines()) == 3            # one line, whatever the value


def test_config_edit_refuses_what_it_cannot_store(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text("[models]\nir = \"\"\n")
    edit = settings.ConfigEdit(str(p))
    with pytest.raises(settings.SettingsError, match="broken character") as e:
        edit.set("models", "ir", "lone \ud83c surrogate.wav")
    assert str(tmp_path) not in str(e.value)
    assert p.read_text() == "[models]\nir = \"\"\n" and os.listdir(tmp_path) == ["config.toml"]


def test_input_gain_through_amixer(tmp_path):
    log = tmp_path / "calls"
    fake = tmp_path / "amixer"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    settings.set_input_gain(12.3, cards=["vc4hdmi", "sndrpihifiberry"], amixer=str(fake))
    assert log.read_text().splitlines() == ["-q -c sndrpihifiberry cset name=PGA Gain Left 12.5dB",
                                            "-q -c sndrpihifiberry cset name=PGA Gain Right 12.5dB"]
    with pytest.raises(settings.SettingsError, match="outside"):
        settings.set_input_gain(50, cards=["sndrpihifiberry"], amixer=str(fake))
    with pytest.raises(settings.SettingsError, match="knob"):
        settings.set_input_gain(3, cards=["pisound"], amixer=str(fake))
    with pytest.raises(settings.SettingsError, match="no codec HAT"):
        settings.set_input_gain(3, cards=[], amixer=str(fake))


def test_refusals_read_in_a_players_words(tmp_path):
    """Every hostile file's reason (tests/hostile.py, through the one loader the librarian
    uses), as the page shows it: no field or member name, no path, one line; and the words
    tell the kinds apart (damaged, too large, broken numbers), not one text for all."""
    from hostile import hostile_cases

    from firmware.importers.loader import load
    from firmware.web import wording
    shown = set()
    for case in hostile_cases(tmp_path / "cases"):
        if case.expect != "refuse" or os.path.getsize(case.path) > 8 << 20:
            continue
        try:
            load(case.path)
        except Exception as e:  # noqa: BLE001 - every refusal's text is what is checked
            reason = str(e).replace(case.path + ": ", "")        # as the folder scan hands it on
            words = wording.for_player(reason)
            assert "field" not in words and "'" not in words and str(tmp_path) not in words, (case.name, reason)
            assert "\n" not in words and "config." not in words and "MiB" not in words, (case.name, words)
            shown.add(words)
    assert {wording.DAMAGED, wording.TOO_LARGE, wording.BROKEN_NUMBERS, wording.UNREADABLE} <= shown
    assert len(shown) >= 8, shown
    assert wording.for_player("cabinet IR not used: Error opening '/srv/x/cab.wav': Format not recognised.") == \
        "cabinet IR not used: not a WAV file the pedal can read"
    assert wording.scrub("no answer at /run/tubeless/control.sock: refused") == "no answer at control.sock: refused"


def test_global_ir_message_takes_plain_names_only():
    from firmware.ipc.messages import MessageError, check_control
    assert check_control({"cmd": "global_ir", "file": "cab.wav"}) == {"cmd": "global_ir", "file": "cab.wav"}
    assert check_control({"cmd": "global_ir", "file": ""})["file"] == ""
    for bad in ("../cab.wav", "/etc/x.wav", ".hidden.wav", "a\\b.wav", None, 3):
        with pytest.raises(MessageError):
            check_control({"cmd": "global_ir", "file": bad})
