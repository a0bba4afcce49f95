"""Clean/adversarial document pairs rendered for scoring, as evaluation renders them (``skillneuron patch``).

An adversarial task (``metadata.clean_twin``) whose documents carry ``clean_doc_id`` (the clean
twin's ``doc_id``, its index in the evaluation split) gives one :class:`DocumentPair` per such
document: both documents through :func:`~skillneuron_harness.host.tasks.document_groups`, the
one path from a document to tokens, and the pair's perturbation kind (the document's
``perturbation`` field, else the task's ``metadata.perturbation`` when that is one name).
"""

from __future__ import annotations

from dataclasses import dataclass

from skillneuron_harness.host import compat
from skillneuron_harness.host.tasks import TaskError, document_groups


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

    The task needs ``metadata.clean_twin`` and documents carrying ``clean_doc_id`` (the clean
    twin's ``doc_id``: the index in its evaluation split).
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
    default = metadata.get("perturbation") if isinstance(metadata.get("perturbation"), str) else None
    ids = [i for i, d in enumerate(docs) if d.get("clean_doc_id") is not None]
    if not ids:
        raise TaskError(f"task={task_name}: none of its documents carries clean_doc_id, so none names its clean "
                        f"original in {clean_name}; add the column (see docs/tasks.md).")
    keys = [int(docs[i]["clean_doc_id"]) for i in ids]
    bad = [k for k in keys if not 0 <= k < len(clean_docs)]
    if bad:
        raise TaskError(f"task={task_name}: clean_doc_id {bad[0]} is outside {clean_name}'s {len(clean_docs)} "
                        "evaluation documents; fix the column.")
    adv = document_groups(task, [docs[i] for i in ids], lm, name=task_name, doc_ids=ids)
    wanted = sorted(set(keys))
    clean = dict(zip(wanted, document_groups(clean_task, [clean_docs[k] for k in wanted], lm, name=clean_name,
                                             doc_ids=wanted), strict=True))
    kinds = [docs[i].get("perturbation") for i in ids]
    return clean_name, [DocumentPair(i, k, a, clean[k], kind if isinstance(kind, str) and kind else default)
                        for i, k, a, kind in zip(ids, keys, adv, kinds, strict=True)]
