"""Which runs one report uses: never two limits in one table, each neuron file with the evaluation that wrote it.

:func:`select` turns everything :func:`~skillneuron_harness.report.collect.gather` read into report
*groups*, one per ``--limit`` the runs were made with (``all documents``, ``--limit 100``, ...):

* **Evaluations.** Within a group, one evaluation per (model, prompt, task, suppression): the
  latest results file (by its ``results_<date>`` name). Each earlier one is left out, named, with
  the file that superseded it. Runs of one prompt and task with different limits are in
  different groups and never meet in a table.
* **Skill-neuron files** join the group of the evaluation that wrote them, found by provenance and
  never by folder: the run id the recorder writes into both the file and the results'
  ``skill_neurons`` section, else the file's path listed there, else an evaluation of the same
  model, prompt and task that counted as many documents as the file did (its ``num_docs``, else
  the sum of its ``class_counts``). A file whose document count matches no evaluation of its
  prompt and task is left out (written by another run); a file with no evaluation of its prompt
  and task at all joins the only group, or a group of its own when there are several. Within a
  group, one file per (model, prompt, task): the one paired by run id or path, else the latest.
* **Suppression curves** join the group of the limit they record (``settings.limit``).
* **Prompts** are grouped as seeds of one prompt (:func:`group_prompts`): by a ``prompts.json``
  manifest (the override: ``task``, ``seed``, or a declared ``group``), else by the
  ``train_config.json`` beside the adapter, else by the release folder it sits in
  (``seed_33/SST2PromptRoberta``), else by the one clean task it was evaluated on (with that task's
  adversarial twin and other splits), else by its own label. Each prompt's ``grouped_by`` says which.

:attr:`Selection.left_out` lists every file left out and why; the report prints it.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.report.records import Collection, Evaluation, NeuronFile, Prompt

_FILES_ONLY = ("files",)  # group key of neuron files and curves without any evaluation
_UNPAIRED = ("unpaired",)  # group key of neuron files without their evaluation, beside several limits
_CURVES = ("curves",)  # group key of curves that record no limit, beside several limits


@dataclass
class Selection:
    """The report groups, and the files left out of every group with the reason."""

    groups: list[Collection]
    left_out: list[tuple[str, str]] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)


class MixedRuns(SkillNeuronError):
    """Run folders holding runs of different limits, asked for as one group; the message names them."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        parts = [f"{g.label}: {', '.join(sorted(set(g.used))[:3])}{' ...' if len(set(g.used)) > 3 else ''}"
                 for g in selection.groups]
        super().__init__(f"the run folders hold {len(selection.groups)} groups of runs that no table may merge "
                         f"({'; '.join(parts)}); report them with build_report (skillneuron report), which reports "
                         "each group on its own, or give folders of one limit.")


def limit_label(limit: float | None) -> str:
    """A group's name: ``all documents`` or ``--limit N``."""
    if limit is None:
        return "all documents"
    return f"--limit {limit:g}" + (" (a fraction of each task)" if limit < 1 else "")


def _roots(raw: Collection) -> dict[str, str]:
    """Task -> the training split it belongs to: its clean twin, then that task's ``split_of``."""
    twin, split = {}, {}
    for r in [*raw.evaluations, *raw.neuron_files]:
        if r.clean_twin:
            twin[r.task] = r.clean_twin
        if r.split_of:
            split[r.task] = r.split_of
    tasks = {r.task for r in [*raw.evaluations, *raw.neuron_files]}
    return {t: split.get(twin.get(t, t), twin.get(t, t)) for t in tasks}


def group_prompts(raw: Collection) -> list[Prompt]:
    """Give every prompt whose training task is unknown the one clean task it was evaluated on (records updated)."""
    roots = _roots(raw)
    tasks: dict[str, set[str]] = defaultdict(set)
    for r in raw.evaluations:
        if r.suppression is None:
            tasks[r.prompt.key].add(roots[r.task])
    for r in raw.neuron_files:
        tasks[r.prompt.key].add(roots[r.task])
    prompts: dict[str, Prompt] = {}
    for r in [*raw.evaluations, *raw.neuron_files]:
        p = r.prompt
        if p.key not in prompts:
            if p.task is None and p.declared_group is None:
                found = sorted(tasks.get(p.key, ()))
                if len(found) == 1:
                    p = dataclasses.replace(p, task=found[0], seed=p.seed if p.seed is not None else p.label,
                                            grouped_by=f"the one task it was evaluated on ({found[0]})")
                else:
                    p = dataclasses.replace(p, grouped_by="its own label: no manifest, train_config.json or release "
                                                          f"folder names its training task, and it was evaluated on "
                                                          f"{len(found)} tasks")
            prompts[p.key] = p
        r.prompt = prompts[p.key]
    return list(prompts.values())


def _docs(n: int | None) -> str:
    return "an unknown number of" if n is None else str(n)


