"""Skill-neuron statistics from the forward passes of an lm-eval run (``skill_neurons=DIR``).

``prompt_tuned`` attaches one :class:`SkillNeuronRecorder` (a
:class:`~skillneuron_harness.observers.ScoringObserver`) when ``skill_neurons=`` is given. For
each task of the run it

1. at ``begin``, computes the baseline (mean FFN activation per layer, position and neuron) over
   the training split of the task, or of its clean twin (``metadata.clean_twin``) for adversarial
   tasks (``sn_baseline_source=train``), or, with ``sn_baseline_source=self``, over an adversarial
   task's own evaluation documents, as Ackermann & Ohmer's ``--adversarial True`` runs do, from
   the activations the run hands it; or reads it from ``sn_baseline=FILE``;
2. at each ``scored`` batch, counts the documents of each class whose activation lies above the
   baseline (each document once, whatever its number of choices);
3. at ``end``, sums the counts over processes (one all-reduce per task), and on rank 0 writes
   ``<DIR>/<task>.safetensors`` / ``.json`` (see :mod:`skillneuron_harness.neurons.io`) and
   keeps a summary for the results JSON.

It sees tensors, labels and task facts only; rendering and labels come from
:mod:`skillneuron_harness.lm_eval_tasks`. Positions (``sn_positions``): ``prompt`` (the
soft-prompt positions), ``last`` (the last context token) or ``mask`` (the first mask, masked
LMs); ``auto`` takes ``prompt`` when there is a soft prompt and the model is not decoder-only (a
decoder's prompt positions cannot see the input), otherwise ``mask`` for masked LMs and ``last``
for the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from skillneuron_harness.neurons.capture import HookPoint
from skillneuron_harness.neurons.io import read_task_stats, write_task_stats
from skillneuron_harness.neurons.statistics import BaselineAccumulator, FireCounter, is_distributed
from skillneuron_harness.observers import EvaluationRun, ScoredDocuments, ScoringObserver, TaskInfo
from skillneuron_harness.options import ModelArgsError, OptionGroup, StrEnum, as_choice, as_float, as_int, as_str

log = logging.getLogger(__name__)


class Positions(StrEnum):
    """``sn_positions=``: where a document's activations are read (see the module docstring)."""

    AUTO = "auto"
    PROMPT = "prompt"
    LAST = "last"
    MASK = "mask"


POSITIONS = Positions.values()


class BaselineSource(StrEnum):
    """``sn_baseline_source=``: the documents of an adversarial task's baseline."""

    TRAIN = "train"
    SELF = "self"


@dataclass
class SkillNeuronConfig(OptionGroup):
    """The ``skill_neurons`` + ``sn_*`` model_args of ``prompt_tuned``."""

    PREFIX: ClassVar[str] = "sn_"
    SWITCH: ClassVar[str | None] = "skill_neurons"

    output_dir: str = field(metadata={"arg": "skill_neurons", "default": "off",
                                      "help": "folder for `<task>.safetensors` and `<task>.json`"})
    positions: Positions = field(default=Positions.AUTO, metadata={
        "help": "`prompt` (the soft-prompt positions), `last` (last context token), `mask` (first mask); `auto`: "
                "`prompt` with a soft prompt, except on decoder-only models (whose prompt positions cannot see the "
                "input) and without a prompt: `mask` for masked LMs, else `last`"})
    baseline_limit: int | None = field(default=None, metadata={
        "default": "all", "help": "baseline over the first N training documents"})
    baseline: str | None = field(default=None, metadata={
        "help": "reuse the baseline of an earlier run's `<task>.safetensors` instead of a baseline pass"})
    reference: str | None = field(default=None, metadata={
        "help": "a clean run's `<task>.safetensors`: consistency of an adversarial task against it"})
    subtasks: str | None = field(default=None, metadata={
        "default": "Wang et al.",
        "help": "binary decomposition of multi-class tasks, e.g. `0:2;1:0+2` (`;` between subtasks, `+` joins "
                "classes, `rest` = all other classes)"})
    baseline_source: BaselineSource = field(default=BaselineSource.TRAIN, metadata={
        "help": "baseline of an adversarial task: `train` (its clean twin's training split) or `self` (the "
                "adversarial set itself, as Ackermann & Ohmer's `--adversarial True`); see docs/statistics.md"})
    top: float = field(default=0.02, metadata={
        "help": "fraction of each layer's neurons called skill neurons in the summaries"})
    include_path: str | None = field(default=None, metadata={
        "help": "task folders to load clean twins from when they are neither evaluated in the run nor in the run's "
                "task index (ours, lm-eval's, `--include_path`)"})

    def __post_init__(self):
        self.output_dir = as_str("skill_neurons", self.output_dir)
        self.positions = as_choice("sn_positions", self.positions, Positions)
        self.baseline_source = as_choice("sn_baseline_source", self.baseline_source, BaselineSource)
        if self.baseline_limit is not None:
            self.baseline_limit = as_int("sn_baseline_limit", self.baseline_limit, example=1000)
            if self.baseline_limit < 1:
                raise ModelArgsError(f"sn_baseline_limit={self.baseline_limit}: must be a positive number of "
                                     "documents.")
        self.top = as_float("sn_top", self.top, example=0.02)
        if not 0 < self.top <= 1:
            raise ModelArgsError(f"sn_top={self.top}: a fraction of neurons per layer in (0, 1], e.g. 0.02.")
        self.baseline, self.reference = as_str("sn_baseline", self.baseline), as_str("sn_reference", self.reference)
        self.subtasks, self.include_path = as_str("sn_subtasks", self.subtasks), as_str("sn_include_path",
                                                                                        self.include_path)
        for arg, value in (("sn_baseline", self.baseline), ("sn_reference", self.reference)):
            if value is not None and not (Path(value).is_file() and value.endswith(".safetensors")):
                raise ModelArgsError(f"{arg}={value}: no such file; pass a <task>.safetensors written by an "
                                     "earlier skill_neurons= run.")


