"""Benchmark: the cost of skill-neuron statistics in an lm-eval run, and their memory.

On a random-weight T5 of t5-small's shape (6 + 6 layers, d_model 512, d_ff 2048) with a
20-token soft prompt, lm-eval's ``sst2`` validation (872 documents):

* **time**: ``prompt_tuned`` with ``skill_neurons=`` (baseline read from a file, so that only the
  capture and counting during evaluation are timed) against the same model without, side by
  side, alternating order over repeats; the baseline pass over the training split is timed
  separately (it is an extra pass over other documents, not overhead on the evaluated ones).
* **memory**: the bytes held by the statistics (``FireCounter`` and ``BaselineAccumulator``) after
  N documents, for growing N (flat), against the naive approach of keeping every document's
  activations at the prompt positions (measured by actually keeping them), at 872 documents.

Usage (repository root, project venv)::

    python bench/bench_skill_neurons.py [--docs 872] [--repeats 3] [--threads 1] [--out FILE]
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

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
T5_SHAPE = {"layers": 6, "d_model": 512, "d_ff": 2048, "heads": 8}
NUM_VIRTUAL_TOKENS = 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=872)
    p.add_argument("--baseline-docs", type=int, default=872, help="SST-2 training documents for the baseline")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "skill_neurons.json")
    return p.parse_args(argv)




def build_model(work: Path) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import build_t5

    model = build_t5(work / "t5", layers=T5_SHAPE["layers"], d_model=T5_SHAPE["d_model"], d_ff=T5_SHAPE["d_ff"],
                     heads=T5_SHAPE["heads"])
    torch.manual_seed(0)
    prompt = work / "prompt.safetensors"
    save_file({"prompt": torch.randn(NUM_VIRTUAL_TOKENS, T5_SHAPE["d_model"])}, prompt)
    return model, prompt


def timed_eval(lm, task_manager, docs) -> tuple[float, float]:
    import lm_eval

    start = time.perf_counter()
    results = lm_eval.simple_evaluate(model=lm, tasks=["sst2"], limit=docs, task_manager=task_manager,
                                      bootstrap_iters=0)
    return time.perf_counter() - start, results["results"]["sst2"]["acc,none"]


def memory_curve(lm, docs: int) -> dict:
    """Bytes of the streaming statistics vs the activations a naive approach keeps."""
    import torch

    from skillneuron_harness.core.scoring import ChoiceGroup
    from skillneuron_harness.neurons.statistics import BaselineAccumulator, FireCounter

    with open(SHARED / "data" / "sst2" / "validation.jsonl") as f:
        rows = [json.loads(line) for line in f][:docs]
    template = "{}\nQuestion: Is this sentence positive or negative?\nAnswer:"
    groups = [lm.choice_group(template.format(r["sentence"]), [" negative", " positive"]) for r in rows]
    labels = [r["label"] for r in rows]
    kept, counter, curve = [], None, []
    checkpoints = {docs // 8, docs // 4, docs // 2, docs}
    done = 0
    for batch, _, acts in lm.scored_batches([ChoiceGroup(g.context, g.continuations) for g in groups],
                                            capture=lm.recorder.positions, disable_tqdm=True):
        acts = acts.float()  # (G, L, P, D)
        if counter is None:
            counter = FireCounter(acts.mean(0), num_classes=2)
            baseline = BaselineAccumulator()
        baseline.update(acts)
        counter.update(acts, torch.tensor([labels[i] for i in batch]))
        kept.append(acts.clone())  # the naive approach: keep every document's activations
        before = done
        done += len(batch)
        for n in sorted(checkpoints):
            if before < n <= done:
                stats_bytes = sum(t.numel() * t.element_size() for t in
                                  (*counter.state().values(), *baseline.state().values()))
                naive_bytes = sum(t.numel() * t.element_size() for t in kept)
                curve.append({"docs": done, "statistics_bytes": stats_bytes, "naive_bytes": naive_bytes})
    return {"shape_per_doc": list(kept[0].shape[1:]), "curve": curve}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        offline_datasets(work / "hf-cache")
        model, prompt = build_model(work)
        from lm_eval.tasks import TaskManager

        from skillneuron_harness.host.model import PromptTunedLM

        tm = TaskManager()
        common = {"pretrained": str(model), "prompt": str(prompt), "device": "cpu", "batch_size": args.batch_size}
        # Baseline pass once (timed on its own), then reuse its file so only capture + counting is timed.
        sn_dir = work / "sn-first"
        with_sn = PromptTunedLM(**common, skill_neurons=str(sn_dir), sn_baseline_limit=args.baseline_docs)
        start = time.perf_counter()
        timed_eval(with_sn, tm, 8)
        baseline_seconds = time.perf_counter() - start
        plain = PromptTunedLM(**common)
        with_sn = PromptTunedLM(**common, skill_neurons=str(work / "sn"), sn_baseline=str(sn_dir / "sst2.safetensors"))
        times = {"off": [], "on": []}
        accs = {}
        for r in range(args.repeats):
            order = (("off", plain), ("on", with_sn)) if r % 2 == 0 else (("on", with_sn), ("off", plain))
            for name, lm in order:
                seconds, accs[name] = timed_eval(lm, tm, args.docs)
                times[name].append(seconds)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        memory = memory_curve(with_sn, args.docs)
        report = {
            "model": {"shape": T5_SHAPE, "num_virtual_tokens": NUM_VIRTUAL_TOKENS, "weights": "random"},
            "docs": args.docs, "batch_size": args.batch_size, "threads": args.threads, "repeats": args.repeats,
            "seconds": times, "median_off": off, "median_on": on, "overhead": on / off - 1,
            "docs_per_second_off": args.docs / off, "docs_per_second_on": args.docs / on,
            "accuracy": accs, "baseline_pass_seconds": baseline_seconds, "baseline_docs": args.baseline_docs,
            "memory": memory,
        }
    last = report["memory"]["curve"][-1]
    report["memory"]["naive_over_statistics_at_max_docs"] = last["naive_bytes"] / last["statistics_bytes"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("median_off", "median_on", "overhead", "accuracy",
                                             "baseline_pass_seconds")}, indent=2))
    print(json.dumps(report["memory"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
