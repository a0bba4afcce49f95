"""An entry's card gives one ``lm_eval`` command; run as printed, it gives the entry's accuracies exactly.

The board runs a ``prompt_tuned`` soft prompt on a tiny BERT (``sst2`` and ``adv_sst2``, 6 documents
each, batch size 4, so that the tasks' documents share batches differently in the one call than in
the units). The command is taken from ``leaderboard.json``, split as a shell would split it and
run in a fresh process of the stock ``lm_eval`` CLI; its results file is compared, number for
number, with the board's.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import torch
from safetensors.torch import save_file

from skillneuron_harness.leaderboard import build_leaderboard
from skillneuron_harness.leaderboard.spec import parse_spec


def test_the_command_reproduces_the_accuracies(tiny_models, task_manager, tmp_path):
    torch.manual_seed(3)
    save_file({"prompt": torch.randn(3, 32)}, tmp_path / "prompt.safetensors")
    spec = parse_spec({
        "tasks": ["sst2", "adv_sst2"],
        "run": {"device": "cpu", "batch_size": 4, "limit": 6, "bootstrap_iters": 0},
        "entries": [{"label": "tiny prompt", "model": "prompt_tuned", "notes": "a random prompt",
                     "reported": {"source": "none", "adv_sst2": 0.5},
                     "model_args": {"pretrained": str(tiny_models["bert"]), "prompt": "prompt.safetensors"}}],
    }, "board.yaml", tmp_path)
    paths = build_leaderboard(spec, tmp_path / "board", manager=task_manager)
    row = json.loads(paths["json"].read_text())["entries"][0]
    card = row["card"]
    assert card["notes"] == "a random prompt"
    assert card["reported"]["adv_sst2"]["difference"] == row["values"]["adv_sst2"]["value"] - 0.5

    argv = shlex.split(card["reproduce"])
    assert argv[:3] == ["lm_eval", "--model", "prompt_tuned"] and "--limit" in argv and "6" in argv
    assert argv[argv.index("--tasks") + 1] == "adv_sst2,sst2"
    assert f"prompt={tmp_path / 'prompt.safetensors'}" in argv[argv.index("--model_args") + 1]
    done = subprocess.run([sys.executable, "-m", "lm_eval", *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (results,) = (tmp_path / "reproduced").rglob("results_*.json")
    data = json.loads(results.read_text())
    for task in ("sst2", "adv_sst2"):
        assert data["results"][task]["acc,none"] == row["values"][task]["value"], task  # exactly
        assert data["n-samples"][task]["effective"] == row["provenance"]["tasks"][task]["num_docs"] == 6
        # and the ± the board filled in (bootstrap_iters 0) is lm-eval's own analytic stderr
        assert abs(data["results"][task]["acc_stderr,none"] - row["values"][task]["stderr"]) < 1e-12
    assert data["config"]["prompt_sha256"] == row["prompt_sha256"]
    # the unit's Every Eval Ever record names the unit's own identity key
    unit = json.loads(open(row["provenance"]["tasks"]["sst2"]["source"]).read())
    record = json.loads((paths["every_eval_ever"] / "tiny-prompt" / "sst2.json").read_text())
    assert record["source_metadata"]["additional_details"]["unit_key"] == unit["leaderboard"]["key"]
