"""The page's recordings (`tubeless web` as a process, no pedal behind it): listed newest
first with what recording.json says, each WAV a download of exactly its bytes, deleted by
name; nothing but a recording's own three files is reachable, and nothing without a session."""
import http.client
import os

import numpy as np
import pytest

pytest.importorskip("aiohttp")
from firmware.ipc import shared as sh  # noqa: E402
from firmware.pedal.recorder import Recorder  # noqa: E402
from firmware.testing.web import Client, free_port, start_web, stop  # noqa: E402
from firmware.web import auth  # noqa: E402
from firmware.web.recordings import RecordingsFolder  # noqa: E402

PASSWORD = "correct-horse-battery"


def record(folder, seconds, about=None):
    """A real recording (the recorder's own files) of `seconds` of noise."""
    shared = sh.SharedBlock()
    r = Recorder(shared, 48000, str(folder), poll_s=0.01)
    name = r.start(about)
    n = int(seconds * 48000)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, n).astype(np.float32)
    shared.input[:n] = x
    shared.output[:n] = 0.5 * x
    shared.counters[sh.INPUT_POS] = n
    r.stop()
    return name


@pytest.fixture
def web(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    cfg = tmp_path / "pedal.toml"
    cfg.write_text(f'[models]\ndirectory = "{models}"\n[control]\nsocket = "{tmp_path}/none.sock"\n')
    pw = tmp_path / "password"
    auth.write_password(str(pw), PASSWORD)
    port = free_port()
    proc = start_web(cfg, pw, port, tmp_path / "web.log")
    yield Client(port), tmp_path / "recordings"
    stop(proc)


def raw_get(client, path):
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": client.cookie} if client.cookie else {})
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        conn.close()


def test_recordings_are_listed_served_and_deleted(web):
    client, folder = web
    first = record(folder, 0.5, {"model": "amp.nam", "preset": "solo"})
    (folder / (first + "-2")).mkdir()                 # a name the recorder would make: listed
    (folder / "not-a-recording").mkdir()              # anything else: never
    assert client.login(PASSWORD)[0] == 200
    status, data, _ = client.get("/api/recordings")
    assert status == 200 and data["total"] == 2
    newest, older = data["recordings"]
    assert newest["name"] == first + "-2" and older["name"] == first
    assert older["seconds"] == 0.5 and older["model"] == "amp.nam" and older["preset"] == "solo"
    assert older["finished"] is True and older["files"]["di.wav"] == os.path.getsize(folder / first / "di.wav")
    assert "damaged" in newest["stopped"]             # no recording.json: said, not a 500
    for f in ("di.wav", "out.wav", "recording.json"):
        status, body, headers = raw_get(client, f"/api/recordings/{first}/{f}")
        assert status == 200 and body == (folder / first / f).read_bytes(), f
        assert f'filename="{first}-{f}"' in headers["Content-Disposition"]
    assert client.post("/api/recordings/delete", {"name": first})[0] == 200
    assert not (folder / first).exists() and (folder / "not-a-recording").exists()


@pytest.mark.parametrize("path", ["/api/recordings/..%2Fpassword/di.wav", "/api/recordings/not-a-recording/di.wav",
                                  "/api/recordings/{name}/..%2F..%2Fpassword", "/api/recordings/{name}/pedal.toml",
                                  "/api/recordings/{name}%2F..%2F..%2Fmodels/di.wav"])
def test_nothing_else_is_reachable(web, path):
    client, folder = web
    name = record(folder, 0.1)
    assert client.login(PASSWORD)[0] == 200
    status, body, _ = raw_get(client, path.format(name=name))
    assert status in (400, 404) and b"RIFF" not in body and PASSWORD.encode() not in body


def test_no_session_no_recordings(web):
    client, folder = web
    name = record(folder, 0.1)
    assert client.get("/api/recordings")[0] == 401
    assert raw_get(client, f"/api/recordings/{name}/di.wav")[0] == 401
    assert client.post("/api/recordings/delete", {"name": name})[0] == 401
    assert (folder / name).exists()


def test_the_one_being_recorded_is_not_deleted(tmp_path):
    name = record(tmp_path, 0.1)
    rf = RecordingsFolder(str(tmp_path))
    from firmware.core.errors import FileError
    with pytest.raises(FileError, match="still recording"):
        rf.delete(name, recording_now=name)
    with pytest.raises(FileError, match="no such recording"):
        rf.delete("../etc")
    rf.delete(name)
    assert not (tmp_path / name).exists()
