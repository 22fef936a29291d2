"""The web page in a real browser (headless Chromium driven by Selenium) against the real
`tubeless web` and the real `tubeless run` on a JACK dummy device: log in, upload a model
and see it accepted, tap it and hear... check the pedal plays it, upload a hostile file and
see the refusal, reorder, move drive and see the pedal follow, move the pedal and see the
page follow. Phone-sized (390x844) screenshots of each view go to $TUBELESS_SCREENSHOTS
(docs/ for the README: TUBELESS_SCREENSHOTS=docs make test).
Skips without jackd, chromium + chromium-driver or selenium (make test installs them when root)."""
import os
import shutil
import time

import pytest
from helpers import NAM_DATA, REPO, start_pedal_process, wait_status, write_pedal_config

pytest.importorskip("aiohttp")
pytest.importorskip("alsaaudio")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from firmware.pedal.control import request  # noqa: E402
from firmware.testing.models import write_model  # noqa: E402
from firmware.testing.web import free_port, start_web, stop  # noqa: E402
from firmware.tools.rtbench import jack_available  # noqa: E402
from firmware.web import auth  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (jack_available() and CHROMIUM and DRIVER):
    pytest.skip("needs jackd + ALSA's jack plugin and chromium + chromium-driver "
                "(apt-get install jackd2 libasound2-plugins chromium chromium-driver)", allow_module_level=True)

NAM = NAM_DATA / "lstm_2x8.nam"
CAB = REPO / "firmware" / "data" / "default_cab.wav"
PASSWORD = "pedal-on-the-floor"

def ctl(sock, **msg):
    return request(str(sock), msg)


def wait(cond, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except Exception as e:          # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened (last: {last!r})")


@pytest.fixture
def rig(jack_device, tmp_path):
    """jackd (dummy) -> `tubeless run` with two models -> `tubeless web`."""
    procs = []
    try:
        models = tmp_path / "models"
        models.mkdir()
        write_model(models / "a_clean.npz", arch="Linear", seed=1, name="Clean")
        write_model(models / "b_crunch.npz", arch="LSTM", seed=2, name="Crunch")
        sock = tmp_path / "ctl.sock"
        cfg = write_pedal_config(tmp_path, models, jack_device, status_file="")
        procs.append(start_pedal_process(cfg, tmp_path / "pedal.log"))
        wait_status(sock, lambda s: s["frames"] > 4800 and s["models"] == 2, timeout=600, proc=procs[0],
                    log=tmp_path / "pedal.log")
        pw = tmp_path / "password"
        auth.write_password(str(pw), PASSWORD)
        port = free_port()
        procs.append(start_web(cfg, pw, port, tmp_path / "web.log"))
        yield {"url": f"http://127.0.0.1:{port}/", "sock": sock, "models": models, "tmp": tmp_path, "cfg": cfg}
    finally:
        for p in reversed(procs):
            stop(p)


@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--user-data-dir={tmp_path}/chrome"):
        opts.add_argument(a)
    # a phone: 390 x 844 CSS pixels, touch
    opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0,
                                                                      "touch": True}})
    try:
        driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    except WebDriverException as e:
        pytest.skip(f"chromium would not start under chromedriver: {str(e).splitlines()[0]}")
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def shot(driver, name, tmp_path):
    folder = os.environ.get("TUBELESS_SCREENSHOTS") or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    driver.save_screenshot(os.path.join(folder, f"web-{name}.png"))


def css(driver, selector):
    return driver.find_element(By.CSS_SELECTOR, selector)


def upload(driver, *paths):
    css(driver, "#upload-input").send_keys("\n".join(str(p) for p in paths))


def status_of(driver, file):
    els = driver.find_elements(By.CSS_SELECTOR, f'#upload-results li[data-file="{file}"]')
    return els[0].get_attribute("data-status") if els else None


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
    assert why and why == next(r["error"] for r in ctl(sock, cmd="models")["rejected"] if r["file"] == "evil.nam")
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
    shot(d, "play", tmp_path)
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
