"""The shape lm-eval writes a results JSON in, checked before any of its numbers is used.

:func:`check_results` raises :class:`ResultsFileError` naming the first field that differs from
what lm-eval 0.4 (and ``prompt_tuned``'s own sections) write; the report, the leaderboard and
``skillneuron replicate`` read results only through :func:`skillneuron_harness.core.results.task_results`,
which calls it. Two kinds of problem:

* **foreign** (``ResultsFileError.foreign``): valid JSON that is not an lm-eval results file: not an
  object, or without the ``results`` and ``configs`` objects (and a ``config`` object, when present)
  that every lm-eval run writes. No number of any run can come from such a file, so readers may
  skip it with a warning.
* **invalid**: an lm-eval results file with a value no run can have: an accuracy outside [0, 1]
  or not finite (``"acc,none": 7.5`` is a percent, NaN an empty task), a standard error that is
  negative, above 1 or not finite, a document count that is not a whole number >= 1, a section
  or task entry of the wrong type, a ``prompt_sha256``, ``model_args`` or ``limit`` of the wrong
  type; or a file that is not JSON at all (:func:`~skillneuron_harness.core.results.load_results`: a
  copy cut short). Skipping such a file would change what the reader publishes, so readers refuse it.

What lm-eval legitimately writes is accepted: ``"acc_stderr,none": "N/A"`` (one document, or no
bootstrap), groups in ``results`` without a config of their own (not checked beyond their type),
``doc_to_choice`` as a list, a template string or a mapping, ``model_args`` as a string or a
mapping, a ``limit`` that is a count or a fraction.
"""

from __future__ import annotations

import math
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError

ACC = "acc,none"
ACC_STDERR = "acc_stderr,none"
_OBJECT_SECTIONS = ("versions", "n-samples", "skill_neurons", "leaderboard")
_TEXT_CONFIG = ("model", "pretrained", "prompt_sha256", "prompt_source")


class ResultsFileError(SkillNeuronError):
    """A results JSON that is not what lm-eval writes; the message names the file, the field and the value."""

    def __init__(self, source: str, why: str, *, foreign: bool = False) -> None:
        self.source, self.why, self.foreign = str(source), why, foreign
        super().__init__(f"{source}: {why}" if source else why)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_number(value: Any) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fraction(value: Any, field: str, what: str, source: str) -> None:
    if not is_number(value) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        hint = " (a percent? lm-eval writes fractions)" if is_number(value) and 1 < value <= 100 else ""
        raise ResultsFileError(source, f"{field} is {_show(value)}: {what} is a finite number in [0, 1]{hint}")


def _object(data: dict, key: str, where: str, source: str, *, foreign: bool = False) -> dict:
    value = data.get(key)
    if value is None and not foreign:
        return {}
    if not isinstance(value, dict):
        why = (f"has no '{key}' object" if value is None else f"'{where}{key}' is {_kind(value)}, not an object")
        raise ResultsFileError(source, why, foreign=foreign)
    return value


def _text(value: Any, field: str, source: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ResultsFileError(source, f"{field} is {_kind(value)} {_show(value)}: expected a string or null")


def _check_task(task: str, metrics: Any, data: dict, source: str) -> None:
    where = f"results.{task}"
    if not isinstance(metrics, dict):
        raise ResultsFileError(source, f"'{where}' is {_kind(metrics)}, not an object of metrics")
    if task not in data["configs"]:
        return  # a group: averaged by lm-eval from its tasks, never read as a number of ours
    task_config = data["configs"][task]
    if not isinstance(task_config, dict):
        raise ResultsFileError(source, f"'configs.{task}' is {_kind(task_config)}, not an object")
    metadata = task_config.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ResultsFileError(source, f"'configs.{task}.metadata' is {_kind(metadata)}, not an object")
    for key in ("clean_twin", "split_of"):
        _text((metadata or {}).get(key), f"'configs.{task}.metadata.{key}'", source)
    if ACC in metrics:
        _fraction(metrics[ACC], f"'{where}.{ACC}'", "an accuracy", source)
    stderr = metrics.get(ACC_STDERR)
    if stderr is not None and stderr != "N/A":
        _fraction(stderr, f"'{where}.{ACC_STDERR}'", "a standard error of an accuracy", source)
    version = (data.get("versions") or {}).get(task)
    if version is not None and not isinstance(version, str) and not (is_number(version) and math.isfinite(version)):
        raise ResultsFileError(source, f"'versions.{task}' is {_kind(version)} {_show(version)}: expected a "
                                       "number or a string")
    samples = (data.get("n-samples") or {}).get(task)
    if samples is None:
        return
    if not isinstance(samples, dict):
        raise ResultsFileError(source, f"'n-samples.{task}' is {_kind(samples)}, not an object "
                                       "{original, effective}")
    for key in ("original", "effective"):
        n = samples.get(key)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < (1 if ACC in metrics else 0)):
            raise ResultsFileError(source, f"'n-samples.{task}.{key}' is {_show(n)}: expected a whole number of "
                                           "documents (>= 1 for a task with an accuracy)")
    if isinstance(samples.get("original"), int) and isinstance(samples.get("effective"), int) \
            and samples["effective"] > samples["original"]:
        raise ResultsFileError(source, f"'n-samples.{task}': effective {samples['effective']} > original "
                                       f"{samples['original']}: more documents evaluated than the task has")


