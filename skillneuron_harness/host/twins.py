"""Perturbed twins: an adversarial copy of any multiple-choice lm-eval task from a few lines of YAML.

A twin is an lm-eval Python task (``class:``) whose YAML names the clean task and the
perturbation; it copies everything else from the clean task, in any folder given to
``--include_path``::

    task: typo_sst2
    class: !function skillneuron_harness.host.twins.Twin
    perturbation:
      of: sst2
      fields: [sentence]
      steps: [{kind: keyboard_typo, rate: 0.1}]

* The clean task is found by name (lm-eval's, ours, or a YAML next to the twin) and built as lm-eval
  builds it; the twin takes its whole config (dataset, splits, prompt, choices, target, metrics),
  then the twin YAML's own keys on top, and sets ``metadata.clean_twin`` (skill-neuron consistency
  and the paired metrics read it) and ``metadata.perturbation`` (the normalised spec).
* Only the evaluation documents change, and only in ``fields``: each gets ``clean_doc_id`` (its
  document's index in the clean task's evaluation split, lm-eval's ``doc_id`` there),
  ``perturbed`` (whether any step changed it), ``changed_words`` (the fraction of the clean words
  no longer in place) and ``changed_chars`` (the character edit distance). Few-shot examples and
  the training split stay clean. The answer words of each document are protected.
* Each document is perturbed from (seed, clean document id, field): the same documents whatever
  ``--limit``, batch size, process count or machine. ``skip_unchanged: true`` leaves out the
  documents no step changed (``clean_doc_id`` keeps the pairing).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from skillneuron_harness.core.edits import change_size
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.host import compat

TWIN_FIELDS = ("clean_doc_id", "perturbed", "changed_words", "changed_chars")


class TwinError(SkillNeuronError):
    """A twin YAML that cannot be built: the message names the task, the key and the fix."""


@dataclass
class TwinSpec:
    """The ``perturbation:`` block of a twin YAML."""

    of: str
    fields: list[str]
    steps: list[dict]
    seed: int = 1234
    skip_unchanged: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, task: str, block: Any) -> TwinSpec:
        if not isinstance(block, dict):
            raise TwinError(f"task {task}: 'perturbation' must be a mapping with of, fields and steps, e.g. "
                            "{of: sst2, fields: [sentence], steps: [{kind: keyboard_typo, rate: 0.1}]}.")
        known = {"of", "fields", "steps", "seed", "skip_unchanged"}
        unknown = sorted(set(block) - known)
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            maybe = f" (did you mean {close[0]!r}?)" if close else ""
            raise TwinError(f"task {task}: perturbation has no key {unknown[0]!r}{maybe}; "
                            f"keys: {', '.join(sorted(known))}.")
        of, fields, steps = block.get("of"), block.get("fields"), block.get("steps")
        if not isinstance(of, str) or not of:
            raise TwinError(f"task {task}: perturbation.of must name the clean task (e.g. of: sst2).")
        if isinstance(fields, str):
            fields = [fields]
        if not fields or not all(isinstance(f, str) for f in fields):
            raise TwinError(f"task {task}: perturbation.fields must list the document fields to perturb "
                            "(e.g. fields: [sentence]).")
        if not isinstance(steps, list) or not steps:
            raise TwinError(f"task {task}: perturbation.steps must be a non-empty list of steps "
                            "(e.g. steps: [{kind: keyboard_typo, rate: 0.1}]).")
        seed = block.get("seed", 1234)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise TwinError(f"task {task}: perturbation.seed must be a whole number in [0, 2**63); got {seed!r}.")
        skip = block.get("skip_unchanged", False)
        if not isinstance(skip, bool):
            raise TwinError(f"task {task}: perturbation.skip_unchanged must be true or false; got {skip!r}.")
        return cls(of=of, fields=list(fields), steps=steps, seed=seed, skip_unchanged=skip)


# Clean tasks built for twins, per task index: the levels of a suite share one build (a build reads
# the task's splits, seconds for MNLI or QQP).
_CLEAN: dict[tuple[int, str], Any] = {}


def _clean_task(task: str, of: str, config_source: str | None):
    """The clean task as lm-eval builds it: through the running evaluation's index, else ours."""
    from pathlib import Path

    from skillneuron_harness.host.bridge import running_evaluation
    from skillneuron_harness.host.tasks import task_manager

    manager = running_evaluation().get("task_manager")
    if manager is None or of not in manager.all_tasks:
        folder = [str(Path(config_source).parent)] if config_source and config_source != "inline" else []
        manager = task_manager(folder)
    if of not in manager.all_tasks:
        close = difflib.get_close_matches(of, manager.all_tasks, n=3)
        raise TwinError(f"task {task}: perturbation.of={of}: no such task"
                        + (f" (did you mean {', '.join(close)}?)" if close else "")
                        + "; a task of your own goes into a folder given to --include_path.")
    if of in set(getattr(manager, "all_groups", ())) | set(getattr(manager, "all_tags", ())):
        raise TwinError(f"task {task}: perturbation.of={of} is a group or tag; name one task.")
    if (id(manager), of) in _CLEAN:
        return _CLEAN[id(manager), of]
    with compat.quiet_task_notes():  # lm-eval's notes on the clean task's config, printed when it is evaluated
        tasks = compat.load_tasks(manager, [of])
    if of not in tasks or len(tasks) != 1:
        raise TwinError(f"task {task}: perturbation.of={of} is a group or tag; name one task.")
    clean = tasks[of]
    if getattr(clean, "OUTPUT_TYPE", None) != "multiple_choice":
        raise TwinError(f"task {task}: perturbation.of={of} is a {clean.OUTPUT_TYPE} task; twins are made of "
                        "multiple-choice tasks.")
    _CLEAN[id(manager), of] = clean
    return clean


