"""``skillneuron demo``: the shipped SST-2 prompt of MiniLM evaluated with skill neurons; ``--train`` trains one first.

The whole pipeline on a CPU, with real weights (the ``demo`` extra)::

    skillneuron demo --out demo-out             # about two CPU-minutes: evaluate the shipped prompt
    skillneuron demo --out demo-out --train     # train a prompt first (15 minutes; --minutes, --steps)

1. assembles the demo model (all-MiniLM-L6-v2 + the shipped masked-LM head, :mod:`.model`) in a
   folder with a stable name, printed, for ``pretrained=`` with your own prompts;
2. takes the shipped 20-token SST-2 prompt, or with ``--train`` trains one on SST-2 with
   ``skillneuron train``'s trainer for about ``--minutes`` (the number of steps comes from timing a
   few steps first; ``--steps`` fixes it);
3. evaluates the prompt on ``sst2`` and ``adv_sst2`` through lm-eval's Python API with
   ``skill_neurons=`` on (baseline over ``--baseline-docs`` SST-2 training documents), and writes
   ``results.json`` (lm-eval's results with the top-level ``skill_neurons`` section) and
   ``skill_neurons/<task>.safetensors|json`` to ``--out``;
4. prints the headline numbers: clean and adversarial accuracy, the mean predictivity of the skill
   neurons and the clean-vs-adversarial overlap of the top neurons; an accuracy at chance after a
   short training run says so, and how long to train.

lm-eval's, ``datasets``' and ``transformers``' log messages are limited to errors during the demo,
so that its stage lines stay readable. The data are the Hub datasets ``nyu-mll/glue`` and
``AI-Secure/adv_glue``; offline, point ``HF_DATASETS_CACHE`` at a cache that holds them
(``HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.core.logs import host_logs, setup_logging

log = logging.getLogger(__name__)

TRAIN_TASK, EVAL_TASKS = "sst2", ("sst2", "adv_sst2")
PROBE_STEPS = 5  # timed training steps (after one warm-up step) that size the run


# The shipped prompt's training run (README, Demo): how long learning SST-2 takes here.
SHIPPED_STEPS, SHIPPED_MINUTES, SHIPPED_SST2 = 2205, 15.4, 0.806
CHANCE_MARGIN = 0.05  # accuracy within this of chance (0.5 on SST-2) counts as not learned


@dataclass
class DemoConfig:
    """Settings of ``skillneuron demo``; the defaults evaluate the shipped prompt in about two CPU-minutes."""

    out: str = field(default="skillneuron-demo", metadata={"help": "Output folder."})
    train: bool = field(default=False, metadata={"help": "Train a new prompt on SST-2 first (about --minutes) "
                                                         "instead of evaluating the shipped one."})
    minutes: float | None = field(default=None, metadata={"help": "Training time budget with --train (default 15; "
                                                                 "steps are sized from it; implies --train)."})
    steps: int | None = field(default=None, metadata={"help": "Optimizer steps; overrides --minutes (implies "
                                                             "--train)."})
    num_virtual_tokens: int = field(default=20, metadata={"help": "Soft-prompt length P (small: a small file)."})
    lr: float = field(default=3e-2, metadata={"help": "AdamW learning rate (high: few steps on a CPU)."})
    batch_size: int = field(default=16, metadata={"help": "Training documents per step (papers: 16)."})
    seed: int = field(default=33, metadata={"help": "Seed of the prompt's initialisation and the data order."})
    limit_eval: int = field(default=256, metadata={"help": "Validation documents used during training to keep "
                                                           "the best prompt (the final numbers use all)."})
    baseline_docs: int = field(default=1000, metadata={"help": "SST-2 training documents of the skill-neuron "
                                                               "baseline (a few seconds; the papers use all 67k)."})
    sn_top: float = field(default=DEFAULT_TOP, metadata={
        "help": "Fraction of each layer's neurons called skill neurons."})
    eval_batch_size: int = field(default=32, metadata={"help": "Documents per forward pass in evaluation."})
    device: str = field(default="cpu", metadata={"help": "torch device, e.g. cpu or cuda."})
    limit_train: int | None = field(default=None, metadata={"help": "Train on this many SST-2 documents only."})
    model: str | None = field(default=None, metadata={"help": "A masked-LM folder or Hub id to use instead of the "
                                                             "demo model (all-MiniLM-L6-v2 + shipped head); needs "
                                                             "--train (the shipped prompt fits the demo model)."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate the first N documents of each task only "
                                                             "(lm-eval's --limit; for quick checks)."})

    def __post_init__(self):
        if self.minutes is not None or self.steps is not None:
            self.train = True
        if self.train and self.minutes is None:
            self.minutes = 15.0
        if self.steps is None and self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes={self.minutes}: the training budget must be positive, e.g. --minutes 15.")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps={self.steps}: pass at least 1, or leave it out to size the run by --minutes.")
        if self.model is not None and not self.train:
            raise ValueError(f"--model {self.model}: the shipped prompt fits the demo model only; add --train to "
                             "train a prompt for this model.")


def train_config(config: DemoConfig, model_path: str, max_steps: int):
    """The :class:`TrainConfig` of the demo's training run."""
    from skillneuron_harness.experiments.training import TrainConfig

    return TrainConfig(model=model_path, task=TRAIN_TASK, output=str(Path(config.out) / "prompt"),
                       num_virtual_tokens=config.num_virtual_tokens, lr=config.lr, epochs=1000,
                       batch_size=config.batch_size, eval_batch_size=config.eval_batch_size, seed=config.seed,
                       init="vocab", limit_eval=config.limit_eval, max_steps=max_steps, device=config.device,
                       limit_train=config.limit_train, dropout=False, resume=False)


