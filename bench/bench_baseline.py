"""Benchmark: the skill-neuron baseline pass against the evaluation pass, on the same documents.

The baseline needs only the FFN activations, so it runs the capture-only forward
(``PromptTunedLM.activation_batches``: the T5 encoder alone, no vocabulary head, stopped after the
last hooked layer) and sums them; the evaluation pass (``scored_batches(capture="prompt")``, which the
baseline used before) scores every choice and counts. Both run on the same rendered SST-2 training
documents, side by side in alternating order, and the ratio of their times is taken per repeat;
the report gives the median of those ratios, of wall-clock time and of CPU time (``process_time``:
with one torch thread, the work done, less sensitive to other jobs on a shared machine). Two settings:

* **same batch**: both at ``--batch-size`` documents per pass (what the capture-only forward saves);
* **as run**: the evaluation at lm-eval's default batch size (1) against the baseline at its own
  default (``sn_batch_size``), i.e. what a ``--limit`` run without ``--batch_size`` sees.

Models: a random T5 of t5-small's shape with t5-small's vocabulary size (32,128 rows, so that the
decoder's head costs what it does there; tokenizer from ``tests/tiny_models.py``) and the demo
model (all-MiniLM-L6-v2 + its shipped masked-LM head, real weights; the ``demo`` extra). 20-token
soft prompts, ``sn_positions=prompt``.

Usage (repository root, project venv)::

    python bench/bench_baseline.py [--docs 256] [--repeats 3] [--batch-size 32] [--threads 1] [--out FILE]
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
T5_SHAPE = {"layers": 6, "d_model": 512, "d_ff": 2048, "heads": 8, "vocab_size": 32128}
NUM_VIRTUAL_TOKENS = 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=256, help="SST-2 training documents per timed pass")
    p.add_argument("--batch-size", type=int, default=32, help="documents per pass in the 'same batch' setting")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--models", nargs="+", default=["t5", "minilm"], choices=["t5", "minilm"])
    p.add_argument("--skip-as-run", action="store_true", help="time only the 'same batch' setting")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "baseline.json")
    return p.parse_args(argv)


def build_t5(work: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import build_t5 as tiny_t5

    path = tiny_t5(work / "t5", layers=T5_SHAPE["layers"], d_model=T5_SHAPE["d_model"], d_ff=T5_SHAPE["d_ff"],
                   heads=T5_SHAPE["heads"])
    config = T5Config.from_pretrained(path)
    config.vocab_size = T5_SHAPE["vocab_size"]  # t5-small's: the decoder head's real cost
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(path)
    return path


def prompt_file(work: Path, width: int) -> Path:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = work / f"prompt{width}.safetensors"
    save_file({"prompt": torch.randn(NUM_VIRTUAL_TOKENS, width) * 0.5}, path)
    return path


def documents(lm, n: int):
    """SST-2 training documents rendered as the baseline renders them: groups and labels."""
    from lm_eval.tasks import TaskManager, get_task_dict

    task = get_task_dict(["sst2"], TaskManager())["sst2"]
    docs = list(task.training_docs())[:n]
    groups = [lm.choice_group(task.fewshot_context(d, 0), [task.config.target_delimiter + str(c)
                                                            for c in task.doc_to_choice(d)]) for d in docs]
    return groups, [int(task.doc_to_target(d)) for d in docs]


def evaluation_pass(lm, groups, labels, batch_size) -> tuple[float, float]:
    """Scoring with capture and counting, as during evaluation; (wall, CPU) seconds."""
    import torch

    from skillneuron_harness.neurons.statistics import FireCounter

    counter = None
    start, cpu = time.perf_counter(), time.process_time()
    for batch, _, acts in lm.scored_batches(groups, capture="prompt", batch_size=batch_size, disable_tqdm=True):
        acts = acts.float()  # (G, L, P, D)
        counter = counter or FireCounter(torch.zeros_like(acts[0]), num_classes=2)
        counter.update(acts, torch.tensor([labels[g] for g in batch]))
    return time.perf_counter() - start, time.process_time() - cpu


def baseline_pass(lm, groups, batch_size):
    """The capture-only pass and the running sum, as the baseline does; ((wall, CPU) seconds, mean)."""
    from skillneuron_harness.neurons.statistics import BaselineAccumulator

    acc = BaselineAccumulator()
    start, cpu = time.perf_counter(), time.process_time()
    for _, acts in lm.activation_batches(groups, capture="prompt", batch_size=batch_size, disable_tqdm=True):
        acc.update(acts.float())  # (G, L, P, D)
    return (time.perf_counter() - start, time.process_time() - cpu), acc.mean()


def bench_model(name: str, lm, args) -> dict:
    from skillneuron_harness.neurons.statistics import BaselineAccumulator

    groups, labels = documents(lm, args.docs)
    # Agreement: the baseline from the capture-only pass against the one from the full pass.
    full = BaselineAccumulator()
    for _, _, acts in lm.scored_batches(groups[:64], capture="prompt", batch_size=args.batch_size,
                                      disable_tqdm=True):
        full.update(acts.float())
    _, only = baseline_pass(lm, groups[:64], args.batch_size)
    max_diff = float((full.mean() - only).abs().max())
    settings = {"same_batch": (args.batch_size, args.batch_size)}
    if not args.skip_as_run:
        from skillneuron_harness.neurons.recorder import DEFAULT_BATCH_SIZE

        settings["as_run"] = (1, DEFAULT_BATCH_SIZE)
    out = {"docs": len(groups), "max_abs_diff_baseline": max_diff}
    for setting, (eval_bs, base_bs) in settings.items():
        times = {"evaluation": [], "baseline": [], "evaluation_cpu": [], "baseline_cpu": []}
        ratios, cpu_ratios = [], []
        for r in range(args.repeats):
            if r % 2 == 0:
                t_eval = evaluation_pass(lm, groups, labels, eval_bs)
                t_base, _ = baseline_pass(lm, groups, base_bs)
            else:
                t_base, _ = baseline_pass(lm, groups, base_bs)
                t_eval = evaluation_pass(lm, groups, labels, eval_bs)
            for key, (wall, cpu) in (("evaluation", t_eval), ("baseline", t_base)):
                times[key].append(wall)
                times[f"{key}_cpu"].append(cpu)
            ratios.append(t_eval[0] / t_base[0])
            cpu_ratios.append(t_eval[1] / t_base[1])
            print(f"{name} {setting} repeat {r}: evaluation {len(groups) / t_eval[0]:.1f} docs/s (batch {eval_bs}), "
                  f"baseline {len(groups) / t_base[0]:.1f} docs/s (batch {base_bs}), ratio {ratios[-1]:.2f} "
                  f"(CPU time: {len(groups) / t_eval[1]:.1f} vs {len(groups) / t_base[1]:.1f} docs per CPU second, "
                  f"ratio {cpu_ratios[-1]:.2f})", flush=True)
        out[setting] = {
            "evaluation_batch_size": eval_bs, "baseline_batch_size": base_bs, "seconds": times,
            "evaluation_docs_per_second": len(groups) / statistics.median(times["evaluation"]),
            "baseline_docs_per_second": len(groups) / statistics.median(times["baseline"]),
            "evaluation_docs_per_cpu_second": len(groups) / statistics.median(times["evaluation_cpu"]),
            "baseline_docs_per_cpu_second": len(groups) / statistics.median(times["baseline_cpu"]),
            "ratios": ratios, "median_ratio": statistics.median(ratios),
            "cpu_ratios": cpu_ratios, "median_cpu_ratio": statistics.median(cpu_ratios),
        }
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = {"threads": args.threads, "repeats": args.repeats, "batch_size": args.batch_size,
              "num_virtual_tokens": NUM_VIRTUAL_TOKENS, "t5_shape": T5_SHAPE, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        offline_datasets(work / "hf-cache")
        from skillneuron_harness.host.model import PromptTunedLM

        for name in args.models:
            if name == "t5":
                model, width = build_t5(work), T5_SHAPE["d_model"]
            else:
                from skillneuron_harness.host.demo_model import demo_model_path

                model, width = demo_model_path(), 384
            lm = PromptTunedLM(pretrained=str(model), prompt=str(prompt_file(work, width)), device="cpu",
                               batch_size=args.batch_size)
            report["models"][name] = bench_model(name, lm, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({m: {k: [v["median_ratio"], v["median_cpu_ratio"]] if isinstance(v, dict) else v
                          for k, v in r.items()} for m, r in report["models"].items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
