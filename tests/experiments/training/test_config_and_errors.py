from __future__ import annotations

import pytest

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
