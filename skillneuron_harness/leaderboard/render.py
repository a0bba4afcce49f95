"""The leaderboard document written as ``leaderboard.json``, ``leaderboard.csv`` and ``leaderboard.md``.

Markdown cells are percent, ``value ± stderr``, with ``~`` after a value at chance level; the
provenance of each entry (exact model, ``model_args``, prompt hash, task versions, package
versions, the results file of every number) follows the table. The CSV has one row per entry:
fractions (not percent) with ``<column>_stderr`` and ``<column>_at_chance`` beside each value, then
the provenance columns. The JSON is the document itself (docs/leaderboard.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from skillneuron_harness.core import atomic
from skillneuron_harness.core.escape import csv_line, md_code, md_text
from skillneuron_harness.leaderboard.render_html import to_html
from skillneuron_harness.leaderboard.texts import (
    CHANCE_MARK,
    docs_text,
    limits_warning,
    package_versions,
    relative,
    rules_text,
    short_hash,
    task_versions,
)


def fmt(value: dict, digits: int = 1) -> str:
    """``value ± stderr`` in percent, with the chance mark; ``n/a`` when undefined."""
    v = value.get("value")
    if v is None or not math.isfinite(v):
        return "n/a"
    text = f"{100 * v:.{digits}f}"
    if value.get("stderr") is not None:
        text += f" ± {100 * value['stderr']:.{digits}f}"
    return text + (f" {CHANCE_MARK}" if value.get("at_chance") else "")


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_markdown(doc: dict, out: Path) -> str:
    """``leaderboard.md``: the table, the definitions and each entry's provenance.

    Every value from a results file or the spec goes through :mod:`skillneuron_harness.core.escape`: a label
    or model name holding ``|``, a line break or HTML shows as text and keeps the table's shape.
    """
    cols = doc["columns"]
    lines = [f"# {md_text(doc['title'])}", ""]
    warning = limits_warning(doc)
    if warning:
        lines += [f"> **Warning:** {md_text(warning)}", ""]
    header = ["rank", "entry", "model", "docs", *[md_text(c["title"]) for c in cols], "prompt hash"]
    align = ["---", "---", "---", "---:", *["---:"] * len(cols), "---"]
    lines += [_md_row(header), "|" + "|".join(align) + "|"]
    for row in doc["entries"]:
        marks = row.get("marks") or {}
        tags = [t for t, on in (("baseline", marks.get("baseline")),
                                ("chance level", marks.get("chance_level") and not marks.get("baseline")),
                                ("unreliable", marks.get("unreliable"))) if on]
        label = md_text(row["label"]) + "".join(f" *({t})*" for t in tags)
        cells = [md_text(row["rank"]), label, md_text(row["model"]), md_text(docs_text(row["docs"])),
                 *[fmt(row["values"][c["key"]]) for c in cols],
                 md_code(short_hash(row["prompt_sha256"]), in_table=True)]
        lines.append(_md_row(cells))
    lines += ["", *rules_text(doc), "", "## Entries", ""]
    for row in doc["entries"]:
        args = ",".join(f"{k}={v}" for k, v in row["model_args"].items())
        card = row.get("card") or {}
        lines += [f"### {md_text(row['rank'])}. {md_text(row['label'])}", "",
                  f"- model: {md_code(row['lm_eval_model'])}, weights {md_code(row['model_name'])}",
                  f"- model_args: {md_code(args or '-')}",
                  f"- prompt sha256: {md_code(row['prompt_sha256'] or '-')} "
                  f"({md_text(row['prompt_source'] or 'no prompt')})",
                  f"- reproduce: {md_code(card.get('reproduce') or '-')}"]
        if card.get("unreliable"):
            lines.append(f"- **unreliable**: {md_text(card['unreliable'])}")
        if card.get("notes"):
            lines.append(f"- notes: {md_text(card['notes'])}")
        for key, r in (card.get("reported") or {}).items():
            got = "n/a" if r["evaluated"] is None else f"{100 * r['evaluated']:.1f}"
            diff = "" if r["difference"] is None else f" ({100 * r['difference']:+.1f})"
            lines.append(f"- reported {md_code(key)}: {100 * r['reported']:.1f}, re-evaluated {got}{diff}"
                         + (f" [{md_text(card['reported_source'])}]" if card.get("reported_source") else ""))
        if card.get("training"):
            lines.append("- training: " + md_text("; ".join(f"{k}={v}" for k, v in card["training"].items())))
        lines += [f"- task versions: {md_text(task_versions(row) or '-')}",
                  f"- packages: {md_text(package_versions(row) or '-')}"]
        if row["provenance"]["missing_tasks"]:
            lines.append(f"- not evaluated: {md_text(', '.join(row['provenance']['missing_tasks']))}")
        for task, p in sorted(row["provenance"]["tasks"].items()):
            limit = "all" if p["limit"] is None else f"{p['limit']:g}"
            lines.append(f"- {md_code(task)}: {md_text(p['num_docs'])} docs (limit {limit}), "
                         f"{md_code(relative(p['source'], out))}")
        lines.append("")
    return "\n".join(lines)


def to_csv(doc: dict, out: Path) -> str:
    """``leaderboard.csv``: one row per entry, fractions with stderr and chance verdict, then provenance.

    Numbers are written as numbers; text that a spreadsheet would read as a formula gets a leading
    ``'`` (:func:`skillneuron_harness.core.escape.csv_cell`), the header too (task names come from results files).
    """
    keys = [c["key"] for c in doc["columns"]]
    header = ["rank", "label", "model", "model_name", "lm_eval_model"]
    for k in keys:
        header += [k, f"{k}_stderr", f"{k}_at_chance"]
    header += ["prompt_sha256", "model_args", "task_versions", "limits", "packages", "sources", "docs_min", "docs_max",
               "baseline", "chance_level", "unreliable", "reproduce"]
    records = [csv_line(header)]
    for row in doc["entries"]:
        line = [row["rank"], row["label"], row["model"], row["model_name"], row["lm_eval_model"]]
        for k in keys:
            v = row["values"][k]
            line += ["" if v["value"] is None else v["value"], "" if v["stderr"] is None else v["stderr"],
                     "" if v["at_chance"] is None else str(v["at_chance"]).lower()]
        tasks = row["provenance"]["tasks"]
        line += [row["prompt_sha256"] or "", ",".join(f"{k}={v}" for k, v in row["model_args"].items()),
                 task_versions(row), "; ".join(sorted({"all" if p["limit"] is None else f"{p['limit']:g}"
                                                      for p in tasks.values()})),
                 package_versions(row),
                 "; ".join(f"{t}={relative(p['source'], out)}" for t, p in sorted(tasks.items()))]
        marks, card = row.get("marks") or {}, row.get("card") or {}
        line += ["" if row["docs"]["min"] is None else row["docs"]["min"],
                 "" if row["docs"]["max"] is None else row["docs"]["max"],
                 str(bool(marks.get("baseline"))).lower(), str(bool(marks.get("chance_level"))).lower(),
                 card.get("unreliable") or "", card.get("reproduce") or ""]
        records.append(csv_line(line))
    return "".join(records)


def write_all(doc: dict, out: Path) -> dict[str, Path]:
    """``leaderboard.{json,csv,md}``, ``index.html`` and the Every Eval Ever records in ``out``.

    All are rendered before the first is written, and each is written atomically: a value that
    fails to render leaves every previous output in place, never a board whose files disagree.
    The returned mapping has the four files and ``every_eval_ever`` (the records' folder).
    """
    from skillneuron_harness.leaderboard.every_eval_ever import FOLDER, records

    texts = {"json": ("leaderboard.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n"),
             "csv": ("leaderboard.csv", to_csv(doc, out)),
             "md": ("leaderboard.md", to_markdown(doc, out) + "\n"),
             "html": ("index.html", to_html(doc, out))}
    exports = {name: json.dumps(record, indent=2, ensure_ascii=False) + "\n" for name, record in records(doc).items()}
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: atomic.write_text(out / name, text) for kind, (name, text) in texts.items()}
    for name, text in exports.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out / name, text)
    paths["every_eval_ever"] = out / FOLDER
    return paths
