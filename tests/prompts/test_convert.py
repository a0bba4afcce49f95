"""``skillneuron convert``: the converted adapter scores what the original scores, or a plain refusal."""

from __future__ import annotations

import json

import pytest
import torch
from lm_requests import loglikelihood_requests

from skillneuron_harness.cli import main as cli
from skillneuron_harness.host.model import PromptTunedLM

CONTEXTS = ["a gripping , funny film\nAnswer:", "dull , and the actors look bored\nAnswer:"]


def requests(choices):
    return loglikelihood_requests(CONTEXTS, choices)


def scores(model_path, prompt, choices):
    lm = PromptTunedLM(pretrained=str(model_path), prompt=str(prompt), device="cpu", batch_size=4)
    return lm, [ll for ll, _ in lm.loglikelihood(requests(choices))]


@pytest.mark.parametrize(("name", "filename", "choices"), [
    ("t5", "task_prompt", [" negative", " positive", " entailment"]),  # Prompt-Transferability T5
    ("roberta", "prompt.pt", [" positive", " entailment"]),  # a plain tensor on a masked LM
])
def test_round_trip(name, filename, choices, tiny_models, tmp_path, capsys):
    torch.manual_seed(7)
    source = tmp_path / filename
    torch.save(torch.randn(6, 32), source)
    out = tmp_path / "adapter"
    assert cli(["convert", str(source), "--base", str(tiny_models[name]), "--output", str(out)]) == 0
    assert "wrote a PEFT prompt-tuning adapter" in capsys.readouterr().out
    converted, got = scores(tiny_models[name], out, choices)
    original, want = scores(tiny_models[name], source, choices)
    assert converted.soft_prompt.format == "peft"
    assert original.soft_prompt.format == ("prompt_transferability" if name == "t5" else "tensor")
    assert got == pytest.approx(want, abs=1e-5)
    assert converted.soft_prompt.sha256 == original.soft_prompt.sha256
    provenance = json.loads((out / "skillneuron_conversion.json").read_text())
    assert provenance["source_format"] == original.soft_prompt.format
    assert provenance["prompt_sha256"] == original.soft_prompt.sha256


@pytest.mark.parametrize(("payload", "fmt", "reason"), [
    ({"prompt": torch.randn(1, 4, 32), "pos": [1, 2]}, "skill_neuron", "at position 0"),
    (torch.randn(5, 32), "prompt_transferability", "zero position embeddings"),
])
def test_roberta_layouts_are_refused_plainly(payload, fmt, reason, tiny_models, tmp_path, capsys):
    source = tmp_path / ("best-backbone" if fmt == "skill_neuron" else "task_prompt")
    torch.save(payload, source)
    out = tmp_path / "adapter"
    assert cli(["convert", str(source), "--base", str(tiny_models["roberta"]), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot be written as a PEFT adapter" in err and reason in err and f"prompt_format={fmt}" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_skill_neuron_prompt_for_t5_is_refused(tiny_models, tmp_path, capsys):
    torch.save({"prompt": torch.randn(1, 4, 32), "pos": [1, 2]}, tmp_path / "best-backbone")
    source, out = str(tmp_path / "best-backbone"), str(tmp_path / "o")
    assert cli(["convert", source, "--base", str(tiny_models["t5"]), "--output", out]) == 2
    assert "no layout for the seq2seq backend" in capsys.readouterr().err


def test_existing_adapter_is_replaced_only_with_overwrite_and_whole(tiny_models, tmp_path, capsys, monkeypatch):
    from safetensors.torch import load_file

    torch.manual_seed(3)
    for name in ("a.pt", "b.pt"):
        torch.save(torch.randn(3 if name == "a.pt" else 5, 32), tmp_path / name)
    out = tmp_path / "adapter"
    base = ["--base", str(tiny_models["bert"]), "--output", str(out)]
    assert cli(["convert", str(tmp_path / "a.pt"), *base]) == 0
    (out / "notes.txt").write_text("mine")
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert cli(["convert", str(tmp_path / "b.pt"), *base]) == 2  # another adapter there: refused
    assert f"--output {out} already holds another adapter; pass --overwrite" in capsys.readouterr().err
    import peft

    def dies(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as mp:  # a failure half-way leaves the first adapter as it was
        mp.setattr(peft.PeftModel, "save_pretrained", dies)
        with pytest.raises(OSError):
            cli(["convert", str(tmp_path / "b.pt"), *base, "--overwrite"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert cli(["convert", str(tmp_path / "b.pt"), *base, "--overwrite"]) == 0
    assert load_file(str(out / "adapter_model.safetensors"))["prompt_embeddings"].shape == (5, 32)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "adapter", "b.pt"]


@pytest.mark.parametrize(("base", "reason"), [
    ("not a/valid//id", "nor a valid Hub id"),
    ("bad id with spaces", "nor a valid Hub id"),
    ("/nowhere/model", "no such folder"),
    ("nobody/not-cached-model", "the Hub id is not in the local cache"),  # the tests run with HF_HUB_OFFLINE=1
])
def test_a_bad_base_is_one_line(base, reason, tmp_path, capsys):
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if "Hub id" in reason and "cache" not in reason:  # what the Hub's own rule says of it
        with pytest.raises(HFValidationError):
            validate_repo_id(base)
    save_prompt = tmp_path / "p.safetensors"
    from safetensors.torch import save_file

    save_file({"prompt": torch.randn(4, 32)}, save_prompt)
    out = tmp_path / "o"
    assert cli(["convert", str(save_prompt), "--base", base, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"skillneuron convert: --base={base}: {err[0].split(': ', 2)[2]}"] and reason in err[0], err
    assert not out.exists()