def copied_config(name: str, of: str, config: dict, metadata: dict) -> tuple[Any, dict]:
    """(the clean task ``of``, its config with the YAML's keys on top and ``clean_twin`` and ``metadata`` set)."""
    own = dict(config.get("metadata") or {})
    clean = _clean_task(name, of, own.get("config_source"))
    merged = clean.config.to_dict(keep_callable=True)
    merged.update({k: v for k, v in config.items() if k not in ("class", "metadata")})
    merged["metadata"] = {**(clean.config.metadata or {}), **own, "clean_twin": of, **metadata}
    return clean, merged


class CopiedTask(compat.multiple_choice_task_class()):
    """A task on a clean task's config and dataset (twins, attack sets): the splits are loaded once, for both."""

    def _copy(self, name: str, of: str, config: dict, metadata: dict, **kwargs) -> None:
        """Build on the clean task ``of`` (:func:`copied_config`); ``kwargs`` go to lm-eval's task class."""
        clean, merged = copied_config(name, of, config, metadata)
        self._clean_dataset = clean.dataset  # the same splits: loaded once (see download)
        with compat.quiet_task_notes():  # the clean task's notes again, on the copied config
            super().__init__(config=merged, **kwargs)

    def download(self, dataset_kwargs=None, **kwargs) -> None:
        """The clean task's dataset as loaded for it (never mutated)."""
        self.dataset = self._clean_dataset


class Twin(CopiedTask):
    """A perturbed copy of a multiple-choice task (module docstring)."""

    def __init__(self, config: dict | None = None, **kwargs):
        config = dict(config or {})
        name = config.get("task") or "twin"
        spec = TwinSpec.from_config(name, config.pop("perturbation", None))
        from skillneuron_harness.perturbations import Perturbation, PerturbationError

        try:
            self.perturbation = Perturbation.from_spec(steps=spec.steps, seed=spec.seed)
        except PerturbationError as err:
            raise TwinError(f"task {name}: {err}") from None
        self.spec = spec
        self._by_choices: dict[tuple[str, ...], Any] = {}  # the perturbation protecting each set of answer words
        self._perturbed_splits: dict[str, Any] = {}
        self._copy(name, spec.of, config, {
            "perturbation": {"of": spec.of, "fields": spec.fields, "skip_unchanged": spec.skip_unchanged,
                             **self.perturbation.describe()}}, **kwargs)

    # Only the evaluation splits are perturbed: few-shot examples and training documents stay clean.
    def validation_docs(self):
        return self._perturb_split(self.config.validation_split, super().validation_docs())

    def test_docs(self):
        return self._perturb_split(self.config.test_split, super().test_docs())

    def _perturb_split(self, split: str | None, docs):
        if docs is None or split is None:
            return docs
        if split not in self._perturbed_splits:
            self._perturbed_splits[split] = self._perturb(docs)
        return self._perturbed_splits[split]

    def _protecting(self, choices: tuple[str, ...]):
        """The perturbation with a document's answer words protected (tasks mostly share one set)."""
        if choices not in self._by_choices:
            from skillneuron_harness.perturbations import Perturbation

            self._by_choices[choices] = Perturbation.from_spec(steps=self.spec.steps, seed=self.spec.seed,
                                                               protected=choices)
        return self._by_choices[choices]

    def _perturb(self, docs):
        rows = [dict(doc) for doc in docs]
        if rows:
            missing = [f for f in self.spec.fields if not isinstance(rows[0].get(f), str)]
            if missing:
                text = sorted(k for k, v in rows[0].items() if isinstance(v, str))
                raise TwinError(f"task {self.config.task}: perturbation.fields names {missing[0]!r}, which the "
                                f"documents of {self.spec.of} have not as text; their text fields: "
                                f"{', '.join(text) or 'none'}.")
        out = []
        for doc_id, doc in enumerate(rows):
            perturbation = self._protecting(tuple(str(c) for c in self.doc_to_choice(doc)))
            changed_any, words, chars = False, 0.0, 0
            new = dict(doc)
            for name in self.spec.fields:
                text, changed = perturbation.apply(doc[name], doc_id=doc_id, field=name)
                new[name] = text
                changed_any |= changed
                w, c = change_size(doc[name], text)
                words, chars = max(words, w), chars + c
            if self.spec.skip_unchanged and not changed_any:
                continue
            new.update(clean_doc_id=doc_id, perturbed=changed_any, changed_words=words, changed_chars=chars)
            out.append(new)
        import datasets

        return datasets.Dataset.from_list(out) if out else datasets.Dataset.from_dict({k: [] for k in rows[0]} if rows
                                                                                    else {})

