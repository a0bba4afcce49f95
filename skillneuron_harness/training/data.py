"""Turn an lm-eval task into scored examples: exactly the text and tokens lm-eval would use.

:func:`load_task` finds a task through lm-eval's ``TaskManager`` (our task folder, lm-eval's own
tasks and any ``include_path``) and checks that it can be trained on: a single
``multiple_choice`` task with a training split. :func:`encode_docs` renders each document with the
task's own methods (``fewshot_context`` at 0 shots, then ``construct_requests``, so
``doc_to_text``, ``doc_to_choice``, ``target_delimiter`` and any description come out as lm-eval
renders them), tokenises the requests with ``prompt_tuned``'s own ``encode_requests`` (what its
``loglikelihood`` scores) and truncates them with its ``_truncate``. The
gold index follows ``ConfigurableTask.process_results``. Training contexts are further cut to
``max_text_length`` tokens.
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from skillneuron_harness.errors import SkillNeuronError
from skillneuron_harness.models.scoring import ChoiceGroup

log = logging.getLogger(__name__)


class TaskError(SkillNeuronError):
    """A task that cannot be used for prompt training, with the reason and the fix."""


@dataclass
class Example:
    """One document: its context and choices as token ids, and the index of the right choice."""

    group: ChoiceGroup
    gold: int


def task_manager(include_path: Sequence[str] = ()):
    """lm-eval's ``TaskManager`` with our task folder and ``include_path`` indexed (one per process)."""
    return _task_manager(tuple(str(p) for p in include_path))


@functools.lru_cache(maxsize=4)
def _task_manager(include_path: tuple[str, ...]):
    # Indexing every YAML of lm-eval takes seconds: build each manager once.
    from skillneuron_harness import lm_eval_bridge

    lm_eval_bridge.activate()
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include_path) or None)


def load_task(name: str, include_path: Sequence[str] = ()):
    """The lm-eval ``Task`` called ``name``, checked to be trainable (see the module docstring)."""
    manager = task_manager(include_path)
    if name not in manager.all_tasks:
        close = difflib.get_close_matches(name, manager.all_tasks, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise TaskError(f"task={name}: lm-eval knows no such task.{hint} Pass a task folder with --include-path "
                        "if it is your own YAML.")
    loaded = manager.load([name])
    tasks = loaded["tasks"] if isinstance(loaded, dict) and "tasks" in loaded else loaded
    if len(tasks) != 1 or name not in tasks:
        raise TaskError(f"task={name} is a group or tag of {len(tasks)} tasks ({', '.join(sorted(tasks))}); "
                        "train on one of them at a time.")
    task = tasks[name]
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


def gold_index(task, doc, n_choices: int, name: str) -> int:
    """The right choice's index, read as ``ConfigurableTask.process_results`` reads it."""
    gold = task.doc_to_target(doc)
    if isinstance(gold, str):
        choices = task.doc_to_choice(doc)
        gold = choices.index(gold) if gold in choices else -1
    if isinstance(gold, list) or not isinstance(gold, (int, np.integer)) or not 0 <= gold < n_choices:
        raise TaskError(f"task={name}: a document's target {task.doc_to_target(doc)!r} does not name exactly one "
                        f"of its {n_choices} choices; prompt training needs one right answer per document.")
    return int(gold)


def encode_docs(task, docs: Iterable, lm, *, max_text_length: int | None = None, desc: str = "Encoding"
                ) -> list[Example]:
    """Render, tokenise and truncate ``docs`` as ``prompt_tuned`` does (see the module docstring)."""
    name = task.config.task
    instances, spans = [], []
    for doc_id, doc in enumerate(tqdm(docs, desc=f"{desc} {name}", unit="doc")):
        context = task.fewshot_context(doc, num_fewshot=0, gen_prefix=task.doc_to_prefix(doc))
        requests = task.construct_requests(doc=doc, ctx=context, metadata=(name, doc_id, 1))
        requests = requests if isinstance(requests, list) else [requests]
        n_choices = len(task.doc_to_choice(doc))
        if len(requests) != n_choices:  # acc_mutual_info adds unconditional requests
            raise TaskError(f"task={name} asks for {len(requests)} log-likelihoods per document for {n_choices} "
                            "choices (acc_mutual_info?); only plain multiple_choice metrics can be trained.")
        spans.append((len(instances), n_choices, gold_index(task, doc, n_choices, name)))
        instances.extend(requests)
    tokens = lm.encode_requests(instances)
    examples = []
    for start, n, gold in spans:
        contexts = {tuple(tokens[i][1]) for i in range(start, start + n)}
        if len(contexts) != 1:
            raise TaskError(f"task={name}: the choices of a document tokenise to different contexts; such "
                            "documents cannot share one scored context.")
        continuations = [list(tokens[i][2]) for i in range(start, start + n)]
        context = lm._truncate(list(contexts.pop()), continuations)
        if max_text_length is not None:
            context = context[-max_text_length:]
        examples.append(Example(ChoiceGroup(context, continuations), gold))
    return examples


def batches(examples: Sequence[Example], order: Sequence[int], size: int) -> list[list[Example]]:
    """Consecutive batches of ``size`` examples taken in ``order`` (the last one may be smaller)."""
    return [[examples[i] for i in order[s : s + size]] for s in range(0, len(order), size)]
