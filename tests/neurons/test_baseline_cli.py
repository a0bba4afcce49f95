"""The baseline pass as a user meets it at the command line: its size, its time, one pass per split.

``lm_eval`` runs in a subprocess on the tiny T5 with ``sst2,adv_sst2`` (adv_sst2's baseline is
sst2's training split): the line announcing the pass is on stderr whatever lm-eval's log level,
names both tasks, the number of documents and how to change it, an estimate follows the first
batches, and the pass runs once for both tasks.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from skillneuron_harness.neurons.recorder import DEFAULT_BASELINE_DOCS, SkillNeuronConfig
from skillneuron_harness.options import ModelArgsError


def test_default_size_and_the_papers_setting_one_argument_away():
    assert SkillNeuronConfig(output_dir="sn").baseline_limit == DEFAULT_BASELINE_DOCS == 1000
    assert SkillNeuronConfig(output_dir="sn", baseline_limit="all").baseline_limit is None  # the whole split
    assert SkillNeuronConfig(output_dir="sn", baseline_limit="250").baseline_limit == 250
    with pytest.raises(ModelArgsError, match=r"sn_baseline_limit=half: expected a whole number, e\.g\. "
                                             r"sn_baseline_limit=1000 or all"):
        SkillNeuronConfig(output_dir="sn", baseline_limit="half")
    with pytest.raises(ModelArgsError, match="sn_batch_size=0"):
        SkillNeuronConfig(output_dir="sn", batch_size=0)


def test_the_baseline_line_and_one_pass_for_twin_tasks(tiny_models, tmp_path):
    torch.manual_seed(0)
    save_file({"prompt": torch.randn(3, 32)}, tmp_path / "prompt.safetensors")
    out = tmp_path / "sn"
    model_args = (f"pretrained={tiny_models['t5']},prompt={tmp_path / 'prompt.safetensors'},skill_neurons={out},"
                  "sn_baseline_limit=24,sn_batch_size=4")
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "prompt_tuned", "--model_args", model_args,
         "--tasks", "sst2,adv_sst2", "--limit", "4", "--batch_size", "2", "--device", "cpu",
         "--verbosity", "WARNING"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line.strip() for line in proc.stderr.replace("\r", "\n").splitlines()]
    announced = [line for line in lines if line.startswith("Skill-neuron baseline of adv_sst2, sst2: ")]
    assert len(announced) == 1, proc.stderr[-3000:]  # one pass for both tasks
    assert " sst2 training documents (sn_baseline_limit=N or all; " in announced[0]
    assert announced[0].split(": ", 1)[1].startswith("24 of ")
    assert announced[0].endswith("4 per pass (sn_batch_size=N).")
    assert any(line.startswith("Skill-neuron baseline of sst2: about ") and " in all (measured on the first "
               in line for line in lines), proc.stderr[-3000:]
    sst2, adv = load_file(str(out / "sst2.safetensors")), load_file(str(out / "adv_sst2.safetensors"))
    assert torch.equal(sst2["baseline"], adv["baseline"])
