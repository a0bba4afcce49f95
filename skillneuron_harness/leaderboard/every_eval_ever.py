"""The board in the Every Eval Ever schema: one record per entry and one per unit.

Every Eval Ever (``every-eval-ever`` on PyPI, github.com/evaleval/every_eval_ever) is one result
schema for evaluation runs of any harness, with converters from lm-eval, HELM and Inspect. The
board writes, beside its own files::

    DIR/every_eval_ever/<entry>.json          the entry: each task's accuracy and the board's columns
    DIR/every_eval_ever/<entry>/<task>.json   one unit: that task's accuracy

Accuracies are proportions with their standard error (``analytic``: lm-eval's ``mean_stderr``, or
the same formula where lm-eval wrote none) and the number of documents; the board's own columns
(score, normalised score, clean mean, PDR, robustness, consistency) get namespaced metric ids
(``skillneuron_harness.leaderboard.<column>``). Provenance (results file, task version, limit,
the unit's identity key, prompt hash, ``model_args``) goes into ``additional_details``, whose
values the schema wants as strings. A unit's record names its identity key
(:func:`skillneuron_harness.leaderboard.units.key_of`, ``source_metadata.additional_details.unit_key``),
so that the same unit exported twice is recognised as one. Records follow schema version
:data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import math
from datetime import datetime

from skillneuron_harness.core.results import format_model_args
from skillneuron_harness.leaderboard.spec import slug_of
from skillneuron_harness.leaderboard.units import identity, key_of

SCHEMA_VERSION = "0.3.0"
FOLDER = "every_eval_ever"
METRIC_NS = "skillneuron_harness.leaderboard"


def _s(value) -> str:
    return "" if value is None else str(value)


def _defined(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _timestamp(doc: dict) -> str:
    try:
        return str(int(datetime.fromisoformat(doc["generated"]).timestamp()))
    except (KeyError, TypeError, ValueError):
        return str(int(datetime.now().timestamp()))


def _model_info(row: dict) -> dict:
    details = {"deployment_type": "self_deployed", "model_availability": "unknown",
               "lm_eval_model": _s(row["lm_eval_model"]),
               "model_args": format_model_args(row["model_args"]),
               "prompt_sha256": _s(row["prompt_sha256"]), "prompt_source": _s(row["prompt_source"]),
               "leaderboard_label": _s(row["label"])}
    return {"name": _s(row["label"]), "id": _s(row["model_name"]), "inference_platform": "local",
            "additional_details": details}


def _library(row: dict) -> dict:
    versions = (row["provenance"]["versions"] or [{}])[0]
    details = {k: _s(v) for k, v in sorted(versions.items())}
    return {"name": "lm_eval", "version": _s(versions.get("lm_eval") or "unknown"), "additional_details": details}


def _source(doc: dict) -> dict:
    return {"source_name": _s(doc["title"]), "source_type": "evaluation_run",
            "source_organization_name": "skillneuron-harness leaderboard", "evaluator_relationship": "third_party",
            "additional_details": {"leaderboard_schema": f"{doc['schema']} {doc['schema_version']}",
                                   "spec": _s(doc.get("spec"))}}


def _unit_key(row: dict, task: str) -> str:
    p = row["provenance"]["tasks"][task]
    return key_of(identity(row["lm_eval_model"], row["model_args"], row["prompt_sha256"], task, p["version"],
                           p["limit"]))


def _task_result(row: dict, task: str, ts: str) -> dict | None:
    value = row["per_task"].get(task) or {}
    p = row["provenance"]["tasks"].get(task)
    if p is None or not _defined(value.get("value")):
        return None
    score = {"score": value["value"],
             "details": {"num_docs": _s(p["num_docs"]), "at_chance": _s(value.get("at_chance")),
                         "chance": _s(value.get("chance"))}}
    uncertainty: dict = {}
    if _defined(value.get("stderr")):
        uncertainty["standard_error"] = {"value": value["stderr"], "method": "analytic"}
    if isinstance(p["num_docs"], int):
        uncertainty["num_samples"] = p["num_docs"]
    if uncertainty:
        score["uncertainty"] = uncertainty
    source = {"dataset_name": task, "source_type": "other",
              "additional_details": {"lm_eval_task": task, "task_version": _s(p["version"]),
                                     "limit": "all" if p["limit"] is None else f"{p['limit']:g}",
                                     "results_file": _s(p["source"]), "unit_key": _unit_key(row, task),
                                     "clean_twin": _s(p.get("clean_twin")), "kind": _s(p.get("kind"))}}
    return {"evaluation_result_id": f"{task}/acc", "evaluation_name": task, "source_data": source,
            "evaluation_timestamp": ts,
            "metric_config": {"evaluation_description": f"lm-eval acc on {task}", "metric_id": "accuracy",
                              "metric_name": "acc", "metric_kind": "accuracy", "metric_unit": "proportion",
                              "lower_is_better": False, "score_type": "continuous", "min_score": 0.0,
                              "max_score": 1.0},
            "score_details": score}


_BOUNDED = ("mean", "adversarial", "clean", "task", "perturbation", "paired", "attack", "consistency")


def _column_result(row: dict, col: dict, ts: str) -> dict | None:
    value = row["values"].get(col["key"]) or {}
    if not _defined(value.get("value")):
        return None
    metric = {"evaluation_description": col["title"], "metric_id": f"{METRIC_NS}.{col['key']}",
              "metric_name": col["title"], "metric_kind": col["kind"], "metric_unit": "proportion",
              "lower_is_better": not col["higher_is_better"]}
    if col["kind"] in _BOUNDED:
        metric.update(score_type="continuous", min_score=0.0, max_score=1.0)
    score = {"score": value["value"], "details": {"tasks": ",".join(col.get("tasks") or [col.get("task", "")])}}
    if _defined(value.get("stderr")):
        score["uncertainty"] = {"standard_error": {"value": value["stderr"],
                                                   "method": _s(value.get("stderr_method") or "propagated")}}
    return {"evaluation_result_id": f"leaderboard/{col['key']}", "evaluation_name": col["title"],
            "source_data": {"dataset_name": col["title"], "source_type": "other",
                            "additional_details": {"leaderboard_column": col["key"]}},
            "evaluation_timestamp": ts, "metric_config": metric, "score_details": score}


def _record(doc: dict, row: dict, results: list[dict], eval_name: str, ts: str) -> dict:
    return {"schema_version": SCHEMA_VERSION,
            "evaluation_id": f"{eval_name}/{row['model_name']}/{ts}",
            "evaluation_timestamp": ts, "retrieved_timestamp": ts, "source_metadata": _source(doc),
            "model_info": _model_info(row), "eval_library": _library(row), "evaluation_results": results}


def records(doc: dict) -> dict[str, dict]:
    """Relative path (under the board folder) -> record, for every entry and every unit."""
    ts = _timestamp(doc)
    board = slug_of(doc["title"])
    out = {}
    for row in doc["entries"]:
        slug = slug_of(row["label"])
        tasks = [t for t in row["per_task"] if t in row["provenance"]["tasks"]]
        results = [r for r in (_task_result(row, t, ts) for t in tasks) if r is not None]
        results += [r for r in (_column_result(row, c, ts) for c in doc["columns"]) if r is not None]
        out[f"{FOLDER}/{slug}.json"] = _record(doc, row, results, f"{board}/{slug}", ts)
        for task in tasks:
            result = _task_result(row, task, ts)
            if result is None:
                continue
            record = _record(doc, row, [result], f"{task}/{slug}", ts)
            record["source_metadata"]["additional_details"]["unit_key"] = _unit_key(row, task)
            out[f"{FOLDER}/{slug}/{slug_of(task)}.json"] = record
    return out
