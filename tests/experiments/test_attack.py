"""``skillneuron attack`` on the demo model and a tiny hf model: lm-eval re-evaluates the written task.

The attack set is evaluated by ``lm_eval.simple_evaluate`` with a freshly loaded model and
``log_samples``: every document the log calls succeeded (or skipped) is predicted wrong there, every
failed one right, and its ``acc`` is the summary's accuracy under attack. The same command writes
the same files; an interrupted attack continues without re-attacking its finished documents.
"""

from __future__ import annotations

import json

import lm_eval
import pytest
from lm_eval.tasks import TaskManager

from skillneuron_harness.attacks import AttackConfig, AttackError
from skillneuron_harness.experiments import attack
from skillneuron_harness.host.attack_sets import VictimScorer
from skillneuron_harness.host.evaluate import load_model
from skillneuron_harness.host.tasks import load_task

LIMIT = 10
CONFIG = dict(max_words_changed=0.5, query_budget=120, candidates_per_word=6)


@pytest.fixture(scope="module")
def victim():
    """The demo model (all-MiniLM-L6-v2 with its shipped SST-2 prompt), as prompt_tuned loads it, and its model_args.

    A random tiny model predicts one class whatever the text, so nothing flips; the demo model is
    real, small and installed with the test extra.
    """
    model_args = ""
    return load_model("prompt_tuned", model_args, batch_size=16, device="cpu"), model_args


def _attack(lm, model_args, out, **kwargs):
    config = AttackConfig(**{**CONFIG, **kwargs.pop("config", {})})
    return attack.run_attack(lm, load_task("sst2"), out, config, task_name="sst2", limit=LIMIT, width=4,
                             victim={"model": "prompt_tuned", "model_args": model_args}, progress=False, **kwargs)


def _log(out, name="sst2_attack_chars"):
    return [json.loads(line) for line in (out / f"{name}.log.jsonl").read_text().splitlines()]


def test_the_written_task_scores_the_flips_the_log_reports(victim, tmp_path):
    lm, model_args = victim
    result = _attack(lm, model_args, tmp_path)
    summary = result["results"]["sst2_attack_chars"]
    log = _log(tmp_path)
    statuses = [r["status"] for r in log]
    assert len(log) == LIMIT and summary["documents"] == LIMIT
    assert "succeeded" in statuses and summary["success_rate"] > 0  # the test would prove nothing otherwise
    for r in log:
        assert r["queries"] <= CONFIG["query_budget"]
        assert r["words_changed"] <= int(CONFIG["max_words_changed"] * r["words"])

    results = lm_eval.simple_evaluate(model="prompt_tuned", model_args=model_args, tasks=["sst2_attack_chars", "sst2"],
                                      limit=LIMIT, device="cpu", batch_size=16, log_samples=True,
                                      task_manager=TaskManager(include_path=str(tmp_path)), bootstrap_iters=0)
    config = results["configs"]["sst2_attack_chars"]
    assert config["metadata"]["clean_twin"] == "sst2"
    assert config["metadata"]["attack"]["recipe"] == "chars"
    samples = sorted(results["samples"]["sst2_attack_chars"], key=lambda s: s["doc_id"])
    for sample, record in zip(samples, log, strict=True):
        assert sample["doc"]["clean_doc_id"] == record["doc_id"]
        assert sample["doc"]["sentence"] == record["fields"]["sentence"]
        assert sample["acc"] == (1.0 if record["status"] == "failed" else 0.0), record
    assert results["results"]["sst2_attack_chars"]["acc,none"] == pytest.approx(summary["attacked_acc"])
    assert results["results"]["sst2"]["acc,none"] == pytest.approx(summary["clean_acc"])
    # paired with its clean task: only the succeeded documents changed their prediction
    assert results["paired"]["sst2_attack_chars"]["pairs"] == LIMIT
    row = results["results"]["sst2_attack_chars"]
    assert row["flip_rate,none"] == pytest.approx(summary["succeeded"] / LIMIT)


