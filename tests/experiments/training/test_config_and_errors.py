from __future__ import annotations

import re

import pytest

from skillneuron_harness.cli import main as cli
from skillneuron_harness.experiments.training import TaskError, TrainConfig
from skillneuron_harness.experiments.training.data import epoch_order, load_task


def test_config_rejects_bad_values_with_the_fix():
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainConfig(model="m", task="t", output="o", batch_size=0)
    with pytest.raises(ValueError, match="--init-text"):
        TrainConfig(model="m", task="t", output="o", init="text")
    with pytest.raises(ValueError, match="init='text'"):
        TrainConfig(model="m", task="t", output="o", init_text="hello")
    with pytest.raises(ValueError, match="lr=-1"):
        TrainConfig(model="m", task="t", output="o", lr=-1)


def test_epoch_order_is_a_seeded_permutation():
    assert epoch_order(50, 33, 0) == epoch_order(50, 33, 0)
    assert sorted(epoch_order(50, 33, 0)) == list(range(50))
    assert epoch_order(50, 33, 0) != epoch_order(50, 33, 1)
    assert epoch_order(50, 33, 1) != epoch_order(50, 34, 0)  # no (seed + epoch) collisions


def test_non_multiple_choice_task_is_refused(task_folder):
    with pytest.raises(TaskError, match="tiny_gen has output_type generate_until.*multiple_choice"):
        load_task("tiny_gen", [str(task_folder)])


def test_task_without_training_split_is_refused(task_folder):
    with pytest.raises(TaskError, match="tiny_notrain has no training split"):
        load_task("tiny_notrain", [str(task_folder)])


def test_unknown_task_suggests_names(task_folder):
    with pytest.raises(TaskError, match="Did you mean: tiny_sst2"):
        load_task("tiny_sst", [str(task_folder)])


@pytest.mark.parametrize(("values", "message"), [
    ({"lr": float("nan")}, "lr=nan: the learning rate must be a finite positive number"),
    ({"lr": float("inf")}, "lr=inf: the learning rate must be a finite positive number"),
    ({"weight_decay": float("nan")}, "weight_decay=nan: must be a finite number >= 0"),
    ({"seed": 2**70}, f"seed={2**70}: a seed is a whole number from 0 to 2^63-1"),
    ({"seed": -1}, "seed=-1: a seed is a whole number"),
])
def test_config_refuses_non_finite_and_out_of_range_numbers(values, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainConfig(model="m", task="t", output="o", **values)


def test_a_task_without_training_split_leaves_no_output_folder(tiny_models, task_folder, tmp_path, capsys):
    out = tmp_path / "prompt"
    rc = cli(["train", "--model", str(tiny_models["t5"]), "--task", "tiny_notrain", "--include-path",
              str(task_folder), "--output", str(out)])
    assert rc == 2 and "tiny_notrain has no training split" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.parametrize(("model", "message"), [("not a/valid//id", "nor a valid Hub id"),
                                                ("/nowhere/model", "no such folder")])
def test_a_model_that_cannot_exist_is_one_line_and_leaves_nothing(model, message, task_folder, tmp_path, capsys):
    out = tmp_path / "prompt"
    rc = cli(["train", "--model", model, "--task", "tiny_sst2", "--include-path", str(task_folder), "--output",
              str(out)])
    printed = capsys.readouterr().out.strip().splitlines()
    assert rc == 2 and printed == [f"skillneuron train: --model={model}: {printed[0].split(': ', 2)[2]}"]
    assert message in printed[0] and not out.exists()
