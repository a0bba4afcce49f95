"""A real-weights demo: all-MiniLM-L6-v2 with a shipped masked-LM head and soft prompt.

:mod:`.model` assembles the demo model (MiniLM's encoder from the ``demo`` extra plus the fixed
head ``mlm_head.safetensors``) into a cached model folder; :mod:`.run` is ``skillneuron demo``
(train a soft prompt on SST-2, evaluate it on ``sst2`` and ``adv_sst2`` through lm-eval with skill
neurons on). ``sst2_prompt.safetensors`` is a prompt trained that way (20 x 384); with no
``model_args``, ``prompt_tuned`` evaluates the demo model with it (:func:`default_model_args`).
"""

from __future__ import annotations

from pathlib import Path

from skillneuron_harness.demo.model import DEMO_EXTRA_HINT, DemoModelMissing, demo_model_path

SHIPPED_PROMPT = Path(__file__).resolve().parent / "sst2_prompt.safetensors"

__all__ = ["DEMO_EXTRA_HINT", "SHIPPED_PROMPT", "DemoModelMissing", "default_model_args", "demo_model_path"]


def default_model_args() -> tuple[str, str]:
    """(pretrained, prompt) of the demo: the assembled model folder and the shipped SST-2 prompt.

    Raises :class:`DemoModelMissing` (with the install command) when the ``demo`` extra is missing.
    """
    return str(demo_model_path()), str(SHIPPED_PROMPT)
