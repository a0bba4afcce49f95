"""``skillneuron transfer``: every prompt on every target task through lm-eval, then the report.

    skillneuron transfer --model google-t5/t5-base --prompts sst2=p/sst2-33 imdb=p/imdb-33 \\
        --tasks transfer_sentiment --out runs/transfer

Each target is evaluated with its own template and verbalizer (lm-eval's task config), so a
source prompt meets the target as zero-shot transfer. Prompts are ``TASK=PATH`` (or ``PATH`` for
adapters of ``skillneuron train``, whose ``train_config.json`` names the task). Writes the
lm-eval results of each prompt under ``runs/<prompt>/``, ``prompts.json`` and, with
``--skill-neurons``, the skill-neuron files of each prompt on each target under
``neurons/<prompt>/``; then ``report/report.md`` over all of it (relative transfer needs, for
each target, a prompt trained on it or on its clean twin).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.experiments.runs import add_run_arguments


def _baseline_limit(value: str) -> str:
    """``--sn-baseline-limit`` as replicate takes it: ``all`` or a number, checked when the command line is read."""
    from skillneuron_harness.neurons.recorder import parse_baseline_limit

    try:
        parse_baseline_limit(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="skillneuron transfer", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Hub id or local path of the frozen base model")
    p.add_argument("--prompts", nargs="+", required=True, metavar="[TASK=]PATH", help="soft prompts")
    p.add_argument("--tasks", nargs="+", required=True, help="target tasks or groups (e.g. transfer_sentiment)")
    p.add_argument("--out", "--output", required=True, help="output folder")
    p.add_argument("--skill-neurons", action="store_true", help="also write skill-neuron files (skill_neurons=)")
    p.add_argument("--sn-baseline-limit", type=_baseline_limit, default=None,
                   help="training documents for the baselines: a number or all (default: 1,000)")
    p.add_argument("--top", type=float, default=DEFAULT_TOP, help="report: skill neurons per layer (fraction)")
    add_run_arguments(p)
    return p


def run_transfer(model: str, prompts, tasks: list[str], out: Path, *, skill_neurons: bool = False,
                 sn_baseline_limit: int | str | None = None, limit=None, batch_size="8", device: str = "cpu",
                 backend: str = "auto", top: float = DEFAULT_TOP, manager=None, dtype: str | None = None) -> Path:
    """Evaluate every prompt on ``tasks``; returns the report's path."""
    from skillneuron_harness.experiments.runs import evaluate, load_model, task_manager, write_manifest
    from skillneuron_harness.report.render import build_report

    manager = manager or task_manager()
    write_manifest(out, prompts)
    for prompt in prompts:
        name = prompt.label.replace("/", "_")
        sn_args = {}
        if skill_neurons:
            sn_args["skill_neurons"] = str(out / "neurons" / name)
            if sn_baseline_limit:
                sn_args["sn_baseline_limit"] = sn_baseline_limit
        lm = load_model(model, prompt, device=device, batch_size=batch_size, backend=backend, dtype=dtype, **sn_args)
        evaluate(lm, tasks, model=model, prompt=prompt, out_dir=out / "runs" / name, limit=limit,
                 task_manager=manager, extra_model_args=sn_args)
        del lm
    return build_report([out], out / "report", top=top)


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron transfer``."""
    args = build_parser().parse_args(argv)
    from skillneuron_harness.core.logs import host_logs, setup_logging

    setup_logging(logging.INFO)
    from skillneuron_harness.experiments.runs import run_options

    try:
        prompts, batch_size, limit, manager = run_options(args)
        with host_logs(args.verbose):
            path = run_transfer(args.model, prompts, args.tasks, Path(args.out), skill_neurons=args.skill_neurons,
                                sn_baseline_limit=args.sn_baseline_limit, limit=limit, batch_size=batch_size,
                                device=args.device, backend=args.backend, top=args.top,
                                manager=manager, dtype=args.dtype)
    except (FileNotFoundError, ValueError) as err:
        print(f"skillneuron transfer: {err}")
        return 2
    print(f"Report written to {path}")
    return 0
