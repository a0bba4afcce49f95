"""Soft prompts that would give meaningless numbers, and damaged adapters, are refused at load, by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import PromptTuningConfig, TaskType
from safetensors.torch import save_file

from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.prompts import PromptError, load_soft_prompt

MARKER = Path("/tmp/skillneuron-adapter-pickle-ran")


def _run_code():  # what a malicious pickle would call
    MARKER.write_text("ran")


class Evil:
    def __reduce__(self):
        return (_run_code, ())


def _prompt(bad: float) -> torch.Tensor:
    t = torch.randn(4, 32)
    t[2, 5] = bad
    return t


def _adapter(folder: Path, table: torch.Tensor | None = None) -> Path:
    PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=4).save_pretrained(folder)
    save_file({"prompt_embeddings": _prompt(1.0) if table is None else table}, folder / "adapter_model.safetensors")
    return folder


def _write(kind: str, tensor: torch.Tensor, tmp_path: Path) -> Path:
    if kind == "safetensors":
        save_file({"prompt": tensor}, tmp_path / "p.safetensors")
        return tmp_path / "p.safetensors"
    if kind == "pt":
        torch.save(tensor, tmp_path / "p.pt")
        return tmp_path / "p.pt"
    if kind == "npy":
        np.save(tmp_path / "p.npy", tensor.numpy())
        return tmp_path / "p.npy"
    if kind == "skill_neuron":
        torch.save({"prompt": tensor[None, 1:], "pos": [1, 2]}, tmp_path / "best-backbone")
        return tmp_path / "best-backbone"
    return _adapter(tmp_path / "adapter", tensor)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("kind", ["safetensors", "pt", "npy", "skill_neuron", "peft"])
def test_non_finite_prompt_is_refused_at_load(kind, bad, tmp_path):
    path = _write(kind, _prompt(bad), tmp_path)
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(path))
    assert f"prompt={path}" in str(err.value) and "1 NaN or infinite values (virtual tokens [" in str(err.value)


def test_non_finite_prompt_is_refused_before_the_model_loads(tmp_path):
    path = _write("safetensors", _prompt(float("nan")), tmp_path)
    with pytest.raises(PromptError, match="NaN or infinite"):  # the model path does not even exist
        PromptTunedLM(pretrained=str(tmp_path / "no-model-here"), prompt=str(path), device="cpu")


@pytest.mark.parametrize("content, said", [
    ("{not json", "adapter_config.json is not valid JSON"),
    ("", "adapter_config.json is not valid JSON"),
    ('["a", "list"]', "is not a PEFT adapter config (no 'peft_type')"),
    ('{"r": 8}', "is not a PEFT adapter config (no 'peft_type')"),
    ('{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "no_such_field_in_peft": 1, "task_type": "NOPE"}',
     "adapter_config.json is not a valid PEFT config"),
])
def test_invalid_adapter_config_is_diagnosed_as_such(content, said, tmp_path):
    folder = _adapter(tmp_path / "adapter")
    (folder / "adapter_config.json").write_text(content)
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(folder))
    assert said in str(err.value) and str(folder) in str(err.value)
    assert "not a local file or folder" not in str(err.value)


def test_malicious_adapter_bin_is_refused_without_suggesting_weights_only_false(tmp_path):
    MARKER.unlink(missing_ok=True)
    folder = _adapter(tmp_path / "adapter")
    (folder / "adapter_model.safetensors").unlink()
    torch.save({"prompt_embeddings": torch.randn(4, 32), "x": Evil()}, folder / "adapter_model.bin")
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(folder))
    message = str(err.value)
    assert "could run code" in message and str(folder) in message and "weights_only" not in message
    assert not MARKER.exists()
    assert json.loads((folder / "adapter_config.json").read_text())["peft_type"] == "PROMPT_TUNING"
