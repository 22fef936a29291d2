"""The Settings view's Wi-Fi part in a real browser (headless Chromium, phone-sized) against
the real `tubeless web` and the real `tubeless hotspot watch` on a fake nmcli: the join QR
code shows and decodes (zbarimg) to the exact join string, a new password saved from the
page reaches the settings and the profile and the code follows, a known network added from
the page is listed. No pedal needed: these routes do not use its control socket.
Skips without chromium + chromium-driver, selenium or zbarimg."""
import json
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("aiohttp")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from helpers import wait  # noqa: E402

from firmware.network import joinqr, keyfile, settings  # noqa: E402
from firmware.testing.fakenm import FakeNetworkManager  # noqa: E402
from firmware.testing.web import free_port, start_web, stop  # noqa: E402
from firmware.web import auth  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER and shutil.which("zbarimg")):
    pytest.skip("needs chromium + chromium-driver and zbarimg (apt-get install chromium chromium-driver zbar-tools)",
                allow_module_level=True)
PASSWORD = "pedal-on-the-floor"


@pytest.fixture
def pedal(tmp_path):
    nm = FakeNetworkManager(tmp_path / "nm", profiles={"Home": {"ssid": "Home", "mode": "infrastructure"}})
    hs = {"settings_file": tmp_path / "hotspot.json", "status_file": tmp_path / "status.json",
          "requests_dir": tmp_path / "requests"}
    settings.save(settings.HotspotSettings(ssid="tubeless-ab12", password="first-password", wait_s=0.5),
                  str(hs["settings_file"]))
    (tmp_path / "models").mkdir()
    (tmp_path / "nm-profiles").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[models]\ndirectory = "{tmp_path / "models"}"\n[control]\nsocket = "{tmp_path / "none.sock"}"\n'
                   "[hotspot]\n" + "".join(f'{k} = "{v}"\n' for k, v in hs.items()))
    pw = tmp_path / "password"
    auth.write_password(str(pw), PASSWORD)
    watch = subprocess.Popen([sys.executable, "-m", "firmware", "hotspot", "--settings-file", str(hs["settings_file"]),
                              "--profile-dir", str(tmp_path / "nm-profiles"), "watch", "--interval", "0.2",
                              "--status-file", str(hs["status_file"]), "--requests-dir", str(hs["requests_dir"])],
                             env=nm.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    web = start_web(cfg, pw, port, tmp_path / "web.log")
    try:
        wait(lambda: json.loads(hs["status_file"].read_text())["hotspot_up"], 30, "the hotspot up")
        yield {"url": f"http://127.0.0.1:{port}/", "nm": nm, "tmp": tmp_path, **hs}
    finally:
        stop(web)
        watch.terminate()
        watch.wait(10)


@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              f"--user-data-dir={tmp_path}/chrome"):
        opts.add_argument(a)
    opts.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0,
                                                                      "touch": True}})
    try:
        driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    except WebDriverException as e:
        pytest.skip(f"chromium would not start under chromedriver: {str(e).splitlines()[0]}")
    yield driver
    driver.quit()


def css(d, sel):
    return d.find_element(By.CSS_SELECTOR, sel)


def tap(d, sel):
    """As a thumb does: scrolled clear of the sticky header and the tab bar, then pressed."""
    el = css(d, sel)
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def decoded_qr(d, tmp_path):
    img = css(d, "#hotspot-qr")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)     # clear of the sticky header
    path = tmp_path / "qr-shot.png"
    path.write_bytes(img.screenshot_as_png)
    proc = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, timeout=60)
    return proc.stdout.decode().removesuffix("\n") if proc.returncode == 0 else None


def test_settings_show_the_join_code_and_change_the_hotspot(pedal, browser, tmp_path):
    d = browser
    d.get(pedal["url"])
    wait(lambda: css(d, "#view-login").is_displayed(), 20, "the login form")
    css(d, "#password").send_keys(PASSWORD)
    css(d, "#login-btn").click()
    wait(lambda: css(d, "#tabs").is_displayed(), 20, "the tabs")
    css(d, '#tabs button[data-view="settings"]').click()
    wait(lambda: css(d, "#hotspot-form").get_attribute("data-loaded") == "1", 20, "the hotspot settings")
    assert "hotspot on" in css(d, "#hotspot-state").text
    first = joinqr.join_string("tubeless-ab12", "first-password")
    wait(lambda: decoded_qr(d, tmp_path) == first, 20, "the QR code decoding to the join string")
    assert css(d, "#hotspot-ssid").get_attribute("value") == "tubeless-ab12"

    # a password WPA cannot carry (the browser's own checks pass it): the service's refusal shows
    field = css(d, "#hotspot-password")
    field.clear()
    field.send_keys("naïve-password")
    tap(d, "#hotspot-save")
    wait(lambda: "ASCII" in css(d, "#toast").text, 20, "the refusal")
    assert settings.load(str(pedal["settings_file"])).password == "first-password"

    field.clear()
    field.send_keys("second-password")
    tap(d, "#hotspot-save")
    wait(lambda: css(d, "#hotspot-msg").text == "saved", 20, "saved")
    assert settings.load(str(pedal["settings_file"])).password == "second-password"
    profile = (tmp_path / "nm-profiles" / "tubeless-hotspot.nmconnection").read_text()
    assert keyfile.check_access_point(profile)["password"] == "second-password"
    second = joinqr.join_string("tubeless-ab12", "second-password")
    wait(lambda: decoded_qr(d, tmp_path) == second, 20, "the new QR code")

    css(d, "#network-ssid").send_keys("Band room")
    css(d, "#network-password").send_keys("rehearsal1")
    tap(d, "#network-form button")
    wait(lambda: "added" in css(d, "#network-msg").text, 20, "the network added")
    wait(lambda: "Band room" in css(d, "#known-networks").text, 20, "the network listed")
    assert "Home" in css(d, "#known-networks").text
    assert "second-password" not in (tmp_path / "web.log").read_text()
