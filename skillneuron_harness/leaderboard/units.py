"""Units and the leaderboard folder: what identifies a finished unit, where it lies, how it is written.

A unit is one entry on one leaf task. Its *identity* is what decides whether a result can be
reused: the lm-eval model name, the ``model_args`` (without the prompt's path and the output
folders, which do not change a number), the prompt's hash (``prompt_sha256``, the hash of the
prompt tensor that ``prompt_tuned`` records), the task and its version, and ``limit``. The
identity of a planned unit is computed from the spec before anything is loaded; the identity of
a stored result is read back from the fields lm-eval and ``prompt_tuned`` wrote into it, so a
result is reused exactly when it says it was computed the same way.

Layout of the leaderboard folder ``DIR``::

    DIR/runs/<entry>/<task>/results_<time>.json   one unit (lm-eval's results JSON + a `leaderboard` section)
    DIR/neurons/<entry>/<key>/<task>.safetensors   skill-neuron files of a unit (entries with skill_neurons: true)

Skill-neuron files are kept per unit identity (``<key>``, :func:`key_of`): a reused unit reads the
files that were written with it, never those of a later run of the same entry with another limit.
The entry's model writes them into ``DIR/neurons/<entry>/.current/`` (its ``skill_neurons=``
folder), and :func:`keep_neuron_files` moves each unit's files into the unit's folder before its
results file is written. Each results file is written atomically
(:mod:`skillneuron_harness.core.atomic`): an interrupted run leaves either the whole file or none,
never half of one. One run at a time owns ``DIR`` (:mod:`skillneuron_harness.core.locks`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from skillneuron_harness.core import atomic
from skillneuron_harness.core.results import ResultsFileError, check_results, load_results, parse_model_args
from skillneuron_harness.experiments.units import Unit
from skillneuron_harness.leaderboard.spec import Entry, SpecError
from skillneuron_harness.leaderboard.suite import SuiteTask

log = logging.getLogger(__name__)

RUNS = "runs"
NEURONS = "neurons"
WRITING = ".current"  # the entry model's skill_neurons= folder, under DIR/neurons/<entry>/
SECTION = "leaderboard"  # our section of a unit's results JSON
# model_args that name where outputs go or where the prompt lies (its hash stands for it)
_NOT_IDENTITY = ("prompt", "skill_neurons", "output_path")


def canonical_args(model_args: Any) -> dict[str, str]:
    """``model_args`` (string or mapping) as a sorted mapping without the non-identity keys."""
    items = parse_model_args(model_args)
    out = {k: v for k, v in sorted(items.items()) if k not in _NOT_IDENTITY}
    if "skill_neurons" in items:
        out["skill_neurons"] = "on"
    return out


def _limit(value: Any) -> float | None:
    return None if value is None else float(value)


def identity(model: str, model_args: Any, prompt_sha256: str | None, task: str, version: Any,
             limit: Any) -> dict[str, Any]:
    """The fields that decide reuse, as one JSON-able mapping."""
    return {"model": model, "model_args": canonical_args(model_args), "prompt_sha256": prompt_sha256,
            "task": task, "task_version": None if version is None else str(version), "limit": _limit(limit)}


def key_of(ident: dict[str, Any]) -> str:
    """A short stable hash of an identity."""
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def prompt_hash(entry: Entry) -> str | None:
    """``prompt_sha256`` of an entry's soft prompt (the hash ``prompt_tuned`` records), or None."""
    source = entry.model_args.get("prompt")
    if entry.model != "prompt_tuned" or not source:
        return None
    from skillneuron_harness.prompts import load_soft_prompt

    try:
        return load_soft_prompt(source, format=entry.model_args.get("prompt_format", "auto")).sha256
    except ValueError as err:
        raise SpecError(f"entry '{entry.label}': model_args.prompt: {err}") from err


@dataclass
class BoardUnit(Unit):
    """One entry on one task, with where its result goes; done when a stored result carries its identity."""

    entry: Entry
    task: SuiteTask
    identity: dict[str, Any]

    @property
    def key(self) -> str:
        return key_of(self.identity)

    def describe(self) -> str:
        return f"{self.entry.label} · {self.task.name}"

    def folder(self, out: Path) -> Path:
        return out / RUNS / self.entry.slug / self.task.name

    def neuron_folder(self, out: Path) -> Path:
        """Where this unit's skill-neuron files are kept."""
        return out / NEURONS / self.entry.slug / self.key

    def writing_folder(self, out: Path) -> Path:
        """The ``skill_neurons=`` folder of the entry's model (files stay there until :func:`keep_neuron_files`)."""
        return out / NEURONS / self.entry.slug / WRITING


def plan(entries: list[Entry], suite: list[SuiteTask], limit: Any) -> list[BoardUnit]:
    """Every (entry, task) unit of the leaderboard, in spec order."""
    units = []
    for entry in entries:
        sha = prompt_hash(entry)
        extra = {"skill_neurons": "on"} if entry.skill_neurons else {}
        for task in suite:
            units.append(BoardUnit(entry, task, identity(entry.model, {**entry.model_args, **extra}, sha, task.name,
                                                    task.version, limit)))
    return units


