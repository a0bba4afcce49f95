"""lm-eval tasks as our statistics and training see them: loading, rendering, gold labels.

The one module that works with lm-eval's ``Task`` objects (through
:mod:`skillneuron_harness.host.compat` for anything version-dependent):

* :func:`load_task` finds a task through a ``TaskManager`` that indexes lm-eval's tasks, our
  ``task_configs/`` and any ``include_path`` (built once per process and path list);
* :func:`document_groups` is the one path from documents to scored :class:`ChoiceGroup` s: the
  task renders each document (``fewshot_context`` at 0 shots with its ``gen_prefix``, then
  ``construct_requests``, as lm-eval's ``build_all_requests`` does) and ``prompt_tuned`` encodes,
  groups and truncates the requests exactly as in evaluation (``encode_requests``,
  ``choice_groups``). The baseline pass of the skill-neuron statistics and prompt training both
  use it; evaluation gets the same requests from lm-eval itself;
* :func:`gold_label` is the one label rule: the target as an index into the document's choices,
  or the choice whose text it is; anything else is an error naming the task and the document;
* :class:`LmEvalRun` is what ``prompt_tuned`` hands its observers at ``begin``: the tasks named by
  the request Instances of the running evaluation (the very ``Task`` objects lm-eval evaluates;
  a clean twin outside the run through that evaluation's ``TaskManager``, else by name from ours
  and ``sn_include_path``), and passes over their training documents.
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skillneuron_harness.core.advglue_pairs import advglue_config
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.observers import TaskInfo
from skillneuron_harness.core.scoring import ChoiceGroup
from skillneuron_harness.host import compat

log = logging.getLogger(__name__)


class TaskError(SkillNeuronError):
    """A task that cannot be used for what was asked, with the reason and the fix."""


# ------------------------------------------------------------------ loading
def task_manager(include_path: Sequence[str] = ()):
    """lm-eval's ``TaskManager`` with our task folder and ``include_path`` indexed (one per process)."""
    return _task_manager(tuple(str(p) for p in include_path))


@functools.lru_cache(maxsize=4)
def _task_manager(include_path: tuple[str, ...]):
    # Indexing every YAML of lm-eval takes seconds: build each manager once.
    from skillneuron_harness.host.evaluate import task_manager as fresh

    return fresh(include_path)


def load_task(name: str, include_path: Sequence[str] = (), *, hint: str = "pass a task folder with --include-path"):
    """The lm-eval ``Task`` called ``name`` (one task, not a group); ``hint`` says how to add folders."""
    manager = task_manager(include_path)
    if name not in manager.all_tasks:
        close = difflib.get_close_matches(name, manager.all_tasks, n=3)
        maybe = f" Did you mean: {', '.join(close)}?" if close else ""
        raise TaskError(f"task={name}: lm-eval knows no such task.{maybe} If it is your own YAML, {hint}.")
    tasks = compat.load_tasks(manager, [name])
    if len(tasks) != 1 or name not in tasks:
        raise TaskError(f"task={name} is a group or tag of {len(tasks)} tasks ({', '.join(sorted(tasks))}); "
                        "use one of them at a time.")
    return tasks[name]


def task_info(task, name: str) -> TaskInfo:
    """The :class:`TaskInfo` of a loaded multiple-choice task."""
    if task.OUTPUT_TYPE != "multiple_choice":
        raise TaskError(f"skill_neurons: task {name!r} is {task.OUTPUT_TYPE}; skill neurons need "
                        "multiple-choice tasks (labels are choices).")
    config = task.config
    return TaskInfo(name=name, num_classes=len(task.doc_to_choice(task.eval_docs[0])),
                    split=config.test_split or config.validation_split,
                    clean_twin=(config.metadata or {}).get("clean_twin"),
                    split_of=(config.metadata or {}).get("split_of"),
                    subtasks=(config.metadata or {}).get("sn_subtasks"),
                    has_training_docs=bool(task.has_training_docs()),
                    training_docs=_size(task.training_docs()) if task.has_training_docs() else None)


def _size(docs) -> int | None:
    try:
        return len(docs)
    except TypeError:  # a generator: not counted, not consumed
        return None


