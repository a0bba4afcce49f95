"""``skillneuron train``: train a soft prompt on an lm-eval task and save it as a PEFT adapter.

Example (the papers' T5 setting on SST-2)::

    skillneuron train --model google-t5/t5-base --task sst2 --num-virtual-tokens 100 --lr 5e-3 \\
        --epochs 3 --batch-size 16 --seed 33 --output prompts/sst2-t5-seed33

Then evaluate the best prompt with lm-eval as it is::

    lm_eval --model prompt_tuned --model_args pretrained=google-t5/t5-base,prompt=prompts/sst2-t5-seed33 \\
        --tasks sst2

Running the same command again after an interruption resumes from the last finished epoch
(``--overwrite`` starts afresh). Every flag maps to a field of
:class:`~skillneuron_harness.experiments.training.config.TrainConfig`, whose help texts the ``--help`` shows.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields

from skillneuron_harness.experiments.training.config import BACKEND_CHOICES, INITS, TrainConfig

_HELP = {f.name: f.metadata.get("help", "") for f in fields(TrainConfig)}


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag is a :class:`TrainConfig` field."""
    p = argparse.ArgumentParser(prog="skillneuron train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help=_HELP["model"])
    p.add_argument("--task", required=True, help=_HELP["task"])
    p.add_argument("--output", "--out", required=True, help=_HELP["output"])
    p.add_argument("--num-virtual-tokens", type=int, default=100, help=_HELP["num_virtual_tokens"])
    p.add_argument("--lr", type=float, default=None, help=_HELP["lr"])
    p.add_argument("--weight-decay", type=float, default=0.0, help=_HELP["weight_decay"])
    p.add_argument("--epochs", type=int, default=3, help=_HELP["epochs"])
    p.add_argument("--batch-size", type=int, default=16, help=_HELP["batch_size"])
    p.add_argument("--eval-batch-size", type=int, default=32, help=_HELP["eval_batch_size"])
    p.add_argument("--seed", type=int, default=33, help=_HELP["seed"])
    p.add_argument("--max-text-length", type=int, default=128, help=_HELP["max_text_length"])
    p.add_argument("--init", choices=INITS, default="vocab", help=_HELP["init"])
    p.add_argument("--init-text", default=None, help=_HELP["init_text"])
    p.add_argument("--include-path", action="append", default=[], help=_HELP["include_path"] + " Repeatable.")
    p.add_argument("--limit-train", type=int, default=None, help=_HELP["limit_train"])
    p.add_argument("--limit-eval", type=int, default=None, help=_HELP["limit_eval"])
    p.add_argument("--max-steps", type=int, default=None, help=_HELP["max_steps"])
    p.add_argument("--early-stopping-patience", type=int, default=None, help=_HELP["early_stopping_patience"])
    p.add_argument("--device", default="cpu", help=_HELP["device"])
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="auto", help=_HELP["backend"])
    p.add_argument("--no-dropout", dest="dropout", action="store_false", help="Train with dropout off.")
    p.add_argument("--overwrite", dest="resume", action="store_false",
                   help="Discard a previous run in --output instead of resuming it.")
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron train``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = TrainConfig(**vars(args))
    except ValueError as err:
        print(f"skillneuron train: {err}")
        return 2
    from skillneuron_harness.experiments.training.data import TaskError
    from skillneuron_harness.experiments.training.trainer import train

    try:
        result = train(config)
    except TaskError as err:
        print(f"skillneuron train: {err}")
        return 2
    print(f"Best validation accuracy: {result.best_accuracy} (step {result.best_step} of {result.steps}); "
          f"prompt saved in {result.output} ({result.seconds:.0f} s).")
    return 0
