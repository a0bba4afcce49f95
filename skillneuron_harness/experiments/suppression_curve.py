"""``skillneuron suppression-curve``: accuracy as the top n% skill neurons (or random ones) are suppressed.

    skillneuron suppression-curve --model google-t5/t5-base --prompts p/seed33 p/seed34 \\
        --tasks sst2 adv_sst2 --neurons sn/seed33 sn/seed34 --out curves/sst2

For every prompt (its skill neurons: ``--neurons``, one folder of ``<task>.safetensors`` or one
file per prompt, in the same order) and n in ``--percents`` (0, 1, 3, ..., 15 by default), each
task is evaluated through lm-eval with the top n% of each layer's neurons suppressed
(``suppress=`` of ``prompt_tuned``) and with as many random neurons (``suppress_control=random``,
``--seed``). An adversarial task is suppressed with its clean twin's skill neurons, as Ackermann
& Ohmer do; ``--neurons MEAN_DIR`` (one folder for all prompts, written by ``skillneuron average``)
suppresses the seed-mean neuron set for every seed, their documented setting. The model is loaded
once per prompt. Writes ``suppression_curve.json`` (one record per
prompt, task, control and n), ``.csv`` and ``.md`` (mean and SEM over prompts), ``.png``, the
lm-eval results of every run under ``runs/`` and ``prompts.json``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
from collections import defaultdict
from pathlib import Path

from skillneuron_harness.core.atomic import atomic_path, write_json, write_text
from skillneuron_harness.core.constants import PERCENTS
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.escape import csv_cell
from skillneuron_harness.core.options import as_seed
from skillneuron_harness.experiments.plan_checks import percent_problems
from skillneuron_harness.experiments.runs import PromptSpec, add_run_arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="skillneuron suppression-curve", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Hub id or local path of the frozen base model")
    p.add_argument("--prompts", nargs="+", required=True, metavar="[TASK=]PATH", help="soft prompts (one per seed)")
    p.add_argument("--tasks", nargs="+", required=True, help="lm-eval tasks (multiple choice)")
    p.add_argument("--neurons", nargs="+", required=True, metavar="DIR_OR_FILE",
                   help="per prompt (same order), or one for all: a skill_neurons= folder or a <task>.safetensors")
    p.add_argument("--out", "--output", required=True, help="output folder")
    p.add_argument("--percents", nargs="+", type=float, default=list(PERCENTS), help="n, percent of each layer")
    p.add_argument("--mode", choices=("zero", "mean", "mean_avg", "noise", "noise_doc"), default="zero",
                   help="suppress_mode (mean_avg, noise_doc: Wang et al.'s)")
    p.add_argument("--sigma", type=float, default=0.1, help="suppress_sigma (mode noise)")
    p.add_argument("--seed", type=int, default=0, help="suppress_seed: random control and noise")
    p.add_argument("--random", action=argparse.BooleanOptionalAction, default=True,
                   help="also suppress as many random neurons per layer (the control curve); --no-random skips it")
    add_run_arguments(p)
    return p


def neuron_file(source: Path, task: str, clean_twin: str | None) -> Path:
    """The skill-neuron file for ``task``: the clean twin's for adversarial tasks."""
    if source.is_file():
        return source
    path = source / f"{clean_twin or task}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no skill-neuron file {path} for task {task!r}"
                                + (f" (its clean twin {clean_twin!r})" if clean_twin else "")
                                + "; run the prompt with skill_neurons= on that task first.")
    return path


def clean_twins(tasks: list[str], manager) -> dict[str, str | None]:
    """``metadata.clean_twin`` of each task (None for clean tasks)."""
    loaded = manager.load(tasks)["tasks"]  # TaskManager.load: flat {name: Task} (host/compat.py item 10)
    return {name: (getattr(task.config, "metadata", None) or {}).get("clean_twin") for name, task in loaded.items()}


