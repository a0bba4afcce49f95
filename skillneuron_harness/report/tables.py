"""The report's numbers, as pure functions of collected records (plain dicts out, NaN for n/a).

Every "mean" is over the prompts (seeds) of one group and every "sem" is the standard error of
that mean (ddof=1; NaN for one prompt). Accuracies are fractions in [0, 1]; relative transfer is
in percent. The statistics themselves (mean and SEM, Spearman, the inhibitory share) are the
pure functions of :mod:`skillneuron_harness.neurons.statistics`; this module only groups records.

* :func:`accuracy_table`: clean and adversarial accuracy, PDR = 1 - acc_adv / acc_clean (per
  prompt, then averaged) and chance level, per (model, group, clean task).
* :func:`transfer_matrix`: source group x target task, absolute accuracy and relative transfer
  100 x acc(source prompt on target) / acc(target's own prompt on target), matched by seed
  (the mean of the target's own prompts where the seed has no match), then averaged.
* :func:`skill_neuron_table`: per (model, task) the per-layer score distribution of the
  prompt-averaged score, the top neurons, the inhibitory share of the skill neurons and the seed
  agreement (mean pairwise Spearman correlation of the prompts' scores).
* :func:`consistency_table`: per prompt, the overlap-vs-n curve of clean and adversarial skill
  neurons (with the random expectation k/D and its p-value) and the adversarial predictivity of
  the clean skill neurons against random ones (with its test; :func:`consistency_summary`
  combines the prompts of a group).
* :func:`null_quantiles_of_file`: the chance line of a file's neuron scores (the null model of
  :mod:`skillneuron_harness.neurons.null`), drawn instead of 50 % in the figures.
* :func:`robustness_vs_consistency`: per prompt, consistency (mean overlap over the curve) against
  adversarial accuracy and PDR, with Spearman's rho and its p-value.
* :func:`suppression_table`: accuracy per (model, group, task, control, n), mean and SEM.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence

import torch

from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.neurons.statistics import (
    DEFAULT_FRACTIONS,
    accuracy,
    adversarial_predictivity_of_clean_skill_neurons,
    average_over_prompts,
    binary_subtasks,
    combine_skill_vs_random,
    consistency_curve,
    inhibitory_fraction,
    mean_sem,
    null_score_quantiles,
    parse_subtasks,
    performance_drop_rate,
    spearman_rho_p,
    top_fraction_mask,
    top_k,
)
from skillneuron_harness.report.records import Collection, Evaluation, NeuronFile

NAN = math.nan
CHANCE_QUANTILES = (0.5, 0.95)  # the chance lines drawn: median and 95 % of the null neuron score


def documents(records) -> list[int]:
    """The distinct document counts (n) of evaluations or neuron files, ascending (unknown ones left out)."""
    return sorted({r.num_docs for r in records if r.num_docs is not None})


def _unsuppressed(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    return [e for e in evaluations if e.suppression is None]


def _belongs(ev_task: str, twin: str | None, group_task: str | None, split_of: str | None = None) -> bool:
    """Whether a task is a prompt's own.

    Its training task, that task's adversarial twin, or another evaluation split of it
    (``metadata.split_of``: MNLI mismatched, clean and adversarial).
    """
    return group_task is None or group_task in (ev_task, twin, split_of)


# ------------------------------------------------------------------------------------ accuracy
def accuracy_table(collection: Collection) -> list[dict]:
    """One row per (model, group, clean task), with its adversarial twin when evaluated."""
    evals = [e for e in _unsuppressed(collection.evaluations)
             if _belongs(e.task, e.clean_twin, e.prompt.task, e.split_of)]
    by_prompt = {(e.model, e.prompt.key, e.task): e for e in evals}
    twins_of: dict[str, set[str]] = defaultdict(set)
    for e in evals:
        if e.clean_twin:
            twins_of[e.clean_twin].add(e.task)
    rows = []
    groups: dict[tuple, list[Evaluation]] = defaultdict(list)
    for e in evals:
        if e.clean_twin and any(x.task == e.clean_twin for x in evals):
            continue  # listed with its clean twin
        groups[e.model, e.prompt.group, e.task].append(e)
    for (model, group, task), clean in sorted(groups.items()):
        adv_tasks = sorted(twins_of.get(task, ())) or [None]
        for adv_task in adv_tasks:
            pairs = [(c, by_prompt.get((model, c.prompt.key, adv_task))) for c in clean]
            adv = [a for _, a in pairs if a is not None]
            pdr = [performance_drop_rate(c.acc, a.acc) for c, a in pairs if a is not None and c.acc > 0]
            row = {"model": model, "group": group, "task": task, "adversarial_task": adv_task,
                   "prompts": len(clean)}
            for name, values in (("clean", [c.acc for c in clean]), ("adversarial", [a.acc for a in adv]),
                                 ("pdr", pdr)):
                row[f"{name}_mean"], row[f"{name}_sem"], _ = mean_sem(values)
            choices = {e.num_choices for e in clean + adv if e.num_choices}
            row["chance"] = 1.0 / choices.pop() if len(choices) == 1 else NAN
            row["clean_docs"], row["adversarial_docs"] = documents(clean), documents(adv)
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------------ transfer
def transfer_matrix(collection: Collection) -> dict:
    """Absolute and relative transfer, source group x target task, per model.

    The target's own prompts are the prompts trained on the target, or on its clean twin.
    """
    evals = _unsuppressed(collection.evaluations)
    out: dict[str, dict] = {}
    for model in sorted({e.model for e in evals}):
        mine = [e for e in evals if e.model == model]
        sources = sorted({e.prompt.group for e in mine})
        targets = sorted({e.task for e in mine})
        own: dict[str, dict] = defaultdict(dict)  # target -> seed -> acc
        for e in mine:
            if e.prompt.task is not None and e.prompt.task in (e.task, e.clean_twin, e.split_of):
                own[e.task][e.prompt.seed] = e.acc
        absolute, relative = {}, {}
        for src in sources:
            absolute[src], relative[src] = {}, {}
            for tgt in targets:
                cells = [e for e in mine if e.prompt.group == src and e.task == tgt]
                absolute[src][tgt] = mean_sem(e.acc for e in cells)
                ratios = []
                for e in cells:
                    reference = own[tgt].get(e.prompt.seed)
                    if reference is None and own[tgt]:
                        reference = sum(own[tgt].values()) / len(own[tgt])
                    if reference:
                        ratios.append(100.0 * e.acc / reference)
                relative[src][tgt] = mean_sem(ratios)
        # A transfer was run when a prompt met a task not its own (nor that task's twin), or when prompts
        # of unknown training task share a target; a prompt on its task and twin alone is no transfer.
        foreign = any(e.prompt.task is not None and not _belongs(e.task, e.clean_twin, e.prompt.task, e.split_of)
                      for e in mine)
        unknown = [e for e in mine if e.prompt.task is None]
        shared = any(len({e.prompt.group for e in unknown if e.task == t}) > 1 for t in targets)
        out[model] = {"sources": sources, "targets": targets, "transfer_run": foreign or shared,
                      "documents": {t: documents(e for e in mine if e.task == t) for t in targets},
                      "absolute": {s: {t: list(v) for t, v in r.items()} for s, r in absolute.items()},
                      "relative": {s: {t: list(v) for t, v in r.items()} for s, r in relative.items()}}
    return out


# ------------------------------------------------------------------------------- skill neurons
def _own_files(collection: Collection) -> list[NeuronFile]:
    return [f for f in collection.neuron_files if _belongs(f.task, f.clean_twin, f.prompt.task, f.split_of)]


def inhibitory_fraction_of_file(f: NeuronFile, mask: torch.Tensor) -> float:
    """Share of the ``mask`` [L, D] neurons whose rule is inhibitory (acc < 0.5 at their best position).

    The first binary subtask of the file (label 1 vs 0 for binary tasks); NaN without counts.
    """
    t = f.tensors
    if "fire_counts" not in t or "position" not in t:
        return NAN
    num_classes = t["class_counts"].shape[0]
    subtask = (parse_subtasks(f.subtasks, num_classes) if f.subtasks else binary_subtasks(num_classes))[0]
    try:
        acc = accuracy(t["fire_counts"], t["class_counts"], subtask.positive, subtask.negative)  # (L, P, D)
    except ValueError:
        return NAN
    return inhibitory_fraction(acc, t["position"], mask)


def null_quantiles_of_file(f: NeuronFile, quantiles: Sequence[float] = CHANCE_QUANTILES) -> torch.Tensor | None:
    """The chance line of a file's scores: null quantiles of the neuron score per layer, float64 [Q, L].

    :func:`~skillneuron_harness.neurons.null.null_score_quantiles` of the file's counts (its
    subtasks' own counts when it has them); None when the file has no counts or a side without
    documents.
    """
    t = f.tensors
    if "fire_counts" not in t or "class_counts" not in t:
        return None
    num_classes = t["class_counts"].shape[0]
    try:
        subtasks = parse_subtasks(f.subtasks, num_classes) if f.subtasks else binary_subtasks(num_classes)
        counts = t.get("subtask_fire_counts", t["fire_counts"])
        return null_score_quantiles(counts, t["class_counts"], subtasks, quantiles)
    except ValueError:
        return None


def _mean_chance(files: Sequence[NeuronFile]) -> dict[str, list[float]] | None:
    """Per quantile, the mean over the files (prompts) of each file's chance line [L]; None if any lacks one."""
    lines = [null_quantiles_of_file(f) for f in files]
    if not lines or any(line is None for line in lines):
        return None
    mean = torch.stack(lines).mean(0)  # (R, Q, L) -> (Q, L)
    return {f"{q:g}": mean[i].tolist() for i, q in enumerate(CHANCE_QUANTILES)}


