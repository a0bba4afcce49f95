"""Benchmark: ``prompt_tuned``'s grouped multiple-choice scoring against per-choice scoring.

Two comparisons, both on random-weight models built here, offline:

* **T5 (seq2seq)**: ``prompt_tuned`` (one encoder pass per document, every choice decoded from
  it) against lm-eval's own ``hf`` model with ``peft=`` (one encoder pass per choice), on the
  same T5 (t5-small shape: 6 + 6 layers, d_model 512, d_ff 2048, 8 heads) and the same PEFT
  prompt-tuning adapter (20 virtual tokens, encoder only), with lm-eval's built-in ``sst2``
  (two choices) and ``mnli`` (three choices). Both LM objects are built before timing; each
  timed run is one ``lm_eval.evaluator.evaluate`` call, and the order of the two models
  alternates over the repeats. The accuracies must be identical and the per-document
  log-likelihoods equal within float32 noise.
* **Masked LM (BERT)**: :func:`skillneuron_harness.core.scoring.score_groups` with one group
  per document (one forward pass per document) against one group per (document, choice) (one
  forward pass per choice), on the same encoded requests of the same tasks.

Usage (from the repository root, in the project's venv)::

    python bench/bench_scoring.py [--docs 872] [--mnli-docs 300] [--batch-size 32] [--repeats 3] \\
        [--threads 1] [--out bench/results/scoring.json]

Results: medians of documents per second, their ratios, accuracies and score differences, as
JSON in ``--out`` (``bench/results/`` is git-ignored; the README keeps the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _offline import offline_datasets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# t5-small's shape (the brief of the benchmark); BERT is smaller than bert-base to fit CPU time.
T5_SHAPE = {"layers": 6, "d_model": 512, "d_ff": 2048, "heads": 8}
BERT_SHAPE = {"layers": 4, "hidden": 512, "ffn": 2048}
NUM_VIRTUAL_TOKENS = 20
WARMUP_DOCS = 8  # untimed documents per model and task before the timed runs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=872, help="SST-2 validation documents (872: all of them)")
    p.add_argument("--mnli-docs", type=int, default=300, help="MNLI validation_matched documents (0: skip)")
    p.add_argument("--batch-size", type=int, default=32, help="rows per forward batch, for every model")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per model and task")
    p.add_argument("--masked-repeats", type=int, default=None, help="repeats of the masked-LM part "
                   "(default: --repeats)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads; 1 (the default) keeps "
                   "timings steady on a CPU shared with other jobs, where extra threads mostly wait")
    p.add_argument("--skip-masked", action="store_true", help="leave out the masked-LM comparison")
    p.add_argument("--workdir", type=Path, default=None, help="models and datasets cache (default: a temp dir)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scoring.json")
    return p.parse_args(argv)




# ------------------------------------------------------------------------------------- models
def build_t5_and_adapter(workdir: Path) -> tuple[Path, Path]:
    """Random T5 of t5-small shape and a PEFT prompt-tuning adapter (encoder prompt only)."""
    import torch
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from tiny_models import build_t5
    from transformers import T5ForConditionalGeneration

    t5_dir, adapter_dir = workdir / "t5", workdir / "t5-prompt"
    build_t5(t5_dir, **T5_SHAPE)
    # num_transformer_submodules=1: PEFT's seq2seq default (2) also sizes a decoder prompt
    # that its forward never uses; with 1 the adapter holds exactly the encoder prompt.
    config = PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=NUM_VIRTUAL_TOKENS,
                                num_transformer_submodules=1)
    torch.manual_seed(1)
    peft_model = get_peft_model(T5ForConditionalGeneration.from_pretrained(t5_dir), config)
    peft_model.save_pretrained(adapter_dir)
    return t5_dir, adapter_dir


def build_bert_and_prompt(workdir: Path) -> tuple[Path, Path]:
    """Random BERT MLM and a soft prompt tensor file [P, hidden]."""
    import torch
    from safetensors.torch import save_file
    from tiny_models import build_bert

    bert_dir = workdir / "bert"
    build_bert(bert_dir, **BERT_SHAPE)
    torch.manual_seed(2)
    prompt_file = workdir / "bert-prompt.safetensors"
    save_file({"prompt_embeddings": torch.randn(NUM_VIRTUAL_TOKENS, BERT_SHAPE["hidden"]) * 0.05}, prompt_file)
    return bert_dir, prompt_file


def make_lm(name: str, **kwargs):
    from lm_eval.api.registry import get_model

    import skillneuron_harness.host.model  # noqa: F401  (registers prompt_tuned)

    return get_model(name)(**kwargs)


# ------------------------------------------------------------------------- lm-eval comparison
def task_spec(task: str) -> str | dict:
    """lm-eval's task ``task``; ``mnli`` without its training split, which the offline cache lacks."""
    if task != "mnli":
        return task
    from lm_eval.tasks.glue.mnli.utils import doc_to_text

    # lm-eval's glue/mnli/default.yaml, less `training_split: train` (its few-shot source, unused
    # at zero shots but loaded eagerly).
    return {"task": "mnli_matched", "dataset_path": "nyu-mll/glue", "dataset_name": "mnli",
            "output_type": "multiple_choice", "validation_split": "validation_matched",
            "doc_to_text": doc_to_text, "doc_to_target": "label", "doc_to_choice": ["True", "Neither", "False"],
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}