def seconds_per_step(config: DemoConfig, model_path: str) -> float:
    """Time :data:`PROBE_STEPS` training steps (after a warm-up step) on real SST-2 batches."""
    import torch

    from skillneuron_harness.experiments.training import trainer
    from skillneuron_harness.experiments.training.data import encode_docs, load_task

    torch.manual_seed(config.seed)
    tconfig = train_config(config, model_path, max_steps=1)
    task = load_task(TRAIN_TASK, [])
    pm = trainer.load_model(tconfig)
    docs = list(task.training_docs())[: config.batch_size * (PROBE_STEPS + 1)]
    examples = encode_docs(task, docs, pm.lm, max_text_length=tconfig.max_text_length, desc="Timing")
    optimizer = torch.optim.AdamW([pm.prompt], lr=config.lr)
    timings = []
    for i in range(PROBE_STEPS + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        trainer.batch_loss(pm, examples[i * config.batch_size:(i + 1) * config.batch_size]).backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    return sum(timings[1:]) / PROBE_STEPS


def plan_steps(config: DemoConfig, step_seconds: float) -> int:
    """Steps that fit ``minutes``, less the validations' forward passes (about a third of a step each)."""
    budget = config.minutes * 60
    validation = math.ceil(config.limit_eval / config.batch_size) * step_seconds / 3
    return max(1, int((budget - 2 * validation) / step_seconds))


def evaluate(config: DemoConfig, model_path: str, prompt: str) -> dict:
    """lm-eval's ``simple_evaluate`` on :data:`EVAL_TASKS` with skill neurons written to ``out/skill_neurons``."""
    from skillneuron_harness.host.evaluate import evaluate as run
    from skillneuron_harness.host.evaluate import task_manager

    # Absolute paths: the report finds the prompt (and its training task) from any working folder.
    model_args = {"pretrained": model_path, "prompt": str(Path(prompt).resolve()),
                  "skill_neurons": str(Path(config.out).resolve() / "skill_neurons"),
                  "sn_baseline_limit": config.baseline_docs, "sn_top": config.sn_top}
    return run("prompt_tuned", list(EVAL_TASKS), model_args=model_args, batch_size=config.eval_batch_size,
               device=config.device, limit=config.limit, task_manager=task_manager())


def skill_neuron_predictivity(directory: Path, task: str, fraction: float) -> float | None:
    """Mean predictivity of the skill neurons (each layer's top ``fraction`` by score) of a task."""
    import torch

    from skillneuron_harness.neurons.io import read_task_stats
    from skillneuron_harness.neurons.statistics import top_k

    if not (directory / f"{task}.safetensors").is_file():
        return None
    score = read_task_stats(directory, task).tensors.get("score")  # (L, D)
    if score is None:
        return None
    k = top_k(score.shape[1], fraction)
    return float(torch.topk(score.to(torch.float64), k, dim=1).values.mean())  # (L, k) -> scalar


def headline(results: dict, config: DemoConfig) -> dict:
    """The numbers ``skillneuron demo`` prints, from lm-eval's results and the skill-neuron files."""
    sn = results.get("skill_neurons", {})
    out = {task: results["results"][task].get("acc,none") for task in EVAL_TASKS}
    out["skill_neuron_predictivity"] = {
        task: skill_neuron_predictivity(Path(config.out) / "skill_neurons", task, config.sn_top) for task in EVAL_TASKS
    }
    overlap = (sn.get("adv_sst2", {}).get("consistency") or {}).get("overlap") or []
    closest = min(overlap, key=lambda p: abs(p["fraction"] - config.sn_top), default=None)
    out["overlap"] = closest and {"fraction": closest["fraction"], "mean": closest["mean"]}
    return out


def _stage(text: str) -> None:
    print(text, flush=True)


def _train(config: DemoConfig, model_path: str):
    """Train a prompt (--train); returns (TrainResult, seconds)."""
    from skillneuron_harness.core.atomic import save_safetensors
    from skillneuron_harness.experiments.training import train
    from skillneuron_harness.prompts import load_soft_prompt

    out = Path(config.out)
    steps = config.steps
    if steps is None:
        step_seconds = seconds_per_step(config, model_path)
        steps = plan_steps(config, step_seconds)
        _stage(f"      {step_seconds:.2f} s per step here: {steps} steps fit {config.minutes:g} minutes.")
    _stage(f"[2/3] Training a {config.num_virtual_tokens}-token soft prompt on SST-2 ({steps} steps) ...")
    started = time.perf_counter()
    trained = train(train_config(config, model_path, steps))
    seconds = time.perf_counter() - started
    prompt = load_soft_prompt(str(trained.output))
    save_safetensors({"prompt": prompt.embeddings.contiguous()}, out / "sst2_prompt.safetensors",
              metadata={"base_model": "all-MiniLM-L6-v2 + skillneuron_harness/host/demo_assets/mlm_head.safetensors",
                        "task": TRAIN_TASK, "steps": str(trained.steps), "lr": str(config.lr),
                        "seed": str(config.seed)})
    return trained, seconds


def run(config: DemoConfig) -> dict:
    """The demo (see the module docstring); returns the headline numbers."""
    from skillneuron_harness.core.atomic import write_text
    from skillneuron_harness.experiments.runs import PromptSpec, write_manifest
    from skillneuron_harness.host.demo_model import SHIPPED_PROMPT, demo_model_path
    from skillneuron_harness.host.evaluate import json_default as handle_non_serializable

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _stage("[1/3] Demo model (all-MiniLM-L6-v2 + the shipped masked-LM head) ...")
    model_path = config.model or str(demo_model_path())
    _stage(f"      {model_path}" + ("" if config.model else "  (pass it as pretrained= with your own prompts)"))
    trained, train_seconds = None, None
    if config.train:
        trained, train_seconds = _train(config, model_path)
        prompt = str(trained.output)
    else:
        prompt = str(SHIPPED_PROMPT)
        _stage(f"[2/3] The shipped {TRAIN_TASK} prompt ({prompt}; trained with `skillneuron demo --train`, "
               f"{SHIPPED_STEPS:,} steps); --train trains a new one ...")
    _stage(f"[3/3] Evaluating on {', '.join(EVAL_TASKS)} through lm-eval with skill neurons (baseline: "
           f"{config.baseline_docs} {TRAIN_TASK} training documents) ...")
    write_manifest(out, [PromptSpec(prompt, label="demo sst2 prompt" if trained else "shipped sst2 prompt",
                                    task=TRAIN_TASK, seed=config.seed)])  # the report groups it under sst2
    results = evaluate(config, model_path, prompt)
    results.pop("samples", None)
    results["demo"] = {"config": asdict(config), "prompt": prompt,
                       "train_steps": trained.steps if trained else None, "train_seconds": train_seconds,
                       "best_validation_accuracy": trained.best_accuracy if trained else None,
                       "total_seconds": time.perf_counter() - started}
    write_text(out / "results.json", json.dumps(results, indent=2, default=handle_non_serializable) + "\n")
    numbers = headline(results, config)
    _print_summary(out, numbers, config, model_path, prompt, trained, train_seconds,
                   time.perf_counter() - started)
    return numbers


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def at_chance_note(accuracy: float | None, steps: int | None, train_seconds: float | None) -> str | None:
    """What to say when SST-2 accuracy is at chance: the run was too short to learn, and how long to run."""
    if accuracy is None or accuracy > 0.5 + CHANCE_MARGIN:
        return None
    if steps is None:
        return (f"sst2 accuracy {accuracy:.3f} is at chance (0.5): the shipped prompt should give about "
                f"{SHIPPED_SST2:.3f}; check that the demo model and prompt are the shipped ones.")
    minutes = "" if train_seconds is None else f" ({train_seconds / 60:.1f} min)"
    return (f"sst2 accuracy {accuracy:.3f} is at chance (0.5): {steps} training steps{minutes} were too short to "
            f"learn the task. The shipped prompt took {SHIPPED_STEPS:,} steps ({SHIPPED_MINUTES:g} min on 2 CPU "
            f"cores) for {SHIPPED_SST2:.3f}; run `skillneuron demo --train --minutes 15` (or --steps 2000).")


def _print_summary(out: Path, numbers: dict, config: DemoConfig, model_path: str, prompt: str, trained,
                   train_seconds: float | None, total_seconds: float) -> None:
    overlap = numbers["overlap"]
    pred = numbers["skill_neuron_predictivity"]
    print(f"\nskillneuron demo: done in {total_seconds / 60:.1f} min")
    print(f"  model          {model_path}")
    if trained is not None:
        print(f"  trained        {trained.steps} steps in {train_seconds / 60:.1f} min; prompt in {out / 'prompt'} "
              f"(and {out / 'sst2_prompt.safetensors'})")
    else:
        print(f"  prompt         {prompt} (shipped; --train trains a new one)")
    print(f"  results        {out / 'results.json'}")
    print(f"  skill neurons  {out / 'skill_neurons'}/{{sst2,adv_sst2}}.safetensors|json")
    print(f"  accuracy       sst2 {_fmt(numbers['sst2'])}   adv_sst2 {_fmt(numbers['adv_sst2'])}")
    print(f"  skill neurons  mean predictivity of each layer's top {config.sn_top:.0%}: "
          f"sst2 {_fmt(pred['sst2'])}   adv_sst2 {_fmt(pred['adv_sst2'])}")
    if overlap:
        print(f"  overlap        clean vs adversarial top {overlap['fraction']:.0%}: {overlap['mean']:.3f}")
    note = at_chance_note(numbers["sst2"], trained.steps if trained else None, train_seconds)
    if note:
        print(f"  note           {note}")
    print(f"  next           lm_eval --model prompt_tuned --model_args pretrained={model_path},prompt=PROMPT "
          "--tasks sst2,adv_sst2 --batch_size 32")


_HELP = {f.name: f.metadata.get("help", "") for f in fields(DemoConfig)}
_TYPES = {"minutes": float, "lr": float, "sn_top": float, "out": str, "device": str, "model": str}  # else int
_ALIASES = {"out": ("--output",)}  # every subcommand takes both --out and --output


def build_parser() -> argparse.ArgumentParser:
    """``skillneuron demo``'s command line (every flag a :class:`DemoConfig` field)."""
    p = argparse.ArgumentParser(prog="skillneuron demo", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = DemoConfig()
    for f in fields(DemoConfig):
        flags = ["--" + f.name.replace("_", "-"), *_ALIASES.get(f.name, ())]
        if f.type == "bool":
            p.add_argument(*flags, action="store_true", help=_HELP[f.name])
            continue
        p.add_argument(*flags, type=_TYPES.get(f.name, int), default=getattr(defaults, f.name), help=_HELP[f.name])
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron demo``."""
    args = build_parser().parse_args(argv)
    setup_logging()
    from skillneuron_harness.host.demo_model import DemoModelMissing

    try:
        with host_logs():
            run(DemoConfig(**vars(args)))
    except (ValueError, DemoModelMissing) as err:
        print(f"skillneuron demo: {err}")
        return 2
    return 0
