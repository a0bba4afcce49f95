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

from skillneuron_harness.core.logs import setup_logging
from skillneuron_harness.core.options import add_arguments
from skillneuron_harness.experiments.training.config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag is a :class:`TrainConfig` field."""
    p = argparse.ArgumentParser(prog="skillneuron train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p, TrainConfig)
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron train``."""
    args = build_parser().parse_args(argv)
    setup_logging(logging.INFO)
    try:
        config = TrainConfig(**vars(args))
    except ValueError as err:
        print(f"skillneuron train: {err}")
        return 2
    from skillneuron_harness.core.errors import SkillNeuronError
    from skillneuron_harness.experiments.training.trainer import train

    try:
        result = train(config)
    except SkillNeuronError as err:  # the task, the model's name, the output folder
        print(f"skillneuron train: {err}")
        return 2
    print(f"Best validation accuracy: {result.best_accuracy} (step {result.best_step} of {result.steps}); "
          f"prompt saved in {result.output} ({result.seconds:.0f} s).")
    return 0
