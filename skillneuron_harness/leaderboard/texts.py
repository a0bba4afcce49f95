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


def limit_text(limit) -> str:
    """A ``--limit`` as the tables show it: ``all`` or the number."""
    return "all" if limit is None else f"{float(limit):g}"


def docs_text(docs: dict) -> str:
    """An entry's documents per task: ``20`` or ``20-148`` (``?`` when no results file says)."""
    if docs.get("min") is None:
        return "?"
    return str(docs["min"]) if docs["min"] == docs["max"] else f"{docs['min']}-{docs['max']}"


def limits_warning(doc: dict) -> str | None:
    """One sentence when the entries were run at different limits (their numbers are then not comparable)."""
    limits = doc.get("limits") or {}
    if not limits.get("mixed"):
        return None
    per = ", ".join(f"{label}: {limit}" for label, limit in limits["per_entry"].items())
    return (f"Entries were run at different limits ({per}): their accuracies come from different documents and "
            "are not comparable; rank only entries of one limit.")


def stderr_rule(doc: dict) -> str:
    """How the ± were computed, as the table's numbers were."""
    methods = {p.get("stderr_method") for row in doc["entries"] for p in row["provenance"]["tasks"].values()}
    text = "lm-eval's acc stderr sqrt(acc (1 - acc) / (n - 1)), analytic"
    if "analytic" in methods:
        iters = doc["rules"].get("bootstrap_iters")
        why = f"bootstrap_iters {iters}" if iters is not None else "no stderr in the results file"
        text += f"; where lm-eval wrote none ({why}) the same formula is filled in"
    if None in methods:
        text += "; no ± where a task has fewer than 2 documents"
    return text + "; means and PDR propagate them as independent estimates"


def rules_text(doc: dict) -> list[str]:
    """The definitions under the table, as Markdown list items."""
    r = doc["rules"]
    suite = doc["suite"]
    score = suite["score"]
    mean_of = ("(SST-2 + QQP + (MNLI-m + MNLI-mm)/2 + QNLI + RTE) / 5 of the adversarial accuracies"
               if score == "AdvGLUE score" else "mean over the adversarial tasks (MNLI matched and mismatched as one)")
    lines = [
        f"- **{score}** = {mean_of}; **clean mean**: the same over their clean twins; ranked by {score}.",
        "- **normalised**: (acc - chance) / (1 - chance) per task, then the same mean: 0 is chance level, 100 "
        "perfect, whatever the number of choices (the Open LLM Leaderboard's rule).",
        "- **PDR** (performance drop rate) = 1 - adversarial mean / clean mean (lower is more robust; "
        "meaningless for an entry at chance level).",
    ]
    if suite.get("perturbation_twins") or suite.get("attacks"):
        lines.append("- **Robustness**: per perturbation kind, the accuracy on the twins made by those steps; "
                     "**worst-case accuracy**: correct on a clean document and on every variant of it (HELM); "
                     "**flip rate**: fraction of pairs whose prediction changed (lower is better); **accuracy under "
                     "attack**: accuracy on the attack sets. Means over the tasks; each entry's card shows every task.")
    lines += [
        f"- **consistency**: overlap of the clean and adversarial top-{100 * r['consistency_top']:g}% skill neurons "
        "per layer, mean over layers and adversarial tasks (entries that recorded skill neurons); **random**: "
        "the overlap two random sets of the same size give on average (k / D of a layer's D neurons).",
        f"- `{CHANCE_MARK}`: at chance level. Tasks: {r['chance_task']}; means: {r['chance_mean']}.",
        "- **docs**: documents evaluated per task (the run's limit caps them); with few documents a difference "
        "within the ± is no ranking.",
        f"- Numbers are accuracy in percent ± standard error ({stderr_rule(doc)}).",
    ]
    return lines
