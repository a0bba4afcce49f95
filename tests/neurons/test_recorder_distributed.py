"""Two CPU processes (gloo) give the same skill-neuron tensors as one process."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

ARGS = ["--tasks", "sst2,adv_sst2,mnli", "--limit", "9", "--device", "cpu", "--batch_size", "4"]


def run_lm_eval(launcher, model_args, out):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    cmd = [*launcher, "-m", "lm_eval", "--model", "prompt_tuned", "--model_args", model_args, *ARGS,
           "--output_path", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_equal_one(tiny_models, tmp_path, task_manager):
    import lm_eval

    torch.manual_seed(5)
    save_file({"prompt": torch.randn(3, 32)}, tmp_path / "p.safetensors")
    base = f"pretrained={tiny_models['t5']},prompt={tmp_path / 'p.safetensors'},sn_baseline_limit=11"
    lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{base},skill_neurons={tmp_path / 'one'}",
                            tasks=["sst2", "adv_sst2", "mnli"], limit=9, device="cpu", batch_size=4,
                            task_manager=task_manager)
    run_lm_eval([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"],
                f"{base},skill_neurons={tmp_path / 'two'}", tmp_path / "out2")
    for task in ("sst2", "adv_sst2", "mnli"):
        one = load_file(tmp_path / "one" / f"{task}.safetensors")
        two = load_file(tmp_path / "two" / f"{task}.safetensors")
        assert int(one["class_counts"].sum()) == 9  # 9 documents, odd: lm-eval pads one rank
        assert one.keys() == two.keys()
        exact = ("class_counts", "fire_counts", "position", "subtask_fire_counts", "baseline_class_counts")
        for name in (n for n in exact if n in one):
            assert torch.equal(one[name], two[name]), name
        for name in set(one) - set(exact):  # sums in another order: float32 rounding
            torch.testing.assert_close(one[name], two[name], rtol=0, atol=1e-6)
    assert "subtask_baseline" in one  # mnli: three classes, each subtask against its own baseline