def load_task(task_manager, task: str):
    """A fresh lm-eval TaskDict holding ``task``, and the task's name in it."""
    spec = task_spec(task)
    return task_manager.load([spec]), spec if isinstance(spec, str) else spec["task"]


def evaluate_once(lm, task_manager, task: str, limit: int | None) -> dict:
    """One timed ``evaluate`` call: seconds, documents, accuracy and per-document log-likelihoods."""
    from lm_eval import evaluator

    task_dict, task = load_task(task_manager, task)  # built outside the timed region
    start = time.perf_counter()
    out = evaluator.evaluate(lm=lm, task_dict=task_dict, limit=limit, bootstrap_iters=0, log_samples=True,
                             verbosity="WARNING")
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    lls = [[float(r[0]) for r in s["filtered_resps"]] for s in samples]
    return {"seconds": seconds, "docs": len(samples), "acc": out["results"][task]["acc,none"], "lls": lls}


def compare_on_task(lms: dict, task_manager, task: str, limit: int | None, repeats: int) -> dict:
    """Alternate the models over ``repeats`` runs of ``task``; medians, ratio and agreement."""
    names = list(lms)
    for name in names:  # untimed warm-up: first-call allocations and kernel selection
        evaluate_once(lms[name], task_manager, task, WARMUP_DOCS)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            res = evaluate_once(lms[name], task_manager, task, limit)
            runs[name].append(res)
            print(f"  {task} run {r + 1}/{repeats} {name}: {res['docs'] / res['seconds']:.1f} docs/s "
                  f"({res['seconds']:.1f} s, acc {res['acc']:.4f})", flush=True)
    fast, base = names
    docs = runs[fast][0]["docs"]
    summary = {"task": task, "docs": docs, "choices": len(runs[fast][0]["lls"][0]), "repeats": repeats}
    for name in names:
        per_run = [docs / run["seconds"] for run in runs[name]]
        summary[name] = {"docs_per_s_median": statistics.median(per_run), "docs_per_s_runs": per_run,
                         "acc": runs[name][0]["acc"]}
    summary["ratio"] = summary[fast]["docs_per_s_median"] / summary[base]["docs_per_s_median"]
    summary["acc_identical"] = all(run["acc"] == runs[fast][0]["acc"] for n in names for run in runs[n])
    a, b = runs[fast][0]["lls"], runs[base][0]["lls"]
    summary["max_abs_loglik_diff"] = max(abs(x - y) for da, db in zip(a, b, strict=True)
                                         for x, y in zip(da, db, strict=True))
    summary["predictions_identical"] = all(
        max(range(len(da)), key=da.__getitem__) == max(range(len(db)), key=db.__getitem__)
        for da, db in zip(a, b, strict=True))
    return summary


def bench_t5(args, t5_dir: Path, adapter_dir: Path) -> list[dict]:
    from lm_eval.tasks import TaskManager

    common = {"pretrained": str(t5_dir), "batch_size": args.batch_size, "device": "cpu", "dtype": "float32"}
    lms = {
        "prompt_tuned": make_lm("prompt_tuned", prompt=str(adapter_dir), **common),
        "hf": make_lm("hf", peft=str(adapter_dir), **common),
    }
    task_manager = TaskManager()
    tasks = [("sst2", args.docs)] + ([("mnli", args.mnli_docs)] if args.mnli_docs else [])
    return [compare_on_task(lms, task_manager, task, limit, args.repeats) for task, limit in tasks]


# ------------------------------------------------------------------------------- masked LM
def encoded_groups(lm, task_manager, task: str, limit: int | None):
    """The ChoiceGroups ``prompt_tuned`` would score for ``task``: one per document."""

    task_dict, name = load_task(task_manager, task)
    task_obj = task_dict["tasks"][name]
    task_obj.build_all_requests(limit=limit, rank=0, world_size=1)
    groups, _ = lm.choice_groups(lm.encode_requests(task_obj.instances), task_obj.instances)
    return groups


def score_all(lm, groups, batch_size: int) -> list[float]:
    """Score ``groups`` longest first, at most ``batch_size`` scored rows per forward batch."""
    import torch

    from skillneuron_harness.core.scoring import choice_batches, score_groups

    scores: list = [None] * len(groups)
    for batch in choice_batches(groups, batch_size):
        with torch.no_grad():
            scored = score_groups("masked", lm.model, lm.engine.prompt, [groups[g] for g in batch], lm.tokenizer)
        for g, lp in zip(batch, scored.logprobs, strict=True):
            scores[g] = lp.tolist()
    return scores


