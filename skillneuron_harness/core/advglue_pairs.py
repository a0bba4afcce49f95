"""Which GLUE dev document each AdvGLUE dev document was made from: the shipped mapping, read.

AdvGLUE rows carry only their own ``idx`` (the position in the AdvGLUE list). The package ships, for
each AdvGLUE task, ``task_configs/advglue/pairs/<task>.json``, written by
``scripts/align_advglue.py`` from the offline copies of both datasets (the rule, the source files'
hashes and the counts are in its ``header``; docs/tasks.md has the table)::

    from skillneuron_harness.core.advglue_pairs import clean_original, pairs

    clean_original("adv_rte", 0)        # 10: GLUE RTE validation idx 10
    pairs("adv_sst2")[104]["status"]    # 'unmatched'

Each entry holds ``glue_idx`` (int, or None unless matched), ``score`` (the similarity of the best
candidate), ``margin`` (its lead over the runner-up) and ``status``: ``matched``, ``ambiguous``
(close candidates: never guessed) or ``unmatched`` (no candidate close enough). A matched entry also
says ``label_agrees`` and, for pairs, ``kept`` (the fields AdvGLUE left unchanged).

MNLI (matched and mismatched) and QQP were aligned against 1,000-row samples only, so their
``glue_idx`` is always None; a document found in the sample names its row there as ``sample_idx``.
Nothing here imports lm-eval (or anything beyond the standard library).
"""

from __future__ import annotations

import copy
import functools
import json

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.shipped import task_folder

ADVGLUE = "AI-Secure/adv_glue"  # the Hub id of AdvGLUE, whose configs the mapping covers
#: The AdvGLUE tasks that have a mapping.
TASKS: tuple[str, ...] = ("adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli", "adv_rte")
STATUSES: tuple[str, ...] = ("matched", "ambiguous", "unmatched")


@functools.cache
def _load(task: str) -> dict:
    if task not in TASKS:
        raise SkillNeuronError(f"AdvGLUE pairs: unknown task {task!r}; expected one of {', '.join(TASKS)}")
    path = task_folder() / "advglue" / "pairs" / f"{task}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fix = "reinstall skillneuron-harness, or run scripts/align_advglue.py in a checkout"
        message = f"AdvGLUE pairs: {path} is missing; expected the file shipped with the package ({fix})"
        raise SkillNeuronError(message) from None
    return {"header": doc["header"], "pairs": {int(k): v for k, v in doc["pairs"].items()}}


def header(task: str) -> dict:
    """The mapping's header: the rule, the source files (with SHA-256) and the counts per status."""
    return copy.deepcopy(_load(task)["header"])


def pairs(task: str) -> dict[int, dict]:
    """``{adv_idx: entry}`` for every document of an AdvGLUE task's dev set, in AdvGLUE order."""
    return copy.deepcopy(_load(task)["pairs"])


def clean_original(task: str, adv_idx: int) -> int | None:
    """The GLUE validation idx that AdvGLUE document ``adv_idx`` of ``task`` was made from, or None.

    None when the document is ambiguous or unmatched, and for MNLI and QQP (aligned against samples).
    """
    entries = _load(task)["pairs"]
    if isinstance(adv_idx, bool) or not isinstance(adv_idx, int) or adv_idx not in entries:
        raise SkillNeuronError(f"AdvGLUE pairs: {task} has no document idx={adv_idx!r}; expected an int "
                               f"from 0 to {len(entries) - 1} (the AdvGLUE row's idx)")
    entry = entries[adv_idx]
    return entry["glue_idx"] if entry["status"] == "matched" else None


def advglue_config(task) -> str | None:
    """The AdvGLUE config (``adv_sst2``, ...) that an lm-eval task evaluates, when it has a mapping; else None."""
    config = getattr(task, "config", None)
    name = getattr(config, "dataset_name", None)
    return name if getattr(config, "dataset_path", None) == ADVGLUE and name in TASKS else None
