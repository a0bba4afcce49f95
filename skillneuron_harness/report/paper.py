"""The analyses of Ackermann & Ohmer (2024) as they define them: pure functions of collected records.

Each function reproduces one analysis of the paper's released ``src/analysis.py``
(LeonAckermann/Robust-Neurons) on our files, and says which definition it follows; the numbers
of :mod:`~skillneuron_harness.report.tables` are ours (per prompt, then mean and SEM over
prompts). See docs/statistics.md.

* :func:`accuracy_std_table`: accuracy mean and std with ddof 0 over prompts (``np.std``,
  ``get_mean_std``, lines 156-181), beside our SEM.
* :func:`paper_consistency`: overlap of the per-layer top-n % of the *seed-averaged* clean and
  adversarial scores, mean and SEM over *layers* (lines 49-77, the neuron axis reversed as the
  paper's text says).
* :func:`paper_histograms`: adversarial seed-mean scores of the model-wide top-n % clean skill
  neurons, in 0.05-wide bins (lines 820-960).
* :func:`paper_spearman`: per-layer Spearman matrices over each layer's top-n predictivities,
  averaged over layers, between the seeds of a task (lines 352-407) and between the seed means of
  tasks (lines 410-480).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict

from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.neurons.consistency import (
    DEFAULT_FRACTIONS,
    adversarial_histogram,
    ao24_consistency_curve,
    top_predictivity_spearman,
)
from skillneuron_harness.neurons.predictivity import average_over_prompts
from skillneuron_harness.neurons.summary import std0
from skillneuron_harness.report.records import Collection
from skillneuron_harness.report.tables import _own_files, accuracy_table, consistency_pairs, documents

NAN = math.nan


def accuracy_std_table(collection: Collection) -> list[dict]:
    """Rows of :func:`accuracy_table` with ``clean_std`` / ``adversarial_std`` (ddof 0) added."""
    from skillneuron_harness.report.tables import _belongs, _unsuppressed

    evals = [e for e in _unsuppressed(collection.evaluations)
             if _belongs(e.task, e.clean_twin, e.prompt.task, e.split_of)]
    accs: dict[tuple, list[float]] = defaultdict(list)
    for e in evals:
        accs[e.model, e.prompt.group, e.task].append(e.acc)
    rows = []
    for row in accuracy_table(collection):
        clean = accs.get((row["model"], row["group"], row["task"]), [])
        adv = accs.get((row["model"], row["group"], row["adversarial_task"]), []) if row["adversarial_task"] else []
        rows.append({**row, "clean_std": std0(clean), "adversarial_std": std0(adv)})
    return rows


def _groups(collection: Collection) -> dict[tuple, list[tuple]]:
    """(model, group, task, adversarial task) -> the (clean, adversarial) file pairs of its prompts."""
    grouped: dict[tuple, list[tuple]] = defaultdict(list)
    for clean, adv in consistency_pairs(collection):
        grouped[adv.model, adv.prompt.group, clean.task, adv.task].append((clean, adv))
    return grouped


def paper_consistency(collection: Collection, fractions=DEFAULT_FRACTIONS, ties: str = "high") -> list[dict]:
    """The paper's consistency curve per (model, group, adversarial task): seed means first, error over layers."""
    rows = []
    for (model, group, task, adv_task), pairs in sorted(_groups(collection).items()):
        curve = ao24_consistency_curve([c.tensors["score"] for c, _ in pairs], [a.tensors["score"] for _, a in pairs],
                                       fractions, ties)
        rows.append({"model": model, "group": group, "task": task, "adversarial_task": adv_task,
                     "prompts": len(pairs), "points": [asdict(p) for p in curve],
                     "clean_docs": documents(c for c, _ in pairs), "adversarial_docs": documents(a for _, a in pairs)})
    return rows


def paper_histograms(collection: Collection, top: float = DEFAULT_TOP, ties: str = "high") -> list[dict]:
    """Adversarial seed-mean scores of the model-wide top ``top`` clean skill neurons, per pair of tasks."""
    rows = []
    for (model, group, task, adv_task), pairs in sorted(_groups(collection).items()):
        clean = average_over_prompts([c.tensors["score"] for c, _ in pairs])  # (L, D)
        adv = average_over_prompts([a.tensors["score"] for _, a in pairs])  # (L, D)
        try:
            hist = adversarial_histogram(clean, adv, top, ties=ties)
        except ValueError:
            continue  # the fraction selects no neuron in this (small) model
        rows.append({"model": model, "group": group, "task": task, "adversarial_task": adv_task,
                     "prompts": len(pairs), "adversarial_docs": documents(a for _, a in pairs), **asdict(hist)})
    return rows


def paper_spearman(collection: Collection, top: float = DEFAULT_TOP, ties: str = "high") -> dict[str, list[dict]]:
    """Seed matrices per (model, task) and task matrices per model (seed means of each task)."""
    by_task: dict[tuple, list] = defaultdict(list)
    for f in _own_files(collection):
        by_task[f.model, f.task].append(f)
    seeds, means = [], defaultdict(dict)
    for (model, task), files in sorted(by_task.items()):
        if len({tuple(f.tensors["score"].shape) for f in files}) != 1:
            continue
        scores = [f.tensors["score"] for f in files]
        means[model][task] = average_over_prompts(scores)
        if len(files) >= 2:
            try:
                matrix = top_predictivity_spearman(scores, [f.prompt.label for f in files], top, ties)
            except ValueError:
                continue
            seeds.append({"model": model, "task": task, **asdict(matrix)})
    tasks = []
    for model, by in sorted(means.items()):
        names = sorted(by)
        if len(names) >= 2 and len({tuple(by[n].shape) for n in names}) == 1:
            try:
                matrix = top_predictivity_spearman([by[n] for n in names], names, top, ties)
                tasks.append({"model": model, **asdict(matrix)})
            except ValueError:
                continue
    return {"seeds": seeds, "tasks": tasks}
