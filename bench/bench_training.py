"""Benchmark: ``skillneuron train``'s training step against a hand-written PEFT training loop.

Same random-weight T5 (t5-small shape by default: 6 + 6 layers, d_model 512, d_ff 2048, 8 heads),
same PEFT prompt (100 virtual tokens, encoder only, vocabulary init, same seed), same batches of
16 lm-eval ``sst2`` training documents tokenised once by the trainer:

* **ours**: :func:`skillneuron_harness.experiments.training.trainer.batch_loss` (the scorer of ``prompt_tuned``:
  one encoder pass per document, both choices decoded, cross-entropy over the choices), backward,
  AdamW step on the prompt;
* **peft**: ``PeftModelForSeq2SeqLM(input_ids, attention_mask, labels=gold verbaliser tokens)``,
  backward, AdamW step: the loop of PEFT's prompt-tuning examples.

The two steps alternate batch by batch (and which goes first alternates too), so that a CPU shared
with other jobs slows both alike. Dropout is on in both (``model.train()``), as in training.

Usage (from the repository root, in the project's venv)::

    python bench/bench_training.py [--steps 12] [--warmup 2] [--threads 1] [--small] \\
        [--out bench/results/training.json]

Prints and writes training documents per second of each and the ratio ours / peft.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _offline import offline_datasets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "tests"))

T5_SHAPE = {"layers": 6, "d_model": 512, "d_ff": 2048, "heads": 8}  # t5-small
SMALL_SHAPE = {"layers": 2, "d_model": 128, "d_ff": 512, "heads": 4}
NUM_VIRTUAL_TOKENS = 100
BATCH = 16


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=12, help="timed optimizer steps per loop")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per loop first")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--small", action="store_true", help="a 2-layer d_model-128 T5 instead of t5-small's shape")
    p.add_argument("--workdir", type=Path, default=None, help="model and datasets cache (default: a temp dir)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "training.json")
    return p.parse_args(argv)




def peft_loop_model(t5_dir: Path, seed: int):
    """The hand-written side: PEFT's own seq2seq prompt-tuning model, initialised as the trainer's."""
    import torch
    from peft import PromptTuningConfig, get_peft_model
    from transformers import T5ForConditionalGeneration

    base = T5ForConditionalGeneration.from_pretrained(t5_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    config = PromptTuningConfig(task_type="SEQ_2_SEQ_LM", num_virtual_tokens=NUM_VIRTUAL_TOKENS,
                                num_transformer_submodules=1, prompt_tuning_init="SAMPLE_VOCAB")
    return get_peft_model(base, config)


def peft_batch(examples, pad_id: int):
    """input_ids / attention_mask (B, T) and labels (B, K) padded with -100, from the trainer's tokens."""
    import torch

    width = max(len(e.group.context) for e in examples)
    ids = torch.full((len(examples), width), pad_id)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    gold = [e.group.continuations[e.gold] for e in examples]
    labels = torch.full((len(examples), max(map(len, gold))), -100)
    for i, (e, g) in enumerate(zip(examples, gold, strict=True)):
        ids[i, : len(e.group.context)] = torch.tensor(e.group.context)
        mask[i, : len(e.group.context)] = 1
        labels[i, : len(g)] = torch.tensor(g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-training-"))
    offline_datasets(workdir / "hf-cache")
    import torch

    torch.set_num_threads(args.threads)
    from tiny_models import build_t5

    from skillneuron_harness.experiments.training import TrainConfig
    from skillneuron_harness.experiments.training.data import encode_docs, load_task, subset
    from skillneuron_harness.experiments.training.trainer import batch_loss, load_model

    shape = SMALL_SHAPE if args.small else T5_SHAPE
    t5_dir = workdir / ("t5-small-shape" if not args.small else "t5-tiny")
    if not (t5_dir / "config.json").is_file():
        build_t5(t5_dir, **shape)
    config = TrainConfig(model=str(t5_dir), task="sst2", output=str(workdir / "unused"),
                         num_virtual_tokens=NUM_VIRTUAL_TOKENS, batch_size=BATCH, lr=5e-3)
    ours = load_model(config)
    task = load_task("sst2")
    n_steps = args.warmup + args.steps
    examples = encode_docs(task, subset(task.training_docs(), n_steps * BATCH, 0), ours.lm,
                           max_text_length=config.max_text_length)
    batches = [examples[i * BATCH : (i + 1) * BATCH] for i in range(n_steps)]
    theirs = peft_loop_model(t5_dir, config.seed)
    assert torch.equal(theirs.prompt_encoder["default"].embedding.weight, ours.prompt)  # same start
    pad = ours.lm.tokenizer.pad_token_id
    peft_inputs = [peft_batch(b, pad) for b in batches]

    opt_ours = torch.optim.AdamW([ours.prompt], lr=config.lr, weight_decay=0.0)
    opt_theirs = torch.optim.AdamW([theirs.prompt_encoder["default"].embedding.weight], lr=config.lr,
                                   weight_decay=0.0)
    ours.model.train()
    theirs.train()

    def step_ours(batch):
        opt_ours.zero_grad(set_to_none=True)
        batch_loss(ours, batch).backward()
        opt_ours.step()

    def step_theirs(inputs):
        opt_theirs.zero_grad(set_to_none=True)
        theirs(**inputs).loss.backward()
        opt_theirs.step()

    seconds = {"ours": 0.0, "peft": 0.0}
    for i, (batch, inputs) in enumerate(zip(batches, peft_inputs, strict=True)):
        order = [("ours", step_ours, batch), ("peft", step_theirs, inputs)]
        for name, step, data in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            step(data)
            if i >= args.warmup:
                seconds[name] += time.perf_counter() - start
        print(f"step {i + 1}/{n_steps}", file=sys.stderr)
    docs = args.steps * BATCH
    result = {
        "model": {"shape": shape, "num_virtual_tokens": NUM_VIRTUAL_TOKENS, "batch_size": BATCH},
        "steps": args.steps, "docs": docs, "threads": args.threads,
        "mean_context_tokens": sum(len(e.group.context) for e in examples) / len(examples),
        "docs_per_second": {k: docs / v for k, v in seconds.items()},
        "ratio_ours_over_peft": seconds["peft"] / seconds["ours"],
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
