"""Standings -> the ranked table: columns, one row per entry, provenance of every number.

The rows are ranked by the suite's adversarial mean (the AdvGLUE score on the default suite),
highest first; entries without it follow, by label. Columns, in order: the score and its
normalised form, each adversarial task, the clean mean and each clean twin, any other task of the
suite, the performance drop rate, the robustness columns of perturbation twins and attack sets
(accuracy per perturbation kind, worst-case accuracy, flip rate, accuracy under attack) and the
skill-neuron consistency. The result is the plain-data document that ``leaderboard.json`` holds
(schema in docs/leaderboard.md); the Markdown, CSV and HTML outputs are renderings of it.

The *adversarial* tasks are those naming a clean twin that are neither perturbation twins nor
attack sets; when the suite has none of those, its twins and attack sets are the adversarial tasks.
Twins and attack sets that are not scored get no column of their own: their robustness columns
aggregate them, and an entry's card shows each of them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from datetime import datetime

import skillneuron_harness.leaderboard.consistency as consistency
import skillneuron_harness.leaderboard.scores as scores
from skillneuron_harness.leaderboard.reproduce import command
from skillneuron_harness.leaderboard.results import Standing
from skillneuron_harness.leaderboard.training import training_info
from skillneuron_harness.neurons.statistics import json_safe

SCHEMA = "skillneuron-harness/leaderboard"
SCHEMA_VERSION = 2  # 2: cells, docs, marks, card, normalised score and robustness columns


class Suite:
    """The suite's tasks by role, in suite order."""

    def __init__(self, standings: list[Standing], suite: list[str] | None):
        twins: dict[str, str] = {}
        kinds: dict[str, tuple[str | None, str | None]] = {}
        seen: list[str] = list(suite or [])
        for s in standings:
            for cell in s.cells.values():
                if cell.clean_twin:
                    twins[cell.task] = cell.clean_twin
                kinds.setdefault(cell.task, (cell.kind, cell.recipe))
                if suite is None and cell.task not in seen:
                    seen.append(cell.task)
        plain = [t for t in seen if t in twins and kinds.get(t, (None,))[0] is None]
        robust = [t for t in seen if t in twins and kinds.get(t, (None,))[0] is not None]
        self.adversarial = plain or robust
        self.clean = [twins[t] for t in self.adversarial if twins[t] in seen]
        self.clean = list(dict.fromkeys(self.clean))
        self.twins = [t for t in robust if kinds[t][0] == "perturbation"]
        self.attacks = [t for t in robust if kinds[t][0] == "attack"]
        self.recipes: dict[str, list[str]] = {}
        for t in self.twins:
            self.recipes.setdefault(kinds[t][1] or "perturbation", []).append(t)
        robust_set = set(robust) - set(self.adversarial)
        self.other = [t for t in seen if t not in self.adversarial and t not in self.clean and t not in robust_set]
        self.score = "AdvGLUE score" if scores.is_advglue(self.adversarial) else "adversarial mean"


def columns(suite: Suite) -> list[dict]:
    """The ranked columns (besides rank, label and model)."""
    cols = [{"key": "score", "title": suite.score, "kind": "mean", "tasks": suite.adversarial},
            {"key": "score_norm", "title": f"normalised {suite.score}", "kind": "normalised",
             "tasks": suite.adversarial}]
    cols += [{"key": t, "title": t, "kind": "adversarial", "task": t} for t in suite.adversarial]
    cols += [{"key": "clean_mean", "title": "clean mean", "kind": "mean", "tasks": suite.clean}]
    cols += [{"key": t, "title": t, "kind": "clean", "task": t} for t in suite.clean]
    cols += [{"key": t, "title": t, "kind": "task", "task": t} for t in suite.other]
    cols += [{"key": "pdr", "title": "PDR", "kind": "drop_rate", "higher_is_better": False}]
    for recipe, tasks in suite.recipes.items():
        cols.append({"key": f"perturbed:{recipe}", "title": recipe, "kind": "perturbation", "tasks": tasks})
    paired = suite.twins + suite.attacks
    if paired:
        cols += [{"key": "worst_case", "title": "worst-case accuracy", "kind": "paired", "tasks": paired,
                  "metric": "worst_case_acc"},
                 {"key": "flip_rate", "title": "flip rate", "kind": "paired", "tasks": paired, "metric": "flip_rate",
                  "higher_is_better": False}]
    if suite.attacks:
        cols.append({"key": "under_attack", "title": "accuracy under attack", "kind": "attack",
                     "tasks": suite.attacks})
    cols.append({"key": "consistency", "title": f"consistency (top {100 * consistency.TOP:g}%)",
                 "kind": "consistency"})
    for c in cols:
        c.setdefault("higher_is_better", True)
    return cols


