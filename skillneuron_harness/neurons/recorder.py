"""Skill-neuron statistics from the forward passes of an lm-eval run (``skill_neurons=DIR``).

``prompt_tuned`` attaches one :class:`SkillNeuronRecorder` (a
:class:`~skillneuron_harness.core.observers.ScoringObserver`) when ``skill_neurons=`` is given. For
each task of the run it

1. at ``begin``, computes the baseline (mean FFN activation per layer, position and neuron) over
   the training split of the task, or of its clean twin (``metadata.clean_twin``) for adversarial
   tasks (``sn_baseline_source=train``), or, with ``sn_baseline_source=self``, over an adversarial
   task's own evaluation documents, as Ackermann & Ohmer's ``--adversarial True`` runs do, from
   the activations the run hands it; or reads it from ``sn_baseline=FILE``;
2. at each ``scored`` batch, counts the documents of each class whose activation lies above the
   baseline (each document once, whatever its number of choices); for a task of more than two
   classes also against each binary subtask's own baseline (Wang et al.: the balanced mean of
   the subtask's two sides over the baseline documents, from per-class sums of the same pass);
3. at ``end``, sums the counts over processes (one all-reduce per task), and on rank 0 writes
   ``<DIR>/<task>.safetensors`` / ``.json`` (see :mod:`skillneuron_harness.neurons.io`) and
   keeps a summary for the results JSON; for an adversarial task whose documents name their clean
   original (``clean_doc_id``) and whose twin is in the run, the per-example consistency of the
   pairs from the firing bits kept at each batch (:mod:`~skillneuron_harness.neurons.pair_bits`).

It sees tensors, labels and task facts only; rendering and labels come from
:mod:`skillneuron_harness.host.tasks`. Positions (``sn_positions``): ``prompt`` (the
soft-prompt positions), ``last`` (the last context token) or ``mask`` (the first mask, masked
LMs); ``auto`` takes ``prompt`` when there is a soft prompt and the model is not decoder-only (a
decoder's prompt positions cannot see the input), otherwise ``mask`` for masked LMs and ``last``
for the rest.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from tqdm import tqdm

from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.folders import check_output_dir
from skillneuron_harness.core.observers import EvaluationRun, ScoredDocuments, ScoringObserver, TaskInfo
from skillneuron_harness.core.options import ModelArgsError, OptionGroup, StrEnum, as_choice, as_float, as_int, as_str
from skillneuron_harness.neurons.capture import HookPoint
from skillneuron_harness.neurons.io import read_task_stats, write_task_stats
from skillneuron_harness.neurons.null import DEFAULT_FDR
from skillneuron_harness.neurons.ownership import OutputFolder, refuse_if_busy, task_file_bytes
from skillneuron_harness.neurons.selection import Ties
from skillneuron_harness.neurons.statistics import (
    BaselineAccumulator,
    BinarySubtask,
    FireCounter,
    binary_subtasks,
    has_both_sides,
    is_distributed,
    parse_subtasks,
    subtask_baseline,
)
from skillneuron_harness.neurons.validate import check_fits, check_neuron_file

log = logging.getLogger(__name__)


class Positions(StrEnum):
    """``sn_positions=``: where a document's activations are read (see the module docstring)."""

    AUTO = "auto"
    PROMPT = "prompt"
    LAST = "last"
    MASK = "mask"


