"""lm-eval's results JSON and ``model_args``, read and written in one place.

* :func:`parse_model_args` / :func:`format_model_args`: lm-eval's ``"k=v,k=v"`` form (what
  ``--model_args`` takes and what a results JSON records as ``config.model_args``), as a mapping of
  strings and back. lm-eval's own ``simple_parse_args_string`` also converts values to numbers and
  booleans; we keep strings, because labels, identities and command lines are made from them.
* :func:`load_results` reads one file; :func:`task_results`: the per-task rows of one results JSON
  (``results``, ``configs``, ``n-samples``, ``versions``, our ``skill_neurons`` section), groups
  left out, as :class:`TaskResult`, after :func:`~skillneuron_harness.core.results_check.check_results`
  has checked the shape (a :class:`ResultsFileError` names the file, the field and the value);
  :func:`suppression_of`: the run's suppression, or None for an unsuppressed run
  (``suppress_top=0`` suppresses nothing and counts as unsuppressed). The report, the leaderboard
  and ``replicate`` read runs through these.
* :func:`parse_limit`: ``--limit`` as lm-eval reads it: a whole number of documents (>= 1) or a
  fraction of each task (< 1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillneuron_harness.core.results_check import ResultsFileError, check_results

__all__ = ["ResultsFileError", "TaskResult", "check_results", "format_model_args", "load_results", "model_arg",
           "parse_limit", "parse_model_args", "suppression_of", "task_results"]


# ------------------------------------------------------------------------------------ model_args
def parse_model_args(model_args: Any, *, strict: bool = False) -> dict[str, str]:
    """``"k=v,k=v"`` (or a mapping) -> {key: value} of strings, in order; ``strict`` refuses a part without ``=``."""
    if model_args is None:
        return {}
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items() if v is not None}
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in str(model_args).split(","))):
        key, sep, value = part.partition("=")
        if strict and (not sep or not key.strip()):
            raise ValueError(f"'{part}' is not key=value")
        out[key.strip()] = value.strip()
    return out


def format_model_args(model_args: dict[str, Any]) -> str:
    """{key: value} -> lm-eval's ``"k=v,k=v"`` (None values left out)."""
    return ",".join(f"{k}={v}" for k, v in model_args.items() if v is not None)


def model_arg(model_args: Any, key: str) -> str | None:
    """One value of ``model_args`` (a mapping or ``"k=v,k=v"``), or None."""
    return parse_model_args(model_args).get(key)


# --------------------------------------------------------------------------------------- --limit
def parse_limit(value: float | int | str | None) -> int | float | None:
    """``--limit`` as lm-eval reads it: None (all), a count of documents (>= 1) or a fraction of each task (< 1)."""
    if value is None:
        return None
    limit = float(value)
    if not math.isfinite(limit) or limit <= 0:
        raise ValueError(f"--limit {value}: a number of documents (>= 1) or a fraction of each task in (0, 1)")
    return int(limit) if limit >= 1 else limit


def documents_under_limit(n: int, limit: int | float | None) -> int:
    """How many of a task's ``n`` documents lm-eval evaluates under ``limit`` (a fraction rounds up, as lm-eval's)."""
    if limit is None:
        return n
    return min(n, math.ceil(n * limit) if limit < 1 else int(limit))


# ---------------------------------------------------------------------------------- results JSON
@dataclass
class TaskResult:
    """One task of one lm-eval results JSON."""

    task: str
    acc: float
    acc_stderr: float | None
    num_docs: int | None  # documents evaluated (n-samples.effective)
    num_choices: int | None
    clean_twin: str | None  # metadata.clean_twin: the task it is the adversarial twin of
    split_of: str | None  # metadata.split_of: the task whose training split it shares
    version: str | None
    limit: float | None  # the run's --limit
    skill_neurons: dict | None  # our section's block for the task
    source: str  # the file


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def load_results(path: str | Path) -> dict:
    """One results JSON, its shape checked; :class:`ResultsFileError` otherwise.

    A file that is not JSON (cut short by a killed run) is invalid, not foreign: it may be an lm-eval
    results file, and leaving it out would change what the reader shows.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsFileError(str(path), f"not readable JSON ({err})") from None
    check_results(data, str(path))
    return data


def task_results(data: dict, source: str = "") -> list[TaskResult]:
    """The task rows of one results JSON; groups (no config of their own) and tasks without ``acc`` are left out.

    A row is named by its config's ``task``: lm-eval's next0.5 keys a group's member by its path in
    the group (``advglue::adv_sst2``), 0.4.13 by the task's name; our ``skill_neurons`` section by the name.
    The shape is checked first (:func:`check_results`): a value no lm-eval run writes raises
    :class:`ResultsFileError` naming ``source``, the field and the value.
    """
    check_results(data, source)
    configs = data.get("configs") or {}
    config = data.get("config") or {}
    versions = data.get("versions") or {}
    out = []
    for task, metrics in (data.get("results") or {}).items():
        acc = _number((metrics or {}).get("acc,none"))
        if task not in configs or acc is None:
            continue
        task_config = configs.get(task) or {}
        name = task_config.get("task") if isinstance(task_config.get("task"), str) else task
        metadata = task_config.get("metadata") or {}
        choices = task_config.get("doc_to_choice")
        out.append(TaskResult(
            task=name, acc=acc, acc_stderr=_number(metrics.get("acc_stderr,none")),
            num_docs=((data.get("n-samples") or {}).get(task) or {}).get("effective"),
            num_choices=len(choices) if isinstance(choices, list) else None,
            clean_twin=metadata.get("clean_twin"), split_of=metadata.get("split_of"),
            version=None if versions.get(task) is None else str(versions[task]),
            limit=_number(config.get("limit")), skill_neurons=skill_neuron_section(data).get(name),
            source=str(source)))
    return out


def skill_neuron_section(data: dict) -> dict:
    """``{task: summary}`` of a run's skill-neuron statistics, wherever the results JSON holds them.

    The bridge lifts ``prompt_tuned``'s block to a top-level ``skill_neurons`` section; without the
    bridge (an lm-eval that finds the model through its entry point alone) it stays in
    ``config.skill_neurons``, where lm-eval puts the model's info.
    """
    section = data.get("skill_neurons")
    if not isinstance(section, dict):
        section = (data.get("config") or {}).get("skill_neurons") if isinstance(data.get("config"), dict) else None
    return section if isinstance(section, dict) else {}


def suppression_of(config: dict) -> dict | None:
    """The suppression a run's ``config`` records, or None when nothing was suppressed."""
    suppression = config.get("suppression")
    if suppression is None or not any(suppression.get("neurons_per_layer") or [0]):
        return None  # suppress_top=0: the unsuppressed model
    return suppression