# ------------------------------------------------------------------ labels
def gold_label(task, doc, *, task_name: str, doc_id, target=None) -> int:
    """The index of the right choice of ``doc`` (see the module docstring).

    ``target``: the target lm-eval already rendered for the document (a request's ``Instance.target``),
    else ``task.doc_to_target(doc)``.
    """
    target = task.doc_to_target(doc) if target is None else target
    choices = task.doc_to_choice(doc)
    if isinstance(target, str):
        if target in choices:
            return choices.index(target)
    elif not isinstance(target, (bool, list)) and hasattr(target, "__index__"):  # int or a NumPy integer
        if 0 <= int(target) < len(choices):
            return int(target)
    raise TaskError(f"task={task_name}, document {doc_id}: the target {target!r} names none of its {len(choices)} "
                    f"choices {choices!r}; fix doc_to_target / doc_to_choice in the task's YAML.")


# ------------------------------------------------------------------ rendering
@dataclass
class Document:
    """One document, rendered and encoded: its scored group and its gold choice."""

    doc_id: int
    group: ChoiceGroup
    gold: int
    extra_requests: int = 0  # requests beyond one per choice (acc_mutual_info's unconditional ones)


def document_groups(task, docs: Iterable, lm, *, name: str | None = None, doc_ids: Iterable[int] | None = None
                    ) -> list[Document]:
    """Render, encode, group and truncate ``docs`` as ``prompt_tuned`` evaluates them (module docstring)."""
    name = name or task.config.task
    docs = list(docs)
    doc_ids = list(range(len(docs))) if doc_ids is None else list(doc_ids)
    instances, spans = [], []
    for doc_id, doc in zip(doc_ids, docs, strict=True):
        requests = compat.document_requests(task, doc, doc_id, compat.render_context(task, doc))
        n_choices = len(task.doc_to_choice(doc))
        spans.append((doc_id, len(instances), n_choices, len(requests) - n_choices,
                      gold_label(task, doc, task_name=name, doc_id=doc_id)))
        instances.extend(requests[:n_choices])  # the conditional requests come first
    groups, members = lm.engine.choice_groups(lm.encode_requests(instances),
                                              [compat.instance_key(inst) for inst in instances])
    group_of = {m[0]: g for g, m in enumerate(members)}
    out = []
    for doc_id, start, n, extra, gold in spans:
        g = group_of.get(start)
        if g is None or len(members[g]) != n:
            raise TaskError(f"task={name}, document {doc_id}: its choices tokenise to different contexts; such "
                            "documents cannot share one scored context.")
        out.append(Document(doc_id, groups[g], gold, extra))
    return out


def choice_group(lm, context: str, continuations: list[str]):
    """One document's :class:`~skillneuron_harness.core.scoring.ChoiceGroup` from its context and choice strings."""
    groups, _ = lm.engine.choice_groups(lm.encode_pairs((context, c) for c in continuations))
    return groups[0]


# ------------------------------------------------------------------ pairs
def clean_originals(task, clean_task) -> dict[int, tuple[int, str | None]]:
    """Adversarial doc_id -> (the doc_id of the clean twin's document it was made from, its kind).

    A document names its original with a ``clean_doc_id`` column (perturbed twins, attack sets, your
    own JSONL); an AdvGLUE document through the shipped mapping
    (:func:`~skillneuron_harness.core.advglue_pairs.clean_original`: its ``idx`` to the GLUE ``idx``,
    found among the clean task's documents), where that has a confident match. The kind is the
    document's ``perturbation`` field, else the task's ``metadata.perturbation`` when that is one
    name, else None. ``clean_task``: the clean twin's ``Task``, or a function returning it (read only
    for AdvGLUE). doc_ids are lm-eval's: indices in the evaluation split.
    """
    metadata = task.config.metadata or {}
    default = metadata.get("perturbation") if isinstance(metadata.get("perturbation"), str) else None
    mapping = advglue_config(task)
    out = {}
    if mapping is not None:
        from skillneuron_harness.core.advglue_pairs import clean_original

        clean_docs = (clean_task() if callable(clean_task) else clean_task).eval_docs
        position = {int(d["idx"]): i for i, d in enumerate(clean_docs) if d.get("idx") is not None}
        for doc_id, doc in enumerate(task.eval_docs):
            original = clean_original(mapping, int(doc["idx"])) if doc.get("idx") is not None else None
            if original in position:
                out[doc_id] = (position[original], default)
        return out
    for doc_id, doc in enumerate(task.eval_docs):
        key = doc.get("clean_doc_id") if isinstance(doc, dict) else None
        if key is None:
            continue
        kind = doc.get("perturbation")
        out[doc_id] = (int(key), kind if isinstance(kind, str) and kind else default)
    return out


