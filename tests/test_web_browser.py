"""The web page in a real browser (headless Chromium driven by Selenium) against the real
`tubeless web` and the real `tubeless run` on a JACK dummy device: log in, upload a model
and see it accepted, tap it and hear... check the pedal plays it, upload a hostile file and
see the refusal, reorder, move drive and see the pedal follow, move the pedal and see the
page follow; the Play view's rig (a section per block, built from the pedal's table): drag a
slider (throttled, the last value sent, not pulled back while held), toggle a block, tap the
tempo, and see the page follow the pedal. Phone-sized (390x844) screenshots of each view go to $TUBELESS_SCREENSHOTS
(docs/ for the README: TUBELESS_SCREENSHOTS=docs make test).
What a player sees (issue 27): logged out, no tab bar; logged in while the pedal is down,
the views, a notice and the live connection, the list once the pedal starts; the list by
file name (the name inside beside it), a rename keeping the extension; refusals in a
player's words (a non-WAV IR, a hostile model) and where the player looks; an IR named
with an emoji saved and applied; the Play view readable at arm's length (sizes measured),
the tuner's in-tune state from a real 440 Hz tone, every tap target at least 48 px.
Skips without jackd, chromium + chromium-driver or selenium (make test installs them when root)."""
import os
import shutil
import subprocess
import time
import tomllib

import pytest
from browserpage import (PASSWORD, SMALL_TARGETS, TARGETS, Rig, browser, css, ctl, log_in,  # noqa: F401
                         needs_browser, press, rig, shot, status_of, upload, wait)
from helpers import NAM_DATA, REPO

needs_browser()
from selenium.webdriver.common.by import By  # noqa: E402

from firmware.dsp import rig as rigtable  # noqa: E402
from firmware.testing.models import write_model  # noqa: E402
from firmware.web import wording  # noqa: E402

NAM = NAM_DATA / "lstm_2x8.nam"
CAB = REPO / "firmware" / "data" / "default_cab.wav"


@pytest.fixture
def rig_pedal_down(jack_device, tmp_path):
    """The web page up, the pedal not yet (started by the test)."""
    r = Rig(jack_device, tmp_path)
    try:
        r.start_web()
        yield r
    finally:
        r.stop()


