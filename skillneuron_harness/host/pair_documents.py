"""Clean/adversarial document pairs rendered for scoring, as evaluation renders them (``skillneuron patch``).

An adversarial task (``metadata.clean_twin``) whose documents name their clean original
(:func:`~skillneuron_harness.host.tasks.clean_originals`: a ``clean_doc_id`` column, or AdvGLUE's
shipped mapping) gives one :class:`DocumentPair` per such document: both documents through
:func:`~skillneuron_harness.host.tasks.document_groups`, the one path from a document to tokens,
and the pair's perturbation kind (the document's ``perturbation`` field, else the task's
``metadata.perturbation`` when that is one name).
"""

from __future__ import annotations

from dataclasses import dataclass

from skillneuron_harness.host import compat
from skillneuron_harness.host.tasks import TaskError, clean_originals, document_groups


@dataclass
class DocumentPair:
    """One pair rendered for scoring: the adversarial and the clean document (host/tasks.Document each)."""

    doc_id: int
    clean_doc_id: int
    adv: object  # host.tasks.Document
    clean: object
    kind: str | None = None


def document_pairs(lm, task_name: str, manager, limit: int | None = None) -> tuple[str, list[DocumentPair]]:
    """(the clean twin, the pairs of ``task_name``'s first ``limit`` documents), rendered as evaluation renders them.

    The task needs ``metadata.clean_twin`` and documents that name their clean original
    (:func:`~skillneuron_harness.host.tasks.clean_originals`).
    """
    loaded = compat.load_tasks(manager, [task_name])
    task = loaded.get(task_name)
    if task is None:
        raise TaskError(f"task={task_name} is a group of {len(loaded)} tasks; name one adversarial task.")
    metadata = task.config.metadata or {}
    clean_name = metadata.get("clean_twin")
    if not clean_name:
        raise TaskError(f"task={task_name} has no metadata.clean_twin; patching needs an adversarial task whose "
                        "documents name their clean original (clean_doc_id).")
    clean_task = compat.load_tasks(manager, [clean_name])[clean_name]
    docs = list(task.eval_docs)[:limit]
    clean_docs = clean_task.eval_docs
    originals = {i: v for i, v in clean_originals(task, clean_task).items() if i < len(docs)}
    if not originals:
        raise TaskError(f"task={task_name}: none of its documents names its clean original in {clean_name} "
                        "(a clean_doc_id column, or an AdvGLUE document with a matched original); add the "
                        "column (see docs/tasks.md).")
    ids = sorted(originals)
    keys = [originals[i][0] for i in ids]
    bad = [k for k in keys if not 0 <= k < len(clean_docs)]
    if bad:
        raise TaskError(f"task={task_name}: clean_doc_id {bad[0]} is outside {clean_name}'s {len(clean_docs)} "
                        "evaluation documents; fix the column.")
    adv = document_groups(task, [docs[i] for i in ids], lm, name=task_name, doc_ids=ids)
    wanted = sorted(set(keys))
    clean = dict(zip(wanted, document_groups(clean_task, [clean_docs[k] for k in wanted], lm, name=clean_name,
                                             doc_ids=wanted), strict=True))
    return clean_name, [DocumentPair(i, k, a, clean[k], originals[i][1]) for i, k, a in zip(ids, keys, adv,
                                                                                              strict=True)]