# ------------------------------------------------------------------ the running evaluation
class LmEvalRun:
    """The :class:`~skillneuron_harness.core.observers.EvaluationRun` of one ``loglikelihood`` call."""

    def __init__(self, lm, requests, include_path: Sequence[str] = (), hint: str = "pass sn_include_path=DIR"):
        self.lm = lm
        self.include_path = tuple(include_path)
        self.hint = hint
        self.task_names = sorted({compat.instance_key(r)[0] for r in requests} - {None})
        self._tasks: dict[str, object] = {}

    def _task(self, name: str):
        if name not in self._tasks:
            from skillneuron_harness.host.bridge import running_evaluation

            running = running_evaluation()
            evaluated = compat.evaluated_tasks(running.get("task_dict"))
            manager = running.get("task_manager")
            if name in evaluated:  # the evaluation's own Task: its config, its --include_path
                self._tasks[name] = evaluated[name]
                return self._tasks[name]
            try:
                with compat.quiet_task_notes():  # a task read for its labels or training split, not evaluated
                    self._tasks[name] = self._load(name, manager)
            except TaskError:
                raise
            except Exception as err:  # noqa: BLE001  (lm-eval's own loading errors: datasets, YAML)
                raise TaskError(f"skill_neurons: cannot load task {name!r} to read its labels and training split "
                                f"({err}); {self.hint} for tasks outside ours and lm-eval's folders.") from err
        return self._tasks[name]

    def _load(self, name: str, manager):
        if manager is not None and not self.include_path and name in manager.all_tasks:
            return compat.load_tasks(manager, [name])[name]
        return load_task(name, self.include_path, hint=self.hint)

    def task(self, name: str) -> TaskInfo:
        return task_info(self._task(name), name)

    def pairs(self, name: str) -> dict[int, tuple[int, str | None]]:
        """Adversarial doc_id -> (the clean twin's doc_id it was made from, its kind): :func:`clean_originals`."""
        task = self._task(name)
        clean = (task.config.metadata or {}).get("clean_twin")
        if not clean:
            return {}
        return clean_originals(task, lambda: self._task(clean))

    def label(self, instance) -> int:
        """The gold choice of the document behind a request Instance."""
        name, doc_id = compat.instance_key(instance)
        return gold_label(self._task(name), instance.doc, task_name=name, doc_id=doc_id,
                          target=compat.instance_target(instance))

    def unconditional(self, instance) -> bool:
        """Whether a request Instance is one of ``acc_mutual_info``'s unconditional ones (no document of its own)."""
        return compat.unconditional_request(instance, self._task(compat.instance_key(instance)[0]))

    def training_activations(self, name: str, limit: int | None, desc: str, positions: str, split: str = "train",
                             batch_size: int | None = None):
        """(documents in all, this process's share batch by batch: (activations (G, L, P', D), gold labels)).

        ``split``: ``train`` (the training documents) or ``eval`` (the evaluation documents, for
        ``sn_baseline_source=self``). The labels (a list of G choice indices, :func:`gold_label`)
        give the per-class baseline sums of Wang et al.'s per-subtask baselines. A capture-only pass in
        batches of ``batch_size`` documents.
        """
        task = self._task(name)
        docs = task.training_docs() if split == "train" else task.eval_docs
        docs = docs if hasattr(docs, "__getitem__") else list(docs)
        total = len(docs) if limit is None else min(limit, len(docs))
        rank, world = self.lm.rank, self.lm.world_size
        mine = list(range(rank, total, world))
        documents = document_groups(task, [docs[i] for i in mine], self.lm, name=name, doc_ids=mine)
        # The capture-only pass: no scoring, no vocabulary head, stopped after the last hooked layer.
        batches = self.lm.engine.activation_batches([d.group for d in documents], capture=positions,
                                                    batch_size=batch_size, desc=desc)
        gold = [d.gold for d in documents]
        return total, ((acts, [gold[g] for g in batch]) for batch, acts in batches)
