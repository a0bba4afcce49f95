"""Python helpers for the shared prompt templates in this folder.

``mnli_doc_to_text`` reproduces lm-eval's built-in MNLI prompt (``lm_eval/tasks/glue/mnli/utils.py``)
so that our MNLI-style tasks render exactly like their clean twin; tests/tasks checks the two
against each other on real documents. ``load_jsonl`` is the loader of the ``*_jsonl.yaml``
templates (your own adversarial examples, see docs/tasks.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def load_jsonl(data_files: str | list | dict | None = None, config_source: str | None = None,
               **_ignored: Any):
    """Load a user's JSONL file(s) as a ``DatasetDict``, relative paths taken from the task's YAML folder.

    lm-eval calls this (as the template's ``custom_dataset``) with the task's ``metadata`` and
    ``dataset_kwargs``; ``config_source`` is the path of the YAML that defined the task, so a
    relative ``data_files`` works from whatever directory ``lm_eval`` is started in. A bare path
    or list of paths becomes the ``validation`` split (the split the templates evaluate).
    """
    import datasets

    if not data_files:
        raise ValueError(
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
            paths.append(str(path))
        resolved[split] = paths
    return datasets.load_dataset("json", data_files=resolved)