def skill_neuron_table(collection: Collection, top: float = DEFAULT_TOP, top_n: int = 10,
                       ties: str = "high") -> list[dict]:
    """Per (model, task): layer score distribution, top neurons, inhibitory share, seed agreement."""
    by_task: dict[tuple, list[NeuronFile]] = defaultdict(list)
    for f in _own_files(collection):
        by_task[f.model, f.task].append(f)
    rows = []
    for (model, task), files in sorted(by_task.items()):
        shapes = {tuple(f.tensors["score"].shape) for f in files}
        if len(shapes) != 1:
            continue
        scores = [f.tensors["score"] for f in files]  # prompts x (L, D)
        mean_score = average_over_prompts(scores)  # (L, D)
        stacked = torch.stack(scores).double()  # (R, L, D)
        L, D = mean_score.shape  # noqa: N806
        flat = mean_score.reshape(-1)  # (L * D,)
        order = torch.sort(flat, descending=True, stable=True).indices[:top_n]
        sem = stacked.std(0, unbiased=True) / math.sqrt(len(files)) if len(files) > 1 else None  # (L, D)
        inhibitory = [inhibitory_fraction_of_file(f, top_fraction_mask(f.tensors["score"], top, ties)) for f in files]
        agreement = [spearman_rho_p(a.tensors["score"], b.tensors["score"])[0]
                     for a, b in itertools.combinations(files, 2)]
        rows.append({
            "model": model, "task": task, "prompts": len(files), "layers": L, "neurons_per_layer": D,
            "documents": documents(files),
            "layer_scores": [mean_score[layer].tolist() for layer in range(L)],
            "layer_mean": [float(mean_score[layer].mean()) for layer in range(L)],
            "top_neurons": [{"layer": int(i) // D, "neuron": int(i) % D, "score": float(flat[i]),
                             "sem": float(sem.reshape(-1)[i]) if sem is not None else NAN} for i in order],
            "top_fraction": top,
            "inhibitory": list(mean_sem(inhibitory)[:2]),
            "seed_agreement": list(mean_sem(agreement)[:2]) + [len(agreement)],
            "chance_score": _mean_chance(files),  # {quantile: [L]}: mean over prompts of each one's null line
        })
    return rows


