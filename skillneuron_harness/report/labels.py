"""Names of models and prompts, the same in every table: one rule shared by reports and leaderboards.

A results JSON names its model in several places: lm-eval's ``config.model`` is the registry name
(``prompt_tuned``, ``hf``) when the run was started from the command line and the model's
``_name_or_path`` when a loaded model was passed; ``config.model_args`` may or may not hold
``pretrained=``; ``prompt_tuned`` records the model it really loaded as ``config.pretrained``
(the demo model when no ``pretrained=`` was given). Skill-neuron files record the loaded model in
their provenance. :func:`model_name` reads the exact model from a results config, so that a run of
``lm_eval --model prompt_tuned`` without ``model_args`` and its skill-neuron files carry the same
name; :func:`model_label` shortens any exact name to the label every table shows.
"""

from __future__ import annotations

from pathlib import Path

from skillneuron_harness.core.results import model_arg  # noqa: F401  (re-exported: the report's readers)

_GENERIC_NAMES = {"adapter", "prompt", "best", "final", "checkpoint", "model", "task_prompt"}
_TENSOR_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npy")
# model_args keys that name the weights, for lm-eval's models (hf, vllm, sglang: pretrained; APIs: model)
_MODEL_KEYS = ("pretrained", "model", "engine")


def _demo_model_name() -> str | None:
    """The demo model folder ``prompt_tuned`` loads without ``pretrained=`` (None without the demo extra)."""
    try:
        from skillneuron_harness.host.demo_model import demo_model_path

        return str(demo_model_path(build=False))
    except Exception:  # noqa: BLE001  (demo extra missing: the name cannot be known)
        return None


def model_name(config: dict) -> str:
    """The exact model a results JSON's ``config`` was computed with (path or Hub id).

    First found: ``config.pretrained`` (recorded by ``prompt_tuned``), a weights key of
    ``config.model_args``, the demo model for ``prompt_tuned`` without one, ``config.model``.
    """
    if config.get("pretrained"):
        return str(config["pretrained"])
    for key in _MODEL_KEYS:
        value = model_arg(config.get("model_args"), key)
        if value:
            return value
    if config.get("model") == "prompt_tuned":
        return _demo_model_name() or "prompt_tuned"
    return str(config.get("model") or "?")


def model_label(name: str | None) -> str:
    """A short model name: the last path or Hub-id component."""
    if not name:
        return "?"
    return Path(str(name).rstrip("/")).name or str(name)


def prompt_label(path: str | None) -> str:
    """A short prompt name from its path (the folder or file name; generic names keep their parent)."""
    if not path:
        return "no prompt"
    p = Path(str(path).rstrip("/"))
    stem = p.stem if p.suffix in _TENSOR_SUFFIXES else p.name
    if stem.lower() in _GENERIC_NAMES and p.parent.name:
        return f"{p.parent.name}/{stem}"
    return stem
