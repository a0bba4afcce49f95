"""Two CPU processes (gloo) give the same per-pair rows and per-example block as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file
from test_recorder import rows

from skillneuron_harness.host.bridge import task_folder

LIMIT = 9  # odd: lm-eval pads one rank with a duplicate request


def test_two_processes_equal_one(tiny_models, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    folder = tmp_path / "tasks"
    folder.mkdir()
    clean = rows("sst2", "validation", LIMIT)
    with (folder / "dist_pairs.jsonl").open("w") as f:
        for i, d in enumerate(clean):
            text = d["sentence"] if i % 3 == 0 else " ".join(reversed(d["sentence"].split()))
            f.write(json.dumps({"sentence": text, "label": d["label"], "clean_doc_id": i}) + "\n")
    (folder / "dist_pairs.yaml").write_text(
        f"include: {task_folder() / 'templates' / 'sst2_jsonl.yaml'}\ntask: dist_pairs\n"
        "dataset_kwargs:\n  data_files: dist_pairs.jsonl\nmetadata: {clean_twin: sst2, perturbation: reverse}\n")
    torch.manual_seed(5)
    save_file({"prompt": torch.randn(3, 32)}, tmp_path / "p.safetensors")
    base = f"pretrained={tiny_models['t5']},prompt={tmp_path / 'p.safetensors'},sn_baseline_limit=11,sn_top=0.25"
    one = lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{base},skill_neurons={tmp_path / 'one'}",
                                  tasks=["sst2", "dist_pairs"], limit=LIMIT, device="cpu", batch_size=4,
                                  task_manager=TaskManager(include_path=str(folder)))
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "lm_eval", "--model",
           "prompt_tuned", "--model_args", f"{base},skill_neurons={tmp_path / 'two'}", "--tasks", "sst2,dist_pairs",
           "--limit", str(LIMIT), "--device", "cpu", "--batch_size", "4", "--include_path", str(folder),
           "--output_path", str(tmp_path / "out2")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    read = [[json.loads(line) for line in (tmp_path / run / "dist_pairs.pairs.jsonl").read_text().splitlines()]
            for run in ("one", "two")]
    assert len(read[0]) == LIMIT and read[0] == read[1]
    two = json.loads(next((tmp_path / "out2").rglob("results_*.json")).read_text())
    block_one = one["skill_neurons"]["dist_pairs"]["per_example"]
    block_two = two["skill_neurons"]["dist_pairs"]["per_example"]
    for key in ("pairs", "mean_flip_fraction", "table", "auc", "unscored_pairs", "layer_mean_flip_fraction"):
        assert block_one[key] == block_two[key], key
