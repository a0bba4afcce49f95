"""Browser fixtures of the page tests: the system Chromium through selenium, offline, at a chosen viewport."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _open(monkeypatch, width: int, height: int):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("the browser test needs the Debian packages chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver); .ci/run installs them")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager: never reach for the network
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    # the viewport itself (the window size includes the browser's own bars)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


@contextmanager
def _viewport(monkeypatch, width: int, height: int):
    driver = _open(monkeypatch, width, height)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(monkeypatch):
    with _viewport(monkeypatch, 1760, 1000) as driver:
        yield driver


@pytest.fixture
def laptop(monkeypatch):
    """A 1366x768 viewport, the most common laptop screen."""
    with _viewport(monkeypatch, 1366, 768) as driver:
        yield driver
