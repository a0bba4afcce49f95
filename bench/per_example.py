"""Benchmark: the cost of the per-example consistency on top of a ``skill_neurons=`` run.

On a random-weight T5 of t5-small's shape (6 + 6 layers, d_model 512, d_ff 2048) with a
20-token soft prompt, lm-eval's ``sst2`` validation and an adversarial twin of it written here
(each sentence's words reversed), evaluated together with ``skill_neurons=`` (baseline read from
a file, so that only capture, counting and pair bookkeeping are timed):

* **off**: the twin's documents carry no ``clean_doc_id``: no pairs, the plain ``skill_neurons=`` run;
* **on (all bits)**: the same documents with ``clean_doc_id``: the firing bits of every neuron at
  every prompt position are kept for the paired documents (the selection comes at the end);
* **on (sn_reference)**: the same, with ``sn_reference=`` a clean run's file: only the selected
  neurons' bits are kept.

Side by side, the order rotating over repeats; medians of wall-clock and of CPU time
(``process_time``, less sensitive to other jobs on a shared machine). Also the bytes of bits kept.

Usage (repository root, project venv)::

    python bench/per_example.py [--docs 872] [--repeats 3] [--threads 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _offline import offline_datasets  # noqa: E402
from bench_skill_neurons import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=872, help="documents of each task")
    p.add_argument("--baseline-docs", type=int, default=256, help="SST-2 training documents for the baseline file")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "per_example.json")
    return p.parse_args(argv)


def write_twins(folder: Path, docs: int) -> None:
    """``bench_pairs`` (with ``clean_doc_id``) and ``bench_nopairs`` (without): the same reversed sentences."""
    from skillneuron_harness.host.bridge import task_folder

    folder.mkdir(parents=True, exist_ok=True)
    with open(SHARED / "data" / "sst2" / "validation.jsonl") as f:
        rows = [json.loads(line) for line in f][:docs]
    for name, paired in (("bench_pairs", True), ("bench_nopairs", False)):
        with (folder / f"{name}.jsonl").open("w") as f:
            for i, r in enumerate(rows):
                doc = {"sentence": " ".join(reversed(r["sentence"].split())), "label": r["label"]}
                f.write(json.dumps({**doc, "clean_doc_id": i} if paired else doc) + "\n")
        (folder / f"{name}.yaml").write_text(
            f"include: {task_folder() / 'templates' / 'sst2_jsonl.yaml'}\ntask: {name}\n"
            f"dataset_kwargs:\n  data_files: {name}.jsonl\nmetadata: {{clean_twin: sst2, perturbation: reverse}}\n")


def timed(lm, tm, tasks, docs) -> tuple[float, float, dict]:
    """(wall-clock seconds, this process's CPU seconds, lm-eval's results) of one evaluation."""
    import lm_eval

    start, cpu = time.perf_counter(), time.process_time()
    results = lm_eval.simple_evaluate(model=lm, tasks=tasks, limit=docs, task_manager=tm, bootstrap_iters=0)
    return time.perf_counter() - start, time.process_time() - cpu, results


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        offline_datasets(work / "hf-cache")
        write_twins(work / "tasks", args.docs)
        model, prompt = build_model(work)
        from lm_eval.tasks import TaskManager

        from skillneuron_harness.host.model import PromptTunedLM

        tm = TaskManager(include_path=str(work / "tasks"))
        common = {"pretrained": str(model), "prompt": str(prompt), "device": "cpu", "batch_size": args.batch_size}
        first = PromptTunedLM(**common, skill_neurons=str(work / "sn-first"), sn_baseline_limit=args.baseline_docs)
        timed(first, tm, ["sst2"], args.docs)  # the baseline file and the reference file of the clean task
        ref = str(work / "sn-first" / "sst2.safetensors")
        lms = {"off": PromptTunedLM(**common, skill_neurons=str(work / "sn-off"), sn_baseline=ref),
               "on_all_bits": PromptTunedLM(**common, skill_neurons=str(work / "sn-on"), sn_baseline=ref),
               "on_reference": PromptTunedLM(**common, skill_neurons=str(work / "sn-ref"), sn_baseline=ref,
                                             sn_reference=ref)}
        tasks = {"off": ["sst2", "bench_nopairs"], "on_all_bits": ["sst2", "bench_pairs"],
                 "on_reference": ["sst2", "bench_pairs"]}
        names = list(lms)
        for name in names:  # untimed warm-up: task loading, first passes
            timed(lms[name], tm, tasks[name], 8)
        seconds, cpu_seconds = {n: [] for n in names}, {n: [] for n in names}
        kept_bytes, blocks = {}, {}
        for r in range(args.repeats):
            for name in names[r % 3:] + names[:r % 3]:
                took, cpu, results = timed(lms[name], tm, tasks[name], args.docs)
                seconds[name].append(took)
                cpu_seconds[name].append(cpu)
                blocks[name] = results["skill_neurons"].get("bench_pairs", {}).get("per_example")
                kept_bytes[name] = (blocks[name] or {}).get("bits_bytes", 0)
        medians = {n: statistics.median(v) for n, v in seconds.items()}
        cpu_medians = {n: statistics.median(v) for n, v in cpu_seconds.items()}
        report = {"docs_per_task": args.docs, "batch_size": args.batch_size, "threads": args.threads,
                  "repeats": args.repeats, "seconds": seconds, "median": medians, "cpu_seconds": cpu_seconds,
                  "cpu_median": cpu_medians,
                  "overhead": {n: medians[n] / medians["off"] - 1 for n in names[1:]},
                  "cpu_overhead": {n: cpu_medians[n] / cpu_medians["off"] - 1 for n in names[1:]},
                  "per_repeat_ratio_median": {n: statistics.median(a / b for a, b in zip(seconds[n], seconds["off"],
                                                                                          strict=True))
                                              for n in names[1:]},
                  "tracker_bytes": kept_bytes,
                  "per_example": {n: {k: b.get(k) for k in ("pairs", "auc", "pointbiserial_r", "mean_flip_fraction")}
                                  for n, b in blocks.items() if b}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