def test_page_drives_the_pedal(rig, browser, tmp_path):
    d, sock = browser, rig["sock"]
    d.get(rig["url"])
    wait(lambda: css(d, "#view-login").is_displayed(), 20, "the login form")
    shot(d, "login", tmp_path)
    css(d, "#password").send_keys("not the password")
    css(d, "#login-btn").click()
    wait(lambda: "wrong password" in css(d, "#login-error").text, 20, "the refusal")
    css(d, "#password").clear()
    css(d, "#password").send_keys(PASSWORD)
    css(d, "#login-btn").click()

    # the library in playing order, the one playing highlighted
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#models .model")) == 2, 20, "the model list")
    playing = ctl(sock, cmd="status")["status"]["model_file"]
    wait(lambda: css(d, ".model.playing").get_attribute("data-file") == playing, 20, "the playing model highlighted")

    # upload a NAM file: the librarian accepts it, the page says so
    nam = tmp_path / "up" / "c_lead.nam"
    nam.parent.mkdir()
    shutil.copy(NAM, nam)
    upload(d, nam)
    wait(lambda: status_of(d, "c_lead.nam") == "accepted", 120, "c_lead.nam accepted")
    wait(lambda: d.find_elements(By.CSS_SELECTOR, '.model[data-file="c_lead.nam"]'), 20, "c_lead.nam listed")

    # tap it: the pedal plays it
    css(d, '.model[data-file="c_lead.nam"] .play').click()
    wait(lambda: ctl(sock, cmd="status")["status"]["model_file"] == "c_lead.nam", 30, "the pedal playing c_lead.nam")
    wait(lambda: css(d, ".model.playing").get_attribute("data-file") == "c_lead.nam", 20, "c_lead.nam highlighted")

    # a hostile file: refused by the librarian, with its reason on the page; nothing else changes
    evil = tmp_path / "up" / "evil.nam"
    evil.write_text('{"version": "0.5.4", "architecture": "WaveNet", "config": {"layers": "rm -rf /"}, "weights": [1e999]}')
    upload(d, evil)
    wait(lambda: status_of(d, "evil.nam") == "refused", 120, "evil.nam refused")
    why = css(d, '#upload-results li[data-file="evil.nam"] .why').text
    reason = next(r["error"] for r in ctl(sock, cmd="models")["rejected"] if r["file"] == "evil.nam")
    assert why and why == wording.for_player(reason)            # in a player's words, no field names
    assert "'" not in why and "config" not in why and "field" not in why, why
    assert ctl(sock, cmd="status")["status"]["model_file"] == "c_lead.nam"
    # the search box
    css(d, "#search").send_keys("lead")
    wait(lambda: [e.get_attribute("data-file") for e in d.find_elements(By.CSS_SELECTOR, "#models .model")]
         == ["c_lead.nam"], 10, "search")
    d.execute_script("const s = document.querySelector('#search'); s.value = '';"
                     "s.dispatchEvent(new Event('input'))")
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#models .model")) == 3, 10, "the full list again")

    # reorder: c_lead up twice -> first in setlist.txt and in the pedal's own order
    for _ in range(2):
        if css(d, '.model[data-file="c_lead.nam"]').find_elements(By.CSS_SELECTOR, ".details") == []:
            css(d, '.model[data-file="c_lead.nam"] .more').click()
        css(d, '.model[data-file="c_lead.nam"] [data-act="up"]').click()
        time.sleep(0.3)
    wait(lambda: [m["file"] for m in ctl(sock, cmd="models")["models"]][0] == "c_lead.nam", 20, "the pedal's new order")
    assert "c_lead.nam" in (rig["models"] / "setlist.txt").read_text().splitlines()[1]
    shot(d, "models", tmp_path)

    # controls: the page moves the pedal...
    css(d, '#tabs [data-view="play"]').click()
    d.execute_script("const e = document.querySelector('#drive'); e.value = 0.83;"
                     "e.dispatchEvent(new Event('change'))")
    wait(lambda: abs(ctl(sock, cmd="status")["status"]["pots"].get("drive", -1) - 0.83) < 1e-9, 20, "drive 0.83")
    # ...and the pedal (a pot, a footswitch: the same messages) moves the page
    ctl(sock, cmd="set", param="level", value=0.3)
    ctl(sock, cmd="bypass", on="on")
    wait(lambda: float(css(d, "#level").get_attribute("value")) == 0.3, 20, "the level slider following")
    wait(lambda: "on" in css(d, "#bypass").get_attribute("class"), 20, "the bypass button following")
    css(d, "#bypass").click()
    wait(lambda: ctl(sock, cmd="status")["status"]["bypass"] is False, 20, "bypass off from the page")
    play_the_rig(d, sock)
    # the screenshot: the rig's blocks after the amp (the top of the view is in the tuner's)
    d.execute_script("window.scrollTo(0, document.querySelector('#block-tonestack').getBoundingClientRect().top"
                     " + window.scrollY - document.querySelector('header').offsetHeight - 8)")
    time.sleep(0.3)
    shot(d, "play", tmp_path)
    d.execute_script("window.scrollTo(0, 0)")
    # the tuner: on from the page, the pedal mutes and tunes; the dummy device's input is
    # silence, so the needle says so; off from the pedal, the page follows
    css(d, "#tuner").click()
    wait(lambda: ctl(sock, cmd="status")["status"]["tuner"] is True, 20, "the tuner on from the page")
    assert ctl(sock, cmd="status")["status"]["mute"] is True
    wait(lambda: css(d, "#tuner-view").is_displayed() and css(d, "#tuner-cents").text == "no signal", 20,
         "the tuner view")
    shot(d, "tuner", tmp_path)
    ctl(sock, cmd="tuner", on="off")
    wait(lambda: not css(d, "#tuner-view").is_displayed(), 20, "the tuner view closing")
    assert ctl(sock, cmd="status")["status"]["mute"] is False

    # recording what is played: on from the page (its name and time counting), off from the
    # pedal (the page follows and says it was saved)
    css(d, "#record").click()
    wait(lambda: ctl(sock, cmd="status")["status"]["record"]["on"] is True, 20, "recording from the page")
    wait(lambda: css(d, "#record-state").text.startswith("recording rec-") and "stop" in css(d, "#record").text,
         20, "the page showing the recording")
    ctl(sock, cmd="record", on="off")
    wait(lambda: "saved" in css(d, "#record-state").text and css(d, "#record").text == "● record", 20,
         "the page showing the recording saved")
    name = ctl(sock, cmd="status")["status"]["record"]["name"]
    css(d, "#recordings-box summary").click()                  # the list: its WAVs as downloads
    link = wait(lambda: css(d, f'.recording[data-name="{name}"] a[download$="di.wav"]'), 20, "the recording listed")
    assert link.get_attribute("href").endswith(f"/api/recordings/{name}/di.wav")
    css(d, "#recordings-box summary").click()

    # capture from the page, through the playing pedal: its prompt for the first knob take,
    # then the level check, which hears nothing (no amp on the dummy device) and says so;
    # abort keeps nothing, and the output stays muted (its return would go to the amp)
    css(d, '#tabs [data-view="capture"]').click()
    css(d, "#capture-takes").send_keys("gain=2\ngain=8")
    css(d, "#capture-start").click()
    wait(lambda: "set GAIN to 2" in css(d, "#capture-prompt").text, 30, "the first take's prompt")
    assert ctl(sock, cmd="status")["status"]["mute"] is True
    css(d, "#capture-continue").click()
    wait(lambda: "nothing came back" in css(d, "#capture-phase").text, 60, "the level check's verdict")
    assert css(d, "#capture-levels").text == "input peak silence, RMS silence"
    wait(lambda: "check again" in css(d, "#capture-prompt").text, 30, "the prompt to check again")
    shot(d, "capture", tmp_path)
    css(d, "#capture-abort").click()
    wait(lambda: "nothing was written" in css(d, "#capture-phase").text, 30, "the capture aborted")
    cap = ctl(sock, cmd="capture")["capture"]
    assert cap["phase"] == "aborted" and cap["on"] is False
    assert ctl(sock, cmd="status")["status"]["mute"] is True
    css(d, "#capture-again").click()
    assert css(d, "#capture-form").is_displayed()
    ctl(sock, cmd="mute", on="off")
    # the pedal's captures: each take with its knobs and levels and a player, the folder a zip
    from test_web_captures import capture
    name = capture(rig["models"].parent / "captures", time.time()).rsplit("/", 1)[1]
    css(d, "#captures-box summary").click()
    item = wait(lambda: css(d, f'#captures .recording[data-name="{name}"]'), 20, "the capture listed")
    takes = item.find_elements(By.CSS_SELECTOR, ".take")
    assert len(takes) == 2 and "gain 4" in takes[1].text and "peak -8.0 dBFS" in takes[1].text
    assert takes[0].find_element(By.TAG_NAME, "audio").get_attribute("src").endswith(f"/api/captures/{name}/amp-1.wav")
    assert item.find_element(By.CSS_SELECTOR, "a[download]").get_attribute("href").endswith(f"/api/captures/{name}.zip")
    css(d, "#captures-box summary").click()

    # health: live numbers from the running pedal
    css(d, '#tabs [data-view="health"]').click()
    wait(lambda: "p50" in css(d, "#h-cpu").text and css(d, "#h-uptime").text not in ("", "–"), 20, "health")
    assert css(d, "#h-xruns").text.split()[0].isdigit()
    shot(d, "health", tmp_path)

    # settings: the gate goes to the pedal and into the config file
    css(d, '#tabs [data-view="settings"]').click()
    wait(lambda: css(d, "#settings-form").get_attribute("data-loaded") == "1", 20, "settings loaded")
    d.execute_script("document.querySelector('#gate').value = -55")
    css(d, "#save-settings").click()
    wait(lambda: css(d, "#settings-msg").text == "saved", 20, "settings saved")
    assert ctl(sock, cmd="status")["status"]["pots"]["gate"] == -55.0
    assert "gate_threshold_db = -55.0" in rig["cfg"].read_text()
    assert rig["cfg"].read_text().startswith("# the test pedal\n")

    # a cabinet IR of no model's name goes to irs/; made the global IR, the pedal takes it
    css(d, '#tabs [data-view="models"]').click()
    cab = tmp_path / "up" / "cab.wav"
    shutil.copy(CAB, cab)
    upload(d, cab)
    wait(lambda: status_of(d, "cab.wav") == "stored", 60, "cab.wav stored")
    assert (rig["models"] / "irs" / "cab.wav").exists()
    css(d, '#tabs [data-view="settings"]').click()
    wait(lambda: "cab.wav" in [o.get_attribute("value") for o in
                               d.find_elements(By.CSS_SELECTOR, "#global-ir option")], 20, "cab.wav offered")
    d.execute_script("document.querySelector('#global-ir').value = 'cab.wav'")
    d.execute_script("document.querySelector('#settings-msg').textContent = ''")
    css(d, "#save-settings").click()
    wait(lambda: css(d, "#settings-msg").text == "saved", 20, "global IR saved")
    assert f'ir = "{rig["models"]}/irs/cab.wav"' in rig["cfg"].read_text()
    wait(lambda: "global IR: cab.wav" in (tmp_path / "pedal.log").read_text(), 20, "the pedal taking the IR")
    frames = ctl(sock, cmd="status")["status"]["frames"]
    wait(lambda: ctl(sock, cmd="status")["status"]["frames"] > frames + 48000 and
         ctl(sock, cmd="status")["status"]["models"] == 3, 60, "the pedal playing on with its library")
    shot(d, "settings", tmp_path)
    # no script error, no CSP refusal on the way (refused requests, as the wrong password, log too)
    log = d.get_log("browser")
    assert any("Failed to load resource" in e["message"] for e in log)    # the log is read: the wrong password's 403
    assert [e["message"] for e in log if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]] == []