def select(raw: Collection) -> Selection:
    """The report groups of everything read (see the module docstring)."""
    selection = Selection(groups=[], prompts=group_prompts(raw))
    left_out = selection.left_out
    groups: dict[tuple, Collection] = {}

    def group(key: tuple) -> Collection:
        if key not in groups:
            label = {_FILES_ONLY: "skill-neuron files only", _UNPAIRED: "skill-neuron files without their evaluation",
                     _CURVES: "suppression curves that record no limit"}.get(key) or limit_label(key[1])
            groups[key] = Collection(sources=raw.sources, unreadable=raw.unreadable, skipped=raw.skipped, label=label,
                                     limit=key[1] if key[0] == "limit" else None)
        return groups[key]

    latest: dict[tuple, Evaluation] = {}
    for ev in raw.evaluations:  # oldest first: a later run of the same prompt, task and limit wins
        key = (ev.limit, ev.model, ev.prompt.key, ev.task, json.dumps(ev.suppression, sort_keys=True))
        old = latest.get(key)
        if old is not None:
            counts = f"; it counted {_docs(old.num_docs)} documents, the later {_docs(ev.num_docs)}" \
                if old.num_docs != ev.num_docs else ""
            left_out.append((old.source, f"{old.task}: superseded by {ev.source}, a later run of the same prompt, "
                                         f"task and limit{counts}"))
        latest[key] = ev
    kept = {id(ev) for ev in latest.values()}
    for ev in latest.values():
        group(("limit", ev.limit)).evaluations.append(ev)

    _place_neuron_files(raw, latest.values(), kept, group, groups, left_out)
    for curve in raw.curve_files:
        limits = [k for k in groups if k[0] == "limit"]
        key = ("limit", curve.limit) if curve.limit_known else (limits[0] if len(limits) == 1 else
                                                                _CURVES if limits else _FILES_ONLY)
        group(key).curves.extend(curve.records)
        group(key).used.append(curve.path)
    if not groups:
        group(("limit", None))
    order = sorted(groups, key=lambda k: (k[0] != "limit", k[0] == "limit" and k[1] is not None,
                                          -(k[1] or 0) if k[0] == "limit" else 0))
    for key in order:
        g = groups[key]
        g.used = list(dict.fromkeys([*(e.source for e in g.evaluations), *(str(f.path) for f in g.neuron_files),
                                     *g.used]))
        selection.groups.append(g)
    return selection


def _place_neuron_files(raw: Collection, kept_evaluations, kept: set[int], group, groups: dict,
                        left_out: list[tuple[str, str]]) -> None:
    """Each neuron file into the group of the evaluation that wrote it (see the module docstring)."""
    by_run: dict[tuple, Evaluation] = {}
    by_path: dict[str, Evaluation] = {}
    for ev in raw.evaluations:
        summary = ev.neurons or {}
        if isinstance(summary.get("run"), str):
            by_run[summary["run"], ev.task] = ev
        for f in summary.get("files") or []:
            by_path[str(Path(f).resolve())] = ev  # as gather names the files it read
    evaluations_of: dict[tuple, list[Evaluation]] = defaultdict(list)
    for ev in kept_evaluations:
        if ev.suppression is None:
            evaluations_of[ev.model, ev.prompt.key, ev.task].append(ev)
    placed: dict[tuple, dict[tuple, tuple[int, NeuronFile]]] = defaultdict(dict)
    pending: list[NeuronFile] = []

    def place(key: tuple, f: NeuronFile, exact: int) -> None:
        identity = (f.model, f.prompt.key, f.task)
        old = placed[key].get(identity)
        if old is not None and old[0] > exact:
            left_out.append((str(f.path), f"{f.task}: {old[1].path} was written by the evaluation of this group"))
            return
        if old is not None:
            left_out.append((str(old[1].path), f"{f.task}: superseded by {f.path}, "
                                               + ("written by the evaluation of this group" if exact else
                                                  "a later file of the same prompt, task and documents")))
        placed[key][identity] = (exact, f)

    for f in raw.neuron_files:  # oldest first
        writer = (by_run.get((f.run, f.task)) if f.run else None) or by_path.get(str(f.path.resolve()))
        if writer is not None and writer.task == f.task:
            if id(writer) not in kept:
                left_out.append((str(f.path), f"{f.task}: written by the evaluation in {writer.source}, which a later "
                                              "run of the same limit superseded"))
            else:
                place(("limit", writer.limit), f, 1)
            continue
        candidates = evaluations_of.get((f.model, f.prompt.key, f.task), [])
        if not candidates:
            pending.append(f)
            continue
        n = f.num_docs
        matching = [ev for ev in candidates if ev.num_docs is None or n is None or ev.num_docs == n]
        if not matching:
            counted = ", ".join(f"{_docs(ev.num_docs)} ({ev.source})" for ev in candidates)
            left_out.append((str(f.path), f"{f.task}: counted {_docs(n)} documents, the evaluations of its prompt on "
                                          f"{f.task} counted {counted}: written by another run"))
            continue
        for limit in sorted({ev.limit for ev in matching}, key=lambda v: (v is not None, v or 0)):
            place(("limit", limit), f, 0)  # the same documents under each limit (a limit above the task's size)
    limits = [k for k in groups if k[0] == "limit"]
    for f in pending:
        place(limits[0] if len(limits) == 1 else _UNPAIRED if limits else _FILES_ONLY, f, 0)
    for key, files in placed.items():
        group(key).neuron_files.extend(f for _, f in files.values())


def describe(selection: Selection) -> dict:
    """Plain data: each group's files (with the documents of each task), the files left out and why, the prompts."""
    groups = []
    for g in selection.groups:
        results: dict[str, dict[str, int | None]] = {}
        for ev in g.evaluations:
            results.setdefault(ev.source, {})[ev.task] = ev.num_docs
        groups.append({"label": g.label, "limit": g.limit,
                       "results": [{"file": f, "tasks": tasks} for f, tasks in results.items()],
                       "neuron_files": [{"file": str(f.path), "task": f.task, "num_docs": f.num_docs}
                                        for f in g.neuron_files],
                       "curves": [f for f in g.used if f.endswith(".json") and f not in results]})
    raw = selection.groups[0] if selection.groups else Collection()
    left_out = [*selection.left_out, *raw.skipped, *raw.unreadable]
    return {"groups": groups, "left_out": [{"file": f, "why": why} for f, why in left_out],
            "prompts": [{"label": p.label, "key": p.key, "group": p.group, "task": p.task, "seed": p.seed,
                         "grouped_by": p.grouped_by or "its own label"} for p in selection.prompts]}
