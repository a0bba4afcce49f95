"""How an entry's prompt was trained, where its files say: the card's "training" block.

Read without loading a model or the prompt tensor, from what lies beside the prompt:

* a PEFT adapter folder: ``adapter_config.json`` (``peft_type``, ``num_virtual_tokens``,
  ``prompt_tuning_init``, the base model) and ``train_config.json`` when ``skillneuron train``
  wrote it (task, steps, learning rate, seed, ...);
* a ``.safetensors`` file: its header's metadata (the shipped demo prompt records its base model,
  training command, steps and seed there);
* what the results file records of the prompt (``prompt_format``, ``prompt_num_virtual_tokens``,
  and for a published release its folder, task, model and seed).

Every value is a string (the card shows text); a file that cannot be read adds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from skillneuron_harness.core.constants import TRAIN_CONFIG_FILE

_ADAPTER_KEYS = ("peft_type", "task_type", "num_virtual_tokens", "prompt_tuning_init", "prompt_tuning_init_text",
                 "base_model_name_or_path", "num_transformer_submodules", "token_dim")
_MAX_VALUE = 300  # characters of one value on the card


def _text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 1] + "…"


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _flat(data: dict, prefix: str) -> dict[str, str]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        elif value is not None:
            out[f"{prefix}{key}"] = _text(value)
    return out


def _safetensors_metadata(path: Path) -> dict[str, str]:
    try:
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            return {str(k): _text(v) for k, v in (f.metadata() or {}).items()}
    except Exception:  # noqa: BLE001 - any unreadable header just adds nothing to the card
        return {}


def training_info(prompt_source: str | None, recorded: dict | None = None) -> dict[str, str]:
    """``{field: text}`` of what is known of the prompt's training (empty without a prompt)."""
    out = {k: _text(v) for k, v in sorted((recorded or {}).items()) if k != "prompt_source" and v is not None}
    if not prompt_source:
        return out
    path = Path(prompt_source).expanduser()
    folder = path if path.is_dir() else path.parent
    adapter = _json(folder / "adapter_config.json") if path.is_dir() else {}
    out.update({f"adapter.{k}": _text(adapter[k]) for k in _ADAPTER_KEYS if adapter.get(k) is not None})
    trained = _json(folder / TRAIN_CONFIG_FILE) if (folder / TRAIN_CONFIG_FILE).is_file() else {}
    out.update(_flat(trained.get("config") or {}, "train."))
    if path.is_file() and path.suffix == ".safetensors":
        out.update({f"file.{k}": v for k, v in _safetensors_metadata(path).items()})
    return out
