"""Skill-neuron statistics from the forward passes of an lm-eval run (``skill_neurons=DIR``).

``prompt_tuned`` owns one :class:`SkillNeuronRecorder` when ``skill_neurons=`` is given. For
each task in the run it

1. computes the baseline (mean FFN activation per layer, position and neuron) in a pass over the
   training split of the task, or of its clean twin (``metadata.clean_twin``) for adversarial
   tasks, rendered by that task's own template; or reads it from ``sn_baseline=FILE``;
2. counts, during the evaluation's own forward passes, the documents of each class whose
   activation lies above the baseline (each document once, whatever its number of choices);
3. after the pass, sums the counts over processes (one all-reduce per task), and on rank 0
   writes ``<DIR>/<task>.safetensors`` / ``.json`` (see :mod:`skillneuron_harness.neurons.io`)
   and keeps a summary for the results JSON.

Positions (``sn_positions``): ``prompt`` (the soft-prompt positions), ``last`` (the last context
token) or ``mask`` (the first mask, masked LMs); ``auto`` takes ``prompt`` when there is a soft
prompt and the model is not decoder-only (a decoder's prompt positions cannot see the input),
otherwise ``mask`` for masked LMs and ``last`` for the rest.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from skillneuron_harness.neurons.capture import capture_ffn, ffn_hook_points
from skillneuron_harness.neurons.io import read_task_stats, write_task_stats
from skillneuron_harness.neurons.statistics import BaselineAccumulator, FireCounter, is_distributed

log = logging.getLogger(__name__)
POSITIONS = ("auto", "prompt", "last", "mask")


@dataclass
class SkillNeuronConfig:
    """The ``sn_*`` model_args of ``prompt_tuned``."""

    output_dir: str  # skill_neurons=DIR: where <task>.safetensors / .json go
    positions: str = "auto"  # sn_positions: auto | prompt | last | mask
    baseline_limit: int | None = None  # sn_baseline_limit: first N training docs (default: all)
    baseline_file: str | None = None  # sn_baseline: a <task>.safetensors of an earlier run
    top: float = 0.02  # sn_top: fraction of each layer's neurons called skill neurons
    include_path: str | None = None  # sn_include_path: task folders beyond ours and lm-eval's
    reference: str | None = None  # sn_reference: a clean run's <task>.safetensors, for consistency
    subtasks: str | None = None  # sn_subtasks: binary decomposition, e.g. "0:2;1:0+2" (default: Wang et al.)

    def __post_init__(self):
        if self.positions not in POSITIONS:
            raise ValueError(f"sn_positions={self.positions}: use one of {', '.join(POSITIONS)}.")
        if self.baseline_limit is not None:
            self.baseline_limit = int(self.baseline_limit)
            if self.baseline_limit < 1:
                raise ValueError(f"sn_baseline_limit={self.baseline_limit}: must be a positive number of documents.")
        self.top = float(self.top)
        if not 0 < self.top <= 1:
            raise ValueError(f"sn_top={self.top}: a fraction of neurons per layer in (0, 1], e.g. 0.02.")
        for arg, value in (("sn_baseline", self.baseline_file), ("sn_reference", self.reference)):
            if value is not None and not (Path(value).is_file() and value.endswith(".safetensors")):
                raise ValueError(f"{arg}={value}: no such file; pass a <task>.safetensors written by an "
                                 "earlier skill_neurons= run.")


@dataclass
class _TaskState:
    task: object
    choices_of: object  # doc -> list of choices
    counter: FireCounter
    baseline_source: str
    baseline_docs: int
    clean_twin: str | None = None
    seen: set = field(default_factory=set)
    correct: int = 0


class SkillNeuronRecorder:
    """Baselines, counts and output files for the tasks of one lm-eval run."""

    def __init__(self, lm, config: SkillNeuronConfig) -> None:
        if getattr(lm, "_tp_plan", None) or getattr(lm.model, "hf_device_map", None):
            raise ValueError("skill_neurons= needs the whole model in each process: use "
                             "`accelerate launch -m lm_eval ...` data parallelism, not parallelize=/tp_plan=.")
        if is_distributed() and torch.distributed.get_world_size() != lm.world_size:
            raise ValueError(
                f"skill_neurons: {torch.distributed.get_world_size()} processes are running but lm-eval shards the "
                f"documents over {lm.world_size}, so counts would be summed over copies. Launch with "
                "`accelerate launch -m lm_eval ...` (on CPUs: `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m "
                "lm_eval ...`)."
            )
        self.lm = lm
        self.config = config
        self.hook_points = ffn_hook_points(lm.model)  # raises, naming the model, if none found
        self.positions = self._resolve_positions(config.positions)
        self.tasks: dict[str, _TaskState] = {}
        self.summaries: dict[str, dict] = {}
        self._task_manager = None

    # ------------------------------------------------------------ positions
    def _resolve_positions(self, requested: str) -> str:
        lm = self.lm
        if requested == "auto":
            if lm.num_virtual_tokens and lm.backend != "causal":
                return "prompt"
            return "mask" if lm.backend == "masked" else "last"
        if requested == "prompt" and not lm.num_virtual_tokens:
            raise ValueError("sn_positions=prompt needs a soft prompt (prompt=...); use last or mask.")
        if requested == "mask" and lm.backend != "masked":
            raise ValueError(f"sn_positions=mask needs a masked LM; this model is {lm.backend}.")
        return requested

    def select(self, layout):
        """What :func:`capture_ffn` keeps of each row, given the batch's :class:`RowLayout`."""
        if self.positions == "prompt":
            return slice(0, layout.num_virtual_tokens)
        if self.positions == "mask":
            return torch.tensor(layout.first_mask)
        return torch.tensor(layout.last_context)

    @contextmanager
    def capturing(self):
        """Hooks armed only around our own scoring passes."""
        with capture_ffn(self.lm.model, hook_points=self.hook_points) as capture:
            yield capture

    # ----------------------------------------------------------------- tasks
    def _load_task(self, name: str):
        from lm_eval.tasks import TaskManager, get_task_dict

        if self._task_manager is None:
            last = getattr(TaskManager, "last_built", None)  # the run's own index (see lm_eval_bridge)
            self._task_manager = last() if last is not None and not self.config.include_path else None
        if self._task_manager is None:
            self._task_manager = TaskManager(include_path=self.config.include_path)
        try:
            tasks = get_task_dict([name], self._task_manager)
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"skill_neurons: cannot load task {name!r} to read its labels and training split "
                             f"({err}); pass sn_include_path=DIR for tasks outside our and lm-eval's folders.") from err
        task = tasks[name]
        if task.OUTPUT_TYPE != "multiple_choice":
            raise ValueError(f"skill_neurons: task {name!r} is {task.OUTPUT_TYPE}; skill neurons need "
                             "multiple-choice tasks (labels are choices).")
        return task

    def prepare(self, instances) -> None:
        """Load each new task of ``instances`` and compute its baseline (before any counting)."""
        names = sorted({inst.task_name for inst in instances})
        if is_distributed():  # every rank must run the same collectives in the same order
            gathered = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, names)
            names = sorted({n for ns in gathered for n in ns})
        for name in names:
            if name not in self.tasks:
                self.tasks[name] = self._new_task_state(name)

    def _new_task_state(self, name: str) -> _TaskState:
        task = self._load_task(name)
        if self.config.baseline_file:
            baseline = read_task_stats(Path(self.config.baseline_file).parent,
                                       Path(self.config.baseline_file).stem).tensors["baseline"]
            source, docs = f"file:{self.config.baseline_file}", -1
        else:
            baseline, source, docs = self._baseline_pass(name, task)
        num_classes = self._num_classes(task)
        twin = (task.config.metadata or {}).get("clean_twin")
        return _TaskState(task, task.doc_to_choice, FireCounter(baseline, num_classes), source, docs, twin)

    @staticmethod
    def _num_classes(task) -> int:
        docs = task.eval_docs
        first = docs[0]
        return len(task.doc_to_choice(first))

    def _baseline_pass(self, name: str, task):
        twin_name = (task.config.metadata or {}).get("clean_twin") if task.config.metadata else None
        source_task = self._load_task(twin_name) if twin_name else task
        source_name = twin_name or name
        if not source_task.has_training_docs():
            raise ValueError(
                f"skill_neurons: task {source_name!r} (the baseline of {name!r}) has no training split; pass "
                "sn_baseline=FILE with the <task>.safetensors of a run that had one."
            )
        docs = list(source_task.training_docs())
        if self.config.baseline_limit:
            docs = docs[: self.config.baseline_limit]
        rank, world = self.lm.rank, self.lm.world_size
        mine = docs[rank::world]
        groups = [self.lm.choice_group(source_task.fewshot_context(doc, 0),
                                       [source_task.config.target_delimiter + str(c)
                                        for c in source_task.doc_to_choice(doc)]) for doc in mine]
        accumulator = BaselineAccumulator()
        log.info("Skill-neuron baseline of %s: %d training documents of %s", name, len(docs), source_name)
        desc = f"Skill-neuron baseline ({source_name} train)"
        for _, _, acts in self.lm.scored_batches(groups, capture=True, desc=desc):
            accumulator.update(acts.float())
        if accumulator.shape is None:  # a rank without documents still joins the reduction
            accumulator = BaselineAccumulator(shape=self._shape(), device=self.lm.device)
        accumulator.all_reduce()
        return accumulator.mean(), f"{source_name}:train", len(docs)

    def _shape(self) -> tuple[int, int, int]:
        """(L, P', D) of what this recorder captures per document."""
        positions = self.lm.num_virtual_tokens if self.positions == "prompt" else 1
        return (len(self.hook_points), positions, self.hook_points[0].width)

    # --------------------------------------------------------------- counting
    def record(self, keys, acts: torch.Tensor, predictions: list[int]) -> None:
        """Count documents: keys [(task, doc_id, doc)], acts (G, L, P', D), predicted choice per group."""
        by_task: dict[str, list[int]] = {}
        for i, (name, doc_id, _) in enumerate(keys):
            state = self.tasks[name]
            if doc_id in state.seen:  # lm-eval pads ranks with duplicate requests
                continue
            state.seen.add(doc_id)
            by_task.setdefault(name, []).append(i)
        for name, rows in by_task.items():
            state = self.tasks[name]
            labels = torch.tensor([self._label(state.task, keys[i][2]) for i in rows])  # (G',)
            state.counter.update(acts[rows].float(), labels)  # (G', L, P', D)
            state.correct += sum(int(predictions[i] == int(y)) for i, y in zip(rows, labels, strict=True))

    @staticmethod
    def _label(task, doc) -> int:
        target = task.doc_to_target(doc)
        if isinstance(target, str):
            choices = task.doc_to_choice(doc)
            return choices.index(target) if target in choices else int(target)
        return int(target)

    # ------------------------------------------------------------- finishing
    def finalize(self) -> None:
        """Reduce every task's counts; rank 0 writes the files and keeps the summaries."""
        import json

        finished = {}
        for name in sorted(self.tasks):
            state = self.tasks.pop(name)
            state.counter.all_reduce()
            correct = torch.tensor([state.correct], dtype=torch.int64, device=state.counter.class_counts.device)
            if is_distributed():
                torch.distributed.all_reduce(correct)
            if self.lm.rank != 0:
                continue
            num_docs = state.counter.num_docs
            provenance = {
                "task": name,
                "split": state.task.config.test_split or state.task.config.validation_split,
                "num_docs": num_docs,
                "baseline_source": state.baseline_source,
                "baseline_docs": state.baseline_docs,
                "positions": self.positions,
                "hook_points": [p.name for p in self.hook_points],
                "clean_twin": state.clean_twin,
                **self.lm.provenance(),
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
            reference = self._reference_for(name, state, finished)
            if reference is not None:
                self.summaries[name]["consistency"] = self._consistency(name, path, *reference)

    def _reference_for(self, name, state, finished):
        """(clean scores file, clean accuracy, description) for an adversarial task, if any."""
        if self.config.reference and state.clean_twin:
            return Path(self.config.reference), None, f"file:{self.config.reference}"
        if state.clean_twin in finished:
            twin = state.clean_twin
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