POSITIONS = Positions.values()
# Documents per capture-only pass of the baseline (sn_batch_size), unless lm-eval's batch size is larger:
# lm-eval's default of 1 leaves a CPU or GPU mostly idle, and the pass keeps only a few positions per row.
DEFAULT_BATCH_SIZE = 32
# Training documents of the baseline (sn_baseline_limit). The baseline is a mean: over 1,000 documents its
# standard error is 3% of an activation's spread across documents, which the counts compare against, so
# more documents barely move it, while a whole split (67k for SST-2) costs hours on a CPU.
# sn_baseline_limit=all is the papers' setting.
DEFAULT_BASELINE_DOCS = 1000


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
    baseline_limit: int | str | None = field(default=None, metadata={
        "default": "`1000`",
        "help": "baseline over the first N training documents; `all`: the whole split, as the papers (SST-2: 67k "
                "documents, hours on a CPU for a base-sized model). 1,000 documents give the mean within 3% of an "
                "activation's spread across documents (its standard error), which is what the counts compare "
                "against"})
    batch_size: int | None = field(default=None, metadata={
        "default": "32, or lm-eval's if larger", "help": "documents per forward pass of the baseline pass"})
    baseline: str | None = field(default=None, metadata={
        "help": "reuse the baseline of an earlier run's `<task>.safetensors` instead of a baseline pass"})
    reference: str | None = field(default=None, metadata={
        "help": "a clean run's `<task>.safetensors`: consistency of an adversarial task against it"})
    subtasks: str | None = field(default=None, metadata={
        "default": "Wang et al.",
        "help": "binary decomposition of multi-class tasks, e.g. `0:2;1:0+2` (`;` between subtasks, `+` joins "
                "classes, `rest` = all other classes); a task's `metadata.sn_subtasks` is its default"})
    baseline_source: BaselineSource = field(default=BaselineSource.TRAIN, metadata={
        "help": "baseline of an adversarial task: `train` (its clean twin's training split) or `self` (the "
                "adversarial set itself, as Ackermann & Ohmer's `--adversarial True`); see docs/statistics.md"})
    top: float | None = field(default=None, metadata={
        "default": f"`{DEFAULT_TOP}`",
        "help": "fraction of each layer's neurons called skill neurons in the summaries; one that selects none "
                "(floor(top x D) = 0 for the model's D neurons per layer) is refused with the least usable value "
                "(left at the default, a warning)"})
    ties: Ties = field(default=Ties.HIGH, metadata={
        "help": "among neurons of equal score (skill neurons, top neurons, consistency): `high` keeps the higher "
                "index (Ackermann & Ohmer), `low` the lower (Wang et al.); see docs/statistics.md"})
    fdr: float = field(default=DEFAULT_FDR, metadata={
        "help": "false discovery rate of the neurons counted as significant in the summaries (exact permutation "
                "p-values, Benjamini-Hochberg within each layer; see docs/statistics.md)"})
    include_path: str | None = field(default=None, metadata={
        "help": "task folders to load clean twins from when they are neither evaluated in the run nor in the "
                "run's task index (ours, lm-eval's, `--include_path`)"})

    def __post_init__(self):
        self.output_dir = as_str("skill_neurons", self.output_dir)
        self.positions = as_choice("sn_positions", self.positions, Positions)
        self.baseline_source = as_choice("sn_baseline_source", self.baseline_source, BaselineSource)
        self.ties = as_choice("sn_ties", self.ties, Ties)
        self.baseline_limit = parse_baseline_limit(self.baseline_limit)
        if self.batch_size is not None:
            self.batch_size = as_int("sn_batch_size", self.batch_size, example=DEFAULT_BATCH_SIZE)
            if self.batch_size < 1:
                raise ModelArgsError(f"sn_batch_size={self.batch_size}: documents per baseline pass; must be "
                                     f"positive, e.g. {DEFAULT_BATCH_SIZE}.")
        self.top_given = self.top is not None  # a default that selects nothing on a small model is only a warning
        self.top = as_float("sn_top", self.top, example=0.02) if self.top_given else DEFAULT_TOP
        if not 0 < self.top <= 1:
            raise ModelArgsError(f"sn_top={self.top}: a fraction of neurons per layer in (0, 1], e.g. 0.02.")
        self.fdr = as_float("sn_fdr", self.fdr, example=DEFAULT_FDR)
        if not 0 < self.fdr < 1:
            raise ModelArgsError(f"sn_fdr={self.fdr}: a false discovery rate in (0, 1), e.g. {DEFAULT_FDR}.")
        self.baseline, self.reference = as_str("sn_baseline", self.baseline), as_str("sn_reference", self.reference)
        self.subtasks, self.include_path = as_str("sn_subtasks", self.subtasks), as_str("sn_include_path",
                                                                                        self.include_path)
        # Input files: readable, complete and holding what is needed, before any model is loaded.
        self.baseline_info = (check_neuron_file(self.baseline, "sn_baseline", require=("baseline",))
                              if self.baseline is not None else None)
        self.reference_info = (check_neuron_file(self.reference, "sn_reference", require=("score",))
                               if self.reference is not None else None)
        if self.subtasks is not None:  # the syntax now; the classes against each task's when the tasks are known
            from skillneuron_harness.neurons.statistics import parse_subtasks

            try:
                parse_subtasks(self.subtasks, 1 + max((int(c) for c in re.findall(r"\d+", self.subtasks)), default=0))
            except ValueError as err:
                raise ModelArgsError(f"sn_subtasks={self.subtasks}: {err}.") from None
        check_output_dir(self.output_dir, "skill_neurons=", what="<task>.safetensors / .json files",
                         error=ModelArgsError)
        refuse_if_busy(self.output_dir)  # another run writing there: refused before the model loads