def bench_masked(args, bert_dir: Path, prompt_file: Path) -> list[dict]:
    from lm_eval.tasks import TaskManager

    from skillneuron_harness.core.scoring import ChoiceGroup

    lm = make_lm("prompt_tuned", pretrained=str(bert_dir), prompt=str(prompt_file), batch_size=args.batch_size,
                 device="cpu", dtype="float32")
    assert lm.backend == "masked", lm.backend
    task_manager = TaskManager()
    repeats = args.masked_repeats or args.repeats
    tasks = [("sst2", args.docs)] + ([("mnli", args.mnli_docs)] if args.mnli_docs else [])
    out = []
    for task, limit in tasks:
        grouped = encoded_groups(lm, task_manager, task, limit)
        per_choice = [ChoiceGroup(g.context, [c]) for g in grouped for c in g.continuations]
        paths = {"grouped": grouped, "per_choice": per_choice}
        times: dict[str, list[float]] = {n: [] for n in paths}
        scores: dict[str, list[float]] = {}
        for name in paths:  # untimed warm-up
            score_all(lm, paths[name][:WARMUP_DOCS], args.batch_size)
        for r in range(repeats):
            for name in list(paths) if r % 2 == 0 else list(paths)[::-1]:
                start = time.perf_counter()
                s = score_all(lm, paths[name], args.batch_size)
                times[name].append(time.perf_counter() - start)
                scores[name] = [x for row in s for x in row]
                print(f"  masked {task} run {r + 1}/{repeats} {name}: "
                      f"{len(grouped) / times[name][-1]:.1f} docs/s ({times[name][-1]:.1f} s)", flush=True)
        docs = len(grouped)
        summary = {"task": task, "docs": docs, "choices": len(grouped[0].continuations), "repeats": repeats}
        for name in paths:
            per_run = [docs / t for t in times[name]]
            summary[name] = {"docs_per_s_median": statistics.median(per_run), "docs_per_s_runs": per_run}
        summary["ratio"] = summary["grouped"]["docs_per_s_median"] / summary["per_choice"]["docs_per_s_median"]
        summary["max_abs_loglik_diff"] = max(abs(a - b) for a, b in zip(scores["grouped"], scores["per_choice"],
                                                                       strict=True))
        out.append(summary)
    return out


# ------------------------------------------------------------------------------------ main
def versions() -> dict:
    import lm_eval
    import peft
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "lm_eval": lm_eval.__version__}


def main(argv=None) -> dict:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="skillneuron-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    offline_datasets(workdir / "hf-cache")
    sys.path.insert(0, str(ROOT / "tests"))  # tiny_models: offline tokenizers and random models
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    t5_dir, adapter_dir = build_t5_and_adapter(workdir)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/bench_scoring.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "platform": platform.platform(), "processor": platform.processor()},
        "versions": versions(),
        "batch_size": args.batch_size,
        "t5": {"shape": T5_SHAPE, "num_virtual_tokens": NUM_VIRTUAL_TOKENS,
               "parameters": sum(p.numel() for p in _load_t5(t5_dir).parameters())},
    }
    print(f"T5 ({result['t5']['parameters'] / 1e6:.1f}M parameters): prompt_tuned vs hf with peft=", flush=True)
    result["t5"]["tasks"] = bench_t5(args, t5_dir, adapter_dir)
    if not args.skip_masked:
        bert_dir, prompt_file = build_bert_and_prompt(workdir)
        result["masked"] = {"shape": BERT_SHAPE, "num_virtual_tokens": NUM_VIRTUAL_TOKENS,
                            "parameters": sum(p.numel() for p in _load_bert(bert_dir).parameters())}
        print(f"BERT ({result['masked']['parameters'] / 1e6:.1f}M parameters): grouped vs per-choice", flush=True)
        result["masked"]["tasks"] = bench_masked(args, bert_dir, prompt_file)
    result["total_seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_summary(result)
    print(f"wrote {args.out}")
    return result


def _load_t5(path: Path):
    from transformers import T5ForConditionalGeneration

    return T5ForConditionalGeneration.from_pretrained(path)


def _load_bert(path: Path):
    from transformers import BertForMaskedLM

    return BertForMaskedLM.from_pretrained(path)


def print_summary(result: dict) -> None:
    print(f"\nbatch size {result['batch_size']}, {result['machine']['torch_threads']} torch threads")
    for t in result["t5"]["tasks"]:
        pt, hf = t["prompt_tuned"], t["hf"]
        print(f"T5 {t['task']} ({t['docs']} docs, {t['choices']} choices): prompt_tuned "
              f"{pt['docs_per_s_median']:.1f} docs/s, hf+peft {hf['docs_per_s_median']:.1f} docs/s, "
              f"ratio {t['ratio']:.2f}x; acc {pt['acc']:.4f} vs {hf['acc']:.4f} "
              f"(identical: {t['acc_identical']}), max |dLL| {t['max_abs_loglik_diff']:.2e}")
    for t in result.get("masked", {}).get("tasks", []):
        print(f"BERT {t['task']} ({t['docs']} docs, {t['choices']} choices): grouped "
              f"{t['grouped']['docs_per_s_median']:.1f} docs/s, per-choice "
              f"{t['per_choice']['docs_per_s_median']:.1f} docs/s, ratio {t['ratio']:.2f}x, "
              f"max |dLL| {t['max_abs_loglik_diff']:.2e}")


if __name__ == "__main__":
    main()