def identities_of(data: dict) -> dict[str, dict[str, Any]]:
    """Task -> identity of every task result in a results JSON (groups skipped); its shape is checked first."""
    check_results(data)
    config = data.get("config") or {}
    versions = data.get("versions") or {}
    out = {}
    for task, metrics in (data.get("results") or {}).items():
        if task not in (data.get("configs") or {}) or "acc,none" not in metrics:
            continue
        out[task] = identity(str(config.get("model")), config.get("model_args"), config.get("prompt_sha256"), task,
                             versions.get(task), config.get("limit"))
    return out


def scan(out: Path, since: float | None = None) -> dict[str, Path]:
    """Identity key -> the newest results file under ``out/runs`` holding that identity.

    Temporary files of interrupted writes are never finished units. Those older than ``since`` (the
    time this run took the folder's lock: no live writer of this folder left them) are removed;
    without ``since`` none are.
    """
    found: dict[str, Path] = {}
    root = out / RUNS
    if not root.is_dir():
        return found
    # Left by an interrupted write (atomic.py's names, or .tmp of earlier versions).
    for tmp in [*root.rglob(f".*{atomic.PARTIAL_SUFFIX}"), *root.rglob(".*.tmp")]:
        try:
            if since is not None and tmp.stat().st_mtime < since:
                tmp.unlink()
        except FileNotFoundError:
            pass
    for path in sorted(root.rglob("results_*.json"), key=lambda p: p.name):  # later names win
        try:
            data = load_results(path)
        except ResultsFileError as err:  # not reused: the unit runs again and writes a new file
            log.warning("ignoring %s: %s", path, err.why)
            continue
        for ident in identities_of(data).values():
            found[key_of(ident)] = path
    return found


def versions() -> dict[str, str]:
    """Versions of the packages behind a number."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("skillneuron-harness", "lm_eval", "transformers", "torch", "peft", "datasets"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def keep_neuron_files(unit: BoardUnit, results: dict, out: Path) -> None:
    """Move the unit's skill-neuron files from the model's folder into the unit's; the results name them there.

    Files the model wrote elsewhere (its fallback folder after a failed write) stay where they are.
    """
    summary = (results.get("skill_neurons") or {}).get(unit.task.name)
    if not isinstance(summary, dict) or not summary.get("files"):
        return
    writing, folder = unit.writing_folder(out).absolute(), unit.neuron_folder(out)
    kept = []
    for name in summary["files"]:
        path = Path(name)
        if path.absolute().parent == writing and path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(path, folder / path.name)  # one file system: a rename
            path = folder / path.name
        kept.append(str(path))
    summary["files"] = kept


def _only(results: dict, task: str) -> None:
    """Drop the rows of other tasks (a paired unit's clean twin) from every per-task section."""
    for section in ("results", "configs", "versions", "n-samples", "higher_is_better", "n-shot"):
        rows = results.get(section)
        if isinstance(rows, dict) and task in rows:
            results[section] = {k: v for k, v in rows.items() if k == task}


def save_unit(unit: BoardUnit, results: dict, out: Path, args_string: str, options=None) -> Path:
    """Write one unit's results JSON (with the ``leaderboard`` section) into its folder.

    ``options`` (the spec's ``run:``) fills in what lm-eval leaves null when it is handed a loaded
    model: ``batch_size`` and ``device``.
    """
    results["config"]["model"] = unit.entry.model
    results["config"]["model_args"] = args_string
    if options is not None:
        for key in ("batch_size", "device"):
            if results["config"].get(key) is None:
                results["config"][key] = getattr(options, key)
    paired_with = [t for t in (results.get("results") or {}) if t != unit.task.name
                   and t in (results.get("configs") or {})]
    _only(results, unit.task.name)
    sn = results.get("skill_neurons")
    if isinstance(sn, dict):  # the model's recorder reports every task it has seen: keep this unit's
        results["skill_neurons"] = {k: v for k, v in sn.items() if k == unit.task.name}
    results[SECTION] = {"entry": unit.entry.label, "key": unit.key, "identity": unit.identity,
                        "versions": versions(), "written": datetime.now().isoformat(timespec="seconds"),
                        **({"evaluated_with": paired_with} if paired_with else {})}
    found = identities_of(results).get(unit.task.name)
    if found is not None and key_of(found) != unit.key:  # e.g. the task's version changed under us
        log.warning("unit %s / %s: the results say %s, the plan said %s", unit.entry.label, unit.task.name,
                    found, unit.identity)
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S.%f")
    text = json.dumps(results, indent=2, default=str, ensure_ascii=False)
    return atomic.write_text(unit.folder(out) / f"results_{stamp}.json", text)
