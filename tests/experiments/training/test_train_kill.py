"""``kill -9`` of ``skillneuron train --overwrite`` at random points: the folder always holds a complete
adapter (the old one until the new run has finished), no file that reads as complete is truncated, and
running the same command again finishes the run with the prompt an uninterrupted run gives."""

from __future__ import annotations

import random
import shutil

import torch
from kill import run_and_kill
from safetensors.torch import load_file

from skillneuron_harness.experiments.training import TrainConfig, train
from skillneuron_harness.experiments.training.checkpoint import overwrite_staging
from skillneuron_harness.prompts import load_soft_prompt

SMALL = {"task": "tiny_sst2", "num_virtual_tokens": 2, "batch_size": 4, "eval_batch_size": 8, "limit_train": 8,
         "limit_eval": 4, "epochs": 2}
KILL_POINTS, SEED = 5, 14


def test_train_killed_at_random_points_loses_nothing(tiny_models, task_folder, tmp_path):
    def config(out, **kw):
        return TrainConfig(model=str(tiny_models["t5"]), output=str(out), include_path=[str(task_folder)],
                           **{**SMALL, **kw})

    train(config(tmp_path / "old", seed=1))  # the finished run that --overwrite replaces
    old = load_soft_prompt(str(tmp_path / "old")).embeddings
    finished, seconds = run_and_kill(None, train, config(tmp_path / "new", seed=2))
    new = load_soft_prompt(str(tmp_path / "new")).embeddings
    rng = random.Random(SEED)
    outcomes = []
    for i in range(KILL_POINTS):
        out = tmp_path / f"run{i}"
        shutil.copytree(tmp_path / "old", out)
        delay = rng.uniform(0.0, seconds)
        finished, _ = run_and_kill(delay, train, config(out, seed=2, resume=False))
        outcomes.append((round(delay, 2), finished))
        # Whatever holds a name that says complete reads whole.
        for path in [*out.rglob("*.safetensors"), *overwrite_staging(out).rglob("*.safetensors")]:
            load_file(str(path))
        for path in [*out.rglob("state.pt"), *overwrite_staging(out).rglob("state.pt")]:
            torch.load(path, weights_only=True)
        prompt = load_soft_prompt(str(out)).embeddings  # the old adapter, or the finished new one
        assert torch.equal(prompt, new if finished else old) or torch.equal(prompt, new)
        # The same command again, in a one-thread child like the reference run: a CPU matmul's float
        # rounding depends on the thread count, and the claim checked here is bit-for-bit equality.
        assert run_and_kill(None, train, config(out, seed=2, resume=False))[0]
        assert torch.equal(load_soft_prompt(str(out)).embeddings, new)
        assert not overwrite_staging(out).exists()
    print(f"run of {seconds:.2f} s killed at (s, finished): {outcomes}")
    assert not all(f for _, f in outcomes), "every child finished before its kill: no kill point was tested"
