"""What the report reads from run folders, as flat records: prompts, evaluations, skill-neuron files, curves.

:mod:`~skillneuron_harness.report.collect` fills them from the files; :mod:`~skillneuron_harness.report.runs`
decides which of them one report group uses (one limit, one file per prompt and task, neuron files
paired with the evaluation that wrote them); :mod:`~skillneuron_harness.report.tables` computes on a
:class:`Collection`, which holds one such group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError

MANIFEST = "prompts.json"
CURVE_FILE = "suppression_curve.json"
CURVE_FIELDS = ("model", "task", "control", "percent", "acc")  # what the tables read of each curve record


class UnreadableFiles(SkillNeuronError):
    """Files under the run folders that look like ours but cannot be read; the message lists them."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = "; ".join(f"{path}: {why}" for path, why in problems)
        super().__init__(f"{len(problems)} file(s) cannot be read: {lines}. Delete or regenerate them, or pass "
                         "--skip-unreadable to report without them.")


@dataclass(frozen=True)
class Prompt:
    """One soft prompt: who it is, what it was trained on, and how the report knows."""

    key: str  # prompt_sha256, or the path when no hash is known
    label: str  # short name for tables
    path: str | None = None
    task: str | None = None  # training task, when known
    seed: int | str | None = None
    declared_group: str | None = None  # a manifest's "group": the seeds it belongs with
    grouped_by: str = ""  # where task / group came from (said in the report)

    @property
    def group(self) -> str:
        """The declared group, else the training task, else the label."""
        return self.declared_group or self.task or self.label


@dataclass
class Evaluation:
    """One task's accuracy for one (model, prompt) in one results file."""

    model: str
    prompt: Prompt
    task: str
    acc: float
    acc_stderr: float | None
    num_docs: int | None
    num_choices: int | None
    clean_twin: str | None
    suppression: dict | None
    source: str  # the results file
    split_of: str | None = None  # metadata.split_of: another evaluation split of that task (MNLI mismatched)
    limit: float | None = None  # the run's --limit (None: all documents)
    neurons: dict | None = None  # the results' skill_neurons[task] summary: files, num_docs, run


@dataclass
class NeuronFile:
    """One ``<task>.safetensors`` skill-neuron file (tensors read on demand)."""

    path: Path
    model: str
    prompt: Prompt
    task: str
    clean_twin: str | None
    provenance: dict[str, Any]
    subtasks: str = ""  # e.g. "1:0" (safetensors metadata)
    split_of: str | None = None  # as Evaluation.split_of
    _tensors: dict | None = field(default=None, repr=False)

    @property
    def tensors(self) -> dict:
        """The file's tensors (``score`` [L, D], ``baseline`` [L, P, D], ``fire_counts`` ...)."""
        if self._tensors is None:
            from safetensors.torch import load_file

            self._tensors = load_file(str(self.path))
        return self._tensors

    @property
    def num_docs(self) -> int | None:
        """Documents the file counted (its provenance, else the sum of ``class_counts``)."""
        n = self.provenance.get("num_docs")
        if isinstance(n, int) and not isinstance(n, bool):
            return n
        counts = self.tensors.get("class_counts")
        return None if counts is None else int(counts.sum())

    @property
    def run(self) -> str | None:
        """The id of the evaluation that wrote it (provenance ``run``; files of older versions have none)."""
        run = self.provenance.get("run")
        return run if isinstance(run, str) else None


@dataclass
class CurveFile:
    """The records of one ``suppression_curve.json`` and the limit it was run with."""

    path: str
    records: list[dict]
    limit: float | None = None
    limit_known: bool = False


@dataclass
class Collection:
    """The records of one report group (or, straight from the folders, of all of them)."""

    evaluations: list[Evaluation] = field(default_factory=list)
    neuron_files: list[NeuronFile] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)  # records of suppression_curve.json files
    sources: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why): files left out
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): JSON files that are not lm-eval's
    curve_files: list[CurveFile] = field(default_factory=list)
    label: str = ""  # the group: "all documents", "--limit 100", ...
    limit: float | None = None
    used: list[str] = field(default_factory=list)  # the files this group's numbers come from
