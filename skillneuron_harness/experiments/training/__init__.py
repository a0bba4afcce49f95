"""Prompt training on lm-eval tasks (``skillneuron train``).

The layout: :mod:`.config` (the validated settings), :mod:`.data` (an lm-eval task rendered and
tokenised exactly as ``prompt_tuned`` evaluates it), :mod:`.trainer` (PEFT prompt tuning with the
evaluation's scorer as the loss), :mod:`.checkpoint` (the output folder: adapter, log, config and
resumable state) and :mod:`.cli` (the command line). ``train(TrainConfig(...))`` is the Python
entry point.
"""

from skillneuron_harness.experiments.training.config import TrainConfig
from skillneuron_harness.experiments.training.data import TaskError

__all__ = ["TrainConfig", "TaskError", "train"]


def train(config: TrainConfig):
    """Train a soft prompt (see :func:`skillneuron_harness.experiments.training.trainer.train`)."""
    from skillneuron_harness.experiments.training.trainer import train as _train

    return _train(config)
