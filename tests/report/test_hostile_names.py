"""``report.md`` and the suppression curve's tables from run folders whose names are payloads (N16).

A model named ``<img src=x onerror=alert(1)>`` in the results and the skill-neuron files, prompt
labels holding ``|`` and line breaks, a task name holding ``|`` and HTML: every Markdown table keeps
its shape (a plain GFM cell split, and markdown-it-py's rendering), no raw HTML tag survives, and the
CSV cells read back with the ``csv`` module are the values with formulas neutralised.
"""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

import pytest
import torch

from skillneuron_harness.experiments.suppression_curve import write_outputs
from skillneuron_harness.neurons.io import write_task_stats
from skillneuron_harness.report.render import build_report

MODEL = "<img src=x onerror=alert(1)>"
TASK = "t|<img src=x onerror=alert(2)>"
LABELS = ["p | 0", "=1+1\n| p1 |", "<script>alert(3)</script>"]
L, P, D, N = 2, 3, 50, 40
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _results(folder, prompt, accs):
    config = {"model": "prompt_tuned", "model_args": f"pretrained={MODEL}", "pretrained": MODEL,
              "prompt_source": f"/p/{prompt}", "prompt_sha256": f"sha-{prompt}"}
    data = {"results": {t: {"alias": t, "acc,none": a, "acc_stderr,none": 0.05} for t, a in accs.items()},
            "configs": {t: {"task": t, "doc_to_choice": ["negative", "positive"],
                            "metadata": {"clean_twin": "sst2"} if t == "adv_sst2" else {"version": 1}} for t in accs},
            "n-samples": {t: {"original": N, "effective": N} for t in accs}, "config": config}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_runs")
    manifest = {}
    for i, label in enumerate(LABELS):
        prompt = f"prompt{i}"
        _results(root / "lm_eval" / prompt, prompt, {"sst2": 0.9 - 0.1 * i, "adv_sst2": 0.4 + 0.05 * i,
                                                     TASK: 0.6 + 0.05 * i})
        for task in ("sst2", "adv_sst2"):
            gen = torch.Generator().manual_seed(10 * i + len(task))
            fire = torch.randint(0, N // 2 + 1, (2, L, P, D), generator=gen)  # (C, L, P, D)
            write_task_stats(root / "neurons" / prompt, task, baseline=torch.zeros(L, P, D), fire_counts=fire,
                             class_counts=torch.tensor([N // 2, N // 2]),
                             provenance={"model": MODEL, "prompt": f"/p/{prompt}", "prompt_sha256": f"sha-{prompt}",
                                         "clean_twin": "sst2" if task == "adv_sst2" else None})
        manifest[f"/p/{prompt}"] = {"label": label, "seed": 33 + i}  # no task: each label is a group
    (root / "prompts.json").write_text(json.dumps(manifest))
    (root / "curve").mkdir()
    (root / "curve" / "suppression_curve.json").write_text(json.dumps({"records": _curve_records()}))
    return root


def _curve_records() -> list[dict]:
    return [{"model": MODEL, "prompt": label, "group": label, "task": TASK, "control": c, "percent": n,
             "acc": 0.8 - 0.01 * n} for label in LABELS[:2] for c in ("skill", "=random") for n in (0, 5)]


def _cells(line: str) -> list[str]:
    """A GFM table row's cells: split at pipes not preceded by a backslash, outer pipes dropped."""
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def _tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


class Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


class Cells(HTMLParser):
    """The text of every table cell (th, td), in order; ``ends``: the cell count at the end of each table."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.ends: list[int] = []
        self._open = False

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td"):
            self.texts.append("")
            self._open = True

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self.texts[-1] = " ".join(self.texts[-1].split())
            self._open = False
        elif tag == "table":
            self.ends.append(len(self.texts))

    def handle_data(self, data):
        if self._open:
            self.texts[-1] += data


def _check_markdown(text: str) -> int:
    """Every table of ``text`` keeps its shape and no HTML of the data renders; returns the number of tables."""
    tables = _tables(text)
    for table in tables:
        width = len(_cells(table[0]))
        assert all(len(_cells(line)) == width for line in table), table
        assert re.fullmatch(r"\|(-+\|)+", table[1])  # the delimiter row right under the header
    assert not re.search(r"<(img|script)", text, re.IGNORECASE)
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is in the test extra")
    parser = Tags()
    parser.feed(markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text))
    names = [t for t, _ in parser.tags]
    assert "script" not in names and names.count("table") == len(tables)
    for tag, attrs in parser.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":  # only our figures
            assert attrs["src"].startswith("figures/") and attrs["src"].endswith(".png"), attrs
    return len(tables)


def test_report_markdown_keeps_its_tables_and_shows_no_html(runs, tmp_path):
    text = build_report([runs], tmp_path / "rep", top=0.1).read_text(encoding="utf-8")
    assert _check_markdown(text) >= 10
    for heading in [line for line in text.splitlines() if line.startswith("#")]:
        assert re.fullmatch(r"#{1,3} [^\n]+", heading)
    # the accuracy table as a renderer shows it: the model and every label as typed, one row per (label, task)
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py is in the test extra")
    cells = Cells()
    cells.feed(markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text))
    width = 10  # the accuracy table: the second, after the runs section's table of prompts
    accuracy = cells.texts[cells.ends[0]: cells.ends[1]]
    rows = [accuracy[i:i + width] for i in range(0, len(accuracy), width)]
    prompts = cells.texts[: cells.ends[0]]
    assert sorted(prompts[i] for i in range(5, len(prompts), 5)) == sorted(" ".join(x.split()) for x in LABELS)
    assert len(rows) == 1 + 2 * len(LABELS)
    assert {r[0] for r in rows[1:]} == {MODEL}
    assert sorted(r[1] for r in rows[1:]) == sorted(2 * [" ".join(label.split()) for label in LABELS])
    assert sorted({r[2] for r in rows[1:]}) == sorted(["sst2", TASK])


def test_suppression_curve_tables(tmp_path):
    records = _curve_records()
    paths = write_outputs(records, tmp_path, {})
    assert _check_markdown(paths["md"].read_text(encoding="utf-8")) == 1
    with paths["csv"].open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len({(r["group"], r["control"], r["percent"]) for r in records})
    for row in rows:
        assert row["model"] == MODEL and row["task"] == TASK
        assert row["group"] in LABELS[:2] or row["group"] == "'" + LABELS[1]
        assert row["control"] in ("skill", "'=random")
        for cell in row.values():
            assert not cell.startswith(FORMULA), cell
        assert float(row["acc_mean"]) == pytest.approx(0.8 - 0.01 * float(row["percent"]))
