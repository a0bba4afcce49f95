"""Read run folders into records: evaluations, skill-neuron files, suppression curves.

A run folder is anything under which lm-eval wrote ``results_*.json`` (``--output_path``), and/or
``prompt_tuned`` wrote ``<task>.safetensors`` skill-neuron files (``skill_neurons=DIR``), and/or
``skillneuron suppression-curve`` wrote ``suppression_curve.json``. Folders are searched
recursively. Prompts are identified by ``prompt_sha256`` (recorded in both the results JSON and
the skill-neuron files), so results and neuron files of one prompt meet wherever they lie.

What a prompt was trained on, and with which seed, comes from (first found): a
``prompts.json`` manifest in a run folder (written by our commands: ``{path: {"label", "task",
"seed"}}``), the ``train_config.json`` that ``skillneuron train`` leaves in the adapter folder, or
nothing (then the prompt's label stands for its own group).

Results files are checked against the shape lm-eval writes
(:mod:`skillneuron_harness.core.results_check`): a JSON file that is not an lm-eval results file
at all (a list, no ``results`` object) is skipped with a line on stderr naming it and why
(:attr:`Collection.skipped`). A file that should be read but cannot (a truncated or damaged
``.safetensors``, a results file or curve that is not valid JSON, a results file with a value no
lm-eval run writes: an accuracy of 7.5 or NaN, a string document count; a curve record without its
fields or with an accuracy outside [0, 1]) is never skipped silently:
:func:`collect` raises :class:`UnreadableFiles` naming each one and why, or, with
``skip_unreadable=True``, lists them in :attr:`Collection.unreadable` and goes on.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.results import ResultsFileError, load_results, suppression_of, task_results
from skillneuron_harness.core.results_check import is_number
from skillneuron_harness.report.labels import model_arg, model_label, model_name, prompt_label

log = logging.getLogger(__name__)

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
    """One soft prompt: who it is and what it was trained on."""

    key: str  # prompt_sha256, or the path when no hash is known
    label: str  # short name for tables
    path: str | None = None
    task: str | None = None  # training task, when known
    seed: int | str | None = None

    @property
    def group(self) -> str:
        """The training task, or the label when unknown."""
        return self.task or self.label


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


@dataclass
class Collection:
    """Everything found under the run folders."""

    evaluations: list[Evaluation] = field(default_factory=list)
    neuron_files: list[NeuronFile] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)  # records of suppression_curve.json files
    sources: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why): files left out
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): JSON files that are not lm-eval's


class _Prompts:
    """Prompt identities, with manifests and train_config.json files consulted once."""

    def __init__(self, manifests: dict[str, dict]) -> None:
        self.manifests = manifests  # resolved path -> {label, task, seed}
        self.by_key: dict[str, Prompt] = {}

    def get(self, path: str | None, sha: str | None, near: Path | None = None) -> Prompt:
        """The prompt at ``path`` (identified by ``sha`` when known).

        A relative path that does not exist here is looked up in the folders above ``near`` (the file
        that names it), one of which the run that wrote it started in.
        """
        key = sha or path or "none"
        if key in self.by_key:
            return self.by_key[key]
        entry: dict = {}
        if path:
            found = Path(path)
            if not found.is_absolute() and not found.exists() and near is not None:
                found = next((base / path for base in near.parents if (base / path).exists()), found)
            resolved = str(found.resolve())
            entry = self.manifests.get(resolved) or self.manifests.get(path) or {}
            config = found / "train_config.json"
            if not entry and config.is_file():
                try:
                    train = json.loads(config.read_text()).get("config", {})
                    entry = {"task": train.get("task"), "seed": train.get("seed")}
                except (OSError, ValueError):
                    entry = {}
        prompt = Prompt(key=key, label=entry.get("label") or prompt_label(path), path=path,
                        task=entry.get("task"), seed=entry.get("seed"))
        self.by_key[key] = prompt
        return prompt


def _read_results(path: Path, data: dict, prompts: _Prompts) -> list[Evaluation]:
    config = data.get("config") or {}
    model = model_label(model_name(config))
    prompt_path = config.get("prompt_source") or model_arg(config.get("model_args"), "prompt")
    prompt = prompts.get(prompt_path, config.get("prompt_sha256"), near=path)
    suppression = suppression_of(config)
    return [Evaluation(model=model, prompt=prompt, task=row.task, acc=row.acc, acc_stderr=row.acc_stderr,
                       num_docs=row.num_docs, num_choices=row.num_choices, clean_twin=row.clean_twin,
                       suppression=suppression, source=row.source, split_of=row.split_of)
            for row in task_results(data, str(path))]


def _read_neuron_file(path: Path, prompts: _Prompts) -> NeuronFile | None:
    """The skill-neuron file at ``path``; None for other safetensors files (prompts, model weights).

    Raises :class:`~skillneuron_harness.neurons.validate.NeuronFileError` for a file that cannot be read.
    """
    from skillneuron_harness.neurons.validate import NeuronFileError, read_header

    shapes, metadata = read_header(path, "file")
    if "task" not in metadata or "score" not in shapes:
        return None
    if metadata.get("kind") == "average":  # skillneuron average: a mean over prompts, not one more prompt
        log.info("skipping %s: an average over prompts (the report averages the runs' own files)", path)
        return None
    try:
        provenance = json.loads(metadata.get("provenance") or "{}")
    except json.JSONDecodeError:
        raise NeuronFileError(f"{path}: its provenance metadata is not JSON") from None
    prompt = prompts.get(provenance.get("prompt"), provenance.get("prompt_sha256"), near=path)
    return NeuronFile(path=path, model=model_label(provenance.get("model")), prompt=prompt,
                      task=metadata["task"], clean_twin=provenance.get("clean_twin"), provenance=provenance,
                      subtasks=metadata.get("subtasks", ""), split_of=provenance.get("split_of"))


def _read_curve(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not readable JSON ({err})") from None
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise ValueError("no 'records' list (not a suppression curve written by skillneuron suppression-curve)")
    for i, record in enumerate(records):
        missing = [k for k in CURVE_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"record {i} lacks {', '.join(missing)}")
        acc, percent = record["acc"], record["percent"]
        if not is_number(acc) or not math.isfinite(acc) or not 0 <= acc <= 1:
            raise ValueError(f"record {i}: acc is {acc!r}; an accuracy is a finite number in [0, 1]")
        if not is_number(percent) or not math.isfinite(percent) or not 0 <= percent <= 100:
            raise ValueError(f"record {i}: percent is {percent!r}; expected a number in [0, 100]")
    return records


def collect(run_dirs: list[str | Path], skip_unreadable: bool = False) -> Collection:
    """Read every results file, skill-neuron file and suppression curve under ``run_dirs``.

    Files that cannot be read raise :class:`UnreadableFiles`, or with ``skip_unreadable`` are left out
    and listed in ``unreadable``.
    """
    from skillneuron_harness.neurons.validate import NeuronFileError

    roots = [Path(d) for d in run_dirs]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise FileNotFoundError(f"run folder(s) not found: {', '.join(missing)}")
    files = sorted({p.resolve() for r in roots for p in ([r] if r.is_file() else r.rglob("*")) if p.is_file()})
    result = Collection(sources=[str(r) for r in roots])
    manifests: dict[str, dict] = {}
    for p in files:
        if p.name == MANIFEST:
            try:
                for path, entry in json.loads(p.read_text(encoding="utf-8")).items():
                    manifests[str(Path(path).resolve())] = entry
            except (OSError, UnicodeDecodeError, ValueError, AttributeError) as err:
                result.unreadable.append((str(p), f"not a prompts manifest ({err})"))
    prompts = _Prompts(manifests)
    results_files = [p for p in files if p.name.startswith("results") and p.suffix == ".json"]
    neuron_paths = {p for p in files if p.suffix == ".safetensors"}
    latest: dict[tuple, Evaluation] = {}
    for path in sorted(results_files, key=lambda p: p.name):  # results_<ISO date>: later runs win
        try:
            data = load_results(path)
            evaluations = _read_results(path, data, prompts)
        except ResultsFileError as err:
            if err.foreign:  # no run's number can come from it
                result.skipped.append((str(path), f"not an lm-eval results file: {err.why}"))
                print(f"skillneuron report: skipping {path}: not an lm-eval results file: {err.why}", file=sys.stderr)
            else:
                result.unreadable.append((str(path), f"not what lm-eval writes: {err.why}"))
            continue
        for ev in evaluations:
            latest[ev.model, ev.prompt.key, ev.task, json.dumps(ev.suppression, sort_keys=True)] = ev
        for summary in (data.get("skill_neurons") or {}).values():  # files written elsewhere
            for f in summary.get("files") or []:
                if f.endswith(".safetensors") and Path(f).is_file():
                    neuron_paths.add(Path(f).resolve())
    result.evaluations = list(latest.values())
    by_identity: dict[tuple, NeuronFile] = {}
    for path in sorted(neuron_paths, key=lambda p: p.stat().st_mtime):  # the newest file of a prompt and task wins
        try:
            neuron_file = _read_neuron_file(path, prompts)
        except NeuronFileError as err:
            result.unreadable.append((str(path), str(err).removeprefix(f"file={path}: ").removeprefix(f"{path}: ")))
            continue
        if neuron_file is not None:
            by_identity[neuron_file.model, neuron_file.prompt.key, neuron_file.task] = neuron_file
    result.neuron_files = list(by_identity.values())
    for p in files:
        if p.name == CURVE_FILE:
            try:
                result.curves.extend(_read_curve(p))
            except ValueError as err:
                result.unreadable.append((str(p), f"malformed suppression curve: {err}"))
    if result.unreadable:
        if not skip_unreadable:
            raise UnreadableFiles(result.unreadable)
        for path, why in result.unreadable:
            print(f"skillneuron report: left out {path}: {why}", file=sys.stderr)
    return result
