"""``skillneuron replicate`` end to end on one-layer width-768 models with the real released files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from skillneuron_harness.cli import main

RELEASE = Path(__file__).resolve().parents[2].parent / "shared" / "published_prompts" / "continuous_prompts"
pytestmark = pytest.mark.skipif(not RELEASE.is_dir(), reason="../shared/published_prompts is not there")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tiny_models import build_roberta, build_t5

    root = tmp_path_factory.mktemp("rep_models")
    roberta = build_roberta(root / "roberta", layers=1, hidden=768, ffn=32, seed=4)
    tok = AutoTokenizer.from_pretrained(roberta)
    tok.add_tokens(["negative", "positive", "false", "true"])  # bare answer words as single tokens
    model = AutoModelForMaskedLM.from_pretrained(roberta)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    model.save_pretrained(roberta), tok.save_pretrained(roberta)
    t5 = build_t5(root / "t5", layers=1, d_model=768, d_ff=32, heads=2, seed=4)
    tok = AutoTokenizer.from_pretrained(t5)
    tok.add_special_tokens({"additional_special_tokens": ["<extra_id_0>"]})
    model = AutoModelForSeq2SeqLM.from_pretrained(t5)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    model.save_pretrained(t5), tok.save_pretrained(t5)
    return {"roberta-base": roberta, "t5-base": t5}


def test_replicate_end_to_end(models, tmp_path, capsys):
    args = ["replicate", "--release", str(RELEASE), "--models", "roberta-base", "t5-base", "--seeds", "33", "34",
            "--tasks", "SST2", "IMDB", "--out", str(tmp_path / "rep"), "--limit", "4",
            "--sn-baseline-limit", "4", "--percents", "0", "5", "--batch-size", "8",
            "--model-path", f"roberta-base={models['roberta-base']}", "--model-path", f"t5-base={models['t5-base']}"]
    assert main([*args, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    # per model: 2 tasks x 2 seeds own runs, 2 sentiment prompts x 1 transfer each x 2 seeds, 2 averages, 2 curves
    assert "24 units (8 eval, 8 transfer, 4 average, 4 suppression), 0 already done" in plan
    assert not (tmp_path / "rep" / "runs").exists()

    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("] eval ") == 8 and "report in" in out
    report = (tmp_path / "rep" / "report" / "report.md").read_text()
    for heading in ("ccuracy", "ransfer", "kill neuron", "onsistency", "obustness", "uppression"):
        assert heading in report, heading
    assert (tmp_path / "rep" / "average" / "t5-base" / "sn_pt_sst2_t5" / "sn_pt_sst2_t5.safetensors").is_file()
    assert (tmp_path / "rep" / "neurons" / "roberta-base" / "seed_33_SST2PromptRoberta" /
            "sn_pt_adv_sst2_roberta.json").is_file()
    own = tmp_path / "rep" / "runs" / "t5-base" / "seed_34_SST2PromptT5" / "own"
    done = json.loads((own / "done.json").read_text())
    assert set(done) >= {"sn_pt_sst2_t5", "sn_pt_adv_sst2_t5"}

    # resumable: a second run reruns nothing
    assert main(args) == 0
    again = capsys.readouterr().out
    assert again.count("done earlier") == 24
