"""What a released prompt file needs: its base model, task and the task variant it was trained in.

The prompts of thunlp/Prompt-Transferability (Su et al. 2022) and LeonAckermann/Robust-Neurons
(Ackermann & Ohmer 2024) sit in folders named ``<Task>Prompt<Model>``
(``continuous_prompts/seed_33/SST2PromptRoberta/task_prompt``); the model part names the base
model the file was trained on (Robust-Neurons ``src/models/PromptRoberta.py:31-42``,
``PromptT5.py:29-47``, ``PromptBert.py``) and the task part the formatter that built its inputs
(``src/formatter/<Task>Prompt<Model>Formatter.py``). :func:`release_info` reads both from the
path; :func:`variant` gives the task YAMLs of ``task_configs/released/`` that render documents
as that formatter did, with the answer words its model scored (:data:`VARIANTS`; Su et al.'s own
``seed_su`` prompts where they differ, :data:`SU_VARIANTS`: 3-class MNLI), and for MNLI the
mismatched pair too (``docs/tasks.md``, "Released-prompt formats").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The model part of `<Task>Prompt<Model>` -> (model kind, Hub id of the base model it was trained on).
BASE_MODELS = {
    "Roberta": ("roberta", "FacebookAI/roberta-base"),
    "RobertaLarge": ("roberta", "FacebookAI/roberta-large"),
    "Bert": ("bert", "google-bert/bert-base-uncased"),
    "T5": ("t5", "google-t5/t5-base"),
    "T5Small": ("t5", "google-t5/t5-small"),
    "T5Large": ("t5", "google-t5/t5-large"),
    "T5XXL": ("t5", "google/t5-xxl-lm-adapt"),  # PromptT5.py:35-41: the LM-adapted T5 v1.1 XXL
}
# Folder names: the task, "Prompt", the model, then optional suffixes of derived prompts
# (`_proj`, `_cross_model_T5_to_Roberta`: the target model is the last word).
_FOLDER = re.compile(r"^(?P<task>[A-Za-z0-9_]+?)Prompt(?P<model>RobertaLarge|Roberta|Bert|T5Small|T5Large|T5XXL|T5)"
                     r"?(?P<suffix>_.*)?$")
_CROSS = re.compile(r"_cross_model_\w+_to_(?P<model>\w+)$")


@dataclass(frozen=True)
class Variant:
    """The task YAMLs that render one released (task, model kind) as its formatter did."""

    clean: str  # the clean task
    adv: str | None  # its AdvGLUE twin (metadata.clean_twin), when AdvGLUE has one
    words: tuple[str, ...]  # answer words in label order
    # Further (clean, adversarial) pairs of the same task and training split (metadata.split_of): MNLI mismatched
    more: tuple[tuple[str, str | None], ...] = ()
    labels: str = ""  # what the labels are, where another variant of the task has the same words

    @property
    def pairs(self) -> tuple[tuple[str, str | None], ...]:
        return ((self.clean, self.adv), *self.more)

    @property
    def names(self) -> tuple[str, ...]:
        """Every task of the variant: clean, adversarial, then the further pairs."""
        return tuple(name for pair in self.pairs for name in pair if name)


def _mnli(stem: str, kind: str, labels: str) -> Variant:
    """Matched then mismatched (clean, adversarial) tasks ``sn_pt_[adv_]mnli[_mm]<stem>_<kind>``."""
    words = {"roberta": ("no", "neutral", "yes"), "t5": ("contradiction", "neutral", "entailment")}[kind]
    return Variant(f"sn_pt_mnli{stem}_{kind}", f"sn_pt_adv_mnli{stem}_{kind}", words,
                   ((f"sn_pt_mnli_mm{stem}_{kind}", f"sn_pt_adv_mnli_mm{stem}_{kind}"),), labels)


BINARY_MNLI = "binary MNLI without neutral, as Ackermann & Ohmer"  # 0 contradiction, entailment 1 (RoBERTa) / 2 (T5)
THREE_CLASS_MNLI = "3-class MNLI, as Su et al."  # 0 contradiction, 1 neutral, 2 entailment
# (release task, model kind) -> the variants its prompts were trained in (Robust-Neurons' formats).
VARIANTS = {
    ("SST2", "roberta"): Variant("sn_pt_sst2_roberta", "sn_pt_adv_sst2_roberta", ("negative", "positive")),
    ("SST2", "t5"): Variant("sn_pt_sst2_t5", "sn_pt_adv_sst2_t5", ("negative", "positive")),
    ("IMDB", "roberta"): Variant("sn_pt_imdb_roberta", None, ("negative", "positive")),
    ("IMDB", "t5"): Variant("sn_pt_imdb_t5", None, ("negative", "positive")),
    ("MNLI", "roberta"): _mnli("_binary", "roberta", BINARY_MNLI),  # entailment read at "neutral"
    ("MNLI", "t5"): _mnli("_binary", "t5", BINARY_MNLI),
    ("QNLI", "roberta"): Variant("sn_pt_qnli_roberta", "sn_pt_adv_qnli_roberta", ("no", "yes")),
    ("QNLI", "t5"): Variant("sn_pt_qnli_t5", "sn_pt_adv_qnli_t5", ("contradiction", "entailment")),
    ("QQP", "roberta"): Variant("sn_pt_qqp_roberta", "sn_pt_adv_qqp_roberta", ("false", "true")),
    ("QQP", "t5"): Variant("sn_pt_qqp_t5", "sn_pt_adv_qqp_t5", ("false", "true")),
    ("MRPC", "roberta"): Variant("sn_pt_mrpc_roberta", None, ("false", "true")),
    ("MRPC", "t5"): Variant("sn_pt_mrpc_t5", None, ("false", "true")),
}
# Where Su et al.'s own prompts (seed_su) were trained otherwise: 3-class MNLI (Prompt-Transferability-1.0
# dataset/MNLIDataset.py:19-21: 0 contradiction, 1 neutral, 2 entailment).
SU_VARIANTS = {
    ("MNLI", "roberta"): _mnli("", "roberta", THREE_CLASS_MNLI),
    ("MNLI", "t5"): _mnli("", "t5", THREE_CLASS_MNLI),
}


def variant(task: str, kind: str, seed: str | None = None) -> Variant | None:
    """The variant a released ``<task>Prompt<Model>`` of ``kind`` was trained in (``seed`` su: Su et al.'s)."""
    if seed == "su" and (task, kind) in SU_VARIANTS:
        return SU_VARIANTS[task, kind]
    return VARIANTS.get((task, kind))


def variant_of_task(task_name: str) -> Variant | None:
    """The variant whose tasks include ``task_name``, if any."""
    return next((v for v in (*VARIANTS.values(), *SU_VARIANTS.values()) if task_name in v.names), None)


# Task types of the released tasks (transfer is measured within a type).
TASK_TYPES = {"SST2": "sentiment", "IMDB": "sentiment", "MNLI": "nli", "QNLI": "nli", "QQP": "paraphrase",
              "MRPC": "paraphrase"}


@dataclass(frozen=True)
class ReleaseInfo:
    """What a released file's path says about it."""

    folder: str  # e.g. SST2PromptRoberta
    task: str  # e.g. SST2
    model: str  # the model part, e.g. Roberta, T5XXL
    kind: str  # roberta | bert | t5
    base_model: str  # Hub id of the model the file was trained on
    seed: str | None = None  # from a `seed_<N>` folder above it (seed_su: Su et al.'s own)

    @property
    def variant(self) -> Variant | None:
        """The task variant this prompt was trained in (Su et al.'s for ``seed_su``)."""
        return variant(self.task, self.kind, self.seed)

    @property
    def variants(self) -> tuple[str, ...]:
        """Names of the task variants rendered as this prompt was trained (clean first)."""
        return self.variant.names if self.variant is not None else ()

    @property
    def answer_words(self) -> list[str] | None:
        return list(self.variant.words) if self.variant is not None else None

    def info(self) -> dict:
        return {"prompt_release": self.folder, "prompt_release_task": self.task,
                "prompt_trained_on": self.base_model, "prompt_release_seed": self.seed}


def release_info(path: str | Path) -> ReleaseInfo | None:
    """The release folder a prompt file sits in, or None when its path does not follow the naming."""
    path = Path(path)
    for folder in (path.parent, path.parent.parent):
        match = _FOLDER.match(folder.name)
        if match is None:
            continue
        model = match["model"] or ""
        cross = _CROSS.search(match["suffix"] or "")
        if cross is not None:  # a T5 prompt projected into RoBERTa: the target model
            model = cross["model"]
        if model not in BASE_MODELS:
            continue
        kind, base = BASE_MODELS[model]
        seed_folder = next((p.name for p in folder.parents if p.name.startswith("seed_")), None)
        seed = seed_folder.removeprefix("seed_") if seed_folder else None
        return ReleaseInfo(folder.name, match["task"], model, kind, base, seed)
    return None


def model_kind(config) -> str:
    """Roberta | bert | t5 | other, from a transformers config."""
    model_type = getattr(config, "model_type", "")
    if model_type in ("t5", "mt5", "umt5"):
        return "t5"
    if model_type in ("roberta", "xlm-roberta", "camembert"):
        return "roberta"
    if model_type == "bert":
        return "bert"
    return "other"


def hidden_size(config) -> int | None:
    """The model width a soft prompt must have (T5 ``d_model``, BERT ``hidden_size``, GPT-2 ``n_embd``)."""
    for name in ("d_model", "hidden_size", "n_embd", "dim"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def format_mismatch(release: ReleaseInfo, task_name: str, choices: list[str]) -> str | None:
    """A warning when ``task_name`` is not rendered as ``release`` was trained, else None."""
    if not release.variants or task_name in release.variants:
        return None
    words = [c.strip() for c in choices]
    trained, own, other = release.answer_words, release.variant, variant_of_task(task_name)
    what = ("the same answer words" if words == trained
            else f"answer words {words} where it was trained with {trained}")
    rendering = ("lm-eval's own rendering" if other is None else f"the released rendering of {other.labels}"
                 if other.labels else "the rendering of another released task")
    trained_as = f"{own.labels}, " if own.labels else ""
    return (f"the prompt was trained as {release.folder} ({trained_as}{release.kind} format of Prompt-Transferability/"
            f"Robust-Neurons, answer words {trained}); task {task_name!r} uses {what} and {rendering}, "
            f"so this measures transfer to another format. The format-matched tasks are "
            f"{' / '.join(release.variants)}.")