def rig_of(sock):
    return ctl(sock, cmd="status")["status"]["rig"]


# a drag of a slider by the player: pointerdown, an input every 10 ms through `values`,
# release; the page's requests to /api/control counted meanwhile
DRAG = """
const [sel, values, done] = arguments;
const el = document.querySelector(sel), orig = window.fetch;
let n = 0, i = 0;
window.fetch = (url, opts) => { if (url === "/api/control") n++; return orig(url, opts); };
el.dispatchEvent(new PointerEvent("pointerdown", { bubbles: true }));
const t0 = performance.now();
const step = () => {
  if (i < values.length) {
    el.value = values[i++]; el.dispatchEvent(new Event("input", { bubbles: true })); setTimeout(step, 10); return;
  }
  const ms = performance.now() - t0;
  el.dispatchEvent(new PointerEvent("pointerup", { bubbles: true }));
  el.dispatchEvent(new Event("change", { bubbles: true }));
  setTimeout(() => { window.fetch = orig; done({ n, ms }); }, 500);
};
step();
"""


def play_the_rig(d, sock):
    """The Play view's blocks: built from the rig's table, every control reaching the pedal,
    the page following the pedal."""
    # a section per block, in chain order around the amp's, one slider per parameter
    pre = [b.NAME for b in rigtable.BLOCKS if b.NAME in rigtable.PRE]
    order = pre + ["amp"] + [b.NAME for b in rigtable.BLOCKS if b.NAME not in pre]
    wait(lambda: [e.get_attribute("data-block") for e in d.find_elements(By.CSS_SELECTOR, "#rig .block")] == order,
         20, f"the blocks {order}")
    for b in rigtable.BLOCKS:
        sec = css(d, f"#block-{b.NAME}")
        assert [e.get_attribute("data-control") for e in sec.find_elements(By.CSS_SELECTOR, "input[type=range]")] == \
            [f"{b.NAME}.{p.name}" for p in b.PARAMS]
        assert sec.find_element(By.CSS_SELECTOR, ".switch").text == ("on" if b.DEFAULT_ON else "off")
    assert [e.text.split()[0] for e in d.find_elements(By.CSS_SELECTOR, "#block-tonestack .slider")] == \
        ["bass", "mid", "treble", "presence"]
    wait(lambda: css(d, '#block-delay .slider:has([data-control="delay.time_ms"]) output').text == "380 ms", 10,
         "the delay time shown")

    # a knob set from the page: the pedal follows, the page shows it
    d.execute_script("const e = document.querySelector('[data-control=\"tonestack.bass\"]'); e.value = 0.7;"
                     "e.dispatchEvent(new Event('change'))")
    wait(lambda: rig_of(sock)["tonestack"]["bass"] == 0.7, 20, "bass 0.7 on the pedal")
    assert css(d, '#block-tonestack .slider:has([data-control="tonestack.bass"]) output').text == "70"

    # a drag: requests while it moves, at most ~20 a second, and the last value lands
    time_sel = '[data-control="delay.time_ms"]'
    r = d.execute_async_script(DRAG, time_sel, list(range(100, 605, 5)))
    assert 3 <= r["n"] <= r["ms"] / 50 + 3, r
    wait(lambda: rig_of(sock)["delay"]["time_ms"] == 600.0, 20, "delay.time_ms 600 on the pedal")

    # held under the finger, the slider stays where the player has it while the pedal moves
    d.execute_script(f"const e = document.querySelector('{time_sel}');"
                     "e.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true})); e.value = 450;"
                     "e.dispatchEvent(new Event('input', {bubbles: true}))")
    wait(lambda: rig_of(sock)["delay"]["time_ms"] == 450.0, 20, "delay.time_ms 450 while held")
    ctl(sock, cmd="set", param="delay.time_ms", value=1200)
    time.sleep(2.0)                                  # four status ticks
    assert float(css(d, time_sel).get_attribute("value")) == 450.0
    d.execute_script(f"const e = document.querySelector('{time_sel}');"
                     "e.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));"
                     "e.dispatchEvent(new Event('change', {bubbles: true}))")
    wait(lambda: rig_of(sock)["delay"]["time_ms"] == 450.0, 20, "the released value on the pedal")
    # let go, it follows the pedal again (a footswitch, MIDI, ctl: the same messages)
    ctl(sock, cmd="set", param="delay.time_ms", value=520)
    ctl(sock, cmd="set", param="treble", value=0.25)
    wait(lambda: float(css(d, time_sel).get_attribute("value")) == 520.0, 20, "the time slider following")
    wait(lambda: float(css(d, '[data-control="tonestack.treble"]').get_attribute("value")) == 0.25, 20,
         "the treble slider following")
    assert "115 BPM" in css(d, "#block-delay .tempo").text

    # a block on from the page, off from the pedal, on again from the page
    switch = css(d, "#block-delay .switch")
    assert not rig_of(sock)["delay"]["on"]
    press(d, switch)
    wait(lambda: rig_of(sock)["delay"]["on"] is True, 20, "the delay on from the page")
    assert switch.text == "on" and "on" in css(d, "#block-delay").get_attribute("class").split()
    ctl(sock, cmd="toggle", block="delay", on="off")
    wait(lambda: switch.text == "off", 20, "the delay's switch following the pedal")
    press(d, switch)
    wait(lambda: rig_of(sock)["delay"]["on"] is True, 20, "the delay on again")
    if "reverb" in rigtable.BY_NAME:                 # a second block with trails, for the screenshot
        press(d, css(d, "#block-reverb .switch"))
        wait(lambda: rig_of(sock)["reverb"]["on"] is True, 20, "the reverb on from the page")

    # tap tempo: two taps half a second apart set the delay's time; the page shows the tempo
    tap = css(d, "#block-delay .tap")
    press(d, tap)
    time.sleep(0.5)
    tap.click()

    def tapped():
        t = rig_of(sock)["delay"]["time_ms"]
        return t if t != 520.0 else None
    ms = wait(tapped, 20, "the tapped time")
    assert 350 < ms < 900, ms
    bpm = f"{int(60000 / ms + 0.5)} BPM"
    wait(lambda: bpm in css(d, "#block-delay .tempo").text, 20, f"the tempo {bpm} shown")


