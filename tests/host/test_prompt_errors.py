"""Bad input gets one clear line naming the argument, the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import PromptTuningConfig, TaskType, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.prompts import PromptError, load_soft_prompt

MARKER = Path("/tmp/skillneuron-pickle-ran")


def _run_code():  # what a malicious pickle would call
    MARKER.write_text("ran")


class Evil:
    def __reduce__(self):
        return (_run_code, ())


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


def test_prompt_width_must_match_the_model(tiny_models, tmp_path):
    save_file({"prompt": torch.randn(4, 16)}, tmp_path / "p.safetensors")
    with pytest.raises(PromptError) as err:
        PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt=str(tmp_path / "p.safetensors"), device="cpu")
    assert "16 wide" in one_line(err) and "hidden size 32" in one_line(err)


def test_adapter_for_another_task_type(tiny_models, tmp_path):
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_models["gpt2"]),
                           PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3))
    model.save_pretrained(tmp_path)
    with pytest.raises(PromptError) as err:
        PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt=str(tmp_path), device="cpu")
    assert "CAUSAL_LM" in one_line(err) and "seq2seq" in one_line(err)


def test_missing_file():
    with pytest.raises(PromptError) as err:
        load_soft_prompt("/nonexistent/prompt.safetensors")
    assert "no such file" in one_line(err)


def test_folder_without_adapter_config(tmp_path):
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(tmp_path))
    assert "adapter_config.json" in one_line(err)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".npy"])
def test_corrupt_file(tmp_path, suffix):
    path = tmp_path / f"prompt{suffix}"
    path.write_bytes(b"\x00\x01 definitely not a tensor file")
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(path))
    assert str(path) in one_line(err)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    MARKER.unlink(missing_ok=True)
    path = tmp_path / "prompt.pt"
    torch.save({"prompt": torch.randn(4, 32), "extra": Evil()}, path)
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(path))
    assert "could run code" in one_line(err) and "safetensors" in one_line(err)
    assert not MARKER.exists()


@pytest.mark.parametrize("shape", [(32,), (2, 4, 32), (0, 32)])
def test_wrong_tensor_shape(tmp_path, shape):
    save_file({"prompt": torch.zeros(shape)}, tmp_path / "p.safetensors")
    with pytest.raises(PromptError) as err:
        load_soft_prompt(str(tmp_path / "p.safetensors"))
    assert "[n_tokens, d_model]" in one_line(err)


def test_tensor_formats_load_the_same(tmp_path):
    import numpy as np

    t = torch.randn(5, 32)
    save_file({"prompt": t}, tmp_path / "a.safetensors")
    torch.save(t, tmp_path / "b.pt")
    torch.save({"whatever": t}, tmp_path / "c.bin")
    np.save(tmp_path / "d.npy", t.numpy())
    hashes = {load_soft_prompt(str(tmp_path / f)).sha256 for f in ("a.safetensors", "b.pt", "c.bin", "d.npy")}
    assert len(hashes) == 1


def test_unknown_backend(tiny_models):
    with pytest.raises(ValueError) as err:
        PromptTunedLM(pretrained=str(tiny_models["t5"]), backend="encoder", device="cpu")
    assert "backend=encoder" in one_line(err)


def test_prompt_and_peft_together(tiny_models):
    with pytest.raises(ValueError, match="only one"):
        PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt="a", peft="b", device="cpu")


def test_verbalizer_needing_more_masks_than_fit(tiny_models, tmp_path):
    from lm_requests import request

    save_file({"prompt": torch.randn(4, 32)}, tmp_path / "p.safetensors")
    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), prompt=str(tmp_path / "p.safetensors"),
                       device="cpu", max_length=4 + 6)
    long_choice = " entailment contradiction neutral positive negative"
    req = request("loglikelihood", ("Answer:", long_choice))
    with pytest.raises(ValueError) as err:
        lm.loglikelihood([req])
    assert "masks" in one_line(err) and "max_length=10" in one_line(err)
