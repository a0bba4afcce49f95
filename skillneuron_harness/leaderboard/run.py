"""Run the units of a leaderboard that are not in its folder yet, one progress line per unit.

Units run entry by entry: an entry's model is loaded once, when its first missing unit comes up,
and each of its missing tasks is one ``simple_evaluate`` call whose results JSON is written
(atomically) before the next starts. A unit whose identity matches a stored result is reused
without loading anything (:mod:`~skillneuron_harness.leaderboard.units`). Stopping the run at any
point (Ctrl-C, a crash, a killed job) keeps every finished unit; running the same command again
continues with the rest.

A perturbation twin or an attack set whose clean twin is in the suite is evaluated in one call with
it (``[clean, twin]``), as ``lm_eval --tasks clean,twin`` would: lm-eval's results then hold the
paired metrics (flip rate, worst-case accuracy) of the twin. The unit keeps only the twin's rows;
the clean task's accuracy is its own unit's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from skillneuron_harness.experiments.units import run_plan
from skillneuron_harness.leaderboard.spec import Entry, RunOptions, Spec, SpecError
from skillneuron_harness.leaderboard.units import BoardUnit, keep_neuron_files, save_unit, scan


def load_model(entry: Entry, options: RunOptions, extra: dict[str, str]):
    """The entry's lm-eval model, built as ``lm_eval --model M --model_args ...`` would build it."""
    from skillneuron_harness.host.evaluate import load_model as load
    from skillneuron_harness.host.evaluate import model_class

    try:
        model_class(entry.model)
    except ValueError as err:
        raise SpecError(f"entry '{entry.label}': model: {err}") from err
    return load(entry.model, entry.args_string(extra), batch_size=options.batch_size, device=options.device)


def unit_tasks(unit: BoardUnit, suite: set[str]) -> list[str]:
    """The tasks of the unit's ``simple_evaluate`` call: a paired task with its clean twin, else the task."""
    if unit.task.paired and unit.task.clean_twin in suite:
        return [unit.task.clean_twin, unit.task.name]
    return [unit.task.name]


def evaluate_unit(lm, unit: BoardUnit, options: RunOptions, manager, tasks: list[str] | None = None) -> dict:
    """One ``simple_evaluate`` call: the unit's task (with its clean twin, see :func:`unit_tasks`)."""
    from skillneuron_harness.host.evaluate import evaluate

    return evaluate(lm, tasks or [unit.task.name], limit=options.limit, bootstrap_iters=options.bootstrap_iters,
                    task_manager=manager)


def _summary(results: dict, task: str) -> str:
    metrics = (results.get("results") or {}).get(task) or {}
    acc, se = metrics.get("acc,none"), metrics.get("acc_stderr,none")
    n = ((results.get("n-samples") or {}).get(task) or {}).get("effective")
    text = f"acc {acc:.3f}" if isinstance(acc, float) else "no acc"
    if isinstance(se, float):
        text += f" ± {se:.3f}"
    return text + (f", {n} docs" if n is not None else "")


def run_units(spec: Spec, units: list[BoardUnit], out: Path, manager,
              progress: Callable[[str], None] | None = None, since: float | None = None) -> dict[str, Path]:
    """Run what is missing; returns unit key -> results file for every unit of the plan.

    ``since``: when this run took ``out``'s lock (temporary files older than that are removed).
    """
    stored = scan(out, since)
    suite = {u.task.name for u in units}
    done: dict[str, Path] = {}
    lm, loaded_for = None, None

    def reused(unit: BoardUnit) -> str | None:
        if unit.key not in stored:
            return None
        done[unit.key] = stored[unit.key]
        data = json.loads(stored[unit.key].read_text(encoding="utf-8"))
        return f"reused ({_summary(data, unit.task.name)}) {stored[unit.key].relative_to(out)}"

    def run(unit: BoardUnit) -> str:
        nonlocal lm, loaded_for
        extra = {"skill_neurons": str(unit.writing_folder(out))} if unit.entry.skill_neurons else {}
        loading = ""
        if loaded_for is not unit.entry:
            lm = None  # the previous entry's model goes before the next is loaded
            start = time.perf_counter()
            lm, loaded_for = load_model(unit.entry, spec.run, extra), unit.entry
            loading = f", model loaded in {time.perf_counter() - start:.1f} s"
        start = time.perf_counter()
        tasks = unit_tasks(unit, suite)
        results = evaluate_unit(lm, unit, spec.run, manager, *([tasks] if len(tasks) > 1 else []))
        keep_neuron_files(unit, results, out)
        path = save_unit(unit, results, out, unit.entry.args_string(extra), spec.run)
        done[unit.key] = path
        return (f"ran in {time.perf_counter() - start:.1f} s{loading} ({_summary(results, unit.task.name)}) "
                f"{path.relative_to(out)}")

    run_plan(units, run, finished=reused, progress=progress)
    return done
