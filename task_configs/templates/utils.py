"""Python helpers for the shared prompt templates in this folder.

``mnli_doc_to_text`` reproduces lm-eval's built-in MNLI prompt (``lm_eval/tasks/glue/mnli/utils.py``)
so that our MNLI-style tasks render exactly like their clean twin; tests/tasks checks the two
against each other on real documents. ``load_jsonl`` is the loader of the ``*_jsonl.yaml``
templates (your own adversarial examples, see docs/tasks.md); each template calls it through its
own ``load_<task>_jsonl``, which knows the fields and labels of that task and checks every line
before anything is evaluated: a file that is empty, not UTF-8 or not JSON, a line without a field,
or a label outside the task's classes stops the run with the file and the line number (a label of
5 in a binary task would otherwise be counted as a document and scored as wrong).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError

# AdvGLUE / GLUE MNLI labels (0 entailment, 1 neutral, 2 contradiction) -> binary labels as in
# Ackermann & Ohmer: 0 contradiction, 1 entailment; neutral is dropped.
_MNLI_TO_BINARY = {0: 1, 2: 0}


def _hypothesis_sentence(hypothesis: str) -> str:
    hypothesis = hypothesis.strip()
    return hypothesis + ("" if hypothesis.endswith(".") else ".")


def mnli_doc_to_text(doc: dict) -> str:
    """The prompt of lm-eval's ``mnli`` task: premise, then "<hypothesis>. True, False or Neither?"."""
    return f"{doc['premise']}\nQuestion: {_hypothesis_sentence(doc['hypothesis'])} True, False or Neither?\nAnswer:"


def binary_nli_doc_to_text(doc: dict) -> str:
    """The MNLI prompt without the neutral option: "<hypothesis>. True or False?"."""
    return f"{doc['premise']}\nQuestion: {_hypothesis_sentence(doc['hypothesis'])} True or False?\nAnswer:"


def mnli_binary_docs(dataset):
    """Drop neutral pairs and relabel: ``label`` 0 contradiction, 1 entailment (``mnli_label`` keeps GLUE's)."""
    dataset = dataset.filter(lambda doc: doc["label"] in _MNLI_TO_BINARY)
    return dataset.map(lambda doc: {"mnli_label": doc["label"], "label": _MNLI_TO_BINARY[doc["label"]]})


class UserDataError(SkillNeuronError):
    """A line of a user's JSONL file that the task cannot use; the message names the file and the line."""


def check_jsonl(path: Path, fields: tuple[str, ...], num_labels: int, choices: tuple[str, ...] = ()) -> int:
    """Check every line of ``path``: UTF-8, a JSON object, ``fields`` as strings, ``label`` in 0..num_labels-1.

    Returns the number of rows; raises :class:`UserDataError` naming the file and the line.
    """
    needed = ", ".join((*fields, "label"))
    names = f" ({', '.join(f'{i} = {c}' for i, c in enumerate(choices))})" if choices else ""
    rows = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            where = f"{path}, line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserDataError(f"{where}: not UTF-8 (byte {err.start + 1} of the line is "
                                    f"{raw[err.start:err.start + 1]!r}); save the file as UTF-8.") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserDataError(f"{where}: not valid JSON ({err.msg} at column {err.colno}); each line must "
                                    f"be one JSON object with {needed}.") from None
            if not isinstance(row, dict):
                raise UserDataError(f"{where}: a JSON {type(row).__name__}, not an object with {needed}.")
            for name in fields:
                if name not in row:
                    raise UserDataError(f"{where}: no {name!r} field; each line needs {needed}.")
                if not isinstance(row[name], str):
                    raise UserDataError(f"{where}: {name!r} must be a string, got {json.dumps(row[name])}.")
            if "label" not in row:
                raise UserDataError(f"{where}: no 'label' field; each line needs {needed} "
                                    f"(label an integer 0..{num_labels - 1}{names}).")
            label = row["label"]
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_labels:
                raise UserDataError(f"{where}: label {json.dumps(label)} is not one of the task's classes: an "
                                    f"integer 0..{num_labels - 1}{names}, as in GLUE.")
            rows += 1
    if rows == 0:
        raise UserDataError(f"{path}: the file has no examples (it is empty); add one JSON object per line "
                            f"with {needed}.")
    return rows


