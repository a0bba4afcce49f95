"""Text that every rendering of the leaderboard shares: the chance mark, short hashes, paths, versions, rules.

:mod:`.render` (Markdown, CSV) and :mod:`.render_html` (the page) both build on these, so that the
three files word a number's provenance and the table's definitions the same way; neither imports
the other for them.
"""

from __future__ import annotations

import os
from pathlib import Path

CHANCE_MARK = "~"


def short_hash(sha: str | None) -> str:
    """The first 12 hex digits of a hash (``-`` for none; a results file may hold anything there)."""
    return str(sha)[:12] if sha else "-"


def relative(path: str, out: Path) -> str:
    """A results file as a path relative to the leaderboard folder when it lies inside it."""
    try:
        return os.path.relpath(path, out) if Path(path).resolve().is_relative_to(out.resolve()) else path
    except (OSError, ValueError):
        return path


def task_versions(row: dict) -> str:
    """``task=version; ...`` of an entry."""
    return "; ".join(f"{t}={p['version']}" for t, p in sorted(row["provenance"]["tasks"].items()))


def package_versions(row: dict) -> str:
    """The package versions behind an entry's numbers (``|`` between differing sets)."""
    return " | ".join(", ".join(f"{k} {v}" for k, v in sorted(vs.items())) for vs in row["provenance"]["versions"])


def rules_text(doc: dict) -> list[str]:
    """The definitions under the table, as Markdown list items."""
    r = doc["rules"]
    suite = doc["suite"]
    score = suite["score"]
    mean_of = ("(SST-2 + QQP + (MNLI-m + MNLI-mm)/2 + QNLI + RTE) / 5 of the adversarial accuracies"
               if score == "AdvGLUE score" else "mean over the adversarial tasks (MNLI matched and mismatched as one)")
    return [
        f"- **{score}** = {mean_of}; **clean mean**: the same over their clean twins; ranked by {score}.",
        "- **PDR** (performance drop rate) = 1 - adversarial mean / clean mean (lower is more robust).",
        f"- **consistency**: overlap of the clean and adversarial top-{100 * r['consistency_top']:g}% skill neurons "
        "per layer, mean over layers and adversarial tasks (entries that recorded skill neurons).",
        f"- `{CHANCE_MARK}`: at chance level. Tasks: {r['chance_task']}; means: {r['chance_mean']}.",
        f"- Numbers are accuracy in percent ± standard error ({r['stderr']}).",
    ]
