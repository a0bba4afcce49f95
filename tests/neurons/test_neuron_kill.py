"""``kill -9`` of a ``skill_neurons=`` run at random points: every later reader gets complete files (the
earlier run's or the new run's) or an error naming the file that was never completed."""

from __future__ import annotations

import random
import shutil

import pytest
import torch
from kill import run_and_kill
from safetensors.torch import save_file

from skillneuron_harness.cli import main as cli
from skillneuron_harness.neurons.io import read_task_stats
from skillneuron_harness.neurons.validate import NeuronFileError

TASKS, KILL_POINTS, SEED = ("sst2", "adv_sst2"), 5, 14


def _evaluate(model, prompt, out, task_manager):
    import lm_eval

    lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"pretrained={model},prompt={prompt},skill_neurons={out},"
                            "sn_baseline_limit=6", tasks=list(TASKS), limit=6, device="cpu", batch_size=8,
                            task_manager=task_manager, bootstrap_iters=0)


def _tensors(directory) -> dict[str, dict[str, torch.Tensor]]:
    return {task: read_task_stats(directory, task).tensors for task in TASKS}


def test_skill_neurons_killed_at_random_points_leave_complete_files_or_name_them(tiny_models, tmp_path, task_manager):
    torch.manual_seed(0)
    for name in ("p1", "p2"):
        save_file({"prompt": torch.randn(3, 32)}, tmp_path / f"{name}.safetensors")
    model = tiny_models["bert"]
    _evaluate(model, tmp_path / "p1.safetensors", tmp_path / "old", task_manager)  # an earlier run's files
    _, seconds = run_and_kill(None, _evaluate, model, tmp_path / "p2.safetensors", tmp_path / "new", task_manager)
    old, new = _tensors(tmp_path / "old"), _tensors(tmp_path / "new")
    rng = random.Random(SEED)
    outcomes = []
    for i in range(KILL_POINTS):
        out = tmp_path / f"run{i}"
        if i % 2:  # half the runs write over the earlier run's files, half into an empty folder
            shutil.copytree(tmp_path / "old", out)
        delay = rng.uniform(0.0, seconds)
        finished, _ = run_and_kill(delay, _evaluate, model, tmp_path / "p2.safetensors", out, task_manager)
        outcomes.append((round(delay, 2), finished))
        for task in TASKS:
            try:
                got = read_task_stats(out, task).tensors
            except NeuronFileError as err:  # nothing complete there: the error names the file
                assert not finished and not i % 2 and f"{out / task}.safetensors" in str(err)
                continue
            want = [new[task]] if finished else [old[task], new[task]]
            assert any(got.keys() == w.keys() and all(torch.equal(got[k], w[k]) for k in w) for w in want)
        rc = cli(["report", str(out), "--out", str(tmp_path / f"report{i}")])
        assert rc == 0 or (rc == 2 and not finished)
    print(f"run of {seconds:.2f} s killed at (s, finished): {outcomes}")
    assert not all(f for _, f in outcomes), "every child finished before its kill: no kill point was tested"


@pytest.fixture(autouse=True)
def _no_tqdm(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
