"""``skillneuron leaderboard`` end to end on tiny models: a spec of three entries, interrupted, resumed, rerun.

Entries: lm-eval's own ``hf`` on a tiny GPT-2 (a baseline without prompt) and two ``prompt_tuned``
soft prompts on a tiny BERT with skill neurons. Suite: ``sst2`` and ``adv_sst2`` (4 documents each).
The run is interrupted in its third unit, resumed (only the four missing units run) and rerun
(nothing runs; no results file is touched). Consistency is checked against a NumPy computation
from the skill-neuron files the run wrote.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from skillneuron_harness.leaderboard import build_leaderboard, run
from skillneuron_harness.leaderboard.spec import load_spec


class Counter:
    """Counts calls to the unit runner (and the model loader); raises KeyboardInterrupt at call ``stop``."""

    def __init__(self, monkeypatch, stop: int | None = None):
        self.units, self.loads, self.stop = [], 0, stop
        real_unit, real_load = run.evaluate_unit, run.load_model

        def unit(lm, u, options, manager):
            self.units.append((u.entry.label, u.task.name))
            if self.stop is not None and len(self.units) == self.stop:
                raise KeyboardInterrupt  # as Ctrl-C in the middle of the unit's evaluation
            return real_unit(lm, u, options, manager)

        def load(*args, **kwargs):
            self.loads += 1
            return real_load(*args, **kwargs)

        monkeypatch.setattr(run, "evaluate_unit", unit)
        monkeypatch.setattr(run, "load_model", load)


@pytest.fixture(scope="module")
def spec_file(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("spec")
    for i in range(2):
        torch.manual_seed(10 + i)
        save_file({"prompt": torch.randn(3, 32)}, root / f"sst2-seed{i}.safetensors")
    spec = {
        "title": "Tiny models",
        "tasks": ["sst2", "adv_sst2"],
        "run": {"device": "cpu", "batch_size": 4, "limit": 4, "bootstrap_iters": 10},
        "entries": [
            {"label": "gpt2 baseline", "model": "hf", "model_args": {"pretrained": str(tiny_models["gpt2"])}},
            *[{"label": f"prompt {i}", "model": "prompt_tuned", "skill_neurons": True,
               "model_args": {"pretrained": str(tiny_models["bert"]), "prompt": f"sst2-seed{i}.safetensors",
                              "sn_baseline_limit": 4}} for i in range(2)],
        ],
    }
    path = root / "board.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _results(out):
    return {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("results_*.json")}


def test_interrupt_resume_rerun(spec_file, tmp_path, monkeypatch, task_manager, capsys):
    out = tmp_path / "board"
    counter = Counter(monkeypatch, stop=3)
    with pytest.raises(KeyboardInterrupt):
        build_leaderboard(spec_file, out, manager=task_manager)
    finished = _results(out)
    assert len(finished) == 2 and counter.units[:2] == [("gpt2 baseline", "sst2"), ("gpt2 baseline", "adv_sst2")]
    assert not (out / "leaderboard.json").exists()
    # a write cut short (a killed process) leaves only a temporary file: never taken for a finished unit
    stale = out / "runs" / "prompt-0" / "sst2" / ".results_2026-01-01T00-00-00.json.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"results": {"sst2": {"acc,none"')
    capsys.readouterr()

    counter = Counter(monkeypatch)
    paths = build_leaderboard(spec_file, out, manager=task_manager)
    assert counter.units == [(f"prompt {i}", t) for i in range(2) for t in ("sst2", "adv_sst2")]
    assert counter.loads == 2  # one model per entry that had missing units
    assert all(_results(out)[p] == m for p, m in finished.items())  # finished units kept, untouched
    assert not stale.exists() and len(_results(out)) == 6
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[")]
    assert len(lines) == 6 and sum("reused" in ln for ln in lines) == 2 and sum(" ran in " in ln for ln in lines) == 4

    before = _results(out)
    counter = Counter(monkeypatch)
    build_leaderboard(spec_file, out, manager=task_manager)
    assert counter.units == [] and counter.loads == 0 and _results(out) == before  # nothing recomputed

    doc = json.loads(paths["json"].read_text())
    assert {r["label"] for r in doc["entries"]} == {"gpt2 baseline", "prompt 0", "prompt 1"}
    rows = {r["label"]: r for r in doc["entries"]}
    assert rows["gpt2 baseline"]["model"] == "gpt2" and rows["prompt 0"]["model"] == "bert"
    assert doc["suite"] == {"adversarial": ["adv_sst2"], "clean": ["sst2"], "other": [], "score": "adversarial mean",
                            "perturbation_twins": [], "attacks": [], "tasks": ["sst2", "adv_sst2"]}
    for row in doc["entries"]:  # what lm-eval left null when handed a loaded model, the unit records from the spec
        unit = json.loads(open(row["provenance"]["tasks"]["sst2"]["source"]).read())
        assert (unit["config"]["device"], unit["config"]["batch_size"]) == ("cpu", 4)
    for label, row in rows.items():
        for task in ("sst2", "adv_sst2"):
            source = json.loads(open(row["provenance"]["tasks"][task]["source"]).read())
            assert row["values"][task]["value"] == source["results"][task]["acc,none"]
            assert source["config"]["limit"] == 4 and source["leaderboard"]["entry"] == label
        assert row["provenance"]["tasks"]["adv_sst2"]["num_docs"] == 4
    # the model prompt_tuned loaded is recorded (labels of reports and leaderboards come from it)
    source = json.loads(open(rows["prompt 0"]["provenance"]["tasks"]["sst2"]["source"]).read())
    assert source["config"]["pretrained"] == str(load_spec(spec_file).entries[1].model_args["pretrained"])
    assert rows["prompt 0"]["prompt_sha256"] == source["config"]["prompt_sha256"]
    assert rows["prompt 0"]["prompt_sha256"] != rows["prompt 1"]["prompt_sha256"]

    # consistency: top-2% overlap per layer of the clean and adversarial neuron scores, mean over layers
    for i in range(2):
        files = {}  # task -> the .safetensors its unit lists, in the unit's own folder
        for task in ("sst2", "adv_sst2"):
            unit = json.loads(open(rows[f"prompt {i}"]["provenance"]["tasks"][task]["source"]).read())
            files[task] = next(f for f in unit["skill_neurons"][task]["files"] if f.endswith(".safetensors"))
            assert files[task] == str(out / "neurons" / f"prompt-{i}" / unit["leaderboard"]["key"] /
                                      f"{task}.safetensors")
        clean = load_file(files["sst2"])["score"].numpy()  # (L, D)
        adv = load_file(files["adv_sst2"])["score"].numpy()
        # both originals: k = int(D/100*n) and the reversed argsort (ties keep the higher index)
        k = int(clean.shape[1] * 0.02)
        assert k >= 1
        want = np.mean([len(set(np.argsort(clean[layer], kind="stable")[::-1][:k]) &
                            set(np.argsort(adv[layer], kind="stable")[::-1][:k])) / k
                        for layer in range(clean.shape[0])])
        assert rows[f"prompt {i}"]["values"]["consistency"]["value"] == pytest.approx(want)
        assert rows[f"prompt {i}"]["values"]["consistency"]["random"] == pytest.approx(k / clean.shape[1])
    assert rows["gpt2 baseline"]["values"]["consistency"]["value"] is None
    for name in ("leaderboard.md", "leaderboard.csv", "index.html"):
        assert (out / name).stat().st_size > 500


def test_changed_limit_is_not_reused(spec_file, tmp_path, monkeypatch, task_manager):
    """A unit's identity includes the limit: results of another limit are kept but neither reused nor ranked."""
    out = tmp_path / "board"
    spec = load_spec(spec_file)
    spec.entries, spec.tasks = spec.entries[:1], ["sst2"]
    counter = Counter(monkeypatch)
    build_leaderboard(spec, out, manager=task_manager)
    spec.run.limit = 2
    build_leaderboard(spec, out, manager=task_manager)
    assert len(counter.units) == 2 and len(_results(out)) == 2
    doc = json.loads((out / "leaderboard.json").read_text())
    assert doc["entries"][0]["provenance"]["tasks"]["sst2"]["num_docs"] == 2
