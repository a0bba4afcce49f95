"""Benchmark: an attack's queries per second against an evaluation's documents per second, on the same model.

The demo model (all-MiniLM-L6-v2 with its shipped SST-2 prompt, ``prompt_tuned``), the first
``--docs`` SST-2 validation documents:

* **evaluation**: the request Instances lm-eval builds for the documents, scored by one
  ``loglikelihood`` call (what lm-eval's evaluator does): documents per second;
* **queries (replayed)**: the rounds of variant documents a ``chars`` attack of the same documents
  asked for, recorded once and replayed through the attack's scorer (render + ``loglikelihood``,
  one call per round): queries per second, the rendering included;
* **attack (end to end)**: the whole attack (search, candidates and log included): queries per second.

A query is one scored document, as an evaluated document is: the goal is at least 0.8x. Side by
side, the order rotating over repeats; medians of the wall-clock rates and of their ratio.

Usage (repository root, project venv)::

    python bench/attack_queries.py [--docs 200] [--repeats 3] [--out FILE]
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=200, help="SST-2 validation documents")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=32, help="documents searched together")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "attack_queries.json")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    offline_datasets(Path(tempfile.gettempdir()) / "skillneuron-bench-hf-cache")
    from skillneuron_harness.attacks import AttackConfig
    from skillneuron_harness.experiments.attack import run_attack
    from skillneuron_harness.host import compat
    from skillneuron_harness.host.attack_sets import VictimScorer
    from skillneuron_harness.host.evaluate import load_model
    from skillneuron_harness.host.tasks import load_task

    lm = load_model("prompt_tuned", "", batch_size=args.batch_size, device="cpu")
    task = load_task("sst2")
    docs = task.eval_docs
    n = min(args.docs, len(docs))
    instances = [inst for i in range(n) for inst in compat.document_requests(
        task, docs[i], i, compat.render_context(task, docs[i]))]

    rounds: list[list] = []  # the variants of every round of one attack, for the replay
    real = VictimScorer.__call__

    def recording(self, variants):
        rounds.append(list(variants))
        return real(self, variants)

    VictimScorer.__call__ = recording
    with tempfile.TemporaryDirectory() as tmp:
        run_attack(lm, task, tmp, AttackConfig(), task_name="sst2", limit=n, width=args.width, progress=False)
    VictimScorer.__call__ = real
    queries = sum(len(r) for r in rounds)

    def evaluation() -> float:
        start = time.perf_counter()
        lm.loglikelihood(instances, disable_tqdm=True)
        return n / (time.perf_counter() - start)

    def replay() -> float:
        scorer = VictimScorer(lm, task, docs, "sst2")
        start = time.perf_counter()
        for variants in rounds:
            scorer(variants)
        return queries / (time.perf_counter() - start)

    def end_to_end() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run_attack(lm, task, tmp, AttackConfig(), task_name="sst2", limit=n, width=args.width, progress=False)
            return queries / (time.perf_counter() - start)

    timings = {"evaluation": evaluation, "replay": replay, "attack": end_to_end}
    rates: dict[str, list[float]] = {k: [] for k in timings}
    for repeat in range(args.repeats):
        order = list(timings)[repeat % 3:] + list(timings)[: repeat % 3]
        for name in order:
            rates[name].append(timings[name]())
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()), flush=True)
    result = {
        "settings": {"docs": n, "batch_size": args.batch_size, "width": args.width, "repeats": args.repeats,
                     "queries": queries, "rounds": len(rounds)},
        "median_per_second": {k: statistics.median(v) for k, v in rates.items()},
        "median_ratio_to_evaluation": {k: statistics.median(r / e for r, e in zip(v, rates["evaluation"], strict=True))
                                       for k, v in rates.items() if k != "evaluation"},
        "rates": rates,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("settings", "median_per_second", "median_ratio_to_evaluation")},
                     indent=2))
    return result


if __name__ == "__main__":
    main()