def test_the_same_command_writes_the_same_bytes(victim, tmp_path):
    lm, model_args = victim
    _attack(lm, model_args, tmp_path / "a")
    _attack(lm, model_args, tmp_path / "b")
    for suffix in (".jsonl", ".yaml", ".log.jsonl"):
        a = (tmp_path / "a" / f"sst2_attack_chars{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"sst2_attack_chars{suffix}").read_bytes(), suffix
    _attack(lm, model_args, tmp_path / "c", config={"seed": 99})
    assert _log(tmp_path / "a") != _log(tmp_path / "c")


def test_an_interrupted_attack_resumes_without_redoing_documents(victim, tmp_path, monkeypatch):
    lm, model_args = victim
    calls, seen = {"n": 0}, []
    real = VictimScorer.__call__

    def failing(self, variants):
        calls["n"] += 1
        if calls["n"] > 12:
            raise KeyboardInterrupt
        return real(self, variants)

    monkeypatch.setattr(VictimScorer, "__call__", failing)
    with pytest.raises(KeyboardInterrupt):
        _attack(lm, model_args, tmp_path)
    partial = (tmp_path / "sst2_attack_chars.log.partial.jsonl").read_text().splitlines()
    finished = [json.loads(line) for line in partial[1:]]
    assert 0 < len(finished) < LIMIT and not (tmp_path / "sst2_attack_chars.jsonl").exists()

    def watching(self, variants):
        seen.extend(doc_id for doc_id, _ in variants)
        return real(self, variants)

    monkeypatch.setattr(VictimScorer, "__call__", watching)
    with pytest.raises(AttackError, match="other settings"):  # another seed may not continue this attack
        _attack(lm, model_args, tmp_path, config={"seed": 5})
    result = _attack(lm, model_args, tmp_path)
    assert not set(seen) & {r["doc_id"] for r in finished}
    assert result["time"]["documents_this_run"] == LIMIT - len(finished)
    log = {r["doc_id"]: r for r in _log(tmp_path)}
    assert sorted(log) == list(range(LIMIT))
    assert all(log[r["doc_id"]] == r for r in finished)
    assert not (tmp_path / "sst2_attack_chars.log.partial.jsonl").exists()


def test_keep_succeeded_and_refusals(victim, tmp_path):
    lm, model_args = victim
    result = _attack(lm, model_args, tmp_path, keep="succeeded", name="flips")
    rows = [json.loads(line) for line in (tmp_path / "flips.jsonl").read_text().splitlines()]
    assert len(rows) == result["results"]["flips"]["succeeded"]
    assert all(r["attack_status"] == "succeeded" and r["perturbed"] for r in rows)
    with pytest.raises(AttackError, match="other settings"):
        _attack(lm, model_args, tmp_path, keep="all", name="flips")
    with pytest.raises(AttackError, match="no text field 'sentense'"):
        _attack(lm, model_args, tmp_path, fields=["sentense"])
    with pytest.raises(AttackError, match="not a masked LM|is not one"):
        attack.masked_lm_for(object(), None, AttackConfig(recipe="mlm"), "cpu")


def test_an_hf_model_is_attacked_through_its_own_loglikelihood(tiny_models, tmp_path):
    model_args = f"pretrained={tiny_models['gpt2']}"
    lm = load_model("hf", model_args, batch_size=8, device="cpu")
    config = AttackConfig(max_words_changed=1.0, query_budget=40, candidates_per_word=4)
    result = attack.run_attack(lm, load_task("sst2"), tmp_path, config, task_name="sst2", limit=4,
                               victim={"model": "hf", "model_args": model_args}, progress=False)
    log = _log(tmp_path)
    # the clean query of every document is lm-eval's own acc on it
    results = lm_eval.simple_evaluate(model="hf", model_args=model_args, tasks=["sst2"], limit=4, device="cpu",
                                      batch_size=8, log_samples=True, bootstrap_iters=0)
    clean = sorted(results["samples"]["sst2"], key=lambda s: s["doc_id"])
    assert [r["status"] != "skipped" for r in log] == [s["acc"] == 1.0 for s in clean]
    assert result["results"]["sst2_attack_chars"]["clean_acc"] == pytest.approx(results["results"]["sst2"]["acc,none"])


def test_attack_task_refuses_before_loading_a_model(tiny_models, tmp_path):
    with pytest.raises(AttackError, match="skill_neurons="):
        attack.attack_task("prompt_tuned", f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'}",
                           "sst2", tmp_path / "out")
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "gen_sst2.yaml").write_text(
        "task: gen_sst2\ndataset_path: nyu-mll/glue\ndataset_name: sst2\noutput_type: generate_until\n"
        "validation_split: validation\ndoc_to_text: '{{sentence}}'\ndoc_to_target: '{{label}}'\n")
    with pytest.raises(AttackError, match="generate_until task"):
        attack.attack_task("hf", f"pretrained={tiny_models['gpt2']}", "gen_sst2", tmp_path / "out",
                           include_path=[str(tmp_path / "tasks")])
    with pytest.raises(AttackError, match="--width 0"):
        attack.attack_task("hf", f"pretrained={tiny_models['gpt2']}", "sst2", tmp_path / "out", width=0)
