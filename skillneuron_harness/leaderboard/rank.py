"""Standings -> the ranked table: columns, one row per entry, provenance of every number.

The rows are ranked by the suite's adversarial mean (the AdvGLUE score on the default suite),
highest first; entries without it follow, by label. Columns, in order: the score, each
adversarial task, the clean mean and each clean twin, any other task of the suite, the
performance drop rate and the skill-neuron consistency. The result is the plain-data document
that ``leaderboard.json`` holds (schema in docs/leaderboard.md); the Markdown, CSV and HTML
outputs are renderings of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime

import skillneuron_harness.leaderboard.consistency as consistency
import skillneuron_harness.leaderboard.scores as scores
from skillneuron_harness.leaderboard.results import Standing
from skillneuron_harness.neurons.statistics import json_safe

SCHEMA = "skillneuron-harness/leaderboard"
SCHEMA_VERSION = 1


def _order(standings: list[Standing], suite: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(adversarial, clean, other) task names of the suite, in suite order."""
    twins: dict[str, str] = {}
    seen: list[str] = list(suite or [])
    for s in standings:
        for cell in s.cells.values():
            if cell.clean_twin:
                twins[cell.task] = cell.clean_twin
            if suite is None and cell.task not in seen:
                seen.append(cell.task)
    adversarial = [t for t in seen if t in twins]
    clean = [twins[t] for t in adversarial if twins[t] in seen]
    other = [t for t in seen if t not in adversarial and t not in clean]
    return adversarial, clean, other


def columns(adversarial: list[str], clean: list[str], other: list[str]) -> list[dict]:
    """The ranked columns (besides rank, label and model)."""
    score = "AdvGLUE score" if scores.is_advglue(adversarial) else "adversarial mean"
    cols = [{"key": "score", "title": score, "kind": "mean", "tasks": adversarial}]
    cols += [{"key": t, "title": t, "kind": "adversarial", "task": t} for t in adversarial]
    cols += [{"key": "clean_mean", "title": "clean mean", "kind": "mean", "tasks": clean}]
    cols += [{"key": t, "title": t, "kind": "clean", "task": t} for t in clean]
    cols += [{"key": t, "title": t, "kind": "task", "task": t} for t in other]
    cols += [{"key": "pdr", "title": "PDR", "kind": "drop_rate", "higher_is_better": False},
             {"key": "consistency", "title": f"consistency (top {100 * consistency.TOP:g}%)", "kind": "consistency"}]
    for c in cols:
        c.setdefault("higher_is_better", True)
    return cols


def _row(s: Standing, adversarial: list[str], clean: list[str], other: list[str]) -> dict:
    acc = {t: scores.Accuracy(c.acc, c.stderr, c.num_docs, c.num_choices) for t, c in s.cells.items()}
    values: dict[str, scores.Value] = {}
    values["score"] = scores.suite_mean(acc, adversarial)
    values["clean_mean"] = scores.suite_mean(acc, clean)
    for t in adversarial + clean + other:
        values[t] = scores.task_value(acc[t]) if t in acc else scores.Value()
    values["pdr"] = scores.drop_rate(values["score"], values["clean_mean"])
    per_task = {}
    for t in adversarial:
        adv, twin = s.cells.get(t), s.cells.get(s.cells[t].clean_twin) if t in s.cells else None
        if adv is not None and twin is not None:
            value = consistency.overlap(adv.skill_neurons, twin.skill_neurons)
            if value is not None:
                per_task[t] = value
    values["consistency"] = scores.Value(sum(per_task.values()) / len(per_task) if per_task else math.nan)
    tasks = {t: {"source": c.source, "version": c.version, "limit": c.limit, "num_docs": c.num_docs,
                 "num_choices": c.num_choices, "clean_twin": c.clean_twin, "versions": c.versions}
             for t, c in s.cells.items()}
    versions = sorted({tuple(sorted(c.versions.items())) for c in s.cells.values()})
    return {
        "label": s.label, "model": s.model_label, "model_name": s.model_name, "lm_eval_model": s.model,
        "model_args": s.model_args, "prompt_sha256": s.prompt_sha256, "prompt_source": s.prompt_source,
        "origin": s.origin, "values": {k: asdict(v) for k, v in values.items()},
        "consistency_per_task": per_task,
        "provenance": {"tasks": tasks, "versions": [dict(v) for v in versions],
                       "missing_tasks": [t for t in adversarial + clean + other if t not in s.cells]},
    }


def _sort_key(row: dict) -> tuple:
    value = row["values"]["score"]["value"]
    return (0, -value, row["label"]) if value is not None and math.isfinite(value) else (1, 0.0, row["label"])


def build_table(standings: list[Standing], suite: list[str] | None = None, *, title: str = "Robustness leaderboard",
                spec: str | None = None, bootstrap_iters: int | None = None) -> dict:
    """The leaderboard document (plain JSON-able data, ``null`` for undefined values)."""
    adversarial, clean, other = _order(standings, suite)
    rows = sorted((_row(s, adversarial, clean, other) for s in standings), key=_sort_key)
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    return json_safe({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "title": title,
        "generated": datetime.now().isoformat(timespec="seconds"), "spec": spec,
        "suite": {"adversarial": adversarial, "clean": clean, "other": other,
                  "score": columns(adversarial, clean, other)[0]["title"]},
        "rules": {"metric": "acc", "ranked_by": "score", "consistency_top": consistency.TOP,
                  "chance_task": f"exact two-sided binomial test against 1/choices, at chance when p >= {scores.ALPHA}",
                  "chance_mean": f"within {scores.Z} standard errors of the mean chance level",
                  "stderr": "lm-eval's acc stderr; means and PDR propagate them as independent estimates",
                  "bootstrap_iters": bootstrap_iters},
        "columns": columns(adversarial, clean, other),
        "entries": rows,
    })
