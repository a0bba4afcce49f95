"""``model_args`` of ``prompt_tuned``: typed groups, unknown keys refused up front, README tables in sync."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoConfig

from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.host import model as prompt_tuned
from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.host.model_args import PromptArgs, groups, sync_readme
from skillneuron_harness.neurons.recorder import SkillNeuronConfig
from skillneuron_harness.neurons.suppression import SuppressionConfig

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def no_demo(monkeypatch):
    """Fail the test if the demo model would be loaded."""
    def demo():
        raise AssertionError("the demo fallback ran")

    monkeypatch.setattr(prompt_tuned, "demo_model_args", demo)


@pytest.fixture
def sn_file(tmp_path) -> str:
    path = tmp_path / "sst2.safetensors"
    save_file({"score": torch.zeros(2, 4)}, path)
    return str(path)


def from_string(args: str):
    """As lm-eval builds the model from ``--model_args`` (values through its own type guessing)."""
    return PromptTunedLM.create_from_arg_string(args, {"device": "cpu"})


def test_misspelled_key_is_refused_before_the_demo_with_a_suggestion(no_demo):
    with pytest.raises(ModelArgsError) as err:
        from_string("promt=my/prompt.safetensors")
    message = str(err.value)
    assert "promt= (did you mean prompt=?)" in message
    assert "sn_baseline_limit" in message and "suppress_mode" in message  # the valid keys are listed


def test_misspelled_group_key_is_refused(no_demo):
    with pytest.raises(ModelArgsError, match=r"sn_topp= \(did you mean sn_top=\?\)"):
        from_string("pretrained=/nowhere,skill_neurons=out,sn_topp=0.1")


def test_keys_of_lm_eval_hf_pass(tiny_models):
    lm = from_string(f"pretrained={tiny_models['gpt2']},dtype=float32,max_length=40,trust_remote_code=False,"
                     "attn_implementation=eager,use_fast_tokenizer=True,batch_size=2")
    assert lm.max_length == 40 and lm.batch_size == 2


@pytest.mark.parametrize(("args", "message"), [
    ("sn_top=abc", "sn_top=abc: expected a number"),
    ("sn_baseline_limit=1.5", "sn_baseline_limit=1.5: expected a whole number"),
    ("sn_baseline_limit=0", "sn_baseline_limit=0: must be a positive"),
    ("sn_positions=promt", "sn_positions=promt: use one of auto, prompt, last, mask. Did you mean sn_positions=prompt"),
    ("sn_top=0", "sn_top=0.0: a fraction"),
    ("sn_top=nan", "sn_top=nan: expected a finite number"),
    ("sn_top=inf", "sn_top=inf: expected a finite number"),
])
def test_skill_neuron_values_are_checked_with_the_argument_named(args, message, no_demo, tmp_path):
    with pytest.raises(ModelArgsError) as err:
        from_string(f"pretrained=/nowhere,skill_neurons={tmp_path},{args}")
    assert message in str(err.value)


@pytest.mark.parametrize(("args", "message"), [
    ("suppress_seed=1.5", "suppress_seed=1.5: expected a whole number"),
    ("suppress_top=lots", "suppress_top=lots: expected a number"),
    ("suppress_mode=drop", "suppress_mode=drop: use one of zero, mean, mean_avg, noise, noise_doc"),
    ("suppress_control=rand", "Did you mean suppress_control=random?"),
    ("suppress_mode=noise,suppress_sigma=nan", "suppress_sigma=nan: expected a finite number"),
    ("suppress_mode=noise,suppress_sigma=inf", "suppress_sigma=inf: expected a finite number"),
    ("suppress_mode=noise,suppress_sigma=-inf", "suppress_sigma=-inf: expected a finite number"),
    ("suppress_top=nan", "suppress_top=nan: expected a finite number"),
    (f"suppress_seed={2**70}", f"suppress_seed={2**70}: a seed is a whole number from 0 to 2^63-1"),
    ("suppress_seed=-1", "suppress_seed=-1: a seed is a whole number from 0 to 2^63-1"),
])
def test_suppression_values_are_checked_with_the_argument_named(args, message, no_demo, sn_file):
    with pytest.raises(ModelArgsError) as err:
        from_string(f"pretrained=/nowhere,suppress={sn_file},{args}")
    assert message in str(err.value)


def test_group_options_without_their_switch_are_refused(no_demo):
    with pytest.raises(ModelArgsError, match="sn_top given without skill_neurons="):
        from_string("pretrained=/nowhere,sn_top=0.1")


def test_typed_values_from_strings(tmp_path, sn_file):
    config = SkillNeuronConfig(output_dir=str(tmp_path), positions="mask", baseline_limit="12", top="0.1")
    assert (config.baseline_limit, config.top, config.positions) == (12, 0.1, "mask")
    config = SuppressionConfig(sn_file, top="0.2", seed="7", mode="noise", sigma="0.5")
    assert (config.top, config.seed, config.mode, config.sigma) == (0.2, 7, "noise", 0.5)


def test_missing_prompt_without_pretrained_names_the_file(no_demo):
    with pytest.raises(ValueError, match="prompt=/nowhere/p.safetensors: no such file"):
        from_string("prompt=/nowhere/p.safetensors")


def test_prompt_without_pretrained_asks_for_it(no_demo, tmp_path):
    save_file({"prompt": torch.zeros(2, 8)}, tmp_path / "p.safetensors")
    with pytest.raises(ModelArgsError, match=r"pretrained= is required with a prompt \(peft="):
        from_string(f"peft={tmp_path / 'p.safetensors'}")


def test_prompt_and_peft_together_are_refused():
    with pytest.raises(ModelArgsError, match="pass only one"):
        PromptArgs(prompt="a", peft="b")


def test_readme_tables_list_exactly_the_declared_arguments():
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- model_args:(\w+) .*?-->\n(.*?)<!-- /model_args -->", text, re.S)
    names = {}
    for name, table in blocks:
        first_cells = [row.split("|")[1].strip() for row in table.strip().splitlines()[2:]]
        names[name] = [re.findall(r"`(\w+)`", cell)[0] for cell in first_cells]
    prompt_group, sn_group, suppress_group = groups()
    declared = {g: [a for a in group.arg_names() if a != "peft"]
                for g, group in (("prompt", prompt_group), ("skill_neurons", sn_group), ("suppress", suppress_group))}
    assert names["skill_neurons"] == declared["skill_neurons"]
    assert names["suppress"] == declared["suppress"]
    assert [n for n in names["prompt"] if n not in ("pretrained", "max_length", "batch_size")] == declared["prompt"]
    assert sync_readme(text) == text, "README tables are stale: python -m skillneuron_harness.host.model_args README.md"


@pytest.mark.parametrize("args", ["pretrained=/nowhere,skill_neurons=,sn_baseline_limit=8",
                                  "pretrained=/nowhere,skill_neurons= ,sn_top=0.1"])
def test_empty_skill_neurons_folder_is_refused_and_nothing_is_written(args, no_demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder would have meant the current one
    with pytest.raises(ModelArgsError, match=r"skill_neurons= ?: the value is empty; give a path or name"):
        from_string(args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "arg"), [("pretrained=", "pretrained"), ("pretrained=/nowhere,prompt=", "prompt"),
                                           ("pretrained=/nowhere,suppress=", "suppress"),
                                           ("pretrained=/nowhere,skill_neurons=out,sn_reference=", "sn_reference")])
def test_empty_paths_are_refused_naming_the_argument(args, arg, no_demo):
    with pytest.raises(ModelArgsError, match=rf"^{arg}=: the value is empty"):
        from_string(args)


def test_sn_top_that_selects_no_neuron_of_the_model_is_refused_with_the_least_top(tiny_models, tmp_path):
    width = AutoConfig.from_pretrained(tiny_models["gpt2"]).n_inner or 4 * AutoConfig.from_pretrained(
        tiny_models["gpt2"]).n_embd  # D of GPT-2's MLP
    least = math.ceil(10_000 / width) / 10_000
    assert math.floor(0.001 * width) == 0 and math.floor(least * width) >= 1
    with pytest.raises(ModelArgsError, match=rf"sn_top=0.001: floor\(0.001 x {width}\) = 0 .* use at least "
                                             rf"sn_top={least:g}\."):
        from_string(f"pretrained={tiny_models['gpt2']},skill_neurons={tmp_path / 'sn'},sn_top=0.001")
    assert not (tmp_path / "sn").exists()
    lm = from_string(f"pretrained={tiny_models['gpt2']},skill_neurons={tmp_path / 'sn'},sn_top={least:g}")
    assert lm.engine.hook_points[0].width == width


@pytest.mark.parametrize(("pretrained", "message"), [
    ("/nowhere/model", "pretrained=/nowhere/model: no such folder"),
    ("not a/valid//id", "pretrained=not a/valid//id: neither a local folder (no such path) nor a valid Hub id"),
])
def test_a_model_that_cannot_exist_is_refused_in_one_line(pretrained, message, no_demo):
    from skillneuron_harness.core.errors import SkillNeuronError

    with pytest.raises(SkillNeuronError, match=re.escape(message)):
        from_string(f"pretrained={pretrained}")


def test_the_default_sn_top_on_a_narrow_model_is_a_warning_not_a_refusal(tmp_path, caplog):
    from tiny_models import build_bert

    model = build_bert(tmp_path / "bert", layers=1, ffn=32)  # floor(0.02 x 32) = 0
    with caplog.at_level("WARNING"):
        lm = from_string(f"pretrained={model},skill_neurons={tmp_path / 'sn'}")
    assert lm.recorder.config.top == 0.02 and math.floor(0.02 * 32) == 0
    assert "the default sn_top=0.02: floor(0.02 x 32) = 0" in caplog.text and "sn_top=0.0313" in caplog.text
    with pytest.raises(ModelArgsError, match=r"sn_top=0.02: floor\(0.02 x 32\) = 0"):  # the same value, given
        from_string(f"pretrained={model},skill_neurons={tmp_path / 'sn'},sn_top=0.02")


@pytest.mark.parametrize("value,expected", [(8, 8), ("8", 8), (-1.0, -1), ("8.0", 8), ("1e3", 1000)])
def test_a_whole_number_is_taken_as_lm_eval_parsed_it(value, expected):
    # lm-eval 0.4.13 parses `--model_args x=-1` into -1, lm-eval 0.5 into -1.0: the same number
    from skillneuron_harness.core.options import as_int

    assert as_int("x", value) == expected and isinstance(as_int("x", value), int)


@pytest.mark.parametrize("value", [1.5, "1.5", "half", float("inf"), float("nan"), True])
def test_a_fraction_or_a_word_is_not_a_whole_number(value):
    from skillneuron_harness.core.options import as_int

    with pytest.raises(ModelArgsError, match="x=.*: expected a whole number"):
        as_int("x", value)