def load_jsonl(data_files: str | list | dict | None = None, config_source: str | None = None,
               fields: tuple[str, ...] | None = None, num_labels: int | None = None, choices: tuple[str, ...] = (),
               **_ignored: Any):
    """Load a user's JSONL file(s) as a ``DatasetDict``, relative paths taken from the task's YAML folder.

    lm-eval calls this (as the template's ``custom_dataset``) with the task's ``metadata`` and
    ``dataset_kwargs``; ``config_source`` is the path of the YAML that defined the task, so a
    relative ``data_files`` works from whatever directory ``lm_eval`` is started in. A bare path
    or list of paths becomes the ``validation`` split (the split the templates evaluate). With
    ``fields`` and ``num_labels`` every line is checked first (:func:`check_jsonl`).
    """
    import datasets

    if not data_files:
        raise UserDataError(
            "This task includes a skillneuron_harness *_jsonl.yaml template but sets no data file: "
            "add 'dataset_kwargs: {data_files: my_examples.jsonl}' to its YAML."
        )
    base = Path(config_source).parent if config_source and os.path.isfile(config_source) else Path.cwd()
    if not isinstance(data_files, dict):
        data_files = {"validation": data_files}
    resolved = {}
    for split, files in data_files.items():
        paths = []
        for file in [files] if isinstance(files, (str, os.PathLike)) else files:
            path = Path(file).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise FileNotFoundError(
                    f"Data file '{file}' of split '{split}' not found: looked for {path} "
                    f"(relative paths are taken from the folder of {config_source or 'the current directory'})."
                )
            if fields is not None and num_labels is not None:
                check_jsonl(path, fields, num_labels, choices)
            paths.append(str(path))
        resolved[split] = paths
    return datasets.load_dataset("json", data_files=resolved)


# One loader per template (``custom_dataset: !function utils.load_<task>_jsonl``): the fields of
# the task's documents, and its classes in the order of the template's ``doc_to_choice``.
def load_sst2_jsonl(data_files=None, config_source=None, **_ignored):
    """``load_jsonl`` for ``sst2_jsonl.yaml``: ``sentence``; label 0 negative, 1 positive."""
    return load_jsonl(data_files, config_source, fields=("sentence",), num_labels=2, choices=("negative", "positive"))


def load_qqp_jsonl(data_files=None, config_source=None, **_ignored):
    """``load_jsonl`` for ``qqp_jsonl.yaml``: ``question1``, ``question2``; label 0 no, 1 yes."""
    return load_jsonl(data_files, config_source, fields=("question1", "question2"), num_labels=2,
                      choices=("no", "yes"))


def load_mnli_jsonl(data_files=None, config_source=None, **_ignored):
    """``load_jsonl`` for ``mnli_jsonl.yaml``: ``premise``, ``hypothesis``; label 0 entailment, 1 neutral, 2 contra."""
    return load_jsonl(data_files, config_source, fields=("premise", "hypothesis"), num_labels=3,
                      choices=("True", "Neither", "False"))


def load_qnli_jsonl(data_files=None, config_source=None, **_ignored):
    """``load_jsonl`` for ``qnli_jsonl.yaml``: ``question``, ``sentence``; label 0 entailment (yes), 1 not (no)."""
    return load_jsonl(data_files, config_source, fields=("question", "sentence"), num_labels=2, choices=("yes", "no"))


def load_rte_jsonl(data_files=None, config_source=None, **_ignored):
    """``load_jsonl`` for ``rte_jsonl.yaml``: ``sentence1``, ``sentence2``; label 0 entailment, 1 not."""
    return load_jsonl(data_files, config_source, fields=("sentence1", "sentence2"), num_labels=2,
                      choices=("True", "False"))