def parse_baseline_limit(value) -> int | None:
    """``sn_baseline_limit`` as a number of training documents; None for ``all`` (the whole split).

    Not given: :data:`DEFAULT_BASELINE_DOCS`.
    """
    if value is None:
        return DEFAULT_BASELINE_DOCS
    if str(value).strip().lower() == "all":
        return None
    limit = as_int("sn_baseline_limit", value, example="1000 or all")
    if limit < 1:
        raise ModelArgsError(f"sn_baseline_limit={limit}: must be a positive number of documents, or all.")
    return limit


@dataclass
class _TaskState:
    info: TaskInfo
    counter: FireCounter
    baseline_source: str
    baseline_docs: int
    seen: set = field(default_factory=set)
    correct: int = 0
    subtasks: SubtaskCounts | None = None  # multi-class tasks: counts against each subtask's own baseline


@dataclass
class SubtaskCounts:
    """Wang et al.'s per-subtask baselines of a multi-class task and the counts against each."""

    subtasks: list[BinarySubtask]
    counters: list[FireCounter]  # one per subtask, its baseline [L, P', D]
    class_sums: torch.Tensor  # (C, L, P', D) float64: the baseline documents' sums per class
    class_counts: torch.Tensor  # (C,) int64

    def update(self, acts: torch.Tensor, labels: torch.Tensor) -> None:
        for counter in self.counters:
            counter.update(acts, labels)  # (G, L, P', D)

    def write_args(self) -> dict:
        """``write_task_stats``' per-subtask arguments (see :mod:`~skillneuron_harness.neurons.io`)."""
        return {"subtasks": self.subtasks,
                "subtask_baseline": torch.stack([c.baseline for c in self.counters]),  # (S, L, P', D)
                "subtask_fire_counts": torch.stack([c.fire_counts for c in self.counters]),  # (S, C, L, P', D)
                "extra": {"baseline_class_sums": self.class_sums,  # (C, L, P', D) float64
                          "baseline_class_counts": self.class_counts}}  # (C,)


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
    ``backend`` decide the positions; ``rank`` 0 writes; ``provenance`` goes into every file;
    ``folder``: the output folder's lock as the model took it (else taken at the first ``begin``).
    """

    def __init__(self, config: SkillNeuronConfig, *, hook_points: list[HookPoint], num_virtual_tokens: int,
                 backend: str, rank: int = 0, device=None, provenance: dict | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, folder: OutputFolder | None = None) -> None:
        self.config = config
        self.batch_size = config.batch_size or batch_size  # documents per baseline pass
        self.hook_points = hook_points
        self.num_virtual_tokens = num_virtual_tokens
        self.rank = rank
        self.device = device
        self.provenance = dict(provenance or {})
        self.positions = self.capture_positions = resolve_positions(
            config.positions, num_virtual_tokens=num_virtual_tokens, backend=backend)
        self.tasks: dict[str, _TaskState] = {}
        self.summaries: dict[str, dict] = {}
        self._baselines: dict[str, tuple] = {}  # baseline source -> (sums, source, docs): one pass per run
        self._sharing: dict[str, str] = {}  # task -> its baseline source, for the line that announces the pass
        self._fallback_dir: str | None = None  # where files go when output_dir cannot be written (see _write)
        self._write_errors: dict[str, str] = {}
        self._check_top()
        self.pairs = None  # a PairTracker once the run has paired tasks (neurons/pair_bits.py)
        self._check_input_files()
        self.folder = folder or OutputFolder(config.output_dir, rank)  # rank 0 owns it (the model took it)
        self.folder.rank = rank
        if rank == 0:  # room for one task's files, now that their size is known
            check_output_dir(config.output_dir, "skill_neurons=", need=task_file_bytes(*self._shape()),
                             what="files of one task", error=ModelArgsError)

    def _check_top(self) -> None:
        """Refuse an ``sn_top`` whose floor(top x D) selects no neuron of this model's layers (before any work)."""
        from skillneuron_harness.neurons.selection import top_k

        width = self.hook_points[0].width if self.hook_points else None
        if not width or top_k(width, self.config.top) > 0:
            return
        least = math.ceil(10_000 / width) / 10_000  # 1/D rounded up: floor(least x D) >= 1
        message = (f"sn_top={self.config.top:g}: floor({self.config.top:g} x {width}) = 0 of the {width} neurons per "
                   f"layer of this model are skill neurons, so nothing would be selected; use at least "
                   f"sn_top={least:g}.")
        if self.config.top_given:
            raise ModelArgsError(message)
        log.warning("%s (The counts and predictivities are written all the same.)", message.replace(
            f"sn_top={self.config.top:g}:", f"the default sn_top={self.config.top:g}:", 1))

    def _check_input_files(self) -> None:
        """sn_baseline= / sn_reference= written for this model and these positions (before any work)."""
        facts = {"model": self.provenance.get("model"), "backend": self.provenance.get("backend"),
                 "layers": len(self.hook_points), "width": self.hook_points[0].width, "positions": self.positions}
        if self.config.baseline_info is not None:
            check_fits(self.config.baseline_info, num_positions=self._shape()[1], **facts)
        if self.config.reference_info is not None:
            check_fits(self.config.reference_info, **facts)

    def check_tasks(self, tasks: dict[str, tuple[str, int | None]]) -> None:
        """Refuse, before any work, tasks the statistics cannot serve: ``{name: (output type, classes)}``.

        Tasks that are not multiple-choice, names that cannot be file names, and ``sn_subtasks``
        that do not fit a task's classes are refused, each naming the argument and the task.
        """
        from skillneuron_harness.neurons.io import task_paths
        from skillneuron_harness.neurons.statistics import parse_subtasks

        out = f"skill_neurons={self.config.output_dir}"
        other = sorted(f"{name} ({kind})" for name, (kind, _) in tasks.items() if kind != "multiple_choice")
        if other:
            raise ModelArgsError(f"{out}: task(s) {', '.join(other)} are not multiple-choice; skill neurons need "
                                 "multiple-choice tasks (labels are choices). Evaluate them in a run without "
                                 "skill_neurons=.")
        for name, (_, num_classes) in sorted(tasks.items()):
            try:
                task_paths(self.config.output_dir, name)
            except ValueError as err:
                raise ModelArgsError(f"{out}: {err}; rename the task.") from None
            if self.config.subtasks and num_classes is not None:
                try:
                    parse_subtasks(self.config.subtasks, num_classes)
                except ValueError as err:
                    raise ModelArgsError(f"sn_subtasks={self.config.subtasks}: {err} (task {name} has "
                                         f"{num_classes} classes).") from None

    def model_info(self) -> dict:
        return {"skill_neurons": self.summaries}

    # ----------------------------------------------------------------- tasks
    def begin(self, run: EvaluationRun) -> None:
        """Each new task of the run: its baseline (before any counting); the folder is ours from the first call."""
        self.folder.claim()
        names = list(run.task_names)
        if is_distributed():  # every rank must run the same collectives in the same order
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, names)
            names = sorted({n for ns in gathered for n in ns})
        new = [name for name in names if name not in self.tasks]
        infos = {name: run.task(name) for name in new}
        self.check_tasks({name: ("multiple_choice", info.num_classes) for name, info in infos.items()})
        for name, info in infos.items():
            self._sharing[name] = (f"{name}:self" if info.clean_twin and self.config.baseline_source == "self"
                                   else _train_source(info))
        for name in new:
            self.tasks[name] = self._new_task_state(run, name)
        self._track_pairs(run, names, infos)

    def _track_pairs(self, run: EvaluationRun, names: list[str], infos: dict[str, TaskInfo]) -> None:
        """Pairs of the new adversarial tasks whose clean twin is in the run (per-example consistency)."""
        from skillneuron_harness.neurons.pair_bits import track_pairs

        pairs = {name: run.pairs(name) for name, info in infos.items() if info.clean_twin in names}
        self.pairs = track_pairs(self.pairs, {n: infos[n].clean_twin for n in pairs}, pairs,
                                 reference=self.config.reference, top=self.config.top, shape=self._shape(),
                                 warn=self.rank == 0)

    def _new_task_state(self, run: EvaluationRun, name: str) -> _TaskState:
        info = run.task(name)
        if self.config.baseline:
            path = Path(self.config.baseline)
            tensors = read_task_stats(path.parent, path.stem, arg="sn_baseline").tensors
            baseline, per_class = tensors["baseline"], (tensors.get("baseline_class_sums"),
                                                         tensors.get("baseline_class_counts"))
            source, docs = f"file:{self.config.baseline}", -1
        else:
            accumulator, source, docs = self._baseline_pass(run, info)
            baseline, per_class = accumulator.mean(), (accumulator.class_sums, accumulator.class_counts)
        state = _TaskState(info, FireCounter(baseline, info.num_classes), source, docs)
        state.subtasks = self._subtask_counts(info, *per_class)
        return state

    def _subtask_spec(self, info: TaskInfo) -> str | None:
        """The decomposition asked for: ``sn_subtasks=``, else the task's ``metadata.sn_subtasks``."""
        return self.config.subtasks or info.subtasks

    def _subtasks(self, info: TaskInfo) -> list[BinarySubtask]:
        spec = self._subtask_spec(info)
        try:
            return parse_subtasks(spec, info.num_classes) if spec else binary_subtasks(info.num_classes)
        except ValueError as err:  # only a YAML's metadata gets here: sn_subtasks= was checked before the run
            raise SkillNeuronError(f"task {info.name}: metadata.sn_subtasks={spec}: {err} ({info.num_classes} "
                            "choices).") from None

    def _subtask_counts(self, info: TaskInfo, class_sums, class_counts) -> SubtaskCounts | None:
        """Counters against each subtask's own baseline for a task of more than two classes, when defined."""
        if info.num_classes <= 2:
            return None  # binary tasks: the task's baseline is the subtask's
        subtasks = self._subtasks(info)
        if len(subtasks) == 1:  # one declared subtask (binary labels among more answer words): a binary task,
            return None  # whose baseline is the mean over all its documents, as for two classes
        why = None
        if class_sums is None or class_counts is None:
            why = "the baseline has no per-class sums (a file of an earlier version, or of a binary task)"
        elif class_sums.shape[0] != info.num_classes:
            why = f"the baseline documents have {class_sums.shape[0]} classes, {info.name} has {info.num_classes}"
        else:
            empty = [s.label for s in subtasks if not has_both_sides(class_counts, *s)]
            if empty:
                why = (f"subtasks {empty} have a side without baseline documents (class counts "
                       f"{class_counts.tolist()}; raise sn_baseline_limit)")
        if why:
            log.warning("Skill neurons of %s: its subtasks share the task's baseline: %s.", info.name, why)
            return None
        counters = [FireCounter(subtask_baseline(class_sums, class_counts, s), info.num_classes)
                    for s in subtasks]  # each baseline float64 [L, P', D], kept in float32
        return SubtaskCounts(subtasks, counters, class_sums, class_counts)

    def _baseline_pass(self, run: EvaluationRun, info: TaskInfo):
        if info.clean_twin and self.config.baseline_source == "self":  # Ackermann & Ohmer's --adversarial True
            return self._shared_pass(run, info.name, "eval", f"{info.name}:self", info.num_classes, None,
                                     "of its own documents")
        source_name = info.clean_twin or info.name
        source = run.task(source_name) if info.clean_twin else info
        if not source.has_training_docs:
            raise ModelArgsError(
                f"skill_neurons: task {source_name!r} (the baseline of {info.name!r}) has no training split; pass "
                "sn_baseline=FILE with the <task>.safetensors of a run that had one."
            )
        return self._shared_pass(run, source_name, "train", _train_source(info), source.num_classes,
                                 source.training_docs, f"{source_name} training documents")

    def _shared_pass(self, run: EvaluationRun, name: str, split: str, source: str, num_classes: int,
                     available: int | None, what: str):
        """(sums, source, documents) of one baseline pass, computed once per run and source (twins share it)."""
        if source in self._baselines:
            return self._baselines[source]
        limit = self.config.baseline_limit
        if self.rank == 0:
            how = ("sn_baseline_limit=N for fewer, all for the whole split as in the papers"
                   if limit == DEFAULT_BASELINE_DOCS else "sn_baseline_limit=N or all")
            sharing = sorted(n for n, s in self._sharing.items() if s == source) or [name]
            if available is None:
                size = "all" if limit is None else f"up to {limit:,}"
            else:
                size = f"{available if limit is None else min(limit, available):,} of {available:,}"
            _say(f"Skill-neuron baseline of {', '.join(sharing)}: {size} {what} ({how}; sn_baseline=FILE reuses "
                 f"an earlier run's), {self.batch_size} per pass (sn_batch_size=N).")
        desc = f"Skill-neuron baseline ({name} {'train' if split == 'train' else 'itself'})"
        total, batches = run.training_activations(name, limit, desc, self.positions, split=split,
                                                  batch_size=self.batch_size)
        self._baselines[source] = self._accumulate(_announcing_time(batches, total, name, self.rank),
                                                   num_classes), source, total
        return self._baselines[source]

    def _accumulate(self, batches, num_classes: int) -> BaselineAccumulator:
        """Sums over this process's batches ((G, L, P', D), labels), summed over processes.

        Per class too for more than two classes (the subtasks' own baselines); binary tasks keep
        the plain sums only.
        """
        classes = num_classes if num_classes > 2 else None
        accumulator = BaselineAccumulator(num_classes=classes)
        for acts, labels in batches:  # (G, L, P', D), [G]
            accumulator.update(acts.float(), torch.tensor(labels) if classes else None)
        if accumulator.shape is None:  # a rank without documents still joins the reduction
            accumulator = BaselineAccumulator(shape=self._shape(), device=self.device, num_classes=classes)
        return accumulator.all_reduce()

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
            if state.subtasks is not None:
                state.subtasks.update(batch.activations[rows].float(), labels)
            state.correct += sum(int(batch.predictions[i] == batch.labels[i]) for i in rows)
            if self.pairs is not None and name in self.pairs.wanted:
                threshold = self.tasks[self.pairs.threshold_task(name)].counter.baseline  # the clean baseline
                self.pairs.scored(name, [batch.doc_ids[i] for i in rows], batch.activations[rows], threshold,
                                  [batch.labels[i] for i in rows], [batch.predictions[i] for i in rows])

    # ------------------------------------------------------------- finishing
    def end(self) -> None:
        """Reduce every task's counts; rank 0 writes the files and keeps the summaries.

        One run id per evaluation goes into every file's provenance and every task's summary (the
        results JSON's ``skill_neurons`` section), so that a report pairs each file with the evaluation
        that wrote it wherever the two are moved.
        """
        import json
        import uuid

        finished = {}
        if self.pairs is not None:
            self.pairs.gathered()  # every rank, before rank 0 alone goes on
        run_id = uuid.uuid4().hex
        for name in sorted(self.tasks):
            state = self.tasks.pop(name)
            state.counter.all_reduce()
            for counter in state.subtasks.counters if state.subtasks is not None else ():
                counter.all_reduce()
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
                **({"split_of": state.info.split_of} if state.info.split_of else {}),
                **self.provenance,
                "run": run_id,
            }
            subtasks = self._subtasks(state.info) if self._subtask_spec(state.info) else None
            if state.info.num_classes > 2:
                provenance["subtask_baselines"] = "own" if state.subtasks is not None else "shared"
            accuracy = int(correct.item()) / num_docs if num_docs else None
            written = self._write(name, state, provenance, subtasks)
            if written is None:  # neither folder could be written: the results JSON still gets the summary
                self.summaries[name] = {"files": [], "num_docs": num_docs, "accuracy": accuracy, "run": run_id,
                                        "positions": self.positions, "write_error": self._write_errors[name]}
                continue
            st, js = written
            summary = json.loads(js.read_text()).get("summary") or {}
            self.summaries[name] = {"files": [str(st), str(js)], "num_docs": num_docs, "accuracy": accuracy,
                                    "run": run_id, "positions": self.positions, **summary}
            if name in self._write_errors:
                self.summaries[name]["write_error"] = self._write_errors[name]
            finished[name] = (state, st)
            log.info("Skill neurons of %s (%d docs) written to %s", name, num_docs, st)
        for name, (state, path) in finished.items():
            reference = self._reference_for(state, finished)
            if reference is None:
                continue
            try:
                self.summaries[name]["consistency"] = self._consistency(name, path, *reference)
            except (OSError, ValueError) as err:  # the run's own files are written: keep the results JSON
                log.error("skill_neurons: consistency of %s against %s failed: %s", name, reference[2], err)
                self.summaries[name]["consistency"] = {"reference": reference[2], "error": str(err)}
        self._per_example(finished)
        self.pairs = None  # the next loglikelihood call (a reused model) starts afresh
        for name in sorted(finished):  # lm-eval's own output says nothing of them: one line per task
            _say(summary_line(name, self.summaries[name], self.config.top))

    def _per_example(self, finished: dict) -> None:
        """The ``per_example`` block and ``<task>.pairs.jsonl`` of every paired task written on this rank."""
        from skillneuron_harness.neurons.pair_bits import per_example_block

        for pairing in self.pairs.pairings if self.pairs is not None else ():
            if pairing.task not in finished or pairing.clean not in finished:
                continue
            clean_file = finished[pairing.clean][1]
            source = f"file:{self.config.reference}" if self.pairs.selection is not None else f"task:{pairing.clean}"
            try:
                clean = read_task_stats(clean_file.parent, clean_file.stem).tensors
                self.summaries[pairing.task]["per_example"] = per_example_block(
                    self.pairs, pairing, clean, self.config.top, clean_file.parent, source)
            except (OSError, ValueError) as err:  # the run's own files are written: keep the results JSON
                log.error("skill_neurons: per-example consistency of %s failed: %s", pairing.task, err)
                self.summaries[pairing.task]["per_example"] = {"clean_twin": pairing.clean, "error": str(err)}

    def _write(self, name: str, state: _TaskState, provenance: dict, subtasks) -> tuple[Path, Path] | None:
        """Write a task's files; a failure (disk full, folder gone) falls back to a temporary folder.

        Raising here would lose the whole evaluation (lm-eval writes its results JSON after the run), so
        the error is logged, recorded in the summary (``write_error``) and the files go elsewhere.
        """
        import tempfile

        kwargs = {**state.counter.state(), "provenance": provenance, "subtasks": subtasks,
                  "top_fraction": self.config.top, "fdr": self.config.fdr, "ties": str(self.config.ties)}
        if state.subtasks is not None:  # Wang et al.: each subtask counted against its own baseline
            kwargs.update(state.subtasks.write_args())
        try:
            return write_task_stats(self.config.output_dir, name, **kwargs)
        except OSError as err:
            message = f"skill_neurons={self.config.output_dir}: writing {name}'s files failed ({err.strerror or err})"
        try:
            if self._fallback_dir is None:
                self._fallback_dir = tempfile.mkdtemp(prefix="skill_neurons-")
            paths = write_task_stats(self._fallback_dir, name, **kwargs)
        except OSError as err:
            self._write_errors[name] = f"{message}; the fallback folder failed too ({err.strerror or err})"
            log.error("%s; the statistics of %s are lost, the results JSON keeps its summary.",
                      self._write_errors[name], name)
            return None
        self._write_errors[name] = f"{message}; written to {self._fallback_dir} instead"
        log.error("%s.", self._write_errors[name])
        return paths

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
        arg = "sn_reference" if source.startswith("file:") else "skill_neurons"
        clean = read_task_stats(clean_path.parent, clean_path.stem, arg=arg).tensors
        if "score" not in adv or "score" not in clean:
            return {"reference": source, "skipped": "predictivity undefined (a class without documents)"}
        if clean["score"].shape != adv["score"].shape:
            return {"reference": source, "skipped": f"score shapes differ: clean {list(clean['score'].shape)}, "
                                                    f"adversarial {list(adv['score'].shape)}"}
        report = consistency_report(clean["score"], adv["score"], top_fraction=self.config.top,
                                    acc_clean=clean_accuracy, acc_adv=self.summaries[name]["accuracy"],
                                    ties=str(self.config.ties))
        return {"reference": source, **report}


