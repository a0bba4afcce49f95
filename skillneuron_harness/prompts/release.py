"""What a released prompt file needs: its base model, task and the task variant it was trained in.

The prompts of thunlp/Prompt-Transferability (Su et al. 2022) and LeonAckermann/Robust-Neurons
(Ackermann & Ohmer 2024) sit in folders named ``<Task>Prompt<Model>``
(``continuous_prompts/seed_33/SST2PromptRoberta/task_prompt``); the model part names the base
model the file was trained on (Robust-Neurons ``src/models/PromptRoberta.py:31-42``,
``PromptT5.py:29-47``, ``PromptBert.py``) and the task part the formatter that built its inputs
(``src/formatter/<Task>Prompt<Model>Formatter.py``). :func:`release_info` reads both from the
path; :data:`VARIANTS` maps (task, model kind) to the task YAMLs of ``task_configs/released/``
that render documents as that formatter did, with the answer words its model scored
(``docs/tasks.md``, "Released-prompt formats").
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

# (release task, model kind) -> (clean variant, adversarial variant or None, answer words in label order).
VARIANTS = {
    ("SST2", "roberta"): ("sn_pt_sst2_roberta", "sn_pt_adv_sst2_roberta", ["negative", "positive"]),
    ("SST2", "t5"): ("sn_pt_sst2_t5", "sn_pt_adv_sst2_t5", ["negative", "positive"]),
    ("IMDB", "roberta"): ("sn_pt_imdb_roberta", None, ["negative", "positive"]),
    ("IMDB", "t5"): ("sn_pt_imdb_t5", None, ["negative", "positive"]),
    ("MNLI", "roberta"): ("sn_pt_mnli_binary_roberta", "sn_pt_adv_mnli_binary_roberta", ["no", "neutral", "yes"]),
    ("MNLI", "t5"): ("sn_pt_mnli_binary_t5", "sn_pt_adv_mnli_binary_t5", ["contradiction", "neutral", "entailment"]),
    ("QNLI", "roberta"): ("sn_pt_qnli_roberta", "sn_pt_adv_qnli_roberta", ["no", "yes"]),
    ("QNLI", "t5"): ("sn_pt_qnli_t5", "sn_pt_adv_qnli_t5", ["contradiction", "entailment"]),
    ("QQP", "roberta"): ("sn_pt_qqp_roberta", "sn_pt_adv_qqp_roberta", ["false", "true"]),
    ("QQP", "t5"): ("sn_pt_qqp_t5", "sn_pt_adv_qqp_t5", ["false", "true"]),
    ("MRPC", "roberta"): ("sn_pt_mrpc_roberta", None, ["false", "true"]),
    ("MRPC", "t5"): ("sn_pt_mrpc_t5", None, ["false", "true"]),
}
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
    def variants(self) -> tuple[str, ...]:
        """Names of the task variants rendered as this prompt was trained (clean first)."""
        if self.seed == "su" and self.task == "MNLI":  # Su et al.: 3-class MNLI (no variant shipped)
            return ()
        clean, adv, _ = VARIANTS.get((self.task, self.kind), (None, None, None))
        return tuple(v for v in (clean, adv) if v)

    @property
    def answer_words(self) -> list[str] | None:
        entry = VARIANTS.get((self.task, self.kind))
        return None if entry is None else entry[2]

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
    trained = release.answer_words
    what = ("the same answer words" if words == trained
            else f"answer words {words} where it was trained with {trained}")
    return (f"the prompt was trained as {release.folder} ({release.kind} format of Prompt-Transferability/"
            f"Robust-Neurons, answer words {trained}); task {task_name!r} uses {what} and lm-eval's own rendering, "
            f"so this measures transfer to another format. The format-matched tasks are "
            f"{' / '.join(release.variants)}.")


def check_base_model(prompt, config, pretrained: str, arg: str = "prompt") -> str | None:
    """Raise when the prompt's width differs from the model's hidden size.

    Returns a warning when the release names another model kind. Runs on the config alone, before
    any weights are loaded.
    """
    from skillneuron_harness.prompts.loading import PromptError

    width = hidden_size(config)
    release = prompt.release
    needs = f"; the file was trained on {release.base_model} (folder {release.folder}): pass " \
            f"pretrained={release.base_model}" if release else "; use the base model the prompt was trained for"
    if width is not None and prompt.width != width:
        raise PromptError(f"{arg}={prompt.source}: the prompt is {prompt.width} wide but pretrained={pretrained} "
                          f"has hidden size {width}{needs}.")
    if release is not None and model_kind(config) not in (release.kind, "other") and prompt.format != "tensor":
        return (f"{arg}={prompt.source} was trained on {release.base_model} ({release.folder}) but pretrained="
                f"{pretrained} is a {model_kind(config)} model: the layout is that of the model given, so this "
                "is a cross-model evaluation.")
    return None
