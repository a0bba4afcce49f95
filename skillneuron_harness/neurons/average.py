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
from pathlib import Path

import torch

from skillneuron_harness.neurons.io import read_task_stats
from skillneuron_harness.neurons.statistics import average_over_prompts, top_fraction_mask


def average_task_scores(directories: list[Path], task: str) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Mean and standard deviation over prompts of ``score`` [L, D], and each source's provenance."""
    scores, sources = [], []
    for directory in directories:
        stats = read_task_stats(directory, task)
        if "score" not in stats.tensors:
            raise ValueError(f"{directory}/{task}.safetensors has no score (predictivity was undefined there).")
        scores.append(stats.tensors["score"])  # (L, D)
        sources.append({"directory": str(directory), **{k: stats.provenance.get(k) for k in
                                                          ("model", "prompt", "prompt_sha256", "num_docs")}})
    shapes = {tuple(s.shape) for s in scores}
    if len(shapes) != 1:
        raise ValueError(f"score shapes differ between runs: {sorted(shapes)}; average runs of one model only.")
    stacked = torch.stack(scores)  # (R, L, D)
    std = stacked.std(0) if len(scores) > 1 else torch.zeros_like(scores[0])  # (L, D)
    return average_over_prompts(scores), std, sources


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron average``."""
    parser = argparse.ArgumentParser(prog="skillneuron average", description=__doc__.split("\n\n")[0])
    parser.add_argument("directories", nargs="+", type=Path, help="skill_neurons= folders of runs (one per prompt)")
    parser.add_argument("--task", required=True, help="task name, e.g. sst2")
    parser.add_argument("--output", required=True, type=Path, help="folder for <task>.safetensors / .json")
    parser.add_argument("--top", type=float, default=0.02, help="fraction of each layer's neurons marked skill")
    args = parser.parse_args(argv)
    from safetensors.torch import save_file

    from skillneuron_harness.neurons.io import summarize

    mean, std, sources = average_task_scores(args.directories, args.task)
    mask = top_fraction_mask(mean, args.top)  # (L, D)
    args.output.mkdir(parents=True, exist_ok=True)
    save_file({"score": mean.float().contiguous(), "score_std": std.float().contiguous(), "skill_neurons": mask},
              str(args.output / f"{args.task}.safetensors"), metadata={"task": args.task, "format": "pt"})
    summary = summarize(mean, torch.zeros_like(mean, dtype=torch.int64), top_fraction=args.top)
    for neuron in summary["top_neurons"]:
        neuron.pop("position")  # positions differ between prompts
    (args.output / f"{args.task}.json").write_text(json.dumps(
        {"task": args.task, "num_prompts": len(sources), "sources": sources, "summary": summary}, indent=2))
    print(f"Averaged {len(sources)} runs of {args.task}: {args.output / (args.task + '.safetensors')}")
    return 0
