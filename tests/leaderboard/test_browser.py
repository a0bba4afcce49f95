"""``index.html`` in a real headless Chromium: rank order, sorting, sticky columns at 1366x768, filters, cards.

Uses the Debian packages ``chromium`` and ``chromium-driver`` through selenium, with both paths given
explicitly and ``SE_OFFLINE`` set, so that selenium-manager never downloads a browser or driver. The
page is opened from disk (``file://``): it must work with no network and nothing beside it.
The README's screenshot comes from a real run of the demo model instead (test_demo_board.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from synthetic_runs import write_three

from skillneuron_harness.leaderboard import build_leaderboard
from skillneuron_harness.leaderboard.texts import rules_text


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
    assert len(browser.find_elements(By.CSS_SELECTOR, "ul.rules li")) == len(rules_text(doc))
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


def _rect(driver, element) -> dict:
    return driver.execute_script("const r=arguments[0].getBoundingClientRect();"
                                 "return {left:r.left,right:r.right,top:r.top,bottom:r.bottom,width:r.width}", element)


def _on_top(driver, element) -> bool:
    """Whether the element is what a click at its centre would hit (nothing covers it)."""
    return driver.execute_script(
        "const e=arguments[0],r=e.getBoundingClientRect();"
        "const hit=document.elementFromPoint((r.left+r.right)/2,(r.top+r.bottom)/2);"
        "return hit===e||e.contains(hit)", element)


def test_a_visitor_at_1366x768(tmp_path, laptop):
    """Every column reachable and readable, the first three in view while scrolling, the limit warning, filters,
    a card with its reproduction command, and a subtitle that names the sort."""
    import json

    from lb_boards import write_mixed
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    paths = build_leaderboard(None, tmp_path / "board", from_dirs=[write_mixed(tmp_path)])
    doc = json.loads(paths["json"].read_text())
    driver = laptop
    driver.get(Path(paths["html"]).as_uri())
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [1366, 768]
    assert _labels(driver) == ["short", "strong", "random-init", "weak"]  # chance level beats a weak prompt
    wrap = driver.find_element(By.ID, "wrap")
    assert driver.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", wrap)
    assert driver.find_element(By.ID, "scroll-hint").is_displayed()

    # the documents per task and the limit warning are in the table, not only in tooltips
    warning = driver.find_element(By.ID, "limit-warning")
    assert warning.is_displayed() and "different limits" in warning.text and "short: 20" in warning.text
    short = driver.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="short"] td[data-key="label"] .meta')
    assert "20 docs/task" in short.text and "limit 20" in short.text
    strong = driver.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="strong"] td[data-key="label"] .meta')
    assert "20-100 docs/task" in strong.text and "limit all" in strong.text

    # the first columns before scrolling, then every header scrolled to: readable and not covered
    first = {k: driver.find_element(By.CSS_SELECTOR, f'tbody.entry[data-label="strong"] td[data-key="{k}"]')
             for k in ("rank", "label", "score")}
    before = {k: _rect(driver, e)["left"] for k, e in first.items()}
    frozen_right = _rect(driver, first["score"])["right"]
    wrap_rect = _rect(driver, wrap)
    heads = driver.find_elements(By.CSS_SELECTOR, "thead tr.cols th[data-key]")
    assert "consistency" in [h.get_attribute("data-key") for h in heads]
    for th in heads[3:]:
        driver.execute_script("const w=arguments[1],r=arguments[0].getBoundingClientRect(),"
                              "f=arguments[2];if(r.left<f||r.right>arguments[3])"
                              "w.scrollLeft+=r.left-f-8;", th, wrap, frozen_right, wrap_rect["right"])
        r = _rect(driver, th)
        key = th.get_attribute("data-key")
        assert r["left"] >= frozen_right - 1 and r["right"] <= wrap_rect["right"] + 1, key
        assert r["bottom"] <= 768 and _on_top(driver, th), key
        assert driver.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", th), key
        assert th.text.strip(), key
    consistency = driver.find_element(By.CSS_SELECTOR, 'th[data-key="consistency"]')
    assert consistency.text.startswith("consistency") and _on_top(driver, consistency)
    assert driver.execute_script("return arguments[0].scrollLeft", wrap) > 300
    for key, element in first.items():  # scrolled all the way: rank, entry and score are where they were
        assert abs(_rect(driver, element)["left"] - before[key]) < 1 and _on_top(driver, element), key
    assert first["score"].text.startswith("47.0")

    # the subtitle follows the sort; the chance-level entry is marked in every sort
    sorted_by = driver.find_element(By.ID, "sorted")
    assert sorted_by.text == "ranked by AdvGLUE score"
    driver.execute_script("arguments[0].scrollLeft=0", wrap)
    pdr = driver.find_element(By.CSS_SELECTOR, 'th[data-key="pdr"]')
    driver.execute_script("arguments[0].click()", pdr)
    assert sorted_by.text == "sorted by PDR (lowest first)"
    assert _labels(driver)[0] == "random-init"  # PDR below 0: it tops the sort, marked as a reference
    badge = driver.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="random-init"] .badge.chance')
    assert badge.is_displayed() and badge.text == "chance level"
    driver.execute_script("arguments[0].click()", pdr)
    assert sorted_by.text == "sorted by PDR (highest first)" and badge.is_displayed()
    driver.find_element(By.CSS_SELECTOR, 'th[data-key="label"]').click()
    assert sorted_by.text == "sorted by entry (A to Z)" and badge.is_displayed()
    driver.find_element(By.CSS_SELECTOR, 'th[data-key="rank"]').click()
    assert sorted_by.text == "ranked by AdvGLUE score"

    def visible() -> list[str]:
        return [b.get_attribute("data-label") for b in driver.find_elements(By.CSS_SELECTOR, "#board tbody.entry")
                if b.is_displayed()]

    # filters: text, prompt, family
    box = driver.find_element(By.ID, "f-text")
    box.send_keys("weak")
    assert visible() == ["weak"] and driver.find_element(By.ID, "shown").text == "1 of 4 entries shown"
    box.clear()
    box.send_keys("/P/S")  # case-insensitive, on the prompt's path too
    assert visible() == ["short", "strong"]
    box.clear()
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", box)
    Select(driver.find_element(By.ID, "f-prompt")).select_by_value("no")
    assert visible() == ["random-init"]
    Select(driver.find_element(By.ID, "f-prompt")).select_by_value("")
    Select(driver.find_element(By.ID, "f-family")).select_by_value("random-init")
    assert visible() == ["random-init"]
    Select(driver.find_element(By.ID, "f-family")).select_by_value("")
    assert len(visible()) == 4

    # a card: base model, prompt and hash, and the one command that reproduces the numbers, copyable
    body = driver.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="short"]')
    card = body.find_element(By.CSS_SELECTOR, "tr.details")
    assert not card.is_displayed()
    body.find_element(By.CSS_SELECTOR, "button.prov").click()
    assert card.is_displayed()
    row = next(r for r in doc["entries"] if r["label"] == "short")
    command = card.find_element(By.CSS_SELECTOR, ".repro code")
    assert command.text == row["card"]["reproduce"]
    assert command.text.startswith("lm_eval --model prompt_tuned --model_args "
                                   "pretrained=org/base-model,prompt=/p/short --tasks adv_sst2,")
    assert "--limit 20" in command.text
    assert "sha-/p/short" in card.text and "org/base-model" in card.text
    shown = card.find_element(By.CSS_SELECTOR, ".repro pre")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", shown)
    assert _on_top(driver, shown)
    card.find_element(By.CSS_SELECTOR, "button.copy").click()
    assert card.find_element(By.CSS_SELECTOR, "button.copy").text in ("copied", "select and copy")
    bars = card.find_elements(By.CSS_SELECTOR, ".bars .bar")
    assert len(bars) == 12
