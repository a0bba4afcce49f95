"""Benchmark: what ``skillneuron replicate`` costs at real size, from measured per-document times.

For each model kind (roberta-base and t5-base shapes: 12 layers, width 768, FFN 3072, random
weights) and each released-format task the protocol evaluates, the real released prompt of seed 33
is evaluated through ``prompt_tuned`` exactly as ``replicate`` does, on real documents from the
offline datasets cache, and three things are measured per document:

* **eval**: one lm-eval evaluation (all choices scored), the cost of own-task, transfer and
  suppression evaluations: (time of an N-document run - time of a 1-document run) / (N - 1), so
  that building the task and loading its dataset, paid once per evaluation, are left out;
* **baseline**: the skill-neuron baseline pass over training documents, likewise from
  ``skill_neurons=`` runs with ``sn_baseline_limit=N`` and ``=1``;
* **FLOPs** of both, counted by ``torch.utils.flop_counter.FlopCounterMode`` on a few documents.

The plan of ``skillneuron replicate`` (``report.replicate.plan``, all four seeds, the default tasks
and suppression percents) is then costed with the public sizes of the full splits (``report.replicate.DOCUMENTS``) and
``--sn-baseline-limit`` training documents per baseline: seconds on the machine that ran the bench,
total FLOPs, and the time at ``--sustained-tflops`` (an assumption about the accelerator, printed
with the result; run the bench with ``--device cuda`` to measure one instead).

Tokenizers are trained offline on ../shared/data (byte BPE for RoBERTa, WordPiece for T5) with a
30,000-word vocabulary, so that documents have about the lengths real tokenizers give them; the
released formats cut texts at ~130 tokens plus the 100-token prompt in any case.

Usage (repository root, project venv)::

    python bench/replicate_cost.py [--docs 16] [--device cpu] [--batch-size 8] [--out FILE]
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
from _offline import SHARED, offline_datasets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RELEASE = SHARED / "published_prompts" / "continuous_prompts"
SHAPES = {"real": {"layers": 12, "width": 768, "ffn": 3072, "heads": 12},
          "smoke": {"layers": 1, "width": 768, "ffn": 64, "heads": 2}}
MODELS = {"roberta-base": "roberta", "t5-base": "t5"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=16, help="documents per timed evaluation and per baseline")
    p.add_argument("--flop-docs", type=int, default=4, help="documents per FLOP count")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--shape", default="real", choices=list(SHAPES), help="smoke: one thin layer, to try the bench")
    p.add_argument("--sn-baseline-limit", type=int, default=20000, help="as in the README's replicate command")
    p.add_argument("--sustained-tflops", type=float, default=10.0,
                   help="assumed sustained rate of the accelerator for the projection, TFLOP/s (10: about half "
                        "of an A100's float32 peak, the dtype prompt_tuned loads by default)")
    p.add_argument("--from", dest="measured", type=Path,
                   help="cost the plan from the per-document figures of an earlier result file (no measuring)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "replicate_cost.json")
    return p.parse_args(argv)


def bench_tokenizers(vocab: int = 30000) -> None:
    """Point tests/tiny_models.py's tokenizer training at a larger corpus and vocabulary."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tiny_models

    def corpus(limit: int = 200_000) -> list[str]:
        lines = [tiny_models.TEMPLATE_WORDS] * 50
        for name in ("sst2/validation.jsonl", "imdb/train_sample1k.jsonl", "mnli/train_sample9k.jsonl",
                     "qnli/train_sample9k.jsonl", "qqp/train_sample9k.jsonl"):
            with (SHARED / "data" / name).open(encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    lines += [str(v) for k, v in row.items() if isinstance(v, str) and k != "idx"]
        return lines[:limit]

    tiny_models.VOCAB_SIZE = vocab
    tiny_models._corpus = corpus


def build_models(work: Path, shape: dict, kinds: list[str]) -> dict[str, Path]:
    """Random-weight models of the given shape whose tokenizers know the released formats' words."""
    import torch
    from tiny_models import build_roberta, build_t5
    from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

    paths = {}
    if "roberta" in kinds:
        path = build_roberta(work / "roberta", layers=shape["layers"], hidden=shape["width"], ffn=shape["ffn"])
        tok = AutoTokenizer.from_pretrained(path)
        tok.add_tokens(["negative", "positive", "false", "true", "no", "yes", "neutral"])
        model = AutoModelForMaskedLM.from_pretrained(path)
        model.config.num_attention_heads = shape["heads"]
        fresh = type(model)(model.config)  # with the real head count
        fresh.resize_token_embeddings(len(tok), mean_resizing=False)
        fresh.save_pretrained(path), tok.save_pretrained(path)
        paths["roberta"] = path
    if "t5" in kinds:
        path = build_t5(work / "t5", layers=shape["layers"], d_model=shape["width"], d_ff=shape["ffn"],
                        heads=shape["heads"])
        tok = AutoTokenizer.from_pretrained(path)
        tok.add_special_tokens({"additional_special_tokens": ["<extra_id_0>"]})
        tok.add_tokens(["contradiction", "entailment", "neutral", "negative", "positive", "false", "true"])
        model = AutoModelForSeq2SeqLM.from_pretrained(path)
        model.resize_token_embeddings(len(tok), mean_resizing=False)
        model.save_pretrained(path), tok.save_pretrained(path)
        paths["t5"] = path
    torch.manual_seed(0)
    return paths


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def measure(path: Path, kind: str, args, manager, work: Path) -> dict:
    """Per released-format task of ``kind``: seconds and FLOPs per evaluated and per baseline document."""
    import lm_eval

    from skillneuron_harness.experiments.replicate import DOCUMENTS, find_prompt, split_name
    from skillneuron_harness.host.model import PromptTunedLM
    from skillneuron_harness.prompts.release import variant

    out = {}
    for task in ("SST2", "IMDB", "MNLI", "QNLI", "QQP"):
        spec = variant(task, kind, "33")
        prompt = find_prompt(RELEASE / "seed_33" / f"{task}Prompt{'Roberta' if kind == 'roberta' else 'T5'}")
        names = spec.names
        lm = PromptTunedLM(pretrained=str(path), prompt=str(prompt), device=args.device, batch_size=args.batch_size)

        def run(model, name, limit):
            return lambda: lm_eval.simple_evaluate(model=model, tasks=[name], limit=limit, task_manager=manager,
                                                   bootstrap_iters=0, log_samples=False)

        run(lm, spec.clean, 2)()  # warm-up: datasets, kernels
        for name in names:
            docs = min(args.docs, DOCUMENTS[split_name(name)])
            # the marginal time of a document: task building and dataset loading are paid once per evaluation
            seconds = max(timed(run(lm, name, docs)) - timed(run(lm, name, 1)), 0.0) / (docs - 1)
            counted = flops(run(lm, name, args.flop_docs)) / args.flop_docs
            out[name] = {"eval_seconds": seconds, "eval_gflop": counted / 1e9}
            print(f"  {name:<34} eval {seconds:7.3f} s/doc {counted / 1e9:8.1f} GFLOP/doc", flush=True)
        # the baseline: skill_neurons= runs of one evaluated document after an N- and a 1-document baseline
        docs = args.docs

        def with_baseline(limit, folder, prompt=prompt, task=task, spec=spec):
            model = PromptTunedLM(pretrained=str(path), prompt=str(prompt), device=args.device,
                                  batch_size=args.batch_size, skill_neurons=str(work / folder / kind / task),
                                  sn_baseline_limit=limit, sn_batch_size=args.batch_size)
            return run(model, spec.clean, 1)

        seconds = (timed(with_baseline(docs, "sn")) - timed(with_baseline(1, "sn1"))) / (docs - 1)
        counted = flops(with_baseline(args.flop_docs, "snf")) - out[spec.clean]["eval_gflop"] * 1e9
        out[spec.clean].update(baseline_seconds=max(seconds, 0.0),
                               baseline_gflop=counted / args.flop_docs / 1e9)
        print(f"  {spec.clean:<34} baseline {out[spec.clean]['baseline_seconds']:7.3f} s/doc "
              f"{out[spec.clean]['baseline_gflop']:8.1f} GFLOP/doc", flush=True)
    return out


def plan_cost(measured: dict, args, work: Path) -> dict:
    """The replicate plan for all four seeds, costed from the per-document figures."""
    from skillneuron_harness.experiments.replicate import PERCENTS, plan, work_items

    release = work / "release"  # every seed folder present (the bench's copy of the release has seeds 33/34)
    for seed in ("33", "34", "35", "36"):
        for folder in (RELEASE / "seed_33").iterdir():
            target = release / f"seed_{seed}" / folder.name
            target.mkdir(parents=True, exist_ok=True)
            (target / "task_prompt").write_bytes(b"")
    units, _ = plan(release, list(measured), ["33", "34", "35", "36"], ["SST2", "IMDB", "MNLI", "QNLI", "QQP"],
                    work / "plan", PERCENTS)
    per_model = {}
    for model in MODELS:
        if model not in measured:
            continue
        figures = measured[model]
        items = work_items([u for u in units if u.model == model], None, args.sn_baseline_limit, PERCENTS)

        def total(items, key, figures=figures):
            return sum(n * figures[name][f"{what}_{key}"] for n, name, what, _ in items)

        per_model[model] = {
            "units": sum(u.model == model for u in units),
            "documents": sum(n for n, *_ in items),
            "seconds": total(items, "seconds"),
            "pflop": total(items, "gflop") / 1e6,
            "share_of_flops": {kind: total([i for i in items if i[3] == kind], "gflop") / total(items, "gflop")
                               for kind in ("eval", "baseline", "transfer", "suppression")},
        }
        per_model[model]["projected_hours"] = per_model[model]["pflop"] * 1e15 / (args.sustained_tflops * 1e12) / 3600
    return per_model


def main(argv=None) -> int:
    args = parse_args(argv)

    from skillneuron_harness.host.tasks import task_manager

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.measured:
            earlier = json.loads(args.measured.read_text())
            measured = {m: earlier["per_document"][m] for m in args.models if m in earlier["per_document"]}
            for key in ("device", "shape", "batch_size", "docs"):
                setattr(args, key, earlier[key])
            return report(args, measured, plan_cost(measured, args, work))
        offline_datasets(work / "hf")
        bench_tokenizers()
        paths = build_models(work / "models", SHAPES[args.shape], [MODELS[m] for m in args.models])
        manager = task_manager()
        measured = {}
        for model in args.models:
            print(f"{model} ({args.shape} shape, {args.device}, batch {args.batch_size}, {args.docs} docs):",
                  flush=True)
            measured[model] = measure(paths[MODELS[model]], MODELS[model], args, manager, work)
        costs = plan_cost(measured, args, work)
    return report(args, measured, costs)


def report(args, measured: dict, costs: dict) -> int:
    """Print the costs and write the result file."""
    import torch

    result = {"device": args.device, "threads": torch.get_num_threads(), "shape": args.shape,
              "batch_size": args.batch_size, "docs": args.docs, "sn_baseline_limit": args.sn_baseline_limit,
              "sustained_tflops": args.sustained_tflops, "per_document": measured, "plan": costs}
    for model, c in costs.items():
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in c["share_of_flops"].items())
        print(f"{model}: {c['units']} units, {c['documents']:,} documents, {c['seconds'] / 3600:.1f} h on "
              f"{args.device}, {c['pflop']:.1f} PFLOP = {c['projected_hours']:.2f} h at "
              f"{args.sustained_tflops:g} TFLOP/s sustained ({shares})")
    median = statistics.median(v["eval_seconds"] for m in measured.values() for v in m.values())
    print(f"median eval time per document over all tasks: {median:.3f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