# -------------------------------------------------------------------------------- consistency
def consistency_pairs(collection: Collection) -> list[tuple[NeuronFile, NeuronFile]]:
    """(clean, adversarial) files of the same model and prompt, the adversarial naming the clean twin."""
    index = {(f.model, f.prompt.key, f.task): f for f in collection.neuron_files}
    pairs = []
    for f in collection.neuron_files:
        clean = index.get((f.model, f.prompt.key, f.clean_twin)) if f.clean_twin else None
        if clean is None or not _belongs(clean.task, None, clean.prompt.task, clean.split_of):  # own task's only
            continue
        if clean.tensors["score"].shape == f.tensors["score"].shape:
            pairs.append((clean, f))
    return pairs


def consistency_table(collection: Collection, top: float = DEFAULT_TOP, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                      num_draws: int = 10, ties: str = "high") -> list[dict]:
    """Per prompt and adversarial task: the overlap curve, skill vs random adversarial predictivity."""
    rows = []
    for clean, adv in consistency_pairs(collection):
        score_clean, score_adv = clean.tensors["score"], adv.tensors["score"]  # (L, D) each
        curve = consistency_curve(score_clean, score_adv, fractions, ties)
        defined = [p.mean for p in curve if math.isfinite(p.mean)]  # a small model's floor(f x D) can be 0
        skill = random = clean_skill = NAN
        test = None
        if top_k(score_clean.shape[-1], top) > 0:
            versus = adversarial_predictivity_of_clean_skill_neurons(score_clean, score_adv, top, num_draws=num_draws,
                                                                     ties=ties)
            skill, random = versus.skill_mean, versus.random_mean
            clean_skill = float(score_clean[top_fraction_mask(score_clean, top, ties)].mean())
            test = {"difference": versus.difference, "variance": versus.variance, "p_value": versus.p_value,
                    "differ": versus.differ}
        chance = null_quantiles_of_file(adv, (0.5,))  # (1, L): the adversarial scores' median under the null
        rows.append({
            "model": adv.model, "prompt": adv.prompt.label, "prompt_key": adv.prompt.key, "group": adv.prompt.group,
            "task": clean.task, "adversarial_task": adv.task,
            "clean_docs": clean.num_docs, "adversarial_docs": adv.num_docs,
            "fractions": [p.fraction for p in curve], "overlap": [p.mean for p in curve],
            "consistency": sum(defined) / len(defined) if defined else NAN,
            "skill_adv_score": skill, "random_adv_score": random, "clean_skill_score": clean_skill,
            "overlap_random": [p.random for p in curve], "overlap_p": [p.p_value for p in curve],
            "skill_vs_random": test,
            "adversarial_chance_score": float(chance.mean()) if chance is not None else NAN,
        })
    return rows


