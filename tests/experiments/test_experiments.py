"""``skillneuron suppression-curve`` and ``skillneuron transfer`` end to end on a tiny model."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
from safetensors.torch import save_file

from skillneuron_harness.experiments.runs import parse_prompts
from skillneuron_harness.experiments.suppression_curve import run_curve
from skillneuron_harness.experiments.transfer import run_transfer


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    out = tmp_path_factory.mktemp("prompts")
    for i in range(2):
        torch.manual_seed(i)
        save_file({"prompt": torch.randn(3, 32)}, out / f"seed{i}.safetensors")
    return out


def test_suppression_curve(tiny_models, prompts, tmp_path, task_manager):
    neurons = tmp_path / "sn"
    neurons.mkdir()
    save_file({"score": torch.rand(2, 64), "baseline": torch.zeros(2, 3, 64)}, neurons / "sst2.safetensors")
    specs = parse_prompts([f"sst2={prompts / 'seed0.safetensors'}", f"sst2={prompts / 'seed1.safetensors'}"])
    records = run_curve(str(tiny_models["bert"]), specs, ["sst2", "adv_sst2"], [neurons], tmp_path / "curve",
                        percents=[0, 50], limit=4, batch_size=8, manager=task_manager)
    # 2 prompts x 2 tasks x 2 controls x 2 percents (one n=0 run serves both controls)
    assert len(records) == 2 * 2 * 2 * 2
    assert {r["neurons"] for r in records} == {str(neurons / "sst2.safetensors")}  # the clean twin's neurons
    rows = list(csv.DictReader((tmp_path / "curve" / "suppression_curve.csv").open()))
    assert {(r["task"], r["control"], r["percent"]) for r in rows} == {
        (t, c, p) for t in ("sst2", "adv_sst2") for c in ("skill", "random") for p in ("0.0", "50.0")}
    assert all(r["prompts"] == "2" for r in rows)
    assert (tmp_path / "curve" / "suppression_curve.png").stat().st_size > 10_000
    results = sorted((tmp_path / "curve" / "runs").rglob("results_*.json"))
    assert len(results) == 2 * 3
    recorded = [json.loads(p.read_text())["config"].get("suppression") for p in results]
    assert {r["control"] for r in recorded} == {"skill", "random"}


def test_transfer_writes_results_and_report(tiny_models, prompts, tmp_path, task_manager):
    specs = parse_prompts([f"sst2={prompts / 'seed0.safetensors'}", f"rte={prompts / 'seed1.safetensors'}"])
    report = run_transfer(str(tiny_models["bert"]), specs, ["sst2", "rte"], tmp_path, limit=4, batch_size=8,
                          manager=task_manager)
    text = report.read_text()
    assert "## Transfer" in text and "| source \\ target | rte (n=4) | sst2 (n=4) |" in text  # each target's documents
    assert (tmp_path / "report" / "figures" / "transfer_bert.png").stat().st_size > 10_000
    results = sorted((tmp_path / "runs").rglob("results_*.json"))
    assert len(results) == 2
    # provenance: the dtype the weights were loaded in
    assert json.loads(results[0].read_text())["config"]["model_args"].endswith(",dtype=float32")


def test_dtype_reaches_the_model(tiny_models, prompts, tmp_path, task_manager):
    """``--dtype bfloat16`` (transfer, suppression-curve, replicate): the weights are loaded in it, the scores
    are computed in it, and the results JSON says so."""
    import torch

    from skillneuron_harness.experiments.runs import evaluate, load_model

    (spec,) = parse_prompts([f"sst2={prompts / 'seed0.safetensors'}"])
    lm = load_model(str(tiny_models["bert"]), spec, batch_size=8, dtype="bfloat16")
    assert {p.dtype for p in lm.model.parameters()} == {torch.bfloat16}
    out = evaluate(lm, ["sst2"], model=str(tiny_models["bert"]), prompt=spec, out_dir=tmp_path, limit=4,
                   task_manager=task_manager)
    assert 0.0 <= out["results"]["sst2"]["acc,none"] <= 1.0
    (saved,) = tmp_path.rglob("results_*.json")
    assert json.loads(saved.read_text())["config"]["model_args"].endswith(",dtype=bfloat16")
    from skillneuron_harness.experiments.transfer import build_parser

    given = ["--model", "m", "--prompts", "p", "--tasks", "t", "--out", "o"]
    assert build_parser().parse_args([*given, "--dtype", "bfloat16"]).dtype == "bfloat16"
    with pytest.raises(SystemExit):  # refused with the choices before anything loads
        build_parser().parse_args([*given, "--dtype", "bf16"])


@pytest.mark.parametrize(("options", "message"), [
    ({"percents": [0, 150]}, "--percents 150: each value is a percentage"),
    ({"sigma": float("nan"), "mode": "noise"}, "--sigma nan: the noise's standard deviation, a finite number"),
    ({"seed": 2**70}, f"--seed={2**70}: a seed is a whole number from 0 to 2^63-1"),
])
def test_suppression_curve_options_are_refused_before_any_model_loads(options, message, tmp_path, monkeypatch):
    import skillneuron_harness.experiments.runs as runs

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(runs, "load_model", no_model)
    with pytest.raises(ValueError, match=re.escape(message)):
        run_curve("unused", [], ["sst2"], [tmp_path], tmp_path / "curve", **options)
    assert not (tmp_path / "curve").exists()