def run_curve(model: str, prompts: list[PromptSpec], tasks: list[str], neurons: list[Path], out: Path, *,
              percents=PERCENTS, mode: str = "zero", sigma: float = 0.1, seed: int = 0, random: bool = True,
              limit=None, batch_size="8", device: str = "cpu", backend: str = "auto", manager=None,
              dtype: str | None = None) -> list[dict]:
    """Evaluate every (prompt, n, control); returns the records (also written to ``out``)."""
    from skillneuron_harness.experiments.runs import evaluate, load_model, task_manager, write_manifest
    from skillneuron_harness.neurons.suppression import SuppressionConfig
    from skillneuron_harness.report.labels import model_label

    problems = percent_problems(percents)
    if not (math.isfinite(sigma) and sigma >= 0):
        problems.append(f"--sigma {sigma:g}: the noise's standard deviation, a finite number >= 0, e.g. --sigma 0.1.")
    if problems:  # before any model loads
        raise SkillNeuronError(problems[0])
    as_seed("--seed", seed)
    if len(neurons) not in (1, len(prompts)):
        raise ValueError(f"--neurons: give one per prompt ({len(prompts)}) or one for all; got {len(neurons)}.")
    neurons = neurons * len(prompts) if len(neurons) == 1 else neurons
    manager = manager or task_manager()
    twins = clean_twins(tasks, manager)
    write_manifest(out, prompts)
    records = []
    for prompt, source in zip(prompts, neurons, strict=True):
        lm = load_model(model, prompt, device=device, batch_size=batch_size, backend=backend, dtype=dtype)
        by_file: dict[Path, list[str]] = defaultdict(list)  # one run per neuron file: a task and its twin
        for task in tasks:
            by_file[neuron_file(source, task, twins.get(task))].append(task)
        for file, file_tasks in by_file.items():
            for percent in percents:
                controls = ["skill", "random"] if random else ["skill"]
                for control in controls[:1] if percent == 0 else controls:
                    config = SuppressionConfig(str(file), top=percent / 100, mode=mode, sigma=sigma, control=control,
                                               seed=seed)
                    extra = {"suppress": file, "suppress_top": f"{percent / 100:g}", "suppress_mode": mode,
                             "suppress_control": control, "suppress_seed": seed}
                    run_dir = out / "runs" / prompt.label.replace("/", "_") / f"{control}_{percent:g}"
                    with lm.suppressed(config):
                        results = evaluate(lm, file_tasks, model=model, prompt=prompt, out_dir=run_dir, limit=limit,
                                           task_manager=manager, extra_model_args=extra)
                    for task in file_tasks:
                        acc = results["results"][task]["acc,none"]
                        for c in controls if percent == 0 else [control]:
                            records.append({"model": model_label(model), "prompt": prompt.label,
                                            "group": prompt.task or "all", "seed": prompt.seed, "task": task,
                                            "control": c, "percent": percent, "acc": acc, "neurons": str(file),
                                            "mode": mode})
        del lm
    write_outputs(records, out, {"model": model, "mode": mode, "sigma": sigma, "seed": seed, "limit": limit,
                                 "percents": list(percents)})
    return records


def write_outputs(records: list[dict], out: Path, settings: dict) -> dict[str, Path]:
    """``suppression_curve.{json,csv,md,png}``."""
    import skillneuron_harness.report.figures as figures
    from skillneuron_harness.report.collect import CURVE_FILE
    from skillneuron_harness.report.render import markdown_table, pct
    from skillneuron_harness.report.tables import suppression_table

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / CURVE_FILE}
    write_json(paths["json"], {"settings": settings, "records": records})
    rows = suppression_table(records)
    paths["csv"] = out / "suppression_curve.csv"
    with atomic_path(paths["csv"]) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["model"])
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)  # names may start like formulas
    paths["md"] = out / "suppression_curve.md"
    write_text(paths["md"], "# Suppression curve\n\nAccuracy (%), mean ± SEM over prompts.\n\n" + markdown_table(
        ["model", "prompts of", "task", "neurons", "n (%)", "accuracy", "prompts"],
        [[r["model"], r["group"], r["task"], r["control"], f"{r['percent']:g}", pct(r["acc_mean"], r["acc_sem"]),
          r["prompts"]] for r in rows]) + "\n")
    if rows:
        paths["png"] = figures.suppression_curves(rows, out / "suppression_curve.png")
    return paths


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron suppression-curve``."""
    args = build_parser().parse_args(argv)
    from skillneuron_harness.core.logs import host_logs, setup_logging

    setup_logging(logging.INFO)
    from skillneuron_harness.experiments.runs import run_options

    try:
        prompts, batch_size, limit, manager = run_options(args)
        with host_logs(args.verbose):
            records = run_curve(args.model, prompts, args.tasks, [Path(n) for n in args.neurons], Path(args.out),
                                percents=args.percents, mode=args.mode, sigma=args.sigma, seed=args.seed,
                                random=args.random, limit=limit, batch_size=batch_size, device=args.device,
                                backend=args.backend, manager=manager, dtype=args.dtype)
    except (FileNotFoundError, ValueError) as err:
        print(f"skillneuron suppression-curve: {err}")
        return 2
    print(f"{len(records)} points written to {Path(args.out) / 'suppression_curve.json'} (.csv, .md, .png)")
    return 0
