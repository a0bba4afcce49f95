"""The stock ``lm_eval`` command finds ``prompt_tuned`` and our tasks after a plain install.

These run real subprocesses: the startup bridge only acts at interpreter start. (``lm_eval --model hf``
on our tasks runs in tests/tasks/test_lm_eval_cli.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

BIN = Path(sys.executable).parent


def run(args, env=None, **kwargs):
    merged = {**os.environ, **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=merged, timeout=600, **kwargs)


def python(code, env=None, flags=()):
    return run([sys.executable, *flags, "-c", code], env=env)


def test_interpreter_start_imports_nothing_heavy():
    out = python("import sys; print(sorted(m for m in ('lm_eval', 'torch', 'transformers', 'datasets') "
                 "if m in sys.modules)); print('skillneuron_harness.lm_eval_bridge' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]


def test_builtin_models_and_tasks_resolve_next_to_ours():
    out = python("from lm_eval.api.registry import get_model; from lm_eval.tasks import TaskManager; "
                 "print(get_model('hf').__name__, get_model('prompt_tuned').__name__, get_model('dummy').__name__); "
                 "tm = TaskManager(); "
                 "print('adv_sst2' in tm.all_tasks, 'sst2' in tm.all_tasks, 'advglue' in tm.all_groups)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["HFLM", "PromptTunedLM", "DummyLM", "True", "True", "True"]


def test_bridge_can_be_switched_off():
    code = ("from lm_eval.api.registry import model_registry; import lm_eval.models; "
            "from lm_eval.tasks import TaskManager; "
            "print('prompt_tuned' in model_registry, 'adv_sst2' in TaskManager().all_tasks)")
    out = python(code, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@pytest.fixture(scope="module")
def t5_prompt(tiny_models, tmp_path_factory):
    path = tmp_path_factory.mktemp("prompt") / "prompt.safetensors"
    torch.manual_seed(0)
    save_file({"prompt": torch.randn(4, 32)}, path)
    return path


def read_results(output_path: Path) -> dict:
    (results,) = output_path.rglob("results_*.json")
    return json.loads(results.read_text())


def test_stock_cli_evaluates_prompt_tuned_on_our_task(tiny_models, t5_prompt, tmp_path):
    out = run([str(BIN / "lm_eval"), "--model", "prompt_tuned",
               "--model_args", f"pretrained={tiny_models['t5']},prompt={t5_prompt}",
               "--tasks", "adv_sst2", "--limit", "6", "--device", "cpu", "--output_path", str(tmp_path)],
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    results = read_results(tmp_path)
    assert 0.0 <= results["results"]["adv_sst2"]["acc,none"] <= 1.0
    assert results["config"]["model"] == "prompt_tuned"
    from skillneuron_harness.prompts import load_soft_prompt

    assert results["config"]["prompt_sha256"] == load_soft_prompt(str(t5_prompt)).sha256
    assert results["config"]["backend"] == "seq2seq"


def test_skillneuron_eval_without_startup_files(tiny_models, t5_prompt, tmp_path):
    # `python -S` skips site-packages and every .pth file: the bridge never runs.
    env = {"PYTHONPATH": os.pathsep.join([sysconfig.get_paths()["purelib"], str(Path(__file__).parents[1])])}
    out = run([sys.executable, "-S", "-m", "skillneuron_harness.cli", "eval", "--model", "prompt_tuned",
               "--model_args", f"pretrained={tiny_models['t5']},prompt={t5_prompt}",
               "--tasks", "adv_sst2", "--limit", "4", "--device", "cpu", "--output_path", str(tmp_path)],
              env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "adv_sst2" in read_results(tmp_path)["results"]
