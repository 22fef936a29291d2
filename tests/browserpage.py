"""What the browser tests share (test_web_browser.py, test_web_presets.py): the real pedal
(`tubeless run` on a JACK dummy device) and `tubeless web` in front of it, headless
Chromium as a phone (390 x 844, touch) driven by Selenium, and the few moves a test makes
on the page. Fixtures: `rig` (the pedal and the page up), `browser`; `needs_browser()`
skips where jackd, chromium + chromium-driver or selenium are missing."""
import os
import shutil

import pytest
from helpers import start_pedal_process, wait, wait_status, write_pedal_config  # noqa: F401 - wait: for the page tests

from firmware.pedal.control import request
from firmware.testing.models import write_model
from firmware.testing.web import free_port, start_web, stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
PASSWORD = "pedal-on-the-floor"


def needs_browser():
    """Skip (the whole module, at its top) without what a browser test needs."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("alsaaudio")
    pytest.importorskip("selenium.webdriver")
    from firmware.tools.rtbench import jack_available
    if not (jack_available() and CHROMIUM and DRIVER):
        pytest.skip("needs jackd + ALSA's jack plugin and chromium + chromium-driver "
                    "(apt-get install jackd2 libasound2-plugins chromium chromium-driver)", allow_module_level=True)


def ctl(sock, **msg):
    return request(str(sock), msg)


class Rig:
    """jackd (dummy) -> `tubeless run` with two models -> `tubeless web`; the pedal started
    with the web page or later (start_pedal). Its presets folder is `presets` beside the
    models (the default)."""

    def __init__(self, jack_device, tmp_path):
        self.tmp, self.procs = tmp_path, []
        self.models = tmp_path / "models"
        self.models.mkdir()
        self.presets = tmp_path / "presets"
        write_model(self.models / "a_clean.npz", arch="Linear", seed=1, name="Clean")
        write_model(self.models / "b_crunch.npz", arch="LSTM", seed=2, name="Crunch")
        self.sock = tmp_path / "ctl.sock"
        self.cfg = write_pedal_config(tmp_path, self.models, jack_device, status_file="")
        self.pedal = None

    def start_pedal(self):
        self.pedal = start_pedal_process(self.cfg, self.tmp / "pedal.log")
        self.procs.append(self.pedal)
        wait_status(self.sock, lambda s: s["frames"] > 4800 and s["models"] == 2, timeout=600, proc=self.pedal,
                    log=self.tmp / "pedal.log")

    def start_web(self):
        from firmware.web import auth
        pw = self.tmp / "password"
        auth.write_password(str(pw), PASSWORD)
        self.port = free_port()
        self.procs.append(start_web(self.cfg, pw, self.port, self.tmp / "web.log"))
        self.url = f"http://127.0.0.1:{self.port}/"

    def as_dict(self):
        return {"url": self.url, "sock": self.sock, "models": self.models, "presets": self.presets, "tmp": self.tmp,
                "cfg": self.cfg, "port": self.port}

    def stop(self):
        for p in reversed(self.procs):
            stop(p)


@pytest.fixture
def rig(jack_device, tmp_path):
    needs_browser()
    r = Rig(jack_device, tmp_path)
    try:
        r.start_pedal()
        r.start_web()
        yield r.as_dict()
    finally:
        r.stop()


@pytest.fixture
def browser(tmp_path):
    needs_browser()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--user-data-dir={tmp_path}/chrome"):
        opts.add_argument(a)
    # a phone: 390 x 844 CSS pixels, touch
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})     # the page's own errors, checked at the end
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
    """A screenshot web-NAME.png into $TUBELESS_SCREENSHOTS (docs/ for the README), else tmp_path."""
    folder = os.environ.get("TUBELESS_SCREENSHOTS") or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    driver.save_screenshot(os.path.join(folder, f"web-{name}.png"))


def css(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def upload(driver, *paths, field="#upload-input"):
    css(driver, field).send_keys("\n".join(str(p) for p in paths))


def status_of(driver, file, results="#upload-results"):
    els = all_css(driver, f'{results} li[data-file="{file}"]')
    return els[0].get_attribute("data-status") if els else None


def press(d, element):
    """A click on an element scrolled to the middle of the screen (clear of the tab bar)."""
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def log_in(d, url):
    d.get(url)
    wait(lambda: css(d, "#view-login").is_displayed(), 20, "the login form")
    css(d, "#password").send_keys(PASSWORD)
    css(d, "#login-btn").click()


def page_errors(d):
    """The browser log's script errors and CSP refusals (a refused request logs too: left out)."""
    return [e["message"] for e in d.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]


# every visible tap target: at least 48 x 48 px (the ones under, as [what, width, height])
TARGETS = "button, select, input:not(.file-input), label.button"
SMALL_TARGETS = """
return [...document.querySelectorAll(arguments[0])].filter(e => e.offsetParent !== null).map(e => {
  const r = e.getBoundingClientRect();
  return [e.id || e.dataset.act || e.dataset.view || e.dataset.control || e.className || e.tagName,
          Math.round(r.width), Math.round(r.height)];
}).filter(([, w, h]) => w < 48 || h < 48);
"""