def consistency_summary(rows: list[dict]) -> list[dict]:
    """Mean and SEM over prompts of the curve and of skill vs random, per (model, group, adversarial task)."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        grouped[r["model"], r["group"], r["task"], r["adversarial_task"]].append(r)
    out = []
    for (model, group, task, adv_task), rs in sorted(grouped.items()):
        fractions = rs[0]["fractions"]
        out.append({
            "model": model, "group": group, "task": task, "adversarial_task": adv_task, "prompts": len(rs),
            "fractions": fractions,
            "clean_docs": sorted({r["clean_docs"] for r in rs if r["clean_docs"] is not None}),
            "adversarial_docs": sorted({r["adversarial_docs"] for r in rs if r["adversarial_docs"] is not None}),
            "overlap": [list(mean_sem(r["overlap"][i] for r in rs)[:2]) for i in range(len(fractions))],
            "skill_adv_score": list(mean_sem(r["skill_adv_score"] for r in rs)[:2]),
            "random_adv_score": list(mean_sem(r["random_adv_score"] for r in rs)[:2]),
            "clean_skill_score": list(mean_sem(r["clean_skill_score"] for r in rs)[:2]),
            "overlap_random": rs[0].get("overlap_random"),
            "skill_vs_random_test": _combined_test(rs),
            "adversarial_chance_score": list(mean_sem(r.get("adversarial_chance_score") for r in rs)[:2]),
        })
    return out


def _combined_test(rows: list[dict]) -> dict | None:
    """Skill vs random over the prompts of a group: their differences and null variances summed."""
    test = combine_skill_vs_random([r.get("skill_vs_random") or {} for r in rows])
    return None if test is None else {"p_value": test.p_value, "z": test.z, "differ": test.differ,
                                      "alpha": test.alpha, "prompts": len(rows)}


def robustness_vs_consistency(collection: Collection, consistency_rows: list[dict]) -> dict:
    """Per prompt: consistency vs adversarial accuracy and PDR, with Spearman's rho and p-value."""
    evals = {(e.model, e.prompt.key, e.task): e for e in _unsuppressed(collection.evaluations)}
    points = []
    for r in consistency_rows:
        adv = evals.get((r["model"], r["prompt_key"], r["adversarial_task"]))
        clean = evals.get((r["model"], r["prompt_key"], r["task"]))
        if adv is None:
            continue
        pdr = performance_drop_rate(clean.acc, adv.acc) if clean is not None and clean.acc > 0 else NAN
        points.append({"model": r["model"], "prompt": r["prompt"], "task": r["adversarial_task"],
                       "consistency": r["consistency"], "adversarial_accuracy": adv.acc, "pdr": pdr,
                       "documents": adv.num_docs})
    x = torch.tensor([p["consistency"] for p in points], dtype=torch.float64)
    out = {"points": points, "n": len(points)}
    for name in ("adversarial_accuracy", "pdr"):
        y = torch.tensor([p[name] for p in points], dtype=torch.float64)
        keep = torch.isfinite(y)
        rho, p = spearman_rho_p(x[keep], y[keep]) if int(keep.sum()) >= 3 else (NAN, NAN)
        out[name] = {"rho": rho, "p": p, "n": int(keep.sum())}
    return out