def _paired_mean(s: Standing, tasks: list[str], metric: str) -> scores.Value:
    values = []
    for t in tasks:
        p = s.cells[t].paired if t in s.cells else {}
        if metric in p:
            values.append(scores.Value(p[metric], p.get(f"{metric}_stderr"), stderr_method="paired"))
    value = scores.mean_of(values)
    if len(values) == 1:
        value.stderr_method = "paired"
    return value


def _no_better_than_chance(v: scores.Value) -> bool:
    """At chance level, or below it: a reference row, not a ranking (its PDR means nothing)."""
    return v.defined and v.chance is not None and (bool(v.at_chance) or v.value < v.chance)


def _limit_text(limit) -> str:
    return "all" if limit is None else f"{float(limit):g}"


def _docs(s: Standing) -> dict:
    counts = [c.num_docs for c in s.cells.values() if c.num_docs]
    limits = sorted({_limit_text(c.limit) for c in s.cells.values()})
    return {"min": min(counts) if counts else None, "max": max(counts) if counts else None,
            "limit": limits[0] if len(limits) == 1 else None, "limits": limits}


def family_of(model_name: str, label: str) -> str:
    """The model family: ``model_type`` of a local model folder's config.json, else the model's label."""
    import json
    from pathlib import Path

    try:
        config = json.loads((Path(model_name) / "config.json").read_text(encoding="utf-8"))
        if isinstance(config, dict) and isinstance(config.get("model_type"), str):
            return config["model_type"]
    except (OSError, ValueError, TypeError):
        pass
    return label


def _cell_record(c) -> dict:
    """A cell as ``leaderboard.json`` keeps it: everything needed to rank it again elsewhere (``--from``)."""
    record = asdict(c)
    record.pop("skill_neurons", None)  # its files are local; the consistency it gave is kept per entry
    return record


def _card(s: Standing, values: dict, tasks: list[str]) -> dict:
    reported = {}
    wanted = dict(s.card.get("reported") or {})
    source = wanted.pop("source", None)
    for key, number in wanted.items():
        value = values.get(key)
        got = value.value if value is not None and value.defined else None
        reported[key] = {"reported": number, "evaluated": got, "difference": None if got is None else got - number}
    return {
        "baseline": bool(s.card.get("baseline")), "notes": s.card.get("notes"), "unreliable": s.card.get("unreliable"),
        "reported": reported, "reported_source": source,
        "training": s.training if s.training is not None else training_info(s.prompt_source, s.prompt_info),
        "reproduce": command(s.model, s.run.get("model_args") or "", tasks, limit=s.run.get("limit"),
                             batch_size=s.run.get("batch_size"), device=s.run.get("device"),
                             include_path=s.run.get("include_path")),
    }


