"""The page's captures (`tubeless web` as a process, no pedal behind it): listed newest first
with their takes, knobs and levels from capture.json, each file served as it is (the page's
player streams a take), the whole folder as one streamed zip of exactly its files, deleted by
name; nothing but a capture's own files is reachable, and nothing without a session."""
import io
import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("aiohttp")
from firmware.capture import signal as capture_signal  # noqa: E402
from firmware.capture.folder import CaptureFolder  # noqa: E402
from firmware.web.recordings import ZipStream  # noqa: E402
from test_web_recordings import PASSWORD, raw_get, web  # noqa: E402,F401


def capture(parent, stamp, takes=2):
    """A capture folder written by the capture's own writer (a short signal, noise for takes)."""
    audio, layout = capture_signal.generate(0.5, 0.5, seed=1)
    folder = CaptureFolder(str(parent), 1 << 20)
    folder.write_wav("di.wav", audio, 48000)
    folder.write_layout("di.wav", layout)
    rng = np.random.default_rng(2)
    records = []
    for i in range(1, takes + 1):
        name = f"amp-{i}.wav"
        folder.write_wav(name, (0.1 * i * rng.standard_normal(len(audio))).astype(np.float32), 48000)
        records.append({"file": name, "knobs": {"gain": 2 * i}, "latency_samples": 300 + i,
                        "levels": {"peak_dbfs": -6.0 - i, "rms_dbfs": -20.0 - i}})
    folder.write_json("capture.json", {"date": "2026-12-02T21:30:00+0000", "sample_rate": 48000,
                                       "signal": {"seconds": round(len(audio) / 48000, 3)}, "takes": records,
                                       "fit": ["tubeless-train", "fit", "di.wav", "--capture", "amp-1.wav:gain=0.2"]})
    return folder.commit(stamp)


def test_captures_are_listed_played_zipped_and_deleted(web):
    client, recordings = web
    parent = recordings.parent / "captures"
    older = capture(parent, 1796238000)
    newer = capture(parent, 1796241600, takes=1)
    (parent / "not-a-capture").mkdir()
    assert client.login(PASSWORD)[0] == 200
    status, data, _ = client.get("/api/captures")
    assert status == 200 and data["total"] == 2
    first, second = data["captures"]
    assert first["name"] == newer.rsplit("/", 1)[1] and second["name"] == older.rsplit("/", 1)[1]
    assert [t["knobs"] for t in second["takes"]] == [{"gain": 2}, {"gain": 4}]
    assert second["takes"][1]["peak_dbfs"] == -8.0 and second["takes"][1]["latency_samples"] == 302
    assert second["fit"].startswith("tubeless-train fit di.wav")
    name = second["name"]
    status, body, headers = raw_get(client, f"/api/captures/{name}/amp-2.wav")
    assert status == 200 and body == (parent / name / "amp-2.wav").read_bytes()
    assert headers["Accept-Ranges"] == "bytes"                   # the page's player seeks in it
    status, body, headers = raw_get(client, f"/api/captures/{name}.zip")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert sorted(z.namelist()) == sorted(f"{name}/{f}" for f in
                                              ("amp-1.wav", "amp-2.wav", "capture.json", "di.json", "di.wav"))
        assert z.read(f"{name}/di.wav") == (parent / name / "di.wav").read_bytes()
        assert json.loads(z.read(f"{name}/capture.json"))["takes"][0]["file"] == "amp-1.wav"
    assert client.post("/api/captures/delete", {"name": name})[0] == 200
    assert not (parent / name).exists() and (parent / "not-a-capture").exists()


@pytest.mark.parametrize("path", ["/api/captures/..%2Fpassword/di.wav", "/api/captures/not-a-capture/di.wav",
                                  "/api/captures/{name}/..%2F..%2Fpassword", "/api/captures/{name}/pedal.toml",
                                  "/api/captures/{name}/amp-x.wav", "/api/captures/..%2Fmodels.zip",
                                  "/api/captures/not-a-capture.zip"])
def test_nothing_else_is_reachable(web, path):
    client, recordings = web
    name = capture(recordings.parent / "captures", 1796238000, takes=1).rsplit("/", 1)[1]
    (recordings.parent / "captures" / name / "pedal.toml").write_text("secret")
    assert client.login(PASSWORD)[0] == 200
    status, body, _ = raw_get(client, path.format(name=name))
    assert status in (400, 404) and b"RIFF" not in body and b"secret" not in body


def test_no_session_no_captures(web):
    client, recordings = web
    name = capture(recordings.parent / "captures", 1796238000, takes=1).rsplit("/", 1)[1]
    assert client.get("/api/captures")[0] == 401
    assert raw_get(client, f"/api/captures/{name}.zip")[0] == 401
    assert client.post("/api/captures/delete", {"name": name})[0] == 401


def test_a_cancelled_zip_stops_its_writer(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(8 << 20))
    stream = ZipStream([(str(big), "big.bin")], depth=2).start()
    assert stream.next_chunk()                       # the writer is blocked on the bounded queue now
    stream.cancel()
    assert not stream._thread.is_alive()