def _check_config(config: dict, source: str) -> None:
    for key in _TEXT_CONFIG:
        _text(config.get(key), f"'config.{key}'", source)
    args = config.get("model_args")
    if args is not None and not isinstance(args, (str, dict)):
        raise ResultsFileError(source, f"'config.model_args' is {_kind(args)} {_show(args)}: expected lm-eval's "
                                       "'k=v,k=v' string or an object")
    limit = config.get("limit")
    if limit is not None and (not is_number(limit) or not math.isfinite(limit) or limit <= 0):
        raise ResultsFileError(source, f"'config.limit' is {_show(limit)}: expected null (all documents), a "
                                       "count >= 1 or a fraction in (0, 1)")
    suppression = config.get("suppression")
    if suppression is not None:
        if not isinstance(suppression, dict):
            raise ResultsFileError(source, f"'config.suppression' is {_kind(suppression)}, not an object")
        counts = suppression.get("neurons_per_layer")
        if counts is not None and (not isinstance(counts, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts)):
            raise ResultsFileError(source, f"'config.suppression.neurons_per_layer' is {_show(counts)}: expected "
                                           "a list of whole numbers")


def _check_skill_neurons(section: dict, source: str) -> None:
    for task, summary in section.items():
        where = f"'skill_neurons.{task}"
        if not isinstance(summary, dict):
            raise ResultsFileError(source, f"{where}' is {_kind(summary)}, not an object")
        files = summary.get("files")
        if files is not None and (not isinstance(files, list) or not all(isinstance(f, str) for f in files)):
            raise ResultsFileError(source, f"{where}.files' is {_show(files)}: expected a list of paths")
        n = summary.get("num_docs")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise ResultsFileError(source, f"{where}.num_docs' is {_show(n)}: expected a whole number")
        _text(summary.get("run"), f"{where}.run'", source)
        consistency = summary.get("consistency")
        if consistency is None:
            continue
        if not isinstance(consistency, dict):
            raise ResultsFileError(source, f"{where}.consistency' is {_kind(consistency)}, not an object")
        overlap = consistency.get("overlap")
        if overlap is None:
            continue
        if not isinstance(overlap, list):
            raise ResultsFileError(source, f"{where}.consistency.overlap' is {_kind(overlap)}, not a list")
        for i, point in enumerate(overlap):
            field = f"{where}.consistency.overlap[{i}]"
            if not isinstance(point, dict):
                raise ResultsFileError(source, f"{field}' is {_kind(point)}, not an object")
            _fraction(point.get("fraction"), f"{field}.fraction'", "a fraction of neurons", source)
            mean = point.get("mean")
            if mean is not None and not (is_number(mean) and math.isnan(mean)):  # null / NaN: undefined
                _fraction(mean, f"{field}.mean'", "an overlap", source)


def check_results(data: Any, source: str = "") -> None:
    """Raise :class:`ResultsFileError` unless ``data`` has the shape of an lm-eval results JSON."""
    if not isinstance(data, dict):
        raise ResultsFileError(source, f"holds {_kind(data)}, not an object", foreign=True)
    results = _object(data, "results", "", source, foreign=True)
    _object(data, "configs", "", source, foreign=True)
    if data.get("config") is not None:
        _object(data, "config", "", source, foreign=True)
    for key in _OBJECT_SECTIONS:
        _object(data, key, "", source)
    _check_config(data.get("config") or {}, source)
    for task, metrics in results.items():
        _check_task(task, metrics, data, source)
    _check_skill_neurons(data.get("skill_neurons") or {}, source)
    versions = (data.get("leaderboard") or {}).get("versions")
    if versions is not None and not isinstance(versions, dict):
        raise ResultsFileError(source, f"'leaderboard.versions' is {_kind(versions)}, not an object")