def _row(s: Standing, suite: Suite) -> dict:
    acc = {t: scores.Accuracy(c.acc, c.stderr, c.num_docs, c.num_choices) for t, c in s.cells.items()}
    values: dict[str, scores.Value] = {}
    values["score"] = scores.suite_mean(acc, suite.adversarial)
    values["score_norm"] = scores.suite_mean(acc, suite.adversarial, normalise=True)
    values["clean_mean"] = scores.suite_mean(acc, suite.clean)
    for t in suite.adversarial + suite.clean + suite.other:
        values[t] = scores.task_value(acc[t]) if t in acc else scores.Value()
    values["pdr"] = scores.drop_rate(values["score"], values["clean_mean"])
    for recipe, tasks in suite.recipes.items():
        values[f"perturbed:{recipe}"] = scores.suite_mean(acc, tasks)
    paired = suite.twins + suite.attacks
    if paired:
        values["worst_case"] = _paired_mean(s, paired, "worst_case_acc")
        values["flip_rate"] = _paired_mean(s, paired, "flip_rate")
    if suite.attacks:
        values["under_attack"] = scores.suite_mean(acc, suite.attacks)
    per_task, random_per_task = {}, {}
    for t in suite.adversarial:
        adv, twin = s.cells.get(t), s.cells.get(s.cells[t].clean_twin) if t in s.cells else None
        if adv is not None and twin is not None:
            value = consistency.overlap(adv.skill_neurons, twin.skill_neurons)
            if value is not None:
                per_task[t] = value
                random_per_task[t] = consistency.random_overlap(adv.skill_neurons, twin.skill_neurons)
    known = [v for v in random_per_task.values() if v is not None]
    values["consistency"] = scores.Value(sum(per_task.values()) / len(per_task) if per_task else math.nan,
                                         random=sum(known) / len(known) if known else None)
    order = suite.adversarial + suite.clean + suite.other + suite.twins + suite.attacks
    tasks = {t: {"source": c.source, "version": c.version, "limit": c.limit, "num_docs": c.num_docs,
                 "num_choices": c.num_choices, "clean_twin": c.clean_twin, "versions": c.versions,
                 "kind": c.kind, "recipe": c.recipe, "stderr_method": scores.task_value(acc[t]).stderr_method}
             for t, c in s.cells.items()}
    versions = sorted({tuple(sorted(c.versions.items())) for c in s.cells.values()})
    ran = [t for t in order if t in s.cells] + sorted(t for t in s.cells if t not in order)
    breakdown = {t: asdict(scores.task_value(acc[t])) for t in ran}
    for t in ran:
        breakdown[t].update({k: v for k, v in s.cells[t].paired.items() if k in ("flip_rate", "worst_case_acc")})
    chance_level = _no_better_than_chance(values["score"]) and (not values["clean_mean"].defined or
                                                               _no_better_than_chance(values["clean_mean"]))
    return {
        "label": s.label, "model": s.model_label, "model_name": s.model_name, "lm_eval_model": s.model,
        "model_args": s.model_args, "prompt_sha256": s.prompt_sha256, "prompt_source": s.prompt_source,
        "origin": s.origin, "family": s.family or family_of(s.model_name, s.model_label),
        "prompt_info": dict(s.prompt_info),
        "values": {k: asdict(v) for k, v in values.items()},
        "consistency_per_task": per_task,
        "consistency_random_per_task": random_per_task,  # k / D: what random sets of the same size overlap by
        "per_task": breakdown,
        "docs": _docs(s),
        "marks": {"baseline": bool(s.card.get("baseline")), "chance_level": chance_level,
                  "unreliable": bool(s.card.get("unreliable"))},
        "card": _card(s, values, ran),
        "run": dict(s.run),
        "cells": {t: _cell_record(c) for t, c in s.cells.items()},
        "provenance": {"tasks": tasks, "versions": [dict(v) for v in versions],
                       "missing_tasks": [t for t in order if t not in s.cells]},
    }


def _sort_key(row: dict) -> tuple:
    value = row["values"]["score"]["value"]
    return (0, -value, row["label"]) if value is not None and math.isfinite(value) else (1, 0.0, row["label"])


def _limits(rows: list[dict]) -> dict:
    per_entry = {r["label"]: r["docs"]["limit"] or "mixed" for r in rows}
    common = Counter(per_entry.values()).most_common(1)[0][0] if per_entry else None
    return {"values": sorted(set(per_entry.values())), "mixed": len(set(per_entry.values())) > 1,
            "common": common, "per_entry": per_entry}


def build_table(standings: list[Standing], suite: list[str] | None = None, *, title: str = "Robustness leaderboard",
                spec: str | None = None, bootstrap_iters: int | None = None) -> dict:
    """The leaderboard document (plain JSON-able data, ``null`` for undefined values)."""
    roles = Suite(standings, suite)
    rows = sorted((_row(s, roles) for s in standings), key=_sort_key)
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    return json_safe({
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "title": title,
        "generated": datetime.now().isoformat(timespec="seconds"), "spec": spec,
        "suite": {"adversarial": roles.adversarial, "clean": roles.clean, "other": roles.other,
                  "perturbation_twins": roles.twins, "attacks": roles.attacks, "score": roles.score,
                  "tasks": list(suite) if suite is not None else None},
        "rules": {"metric": "acc", "ranked_by": "score", "consistency_top": consistency.TOP,
                  "chance_task": f"exact two-sided binomial test against 1/choices, at chance when p >= {scores.ALPHA}",
                  "chance_mean": f"within {scores.Z} standard errors of the mean chance level",
                  "stderr": "lm-eval's acc stderr, or the same analytic formula sqrt(acc (1 - acc) / (n - 1)) where "
                            "lm-eval wrote none (bootstrap_iters 0); means and PDR propagate them as independent "
                            "estimates",
                  "normalised": "(acc - chance) / (1 - chance) per task, then the same mean (Open LLM Leaderboard)",
                  "bootstrap_iters": bootstrap_iters},
        "limits": _limits(rows),
        "columns": columns(roles),
        "entries": rows,
    })
