"""Attack sets as lm-eval tasks, and the victim as the attack's scorer.

``skillneuron attack`` writes a JSONL of perturbed documents and a YAML next to it::

    task: sst2_attack_chars
    class: !function skillneuron_harness.host.attack_sets.AttackSet
    attack: {of: sst2, documents: sst2_attack_chars.jsonl}
    metadata: {attack: {recipe: chars, victim: {...}, ...}}

:class:`AttackSet` is the clean task (found by name as a twin finds it, ``host/twins.py``) with its
evaluation split replaced by the JSONL's rows: the same prompt, choices, target and metrics; the
other splits (few-shot examples, training documents) stay the clean task's. ``metadata.clean_twin``
names the clean task and every row its ``clean_doc_id``, so the paired metrics and the skill-neuron
consistency of clean/adversarial pairs work on it; ``metadata.attack`` records how it was made.
``documents`` is read relative to the YAML's folder.

:class:`VictimScorer` is how the search queries the model: each variant document is rendered by the
task (``fewshot_context`` at 0 shots and ``construct_requests``, as lm-eval renders it) and all
variants of a round go to the model's ``loglikelihood`` in one call, which batches them as an
evaluation does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.host import compat
from skillneuron_harness.host.tasks import gold_label
from skillneuron_harness.host.twins import CopiedTask

CLASS_PATH = "skillneuron_harness.host.attack_sets.AttackSet"
ROW_FIELDS = ("clean_doc_id", "perturbed", "changed_words", "changed_chars", "attack_status", "perturbation")


class AttackSetError(SkillNeuronError):
    """An attack-set YAML or JSONL that cannot be used: the message names the file and the fix."""


def read_rows(path: Path, task: str) -> list[dict]:
    """The documents of an attack set, each checked for its ``clean_doc_id``."""
    if not path.is_file():
        raise AttackSetError(f"task {task}: attack.documents={path}: no such file; keep the JSONL that "
                             "skillneuron attack wrote next to its YAML.")
    rows = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise AttackSetError(f"task {task}: {path}, line {line_no}: not JSON ({err.msg}).") from None
            if not isinstance(row, dict) or isinstance(row.get("clean_doc_id"), bool) \
                    or not isinstance(row.get("clean_doc_id"), int):
                raise AttackSetError(f"task {task}: {path}, line {line_no}: a document needs an integer "
                                     "clean_doc_id (its document in the clean task's evaluation split).")
            rows.append(row)
    return rows


class AttackSet(CopiedTask):
    """The clean task with the attack's documents as its evaluation split (module docstring)."""

    def __init__(self, config: dict | None = None, **kwargs):
        config = dict(config or {})
        name = config.get("task") or "attack"
        block = config.pop("attack", None)
        if not isinstance(block, dict) or not isinstance(block.get("of"), str) \
                or not isinstance(block.get("documents"), str):
            raise AttackSetError(f"task {name}: 'attack' must be a mapping naming the clean task and the "
                                 "documents, e.g. {of: sst2, documents: sst2_attack_chars.jsonl}.")
        source = (config.get("metadata") or {}).get("config_source")
        documents = Path(block["documents"])
        if not documents.is_absolute() and source and source != "inline":
            documents = Path(source).parent / documents
        rows = read_rows(documents, name)
        made = (config.get("metadata") or {}).get("attack") or {}
        import datasets

        self._rows = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({})
        # few-shot and training splits: the clean task's
        self._copy(name, block["of"], config, {"attack": {**made, "of": block["of"], "documents": block["documents"]}},
                   **kwargs)

    def test_docs(self):
        return self._rows if self.config.test_split else super().test_docs()

    def validation_docs(self):
        if self.config.test_split:  # the evaluation split is the test split: this one serves few-shot examples
            return super().validation_docs()
        return self._rows


def attackable_fields(task, doc) -> list[str]:
    """The text fields of ``doc`` that its rendered context shows (the default ``--fields``)."""
    context = compat.render_context(task, doc)
    return [k for k, v in doc.items() if isinstance(v, str) and v.strip() and v in context]


class VictimScorer:
    """(doc_id, attacked fields) per variant -> the choices' log-likelihoods, through ``lm.loglikelihood``."""

    def __init__(self, lm, task, docs, name: str):
        self.lm, self.task, self.docs, self.name = lm, task, docs, name
        self.queries = 0

    def document(self, doc_id: int, fields: dict[str, str]) -> dict[str, Any]:
        return {**self.docs[doc_id], **fields}

    def gold(self, doc_id: int) -> int:
        doc = self.docs[doc_id]
        return gold_label(self.task, doc, task_name=self.name, doc_id=doc_id)

    def __call__(self, variants):
        instances, spans = [], []
        for doc_id, fields in variants:
            doc = self.document(doc_id, fields)
            requests = compat.document_requests(self.task, doc, doc_id, compat.render_context(self.task, doc))
            n = len(self.task.doc_to_choice(doc))
            spans.append((len(instances), n))
            instances.extend(requests[:n])  # the conditional requests come first
        results = self.lm.loglikelihood(instances, disable_tqdm=True) if instances else []
        self.queries += len(variants)
        return [[float(r[0]) for r in results[start:start + n]] for start, n in spans]
