"""A perturbed twin from a six-line YAML in any folder, run by the stock lm_eval command.

``sst2,typo_sst2`` with ``skill_neurons=``: the twin gets the consistency block against its clean
twin and, beside ``acc``, the paired metrics, which are checked here against the per-document
samples of the same run (``--log_samples``), computed by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lm_requests import logged_loglikelihoods
from safetensors.torch import save_file

BIN = Path(sys.executable).parent
TWIN = """task: typo_sst2
class: !function skillneuron_harness.host.twins.Twin
perturbation:
  of: sst2
  fields: [sentence]
  steps: [{kind: keyboard_typo, rate: 0.3}, {kind: distractor, text: and true is true}]
"""


@pytest.fixture(scope="module")
def t5_prompt(tiny_models, tmp_path_factory):
    path = tmp_path_factory.mktemp("prompt") / "prompt.safetensors"
    torch.manual_seed(0)
    save_file({"prompt": torch.randn(4, 32)}, path)
    return path


def _lm_eval(tmp_path, model_args, tasks, *extra):
    folder = tmp_path / "my_tasks"
    folder.mkdir(exist_ok=True)
    (folder / "typo_sst2.yaml").write_text(TWIN)
    assert len(TWIN.splitlines()) <= 6
    out = subprocess.run([str(BIN / "lm_eval"), "--model", "prompt_tuned", "--model_args", model_args,
                          "--include_path", str(folder), "--tasks", tasks, "--limit", "8", "--batch_size", "4",
                          "--device", "cpu", "--output_path", str(tmp_path / "out"), *extra],
                         capture_output=True, text=True, env=dict(os.environ), cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    (results,) = (tmp_path / "out").rglob("results_*.json")
    return json.loads(results.read_text()), out


def test_a_twin_of_sst2_runs_with_skill_neurons_and_paired_metrics(tiny_models, t5_prompt, tmp_path):
    sn = tmp_path / "sn"
    results, _ = _lm_eval(tmp_path, f"pretrained={tiny_models['t5']},prompt={t5_prompt},skill_neurons={sn},"
                                    "sn_baseline_limit=16", "sst2,typo_sst2", "--log_samples")
    twin = results["results"]["typo_sst2"]
    assert results["configs"]["typo_sst2"]["metadata"]["clean_twin"] == "sst2"
    assert results["skill_neurons"]["typo_sst2"]["consistency"]["reference"] == "task:sst2"
    assert (sn / "typo_sst2.safetensors").is_file()
    # the paired metrics, by hand from the samples lm-eval wrote
    samples = {}
    for path in (tmp_path / "out").rglob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines()]
    clean = {s["doc_id"]: s for s in samples["sst2"]}

    def pred(s):
        scores = logged_loglikelihoods(s)
        return scores.index(max(scores))

    pairs = [(clean[s["doc"]["clean_doc_id"]], s) for s in samples["typo_sst2"]]
    assert len(pairs) == 8 and all(s["doc"]["clean_doc_id"] == s["doc_id"] for _, s in pairs)
    flips = [pred(c) != pred(a) for c, a in pairs]
    assert twin["flip_rate,none"] == pytest.approx(sum(flips) / 8)
    assert twin["pair_acc,none"] == pytest.approx(sum(a["acc"] for _, a in pairs) / 8)
    assert twin["worst_case_acc,none"] == pytest.approx(sum(c["acc"] and a["acc"] for c, a in pairs) / 8)
    assert results["paired"]["typo_sst2"]["pairs"] == 8
    assert results["higher_is_better"]["typo_sst2"]["flip_rate"] is False
    # the perturbed field changed, the answer words did not, and the documents say by how much
    for c, a in pairs:
        assert a["doc"]["sentence"] != c["doc"]["sentence"]
        assert a["doc"]["sentence"].rstrip().endswith("and true is true")
        assert a["doc"]["changed_chars"] > 0 and a["doc"]["label"] == c["doc"]["label"]


def test_paired_samples_are_kept_only_when_asked(tiny_models, t5_prompt, tmp_path):
    results, _ = _lm_eval(tmp_path, f"pretrained={tiny_models['t5']},prompt={t5_prompt}", "sst2,typo_sst2")
    assert "samples" not in results and not list((tmp_path / "out").rglob("samples_*.jsonl"))
    assert 0.0 <= results["results"]["typo_sst2"]["flip_rate,none"] <= 1.0