# --- what a player sees (issue 27) ----------------------------------------------------------
def test_logging_in_while_the_pedal_is_down(rig_pedal_down, browser):
    """Logged out: the login form alone. Logged in with no pedal: the views, the tab bar, a
    notice saying the pedal is not running, and the live connection open, which brings the
    library once the pedal starts, with no reload."""
    d, r = browser, rig_pedal_down
    d.get(r.url)
    wait(lambda: css(d, "#view-login").is_displayed(), 20, "the login form")
    assert not css(d, "#tabs").is_displayed(), "the tab bar shows while logged out"
    log_in(d, r.url)
    wait(lambda: css(d, "#view-models").is_displayed(), 20, "the models view")
    assert not css(d, "#view-login").is_displayed() and css(d, "#tabs").is_displayed()
    wait(lambda: css(d, "#pedal-down").is_displayed() and "not running" in css(d, "#pedal-down").text, 20,
         "the pedal-down notice")
    assert str(r.tmp) not in css(d, "#pedal-down").text and "sock" not in css(d, "#pedal-down").text
    assert css(d, "#now-name").text == "pedal not running"
    r.start_pedal()
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#models .model")) == 2, 60, "the list once the pedal is up")
    wait(lambda: not css(d, "#pedal-down").is_displayed(), 20, "the notice gone")
    assert "live" in css(d, "#conn").get_attribute("class").split()
    css(d, '#tabs [data-view="play"]').click()
    wait(lambda: d.find_elements(By.CSS_SELECTOR, "#block-delay"), 20, "the rig's blocks")
    # logged out again: the tab bar goes with the session
    css(d, '#tabs [data-view="settings"]').click()
    press(d, css(d, "#logout"))
    wait(lambda: css(d, "#view-login").is_displayed(), 20, "the login form again")
    assert not css(d, "#tabs").is_displayed()


