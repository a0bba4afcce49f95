"""``index.html`` in a real headless Chromium: rows in rank order, sorting by a column header, provenance, screenshot.

Uses the Debian packages ``chromium`` and ``chromium-driver`` through selenium, with both paths given
explicitly and ``SE_OFFLINE`` set, so that selenium-manager never downloads a browser or driver. The
page is opened from disk (``file://``): it must work with no network and nothing beside it.
Set ``LEADERBOARD_SCREENSHOT=PATH`` to also save the screenshot there (docs/leaderboard.png is made so).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from synthetic_runs import write_three

from skillneuron_harness.leaderboard import build_leaderboard

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    paths = build_leaderboard(None, root / "board", from_dirs=[write_three(root)])
    return paths["html"]


def test_page_is_self_contained(page):
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # no external resources
    assert "@import" not in text and not re.search(r"url\((?!#)", text)  # url(#clip) is inside the page
    assert text.count("<svg") == 2 and "<script>" in text and "<style>" in text


@pytest.fixture
def browser(monkeypatch):
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
                "--window-size=1760,1000", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _labels(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [b.get_attribute("data-label") for b in driver.find_elements(By.CSS_SELECTOR, "#board tbody.entry")]


def _column(driver, key: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [td.get_attribute("data-v") for td in driver.find_elements(By.CSS_SELECTOR, f'#board td[data-key="{key}"]')]


def test_rows_sorting_provenance_and_screenshot(page, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(Path(page).as_uri())
    assert browser.title == "Robustness leaderboard"
    # ranked by the AdvGLUE score: strong 47.0, weak 37.0; base-model lacks adv_rte and has no score
    assert _labels(browser) == ["strong", "weak", "base-model"]
    assert [c.text.split("±")[0] for c in browser.find_elements(By.CSS_SELECTOR, '#board td[data-key="score"]')] == [
        "47.0", "37.0", "n/a"]

    header = browser.find_element(By.CSS_SELECTOR, 'th[data-key="clean_mean"]')
    header.click()  # best first: clean means 83.4 (base-model), 78.4 (strong), 68.4 (weak)
    assert _labels(browser) == ["base-model", "strong", "weak"]
    assert header.get_attribute("aria-sort") == "descending"
    header.click()  # reversed
    assert _labels(browser) == ["weak", "strong", "base-model"]
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="pdr"]').click()  # lower is better; undefined last
    assert _labels(browser) == ["strong", "weak", "base-model"]
    assert _column(browser, "pdr")[-1] == ""
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="label"]').click()
    assert _labels(browser) == ["base-model", "strong", "weak"]
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="rank"]').click()
    assert _labels(browser) == ["strong", "weak", "base-model"]

    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("LEADERBOARD_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["LEADERBOARD_SCREENSHOT"])

    # provenance: one click on the row's button shows the exact model, prompt hash and results files
    details = browser.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="strong"] tr.details')
    assert not details.is_displayed()
    browser.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="strong"] button.prov').click()
    assert details.is_displayed()
    for text in ("sha-/p/strong", "org/base-model", "adv_rte version 1.0"):
        assert text in details.text


def test_hostile_values_run_no_script_and_leave_the_page_whole(tmp_path, browser):
    """Prompt hashes such as "<script>`" and "`//</script>" (which once ran script), "<script><!--" (which cut
    the page off), attribute breakers and <img onerror> in labels, model names and a task name."""
    import json

    from selenium.webdriver.common.by import By
    from synthetic_runs import HOSTILE_TASK, write_hostile

    paths = build_leaderboard(None, tmp_path / "board", from_dirs=[write_hostile(tmp_path)])
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    labels = [r["label"] for r in doc["entries"]]
    browser.get(Path(paths["html"]).as_uri())
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title == "Robustness leaderboard"  # not "pwned"
    assert browser.execute_script(
        "return Array.from(document.querySelectorAll('*')).filter(e => e.tagName === 'IMG' || "
        "Array.from(e.attributes).some(a => a.name.startsWith('on') || a.name === 'autofocus')).length") == 0
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, ".figs svg")) == 2  # the page goes on after the table
    assert len(browser.find_elements(By.CSS_SELECTOR, "ul.rules li")) == 5
    assert _labels(browser) == labels
    shown = [td.text for td in browser.find_elements(By.CSS_SELECTOR, '#board td[data-key="prompt"] code')]
    assert shown == [(r["prompt_sha256"] or "-")[:12] for r in doc["entries"]]  # as text, whole

    # the sort script still works, on the hostile task's column too (its key holds quotes and brackets)
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="label"]').click()
    assert _labels(browser) == sorted(labels, key=str.lower)
    hostile = [th for th in browser.find_elements(By.CSS_SELECTOR, "thead th[data-key]")
               if th.get_attribute("data-key") == HOSTILE_TASK]
    assert len(hostile) == 1
    hostile[0].click()
    with_task = [r["label"] for r in doc["entries"] if r["values"][HOSTILE_TASK]["value"] is not None]
    assert _labels(browser)[: len(with_task)] == with_task and hostile[0].get_attribute("aria-sort") == "descending"
    browser.find_element(By.CSS_SELECTOR, 'th[data-key="rank"]').click()
    assert _labels(browser) == labels

    # provenance of the entry whose hash is "<script>`": shown as text
    body = browser.find_elements(By.CSS_SELECTOR, "#board tbody.entry")[labels.index(
        next(r["label"] for r in doc["entries"] if r["prompt_sha256"] == "<script>`"))]
    body.find_element(By.CSS_SELECTOR, "button.prov").click()
    details = body.find_element(By.CSS_SELECTOR, "tr.details")
    assert details.is_displayed() and "prompt sha256 <script>`" in details.text
    assert browser.execute_script("return window.__pwned === undefined") and browser.title == "Robustness leaderboard"
