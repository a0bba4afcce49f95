"""``skillneuron average``: neuron scores of one task averaged over several prompts (seeds).

The papers' neuron score is the max over positions per prompt, then the mean over the prompts
of a task. Each run of ``prompt_tuned`` with ``skill_neurons=DIR`` writes ``DIR/<task>.safetensors``
with ``score`` [L, D]; this command reads the same task from several such folders, averages
``score`` and writes ``<out>/<task>.safetensors`` (``score`` [L, D] float32, ``score_std`` [L, D],
``skill_neurons`` bool [L, D] for ``--top``) and ``<out>/<task>.json`` (the sources and a
summary in the per-task file's format).

    skillneuron average runs/seed33/sn runs/seed34/sn runs/seed35/sn --task sst2 --output runs/mean
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from skillneuron_harness.neurons.io import read_task_stats
from skillneuron_harness.neurons.statistics import average_over_prompts, top_fraction_mask


def average_task_scores(directories: list[Path], task: str) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Mean and standard deviation over prompts of ``score`` [L, D], and each source's provenance.

    Every file is checked first (readable, complete, with a ``score``) and all must come from one
    model with one setting of positions: a T5 run and a BERT run are never averaged.
    """
    from skillneuron_harness.neurons.io import task_paths
    from skillneuron_harness.neurons.validate import check_neuron_file, check_same_model

    infos = [check_neuron_file(task_paths(d, task)[0], "DIRECTORIES", require=("score",)) for d in directories]
    check_same_model(infos)
    scores, sources = [], []
    for directory in directories:
        stats = read_task_stats(directory, task, arg="DIRECTORIES")
        scores.append(stats.tensors["score"])  # (L, D)
        sources.append({"directory": str(directory), **{k: stats.provenance.get(k) for k in
                                                          ("model", "prompt", "prompt_sha256", "num_docs")}})
    stacked = torch.stack(scores)  # (R, L, D)
    std = stacked.std(0) if len(scores) > 1 else torch.zeros_like(scores[0])  # (L, D)
    return average_over_prompts(scores), std, sources


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
    parser.add_argument("--output", required=True, type=Path, help="folder for <task>.safetensors / .json")
    parser.add_argument("--top", type=float, default=0.02, help="fraction of each layer's neurons marked skill")
    args = parser.parse_args(argv)
    from skillneuron_harness.atomic import save_safetensors, write_json
    from skillneuron_harness.errors import SkillNeuronError
    from skillneuron_harness.neurons.io import summarize

    try:
        mean, std, sources = average_task_scores(args.directories, args.task)
    except SkillNeuronError as err:
        print(f"skillneuron average: {err}", file=sys.stderr)
        return 2
    mask = top_fraction_mask(mean, args.top)  # (L, D)
    provenance = {**_shared_provenance(args.directories, args.task), "averaged_over": len(sources)}
    save_safetensors({"score": mean.float().contiguous(), "score_std": std.float().contiguous(),
                      "skill_neurons": mask}, args.output / f"{args.task}.safetensors",
                     metadata={"task": args.task, "format": "pt", "provenance": json.dumps(provenance, sort_keys=True)})
    summary = summarize(mean, torch.zeros_like(mean, dtype=torch.int64), top_fraction=args.top)
    for neuron in summary["top_neurons"]:
        neuron.pop("position")  # positions differ between prompts
    write_json(args.output / f"{args.task}.json",
               {"task": args.task, "num_prompts": len(sources), "sources": sources, "summary": summary})
    print(f"Averaged {len(sources)} runs of {args.task}: {args.output / (args.task + '.safetensors')}")
    return 0