def px(d, selector, prop="font-size"):
    return float(d.execute_script("return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]",
                                  selector, prop).replace("px", ""))


def jack_ports_fed_by(port):
    """The JACK input ports connected to `port` (the pedal's capture inputs)."""
    out = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, timeout=10).stdout.splitlines()
    fed, current = [], None
    for line in out:
        if not line.startswith(" "):
            current = line.strip()
        elif line.strip() == port:
            fed.append(current)
    return fed


class Tone:
    """A steady tone (jack_metro, one long beat a second) into the pedal's input, beside the
    dummy device's silence."""

    def __init__(self, hz):
        name = f"tone{int(hz)}"
        self.proc = subprocess.Popen(["jack_metro", "-n", name, "-b", "60", "-f", str(hz), "-D", "990",
                                      "-a", "1", "-d", "1", "-A", "0.5"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        ports = wait(lambda: jack_ports_fed_by("system:capture_1"), 20, "the pedal's JACK inputs")
        src = wait(lambda: [p for p in subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10)
                            .stdout.split() if p.startswith(name + ":")], 20, "the tone's port")[0]
        for p in ports + jack_ports_fed_by("system:capture_2"):
            subprocess.run(["jack_connect", src, p], timeout=10, check=True)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def test_what_a_player_sees(rig, browser, tmp_path):
    d, sock, models = browser, rig["sock"], rig["models"]
    log_in(d, rig["url"])
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#models .model")) == 2, 20, "the model list")

    # the list by file name, the name stored inside beside it when it differs
    up = tmp_path / "up"
    up.mkdir()
    for f in ("Fender Twin.npz", "Marshall JCM.npz"):
        write_model(up / f, arch="LSTM", seed=3, name="Test LSTM")
    upload(d, up / "Fender Twin.npz", up / "Marshall JCM.npz")
    wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#models .model")) == 4, 120, "the two uploads listed")

    def labels():
        return {e.get_attribute("data-file"): (css(e, ".name").text, css(e, ".inner").text)
                for e in d.find_elements(By.CSS_SELECTOR, "#models .model")}
    assert labels() == {"a_clean.npz": ("a_clean", "Clean"), "b_crunch.npz": ("b_crunch", "Crunch"),
                        "Fender Twin.npz": ("Fender Twin", "Test LSTM"), "Marshall JCM.npz": ("Marshall JCM", "Test LSTM")}

    # a rename keeps the file's extension, whatever the player types after the name
    css(d, '.model[data-file="Marshall JCM.npz"] .more').click()
    d.execute_script("window.prompt = () => 'TS9 Full Drive.json'")
    press(d, css(d, '.model[data-file="Marshall JCM.npz"] [data-act="rename"]'))
    wait(lambda: d.find_elements(By.CSS_SELECTOR, '.model[data-file="TS9 Full Drive.npz"]'), 30, "the renamed model")
    assert labels()["TS9 Full Drive.npz"] == ("TS9 Full Drive", "Test LSTM")
    assert (models / "TS9 Full Drive.npz").exists() and not (models / "Marshall JCM.npz").exists()

    # a non-WAV as an IR: refused on upload with why, nothing stored
    junk = up / "notacab.wav"
    junk.write_bytes(b"<html>a download that went wrong</html>" * 20)
    upload(d, junk)
    wait(lambda: status_of(d, "notacab.wav") == "refused", 30, "notacab.wav refused")
    # read through wait(): the list is drawn again as results come in (a stale element is retried)
    wait(lambda: "not a WAV" in css(d, '#upload-results li[data-file="notacab.wav"] .why').text, 10, "why it was refused")
    assert not (models / "irs" / "notacab.wav").exists()

    # an IR named with an emoji (copied in by hand): made the global IR, the pedal takes it and
    # the config keeps it; one that is not audio: refused where the player looks, nothing saved
    (models / "irs").mkdir(exist_ok=True)
    shutil.copy(CAB, models / "irs" / "🎸 Cab.wav")
    (models / "irs" / "byhand.wav").write_bytes(b"not audio")
    css(d, '#tabs [data-view="settings"]').click()
    wait(lambda: {"🎸 Cab.wav", "byhand.wav"} <= {o.get_attribute("value") for o in
                                                  d.find_elements(By.CSS_SELECTOR, "#global-ir option")},
         20, "the IRs offered")
    d.execute_script("document.querySelector('#global-ir').value = 'byhand.wav'")
    press(d, css(d, "#save-settings"))
    wait(lambda: "not a WAV" in css(d, "#settings-msg").text, 20, "the refusal under Save")
    assert css(d, "#settings-msg").text.startswith("not saved") and "ir =" not in rig["cfg"].read_text()
    wait(lambda: css(d, "#settings-form").get_attribute("data-loaded") == "1", 20, "the settings read again")
    assert css(d, "#global-ir").get_attribute("value") == ""                 # back to what the pedal has
    d.execute_script("document.querySelector('#global-ir').value = '🎸 Cab.wav'")
    press(d, css(d, "#save-settings"))
    wait(lambda: css(d, "#settings-msg").text == "saved", 20, "the emoji IR saved")
    assert tomllib.loads(rig["cfg"].read_text(encoding="utf-8"))["models"]["ir"] == str(models / "irs" / "🎸 Cab.wav")
    wait(lambda: "global IR: 🎸 Cab.wav" in (tmp_path / "pedal.log").read_text(encoding="utf-8"), 20,
         "the pedal taking the emoji IR")

    # the Play view at arm's length: the model's name and the tuner large, every target 48 px
    css(d, '#tabs [data-view="play"]').click()
    playing = ctl(sock, cmd="status")["status"]["model_file"]
    wait(lambda: css(d, "#play-name").text == os.path.splitext(playing)[0], 20, "the playing model's name")
    assert px(d, "#play-name") >= 36, px(d, "#play-name")
    assert not css(d, "#tuner-view").is_displayed()
    press(d, css(d, "#tuner"))
    wait(lambda: css(d, "#tuner-view").is_displayed() and css(d, "#tuner-cents").text == "no signal", 20,
         "the tuner, no signal")
    assert px(d, "#tuner-note") >= 80 and px(d, "#tuner-cents") >= 32
    tone = Tone(440.0)
    try:
        wait(lambda: css(d, "#tuner-note").text == "A4" and css(d, "#tuner-view").get_attribute("data-state")
             == "in-tune", 30, "A4 in tune from a 440 Hz tone")
        assert "in tune" in css(d, "#tuner-state").text                # a word, not the colour alone
        assert px(d, "#tuner-state") >= 24
        ring = px(d, "#tuner-view .tuner-note", "border-top-width")
        assert ring >= 4 and d.execute_script("return getComputedStyle(document.querySelector("
                                              "'#tuner-view .tuner-note')).borderTopColor") != "rgba(0, 0, 0, 0)"
        shot(d, "tuner", tmp_path)
    finally:
        tone.stop()
    # +35 cents: clearly sharp, and 15 cents from the half-way point where A4 +50 becomes A#4 -50
    # (452 Hz, +47, read as a flat A#4 on a busy machine whenever a reading strayed 3 cents)
    tone = Tone(449.0)
    try:
        # the state and its words read together: the page redraws with each reading
        wait(lambda: css(d, "#tuner-view").get_attribute("data-state") == "sharp"
             and "sharp" in css(d, "#tuner-state").text, 30, "sharp from 449 Hz")
        assert px(d, "#tuner-view .tuner-note", "border-top-width") >= 4
        assert d.execute_script("return getComputedStyle(document.querySelector("
                                "'#tuner-view .tuner-note')).borderTopColor") == "rgba(0, 0, 0, 0)"
    finally:
        tone.stop()
    for view in ("play", "models", "health", "settings"):
        css(d, f'#tabs [data-view="{view}"]').click()
        if view == "models":
            # the details' buttons too; through wait(): the list may redraw between find and click
            wait(lambda: css(d, '.model[data-file="a_clean.npz"] .more').click() or True, 10, "the details opened")
        time.sleep(0.3)
        assert d.execute_script(SMALL_TARGETS, TARGETS) == [], view
    css(d, '#tabs [data-view="play"]').click()
    ctl(sock, cmd="tuner", on="off")
    wait(lambda: not css(d, "#tuner-view").is_displayed(), 20, "the tuner off")
    log = d.get_log("browser")
    assert [e["message"] for e in log if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]] == []
