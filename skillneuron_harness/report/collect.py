"""Read run folders into records: evaluations, skill-neuron files, suppression curves.

A run folder is anything under which lm-eval wrote ``results_*.json`` (``--output_path``), and/or
``prompt_tuned`` wrote ``<task>.safetensors`` skill-neuron files (``skill_neurons=DIR``), and/or
``skillneuron suppression-curve`` wrote ``suppression_curve.json``. Folders are searched
recursively. Prompts are identified by ``prompt_sha256`` (recorded in both the results JSON and
the skill-neuron files), so results and neuron files of one prompt meet wherever they lie.
:func:`gather` reads everything (the records are in :mod:`~skillneuron_harness.report.records`);
:mod:`~skillneuron_harness.report.runs` then chooses what each report group uses; :func:`collect`
does both for folders that form one group.

What a prompt was trained on, and with which seed, comes from (first found): a
``prompts.json`` manifest in a run folder (written by our commands: ``{path: {"label", "task",
"seed", "group"}}``), the ``train_config.json`` that ``skillneuron train`` leaves in the adapter
folder, the release folder the prompt sits in (``seed_33/SST2PromptRoberta``), or nothing (then
:func:`~skillneuron_harness.report.runs.group_prompts` groups it by the one task it was evaluated on).

Results files are checked against the shape lm-eval writes
(:mod:`skillneuron_harness.core.results_check`): a JSON file that is not an lm-eval results file
at all (a list, no ``results`` object) is skipped with a line on stderr naming it and why
(:attr:`Collection.skipped`). A file that should be read but cannot (a truncated or damaged
``.safetensors``, a results file or curve that is not valid JSON, a results file with a value no
lm-eval run writes: an accuracy of 7.5 or NaN, a string document count; a curve record without its
fields or with an accuracy outside [0, 1]) is never skipped silently:
:func:`gather` raises :class:`UnreadableFiles` naming each one and why, or, with
``skip_unreadable=True``, lists them in :attr:`Collection.unreadable` and goes on.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

from skillneuron_harness.core.constants import TRAIN_CONFIG_FILE
from skillneuron_harness.core.results import (
    ResultsFileError,
    load_results,
    skill_neuron_section,
    suppression_of,
    task_results,
)
from skillneuron_harness.core.results_check import is_number
from skillneuron_harness.prompts.release import release_info
from skillneuron_harness.report.labels import model_arg, model_label, model_name, prompt_label
from skillneuron_harness.report.records import (
    CURVE_FIELDS,
    CURVE_FILE,
    MANIFEST,
    Collection,
    CurveFile,
    Evaluation,
    NeuronFile,
    Prompt,
    UnreadableFiles,
)

log = logging.getLogger(__name__)

__all__ = ["CURVE_FIELDS", "CURVE_FILE", "MANIFEST", "Collection", "CurveFile", "Evaluation", "NeuronFile",
           "Prompt", "UnreadableFiles", "collect", "gather"]


class _Prompts:
    """Prompt identities, with manifests and train_config.json files consulted once."""

    def __init__(self, manifests: dict[str, dict]) -> None:
        self.manifests = manifests  # resolved path -> {label, task, seed}
        self.by_key: dict[str, Prompt] = {}

    def get(self, path: str | None, sha: str | None, near: Path | None = None, config: dict | None = None) -> Prompt:
        """The prompt at ``path`` (identified by ``sha`` when known).

        A relative path that does not exist here is looked up in the folders above ``near`` (the file
        that names it), one of which the run that wrote it started in. What it was trained on comes
        from (first found) a manifest, its ``train_config.json``, or the release folder it sits in
        (``config``: the results' record of it, ``prompt_release_task``; else its path).
        """
        key = sha or path or "none"
        if key in self.by_key:
            return self.by_key[key]
        entry: dict = {}
        how = ""
        if path:
            found = Path(path)
            if not found.is_absolute() and not found.exists() and near is not None:
                found = next((base / path for base in near.parents if (base / path).exists()), found)
            resolved = str(found.resolve())
            entry = self.manifests.get(resolved) or self.manifests.get(path) or {}
            how = f"{MANIFEST}" if entry else ""
            train_config = found / TRAIN_CONFIG_FILE
            if not entry and train_config.is_file():
                try:
                    train = json.loads(train_config.read_text()).get("config", {})
                    entry = {"task": train.get("task"), "seed": train.get("seed")}
                    how = TRAIN_CONFIG_FILE
                except (OSError, ValueError, AttributeError):
                    entry = {}
            if not entry:
                entry, how = _release_entry(path, config or {})
        prompt = Prompt(key=key, label=entry.get("label") or prompt_label(path), path=path,
                        task=entry.get("task"), seed=entry.get("seed"), declared_group=entry.get("group"),
                        grouped_by=how if entry.get("task") or entry.get("group") else "")
        self.by_key[key] = prompt
        return prompt


def _release_entry(path: str, config: dict) -> tuple[dict, str]:
    """Training task and seed of a released prompt: the results' record of its release folder, else its path."""
    from skillneuron_harness.prompts.release import variant

    info = release_info(path)
    task, seed, folder = config.get("prompt_release_task"), config.get("prompt_release_seed"), config.get(
        "prompt_release")
    if info is not None:
        task, seed, folder = task or info.task, seed or info.seed, folder or info.folder
        found = variant(info.task, info.kind, info.seed)
        if found is not None:  # the clean task YAML it is evaluated on (sn_pt_sst2_roberta)
            task = found.clean
    if not isinstance(task, str) or not task:
        return {}, ""
    return {"task": task, "seed": seed}, f"release folder {folder}"


def _read_results(path: Path, data: dict, prompts: _Prompts) -> list[Evaluation]:
    config = data.get("config") or {}
    model = model_label(model_name(config))
    prompt_path = config.get("prompt_source") or model_arg(config.get("model_args"), "prompt")
    prompt = prompts.get(prompt_path, config.get("prompt_sha256"), near=path, config=config)
    suppression = suppression_of(config)
    return [Evaluation(model=model, prompt=prompt, task=row.task, acc=row.acc, acc_stderr=row.acc_stderr,
                       num_docs=row.num_docs, num_choices=row.num_choices, clean_twin=row.clean_twin,
                       suppression=suppression, source=row.source, split_of=row.split_of, limit=row.limit,
                       neurons=row.skill_neurons)
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


def _read_curve(path: Path) -> CurveFile:
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
    settings = data.get("settings")
    if isinstance(settings, dict) and "limit" in settings:
        limit = settings["limit"]
        if limit is not None and (not is_number(limit) or not math.isfinite(limit) or limit <= 0):
            raise ValueError(f"settings.limit is {limit!r}; expected null or a number > 0")
        return CurveFile(str(path), records, None if limit is None else float(limit), limit_known=True)
    return CurveFile(str(path), records)


def gather(run_dirs: list[str | Path], skip_unreadable: bool = False) -> Collection:
    """Every results file, skill-neuron file and suppression curve under ``run_dirs``, as read (nothing chosen).

    Evaluations come in the order of their files' names (``results_<ISO date>``: oldest first),
    neuron files oldest first. Files that cannot be read raise :class:`UnreadableFiles`, or with
    ``skip_unreadable`` are left out and listed in ``unreadable``.
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
                    if not isinstance(entry, dict):
                        raise ValueError(f"the entry of {path} is not an object")
                    manifests[str(Path(path).resolve())] = entry
            except (OSError, UnicodeDecodeError, ValueError, AttributeError) as err:
                result.unreadable.append((str(p), f"not a prompts manifest ({err})"))
    prompts = _Prompts(manifests)
    results_files = [p for p in files if p.name.startswith("results") and p.suffix == ".json"]
    neuron_paths = {p for p in files if p.suffix == ".safetensors"}
    for path in sorted(results_files, key=lambda p: (p.name, str(p))):  # results_<ISO date>: oldest first
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
        result.evaluations.extend(evaluations)
        for summary in skill_neuron_section(data).values():  # files written elsewhere
            for f in summary.get("files") or []:
                if f.endswith(".safetensors") and Path(f).is_file():
                    neuron_paths.add(Path(f).resolve())
    for path in sorted(neuron_paths, key=lambda p: (p.stat().st_mtime, str(p))):  # oldest first
        try:
            neuron_file = _read_neuron_file(path, prompts)
        except NeuronFileError as err:
            result.unreadable.append((str(path), str(err).removeprefix(f"file={path}: ").removeprefix(f"{path}: ")))
            continue
        if neuron_file is not None:
            result.neuron_files.append(neuron_file)
    for p in files:
        if p.name == CURVE_FILE:
            try:
                result.curve_files.append(_read_curve(p))
            except ValueError as err:
                result.unreadable.append((str(p), f"malformed suppression curve: {err}"))
    if result.unreadable:
        if not skip_unreadable:
            raise UnreadableFiles(result.unreadable)
        for path, why in result.unreadable:
            print(f"skillneuron report: left out {path}: {why}", file=sys.stderr)
    return result


def collect(run_dirs: list[str | Path], skip_unreadable: bool = False) -> Collection:
    """The one report group under ``run_dirs`` (:func:`gather`, then :func:`~skillneuron_harness.report.runs.select`).

    Raises :class:`~skillneuron_harness.report.runs.MixedRuns`, naming the groups, when the folders
    hold runs that no report may merge (different limits); :func:`~skillneuron_harness.report.render.build_report`
    reports each group on its own.
    """
    from skillneuron_harness.report.runs import MixedRuns, select

    selection = select(gather(run_dirs, skip_unreadable))
    if len(selection.groups) > 1:
        raise MixedRuns(selection)
    return selection.groups[0]