# -------------------------------------------------------------------------------- suppression
# ------------------------------------------------------------------------------ per example
def per_example_table(collection: Collection) -> list[dict]:
    """Per prompt and paired adversarial task: the ``per_example`` block of its evaluation's skill_neurons section.

    The block (docs/statistics.md, "Per-example consistency"): pairs, prediction flip rate, mean
    flip fraction, AUC, point-biserial r and p, the mean flip fraction per layer; ``pairs_file`` is
    its ``<task>.pairs.jsonl`` (where it is still there), for the figure.
    """
    from pathlib import Path

    rows = []
    for ev in _unsuppressed(collection.evaluations):
        block = (ev.neurons or {}).get("per_example") or {}
        if not block.get("pairs"):
            continue
        pairs_file = block.get("file")
        rows.append({"model": ev.model, "prompt": ev.prompt.label, "group": ev.prompt.group, "task": ev.task,
                     "clean_twin": block.get("clean_twin") or ev.clean_twin, "pairs": block["pairs"],
                     "documents": ev.num_docs,
                     "prediction_flip_rate": block.get("prediction_flip_rate"),
                     "mean_flip_fraction": block.get("mean_flip_fraction"), "auc": block.get("auc"),
                     "pointbiserial_r": block.get("pointbiserial_r"), "pointbiserial_p": block.get("pointbiserial_p"),
                     "neurons_per_layer": block.get("neurons_per_layer"),
                     "layer_mean_flip_fraction": block.get("layer_mean_flip_fraction") or [],
                     "pairs_file": pairs_file if pairs_file and Path(pairs_file).is_file() else None})
    return sorted(rows, key=lambda r: (r["model"], r["group"], r["task"], r["prompt"]))


def suppression_table(records: list[dict]) -> list[dict]:
    """Mean and SEM over prompts per (model, group, task, control, n); n in percent."""
    grouped: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        key = (r["model"], r.get("group") or r["prompt"], r["task"], r["control"], float(r["percent"]))
        grouped[key].append(r["acc"])
    rows = []
    for (model, group, task, control, percent), accs in sorted(grouped.items()):
        mean, sem, n = mean_sem(accs)
        rows.append({"model": model, "group": group, "task": task, "control": control, "percent": percent,
                     "acc_mean": mean, "acc_sem": sem, "prompts": n})
    return rows
