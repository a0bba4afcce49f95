"""A real-weights demo: all-MiniLM-L6-v2 with a shipped masked-LM head and soft prompt.

:mod:`.model` assembles the demo model (MiniLM's encoder from the ``demo`` extra plus the fixed
head ``mlm_head.safetensors``) into a cached model folder; :mod:`.run` is ``skillneuron demo``
(train a soft prompt on SST-2, evaluate it on ``sst2`` and ``adv_sst2`` through lm-eval with skill
neurons on). ``sst2_prompt.safetensors`` is a prompt trained that way (20 x 384); with no
``model_args``, ``prompt_tuned`` evaluates the demo model with it (:func:`default_model_args`), at
batch size :data:`DEMO_BATCH_SIZE` unless a larger one is asked for (lm-eval's default of 1 would
take minutes).
"""

from __future__ import annotations

from pathlib import Path

from skillneuron_harness.demo.model import DEMO_EXTRA_HINT, DemoModelMissing, demo_model_path

SHIPPED_PROMPT = Path(__file__).resolve().parent / "sst2_prompt.safetensors"
DEMO_BATCH_SIZE = 32  # documents per pass for the demo model (MiniLM: small enough for any CPU)
DEMO_NOTE = ("prompt_tuned: no pretrained= given: evaluating the demo model, all-MiniLM-L6-v2 with the shipped "
             "masked-LM head (%s), with the shipped SST-2 soft prompt (%s), at batch size %s.")

__all__ = ["DEMO_BATCH_SIZE", "DEMO_EXTRA_HINT", "DEMO_NOTE", "SHIPPED_PROMPT", "DemoModelMissing",
           "default_model_args", "demo_batch_size", "demo_model_path", "fill_demo_model_args"]


def default_model_args() -> tuple[str, str]:
    """(pretrained, prompt) of the demo: the assembled model folder and the shipped SST-2 prompt.

    Raises :class:`DemoModelMissing` (with the install command) when the ``demo`` extra is missing.
    """
    return str(demo_model_path()), str(SHIPPED_PROMPT)


def demo_batch_size(batch_size) -> int | str:
    """The batch size for the demo model: :data:`DEMO_BATCH_SIZE` in place of lm-eval's default of 1 (or none)."""
    return DEMO_BATCH_SIZE if batch_size is None or str(batch_size) == "1" else batch_size


def _named(model_args) -> set[str]:
    if isinstance(model_args, dict):
        return set(model_args)
    return {part.split("=", 1)[0].strip() for part in (model_args or "").split(",") if part.strip()}


def fill_demo_model_args(model_args):
    """``model_args`` with the demo model and the shipped prompt written in when they name neither model nor prompt.

    lm-eval names the output folder of a run after ``pretrained=``, and draws a random name without
    it: written in, results of the default run land in the same folder every time. Returns None
    when ``model_args`` name a model or a prompt (nothing to fill).
    """
    if _named(model_args) & {"pretrained", "prompt", "peft"}:
        return None
    pretrained, prompt = default_model_args()
    if isinstance(model_args, dict):
        return {"pretrained": pretrained, "prompt": prompt, **model_args}
    rest = (model_args or "").strip().strip(",")
    return f"pretrained={pretrained},prompt={prompt}" + (f",{rest}" if rest else "")