@dataclass
class _TaskState:
    info: TaskInfo
    counter: FireCounter
    baseline_source: str
    baseline_docs: int
    seen: set = field(default_factory=set)
    correct: int = 0


def resolve_positions(requested: str, *, num_virtual_tokens: int, backend: str) -> str:
    """``sn_positions`` made concrete for a model (``auto``: see the module docstring)."""
    if requested == "auto":
        if num_virtual_tokens and backend != "causal":
            return "prompt"
        return "mask" if backend == "masked" else "last"
    if requested == "prompt" and not num_virtual_tokens:
        raise ModelArgsError("sn_positions=prompt needs a soft prompt (prompt=...); use last or mask.")
    if requested == "mask" and backend != "masked":
        raise ModelArgsError(f"sn_positions=mask needs a masked LM; this model is {backend}.")
    return str(requested)


class SkillNeuronRecorder(ScoringObserver):
    """Baselines, counts and output files for the tasks of one lm-eval run (a :class:`ScoringObserver`).

    ``hook_points``: the model's FFN hook points (L of them, D wide); ``num_virtual_tokens`` and
    ``backend`` decide the positions; ``rank`` 0 writes; ``provenance`` goes into every file.
    """

    def __init__(self, config: SkillNeuronConfig, *, hook_points: list[HookPoint], num_virtual_tokens: int,
                 backend: str, rank: int = 0, device=None, provenance: dict | None = None) -> None:
        self.config = config
        self.hook_points = hook_points
        self.num_virtual_tokens = num_virtual_tokens
        self.rank = rank
        self.device = device
        self.provenance = dict(provenance or {})
        self.positions = self.capture_positions = resolve_positions(
            config.positions, num_virtual_tokens=num_virtual_tokens, backend=backend)
        self.tasks: dict[str, _TaskState] = {}
        self.summaries: dict[str, dict] = {}

    def model_info(self) -> dict:
        return {"skill_neurons": self.summaries}

    # ----------------------------------------------------------------- tasks
    def begin(self, run: EvaluationRun) -> None:
        """Each new task of the run: its baseline (before any counting)."""
        names = list(run.task_names)
        if is_distributed():  # every rank must run the same collectives in the same order
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, names)
            names = sorted({n for ns in gathered for n in ns})
        for name in names:
            if name not in self.tasks:
                self.tasks[name] = self._new_task_state(run, name)

    def _new_task_state(self, run: EvaluationRun, name: str) -> _TaskState:
        info = run.task(name)
        if self.config.baseline:
            path = Path(self.config.baseline)
            baseline = read_task_stats(path.parent, path.stem).tensors["baseline"]
            source, docs = f"file:{self.config.baseline}", -1
        else:
            baseline, source, docs = self._baseline_pass(run, info)
        return _TaskState(info, FireCounter(baseline, info.num_classes), source, docs)

    def _baseline_pass(self, run: EvaluationRun, info: TaskInfo):
        if info.clean_twin and self.config.baseline_source == "self":  # Ackermann & Ohmer's --adversarial True
            desc = f"Skill-neuron baseline ({info.name} itself)"
            total, batches = run.training_activations(info.name, self.config.baseline_limit, desc, self.positions,
                                                      split="eval")
            log.info("Skill-neuron baseline of %s: %d of its own documents", info.name, total)
            return self._mean(batches), f"{info.name}:self", total
        source_name = info.clean_twin or info.name
        source = run.task(source_name) if info.clean_twin else info
        if not source.has_training_docs:
            raise ModelArgsError(
                f"skill_neurons: task {source_name!r} (the baseline of {info.name!r}) has no training split; pass "
                "sn_baseline=FILE with the <task>.safetensors of a run that had one."
            )
        desc = f"Skill-neuron baseline ({source_name} train)"
        total, batches = run.training_activations(source_name, self.config.baseline_limit, desc, self.positions)
        log.info("Skill-neuron baseline of %s: %d training documents of %s", info.name, total, source_name)
        return self._mean(batches), f"{source_name}:train", total

    def _mean(self, batches) -> torch.Tensor:
        """The baseline [L, P', D] over this process's batches (G, L, P', D), summed over processes."""
        accumulator = BaselineAccumulator()
        for acts in batches:  # (G, L, P', D)
            accumulator.update(acts.float())
        if accumulator.shape is None:  # a rank without documents still joins the reduction
            accumulator = BaselineAccumulator(shape=self._shape(), device=self.device)
        accumulator.all_reduce()
        return accumulator.mean()

    def _shape(self) -> tuple[int, int, int]:
        """(L, P', D) of what this recorder captures per document."""
        positions = self.num_virtual_tokens if self.positions == "prompt" else 1
        return (len(self.hook_points), positions, self.hook_points[0].width)

    # --------------------------------------------------------------- counting
    def scored(self, batch: ScoredDocuments) -> None:
        """Count each new document once: activations (G, L, P', D) against its gold label."""
        by_task: dict[str, list[int]] = {}
        for i, (name, doc_id) in enumerate(zip(batch.tasks, batch.doc_ids, strict=True)):
            state = self.tasks[name]
            if doc_id in state.seen:  # lm-eval pads ranks with duplicate requests
                continue
            state.seen.add(doc_id)
            by_task.setdefault(name, []).append(i)
        for name, rows in by_task.items():
            state = self.tasks[name]
            labels = torch.tensor([batch.labels[i] for i in rows])  # (G',)
            state.counter.update(batch.activations[rows].float(), labels)  # (G', L, P', D)
            state.correct += sum(int(batch.predictions[i] == batch.labels[i]) for i in rows)

    # ------------------------------------------------------------- finishing
    def end(self) -> None:
        """Reduce every task's counts; rank 0 writes the files and keeps the summaries."""
        import json

        finished = {}
        for name in sorted(self.tasks):
            state = self.tasks.pop(name)
            state.counter.all_reduce()
            correct = torch.tensor([state.correct], dtype=torch.int64, device=state.counter.class_counts.device)
            if is_distributed():
                torch.distributed.all_reduce(correct)
            if self.rank != 0:
                continue
            num_docs = state.counter.num_docs
            provenance = {
                "task": name,
                "split": state.info.split,
                "num_docs": num_docs,
                "baseline_source": state.baseline_source,
                "baseline_docs": state.baseline_docs,
                "positions": self.positions,
                "hook_points": [p.name for p in self.hook_points],
                "clean_twin": state.info.clean_twin,
                **self.provenance,
            }
            subtasks = None
            if self.config.subtasks:
                from skillneuron_harness.neurons.statistics import parse_subtasks

                subtasks = parse_subtasks(self.config.subtasks, state.counter.num_classes)
            st, js = write_task_stats(self.config.output_dir, name, **state.counter.state(),
                                      provenance=provenance, subtasks=subtasks, top_fraction=self.config.top)
            summary = json.loads(js.read_text()).get("summary") or {}
            accuracy = int(correct.item()) / num_docs if num_docs else None
            self.summaries[name] = {"files": [str(st), str(js)], "num_docs": num_docs, "accuracy": accuracy,
                                    "positions": self.positions, **summary}
            finished[name] = (state, st)
            log.info("Skill neurons of %s (%d docs) written to %s", name, num_docs, st)
        for name, (state, path) in finished.items():
            reference = self._reference_for(state, finished)
            if reference is not None:
                self.summaries[name]["consistency"] = self._consistency(name, path, *reference)

    def _reference_for(self, state, finished):
        """(clean scores file, clean accuracy, description) for an adversarial task, if any."""
        twin = state.info.clean_twin
        if self.config.reference and twin:
            return Path(self.config.reference), None, f"file:{self.config.reference}"
        if twin in finished:
            return finished[twin][1], self.summaries[twin]["accuracy"], f"task:{twin}"
        return None

    def _consistency(self, name, adv_path, clean_path, clean_accuracy, source) -> dict:
        from skillneuron_harness.neurons.statistics import consistency_report

        adv = read_task_stats(adv_path.parent, adv_path.stem).tensors
        clean = read_task_stats(clean_path.parent, clean_path.stem).tensors
        if "score" not in adv or "score" not in clean:
            return {"reference": source, "skipped": "predictivity undefined (a class without documents)"}
        if clean["score"].shape != adv["score"].shape:
            return {"reference": source, "skipped": f"score shapes differ: clean {list(clean['score'].shape)}, "
                                                    f"adversarial {list(adv['score'].shape)}"}
        report = consistency_report(clean["score"], adv["score"], top_fraction=self.config.top,
                                    acc_clean=clean_accuracy, acc_adv=self.summaries[name]["accuracy"])
        return {"reference": source, **report}
