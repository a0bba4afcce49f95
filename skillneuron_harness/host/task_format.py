"""Token-level rules of a task variant that a template cannot express: ``metadata.released_format``.

The task variants of ``task_configs/released/`` render documents as the releasing projects'
formatters did; three rules of those formatters act on tokens, not text, so they are declared in
the task's YAML and applied by ``prompt_tuned`` to the context and answer tokens of each request::

    metadata:
      released_format:
        max_text_tokens: 127   # the text is cut on the right to its first N tokens (for 100-token prompts)
        end_token: true        # seq2seq: end the encoder input with the tokenizer's end token (</s>)
        answer_tokens: 1       # score only the first N tokens of each answer (the first decoding step)

``max_text_tokens`` counts the tokens between the special tokens (masked LMs: between ``<s>`` and
``</s>``, which the layout adds; T5: before ``</s>``). ``end_token: false`` drops the ``</s>`` the
T5 tokenizer appends (the Robust-Neurons MNLI/QNLI T5 formatters have none). A task without the
key is left as lm-eval tokenises it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from skillneuron_harness.core.scoring import special_token_frame


@dataclass(frozen=True)
class TaskFormat:
    """The token rules of one task (see the module docstring)."""

    max_text_tokens: int | None = None
    end_token: bool | None = None
    answer_tokens: int | None = None

    @classmethod
    def from_metadata(cls, task: str, spec: dict) -> TaskFormat:
        known = {"max_text_tokens", "end_token", "answer_tokens", "source"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"task {task}: metadata.released_format has unknown keys {unknown}; "
                             f"expected {sorted(known)}.")
        return cls(spec.get("max_text_tokens"), spec.get("end_token"), spec.get("answer_tokens"))

    def apply(self, context: list[int], continuation: list[int], tokenizer, backend: str):
        """(context tokens, answer tokens) of one request under these rules."""
        context, suffix = list(context), []
        if backend == "seq2seq":
            _, end = special_token_frame(tokenizer)  # T5: ([], [</s>])
            if end and context[-len(end):] == end:
                context, suffix = context[: -len(end)], list(end)
            if self.end_token is False:
                suffix = []
            elif self.end_token and not suffix:
                suffix = list(end)
        if self.max_text_tokens is not None:
            context = context[: self.max_text_tokens]
        if self.answer_tokens is not None:
            continuation = list(continuation[: self.answer_tokens])
        return context + suffix, continuation


@functools.cache
def _released_formats() -> dict[str, TaskFormat]:
    """Task name -> its format, for every task YAML of our folder that declares one."""
    from lm_eval.tasks._yaml_loader import load_yaml

    from skillneuron_harness.host.bridge import task_folder

    formats = {}
    for path in sorted(task_folder().rglob("*.yaml")):
        cfg = load_yaml(path, resolve_func=False)
        spec = (cfg.get("metadata") or {}).get("released_format")
        if isinstance(cfg.get("task"), str) and spec:
            formats[cfg["task"]] = TaskFormat.from_metadata(cfg["task"], spec)
    return formats


def task_format(task_name: str | None) -> TaskFormat | None:
    """The format of ``task_name``.

    In order: the config of the task lm-eval is evaluating under that name (a user's YAML loaded
    with ``--include_path`` as much as ours), our folder's YAMLs (a pass over our tasks outside an
    evaluation), then the YAML the running evaluation's ``TaskManager`` indexes under that name (a
    user's clean twin, loaded for the baseline pass but not evaluated).
    """
    if task_name is None:
        return None
    task = _evaluated_task(task_name)
    if task is not None:
        spec = (task.config.metadata or {}).get("released_format")
        return TaskFormat.from_metadata(task_name, spec) if spec else None
    formats = _released_formats()
    if task_name in formats:
        return formats[task_name]
    return _indexed_format(task_name)


def _evaluated_task(task_name: str):
    """The ``Task`` called ``task_name`` in the ``evaluate`` call in progress (the bridge records it), or None."""
    from skillneuron_harness.host.bridge import running_evaluation
    from skillneuron_harness.host.compat import evaluated_tasks

    return evaluated_tasks(running_evaluation().get("task_dict")).get(task_name)


def _indexed_format(task_name: str) -> TaskFormat | None:
    from skillneuron_harness.host.bridge import running_evaluation
    from skillneuron_harness.host.compat import task_index

    manager = running_evaluation().get("task_manager")
    entry = task_index(manager).get(task_name) if manager is not None else None
    path = getattr(entry, "yaml_path", None)
    return _yaml_format(task_name, str(path)) if path else None


# Keyed by the YAML's path, not by the task name alone: two runs in one process may index different
# files under one name, and a cache by name would give the second run the first run's format.
@functools.lru_cache(maxsize=256)
def _yaml_format(task_name: str, path: str) -> TaskFormat | None:
    from lm_eval.tasks._yaml_loader import load_yaml

    spec = (load_yaml(path, resolve_func=False).get("metadata") or {}).get("released_format")
    return TaskFormat.from_metadata(task_name, spec) if spec else None


def warn_on_format(lm, requests) -> None:
    """Once per task: a released prompt on a task not rendered as it was trained (prompts/release.py)."""
    release = lm.soft_prompt.release if lm.soft_prompt is not None else None
    if release is None:
        return
    import logging

    from skillneuron_harness.prompts.release import format_mismatch

    warned = lm.__dict__.setdefault("_format_warned", set())
    by_task: dict[str, tuple] = {}  # task -> (first doc id, its choices)
    for req in requests:
        name = getattr(req, "task_name", None)
        if name is None or name in warned:
            continue
        doc = by_task.setdefault(name, (req.doc_id, []))
        if req.doc_id == doc[0]:
            doc[1].append(req.args[1])
    for name, (_, words) in by_task.items():
        warned.add(name)
        message = format_mismatch(release, name, words)
        if message:
            logging.getLogger("skillneuron_harness.host.model").warning("prompt=%s: %s", lm.args.prompt, message)
