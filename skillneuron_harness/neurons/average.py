"""``skillneuron average``: neuron scores of one task averaged over several prompts (seeds).

The papers' neuron score is the max over positions per prompt, then the mean over the prompts
of a task. Each run of ``prompt_tuned`` with ``skill_neurons=DIR`` writes ``DIR/<task>.safetensors``
with ``score`` [L, D]; this command reads the same task from several such folders, averages
``score`` (and, for multi-class tasks, ``subtask_score`` [S, L, D]) in float64 as
``np.mean(axis=0)`` and writes ``<out>/<task>.safetensors`` (``score`` [L, D], ``score_std``
[L, D] (ddof 1), ``skill_neurons`` bool [L, D] for ``--top``: the per-layer top, or Wang et al.'s
union of the subtasks' top neurons) and ``<out>/<task>.json`` (the sources and a summary in the
per-task file's format). Averaged files are marked: safetensors metadata ``kind`` = ``average``
and provenance ``averaged_over`` (the sources' ``prompt_sha256``), so that ``skillneuron report``
never counts an average as one more prompt. ``suppress=`` takes them like any run's file (the
seed-mean neuron set that Ackermann & Ohmer suppress for every seed).

    skillneuron average runs/seed33/sn runs/seed34/sn runs/seed35/sn --task sst2 --output runs/mean
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from skillneuron_harness.core.constants import DEFAULT_TIES, DEFAULT_TOP, TIES
from skillneuron_harness.neurons.io import read_task_stats
from skillneuron_harness.neurons.predictivity import average_over_prompts
from skillneuron_harness.neurons.selection import skill_neuron_mask


def average_task_scores(directories: list[Path], task: str) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Mean (``score``, ``subtask_score`` when every run has it) and ``score_std`` over prompts, and sources.

    Every file is checked first (readable, complete, with a ``score``) and all must come from one
    model with one setting of positions: a T5 run and a BERT run are never averaged. An average is
    never averaged again.
    """
    from skillneuron_harness.core.errors import SkillNeuronError
    from skillneuron_harness.neurons.io import task_paths
    from skillneuron_harness.neurons.validate import check_neuron_file, check_same_model

    infos = [check_neuron_file(task_paths(d, task)[0], "DIRECTORIES", require=("score",)) for d in directories]
    check_same_model(infos)
    scores, subtask_scores, sources = [], [], []
    for directory in directories:
        stats = read_task_stats(directory, task, arg="DIRECTORIES")
        if stats.metadata.get("kind") == "average":
            raise SkillNeuronError(f"DIRECTORIES: {directory}/{task}.safetensors is itself an average (kind=average); "
                                   "average the runs' own files.")
        scores.append(stats.tensors["score"])  # (L, D)
        if "subtask_score" in stats.tensors:
            subtask_scores.append(stats.tensors["subtask_score"])  # (S, L, D)
        sources.append({"directory": str(directory), **{k: stats.provenance.get(k) for k in
                                                          ("model", "prompt", "prompt_sha256", "num_docs")}})
    stacked = torch.stack([s.double() for s in scores])  # (R, L, D)
    std = stacked.std(0) if len(scores) > 1 else torch.zeros_like(stacked[0])  # (L, D)
    out = {"score": average_over_prompts(scores), "score_std": std}
    if subtask_scores and len(subtask_scores) == len(scores):
        out["subtask_score"] = average_over_prompts(subtask_scores)  # (S, L, D)
    return out, sources


def _shared_provenance(directories: list[Path], task: str) -> dict:
    """What all averaged runs share (model, backend, positions, hook points), for checks on the mean."""
    from skillneuron_harness.neurons.io import task_paths
    from skillneuron_harness.neurons.validate import check_neuron_file, model_key

    provs = [check_neuron_file(task_paths(d, task)[0], "DIRECTORIES").provenance for d in directories]
    keys = ("backend", "positions", "hook_points", "task")
    shared = {k: provs[0][k] for k in keys if k in provs[0] and all(p.get(k) == provs[0][k] for p in provs)}
    if provs[0].get("model") and all(model_key(p.get("model")) == model_key(provs[0]["model"]) for p in provs):
        shared["model"] = provs[0]["model"]  # one model, perhaps under several names (checked above)
    return shared


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron average``."""
    parser = argparse.ArgumentParser(prog="skillneuron average", description=__doc__.split("\n\n")[0])
    parser.add_argument("directories", nargs="+", type=Path, help="skill_neurons= folders of runs (one per prompt)")
    parser.add_argument("--task", required=True, help="task name, e.g. sst2")
    parser.add_argument("--output", "--out", required=True, type=Path, help="folder for <task>.safetensors / .json")
    parser.add_argument("--top", type=float, default=DEFAULT_TOP, help="fraction of each layer's neurons marked skill")
    parser.add_argument("--ties", choices=TIES, default=DEFAULT_TIES,
                        help="among neurons of equal mean score: high keeps the higher index (Ackermann & Ohmer), "
                             "low the lower (Wang et al.)")
    args = parser.parse_args(argv)
    from skillneuron_harness.core.atomic import save_safetensors, write_json
    from skillneuron_harness.core.errors import SkillNeuronError
    from skillneuron_harness.neurons.io import summarize

    try:
        tensors, sources = average_task_scores(args.directories, args.task)
    except SkillNeuronError as err:
        print(f"skillneuron average: {err}", file=sys.stderr)
        return 2
    mean = tensors["score"]  # (L, D)
    tensors["skill_neurons"] = skill_neuron_mask(mean, args.top, tensors.get("subtask_score"), args.ties)  # (L, D)
    # kind/averaged_over mark the file as a mean over prompts: the report never counts it as one more prompt
    provenance = {**_shared_provenance(args.directories, args.task), "kind": "average",
                  "averaged_over": [s.get("prompt_sha256") or s.get("prompt") or s["directory"] for s in sources],
                  "num_prompts": len(sources), "ties": args.ties}
    save_safetensors({k: v.contiguous() for k, v in tensors.items()}, args.output / f"{args.task}.safetensors",
                     metadata={"task": args.task, "format": "pt", "kind": "average",
                               "provenance": json.dumps(provenance, sort_keys=True)})
    summary = summarize(mean, torch.zeros_like(mean, dtype=torch.int64), top_fraction=args.top, ties=args.ties)
    for neuron in summary["top_neurons"]:
        neuron.pop("position")  # positions differ between prompts
    write_json(args.output / f"{args.task}.json",
               {"task": args.task, "kind": "average", "num_prompts": len(sources), "provenance": provenance,
                "sources": sources, "summary": summary})
    print(f"Averaged {len(sources)} runs of {args.task}: {args.output / (args.task + '.safetensors')}")
    return 0
