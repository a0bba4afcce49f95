"""``--overwrite`` keeps the finished run until the new one has finished; an interrupted one resumes."""

from __future__ import annotations

import json

import pytest

from skillneuron_harness.experiments.training import TrainConfig, train, trainer
from skillneuron_harness.experiments.training.checkpoint import overwrite_staging
from skillneuron_harness.experiments.training.trainer import batch_loss

# 16 training docs in one batch: one step per epoch.
SMALL = {"task": "tiny_sst2", "num_virtual_tokens": 2, "batch_size": 16, "eval_batch_size": 24, "limit_train": 16,
         "limit_eval": 8, "epochs": 2}


def _config(tiny_models, task_folder, output, **overrides):
    return TrainConfig(model=str(tiny_models["t5"]), output=str(output), include_path=[str(task_folder)],
                       **{**SMALL, **overrides})


def test_interrupted_overwrite_keeps_the_finished_adapter(tiny_models, task_folder, tmp_path):
    out = tmp_path / "adapter"
    train(_config(tiny_models, task_folder, out, seed=1))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (out / "notes.txt").write_text("mine")
    calls = []

    def crash_in_epoch_2(pm, batch):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return batch_loss(pm, batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "batch_loss", crash_in_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            train(_config(tiny_models, task_folder, out, seed=2, resume=False))
    # The finished run is untouched; the new one waits in the staging folder with its first epoch.
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "notes.txt"} == before
    assert (overwrite_staging(out) / "checkpoint" / "state.pt").is_file()
    result = train(_config(tiny_models, task_folder, out, seed=2, resume=False))  # the same command again
    assert result.output == out and result.steps == 2
    assert json.loads((out / "train_config.json").read_text())["config"]["seed"] == 2
    assert (out / "adapter_model.safetensors").read_bytes() != before["adapter_model.safetensors"]
    assert (out / "notes.txt").read_text() == "mine" and not overwrite_staging(out).exists()
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2]  # the interrupted epoch was redone, not logged twice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_output_that_is_a_file_is_refused_before_loading(tiny_models, task_folder, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=f"--output {tmp_path / 'f'} is a file"):
        train(_config(tiny_models, task_folder, tmp_path / "f"))