def _train_source(info: TaskInfo) -> str:
    """The key of a task's baseline pass over training documents (tasks with the same key share one pass).

    An adversarial task uses its clean twin's; tasks declaring ``metadata.split_of`` (MNLI mismatched)
    that task's, whose training split and rendering they share.
    """
    return f"{info.split_of or info.clean_twin or info.name}:train"


def _announcing_time(batches, total: int, name: str, rank: int):
    """``batches`` ((G, L, P', D), labels) as they come, timed.

    After the first ones (5 seconds or a tenth of the documents), rank 0 says how long the whole
    pass will take.
    """
    mine = -(-total // _world_size())  # this process's share of the documents
    done, started, estimated = 0, time.perf_counter(), False
    for acts, labels in batches:
        yield acts, labels
        done += acts.shape[0]
        elapsed = time.perf_counter() - started
        if not estimated and rank == 0 and done < mine and (elapsed > 5 or done > mine / 10):
            estimated = True  # longest documents come first: the estimate errs long
            _say(f"Skill-neuron baseline of {name}: about {_duration(elapsed * mine / done)} in all "
                 f"(measured on the first {done} documents).")


def summary_line(task: str, summary: dict, top: float) -> str:
    """``Skill neurons of adv_sst2: 148 documents, acc 0.446, top-2% overlap with sst2 0.044, PDR 0.447 -> FILE``."""
    parts = [f"{summary.get('num_docs')} documents"]
    if summary.get("accuracy") is not None:
        parts.append(f"acc {summary['accuracy']:.3f}")
    null = summary.get("null") or {}
    if null.get("significant_skill_neurons") is not None:
        layers = len(null.get("layers") or ())
        parts.append(f"{null['significant_skill_neurons']} of {null.get('skill_neurons_per_layer', 0) * layers} "
                     f"skill neurons significant (FDR {null.get('fdr', DEFAULT_FDR):g})")
    consistency = summary.get("consistency") or {}
    at_top = [p for p in consistency.get("overlap") or () if abs(p.get("fraction", -1) - top) < 1e-9]
    if at_top:
        kind, _, where = str(consistency.get("reference", "")).partition(":")  # task:NAME or file:PATH
        reference = (Path(where).stem if kind == "file" else where) or "the clean twin"
        mean = at_top[0].get("mean")  # None where no layer has a top-k set at this size (tiny models, few neurons)
        shown = "undefined" if mean is None or math.isnan(mean) else f"{mean:.3f}"
        parts.append(f"top-{top:.0%} overlap with {reference} {shown}")
        if shown != "undefined" and at_top[0].get("random") is not None:
            parts[-1] += f" (random {at_top[0]['random']:.3f}, p {_p_text(at_top[0].get('p_value'))})"
    drop = (consistency.get("accuracy") or {}).get("performance_drop_rate")
    if drop is not None:
        parts.append(f"PDR {drop:.3f}")
    pairs = summary.get("per_example") or {}
    if pairs.get("pairs"):
        auc = pairs.get("auc")
        parts.append(f"{pairs['pairs']} pairs: skill-neuron flip fraction {pairs['mean_flip_fraction']:.3f}, AUC for "
                     f"prediction flips {'undefined' if auc is None else f'{auc:.3f}'}")
    files = summary.get("files") or []
    return f"Skill neurons of {task}: {', '.join(parts)} -> {files[0] if files else 'not written'}"


def _p_text(p) -> str:
    """A p-value in a line of text: ``0.03``, ``<1e-300``, ``n/a``."""
    if p is None or p != p:
        return "n/a"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def _say(text: str) -> None:
    """A line users must see: stderr, whatever level lm-eval logs at, between progress bars."""
    tqdm.write(text, file=sys.stderr)


def _world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed() else 1


def _duration(seconds: float) -> str:
    """``45 s``, ``3.5 min``, ``1.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
