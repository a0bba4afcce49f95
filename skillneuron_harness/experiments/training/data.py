"""Turn an lm-eval task into scored examples: exactly the text and tokens lm-eval would use.

:func:`load_task` finds a task through lm-eval's ``TaskManager`` (our task folder, lm-eval's own
tasks and any ``include_path``; :mod:`skillneuron_harness.host.tasks`) and checks that it can
be trained on: a single ``multiple_choice`` task with a training split. :func:`encode_docs` goes
the one way from documents to scored groups that evaluation and the skill-neuron baseline go
(:func:`~skillneuron_harness.host.tasks.document_groups`: the task's own rendering, then
``prompt_tuned``'s encoding and truncation), with the one gold-label rule
(:func:`~skillneuron_harness.host.tasks.gold_label`). Training contexts are further cut to
``max_text_length`` tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from skillneuron_harness.core.scoring import ChoiceGroup
from skillneuron_harness.host import tasks as lm_eval_tasks
from skillneuron_harness.host.tasks import TaskError, task_manager

log = logging.getLogger(__name__)

__all__ = ["Example", "TaskError", "batches", "check_trainable", "encode_docs", "epoch_order", "eval_split",
           "load_task", "subset", "task_manager"]


@dataclass
class Example:
    """One document: its context and choices as token ids, and the index of the right choice."""

    group: ChoiceGroup
    gold: int


def load_task(name: str, include_path: Sequence[str] = ()):
    """The lm-eval ``Task`` called ``name``, checked to be trainable (see the module docstring)."""
    task = lm_eval_tasks.load_task(name, include_path)
    check_trainable(task, name)
    return task


def check_trainable(task, name: str) -> None:
    """Raise :class:`TaskError` unless ``task`` is a single-context multiple_choice task with training docs."""
    if task.OUTPUT_TYPE != "multiple_choice":
        raise TaskError(f"task={name} has output_type {task.OUTPUT_TYPE}; prompt training needs a "
                        "multiple_choice task (the loss is cross-entropy over the choices' log-likelihoods).")
    if getattr(task, "multiple_input", False):
        raise TaskError(f"task={name} puts the choices in the context (multiple inputs, as Winogrande); only "
                        "tasks whose choices are continuations of one context can be trained.")
    if not task.has_training_docs():
        raise TaskError(f"task={name} has no training split (its YAML sets no training_split); add one, e.g. "
                        "`training_split: train`, in a copy of the YAML passed with --include-path.")
    if not (task.has_validation_docs() or task.has_test_docs()):
        raise TaskError(f"task={name} has neither a validation nor a test split to select the best prompt on.")


def eval_split(task):
    """The split validated on each epoch: validation, or the test split when there is none."""
    if task.has_validation_docs():
        return task.config.validation_split, task.validation_docs()
    log.warning("Task %s has no validation split: selecting the best prompt on its test split %s.",
                task.config.task, task.config.test_split)
    return task.config.test_split, task.test_docs()


def subset(docs, limit: int | None, seed: int | None) -> list:
    """``limit`` documents: the first ones (``seed=None``), or a random subset in document order."""
    n = len(docs)
    if limit is None or limit >= n:
        return [docs[i] for i in range(n)]
    if seed is None:
        return [docs[i] for i in range(limit)]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values
    return [docs[int(i)] for i in order]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order of the training documents in ``epoch``: a permutation fixed by (seed, epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
    return torch.randperm(n, generator=generator).tolist()


def encode_docs(task, docs: Iterable, lm, *, max_text_length: int | None = None, desc: str = "Encoding"
                ) -> list[Example]:
    """Render, tokenise and truncate ``docs`` as ``prompt_tuned`` does (see the module docstring)."""
    name = task.config.task
    docs = list(tqdm(docs, desc=f"{desc} {name}", unit="doc"))
    documents = lm_eval_tasks.document_groups(task, docs, lm, name=name)
    examples = []
    for document in documents:
        if document.extra_requests:  # acc_mutual_info adds unconditional requests
            raise TaskError(f"task={name} asks for {document.extra_requests} log-likelihoods per document beyond "
                            "one per choice (acc_mutual_info?); only plain multiple_choice metrics can be trained.")
        group = document.group
        context = group.context[-max_text_length:] if max_text_length is not None else group.context
        examples.append(Example(ChoiceGroup(context, group.continuations), document.gold))
    return examples


def batches(examples: Sequence[Example], order: Sequence[int], size: int) -> list[list[Example]]:
    """Consecutive batches of ``size`` examples taken in ``order`` (the last one may be smaller)."""
    return [[examples[i] for i in order[s : s + size]] for s in range(0, len(order), size)]
