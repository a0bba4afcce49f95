"""Paired metrics in lm-eval's results: every adversarial task whose clean twin ran in the same evaluation.

An evaluated task is *paired* when its ``metadata.clean_twin`` is evaluated too and its documents
name their clean original: a perturbed twin's documents carry ``clean_doc_id`` (the clean task's
``doc_id``), as do an attack set's (``metadata.attack``) and any task whose documents have that
column (your own JSONL); an AdvGLUE task's documents are matched
to the GLUE dev documents they were made from by the shipped mapping
(:mod:`skillneuron_harness.core.advglue_pairs`: its ``idx`` to the clean document's ``idx``;
documents without a confident match, and MNLI/QQP, whose originals lie outside our data, count as
unpaired). For such a run the bridge has lm-eval keep its per-document samples
(``log_samples``), :func:`add_paired_metrics` joins them, and drops them again unless the caller
asked for them. The metrics (:mod:`skillneuron_harness.core.paired`) go into the adversarial
task's row of ``results["results"]`` beside ``acc`` (with ``_stderr`` and ``higher_is_better``, so
that lm-eval's table prints them), and ``results["paired"][task]`` says what was paired with what.
"""

from __future__ import annotations

from dataclasses import dataclass

from skillneuron_harness.core.advglue_pairs import advglue_config, clean_original
from skillneuron_harness.core.paired import HIGHER_IS_BETTER, Pair, paired_metrics
from skillneuron_harness.host import compat


@dataclass(frozen=True)
class Pairing:
    """An adversarial task, its clean twin, and how a document names its clean original."""

    task: str
    clean: str
    key: str  # "clean_doc_id": the adversarial doc names the clean doc_id; "advglue": the shipped mapping
    mapping: str | None = None  # the AdvGLUE config whose mapping applies (key "advglue")


def plan(task_dict) -> list[Pairing]:
    """The pairings an evaluation's task dict allows (none: nothing changes in the run)."""
    tasks = compat.evaluated_tasks(task_dict)
    out = []
    for name, task in sorted(tasks.items()):
        metadata = getattr(task.config, "metadata", None) or {}
        clean = metadata.get("clean_twin")
        if clean not in tasks:
            continue
        if metadata.get("perturbation") or metadata.get("attack") or names_clean_documents(task):
            out.append(Pairing(name, clean, "clean_doc_id"))  # twins, attack sets, your own JSONL with the column
        elif advglue_config(task) is not None:
            out.append(Pairing(name, clean, "advglue", advglue_config(task)))
    return out


def names_clean_documents(task) -> bool:
    """Whether the evaluation documents have a ``clean_doc_id`` column (as ``host.tasks.clean_originals`` reads)."""
    docs = task.eval_docs
    columns = getattr(docs, "column_names", None)
    if columns is not None:
        return "clean_doc_id" in columns
    first = next(iter(docs), None)
    return isinstance(first, dict) and "clean_doc_id" in first


def _adversarial_key(pairing: Pairing, doc: dict) -> int | None:
    if pairing.key == "clean_doc_id":
        return None if doc.get("clean_doc_id") is None else int(doc["clean_doc_id"])
    return None if doc.get("idx") is None else clean_original(pairing.mapping, int(doc["idx"]))


def _clean_key(pairing: Pairing, sample: dict) -> int | None:
    if pairing.key == "clean_doc_id":
        return int(sample["doc_id"])
    idx = sample["doc"].get("idx")
    return None if idx is None else int(idx)


def _prediction(sample: dict) -> int:
    scores = compat.sample_loglikelihoods(sample)
    return max(range(len(scores)), key=lambda i: scores[i])  # the argmax lm-eval's acc takes


def _correct(sample: dict) -> bool:
    if "acc" in sample:
        return bool(sample["acc"])
    return _prediction(sample) == sample["target"]


def pairs_of(pairing: Pairing, adversarial: list[dict], clean: list[dict]) -> tuple[list[Pair], int]:
    """(the pairs both evaluated, the number of adversarial documents whose original was not).

    ``adversarial`` and ``clean``: the two tasks' logged samples.
    """
    originals = {_clean_key(pairing, s): s for s in clean}
    out, unpaired = [], 0
    for s in adversarial:
        key = _adversarial_key(pairing, s["doc"])
        original = originals.get(key) if key is not None else None
        if original is None:
            unpaired += 1
            continue
        out.append(Pair(clean_key=key, clean_pred=_prediction(original), clean_correct=_correct(original),
                        adv_pred=_prediction(s), adv_correct=_correct(s),
                        changed_words=s["doc"].get("changed_words"), changed_chars=s["doc"].get("changed_chars")))
    return out, unpaired


def _clean_key_beside(key: str, pairing: Pairing, samples: dict) -> str:
    """The clean twin's key in ``samples`` for the twin's ``key``: in the same group if it ran there, else anywhere."""
    beside = key[: len(key) - len(pairing.task)] + pairing.clean  # "" or "group::" in front
    if beside in samples:
        return beside
    return next(iter(compat.result_keys(samples, pairing.clean)), pairing.clean)


def add_paired_metrics(results: dict, pairings: list[Pairing]) -> None:
    """Write each pairing's metrics into ``results`` (lm-eval's dict, its ``samples`` still in it).

    A task is found under its name or, in a group under lm-eval 0.5, under ``group::name``
    (compat item 27; ``results`` and ``samples`` share the keys); each row of it gets the metrics
    of its own samples.
    """
    samples = results.get("samples") or {}
    section = results.setdefault("paired", {})
    for pairing in pairings:
        for key in compat.result_keys(results.get("results") or {}, pairing.task) or [pairing.task]:
            _add_pairing(results, pairing, key, _clean_key_beside(key, pairing, samples), samples, section)


def _add_pairing(results: dict, pairing: Pairing, key: str, clean_key: str, samples: dict, section: dict) -> None:
    pairs, unpaired = pairs_of(pairing, samples.get(key, []), samples.get(clean_key, []))
    metrics = paired_metrics(pairs)
    section[key] = {"clean_twin": pairing.clean, "key": pairing.key, "unpaired": unpaired,
                    **{k: None if v != v else v for k, v in metrics.items()}}
    row = (results.get("results") or {}).get(key)
    if row is None or not metrics:
        return
    filter_key = next((k.partition(",")[2] for k in row if k.startswith("acc,")), "none")
    for name, value in metrics.items():
        if name in ("pairs", "clean_documents"):
            continue
        row[f"{name},{filter_key}"] = "N/A" if value != value else value  # NaN as lm-eval writes a stderr
    better = results.setdefault("higher_is_better", {}).setdefault(key, {})
    better.update({m: h for m, h in HIGHER_IS_BETTER.items() if m in metrics})
