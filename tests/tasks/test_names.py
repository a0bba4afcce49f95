"""Our task, group and tag names against the installed lm-eval's built-in ones."""

from __future__ import annotations

from pathlib import Path

import lm_eval.tasks
import pytest
from lm_eval.tasks._index import Kind, TaskIndex
from suite_names import ADVGLUE_TASKS, CLEAN_TWINS, OUR_GROUPS, OUR_TASKS, PERTURBED, ROOT

from skillneuron_harness.host.bridge import task_folder
from skillneuron_harness.host.compat import task_index

BUILTIN = TaskIndex.build([Path(lm_eval.tasks.__file__).parent])
OURS = TaskIndex.build([task_folder()])


def test_our_folder_defines_exactly_the_documented_names():
    assert sorted(n for n, e in OURS.items() if e.kind is Kind.TASK) == sorted(OUR_TASKS)
    assert sorted(n for n, e in OURS.items() if e.kind is Kind.GROUP) == sorted(OUR_GROUPS)
    assert sorted(n for n, e in OURS.items() if e.kind is Kind.PY_TASK) == sorted(PERTURBED)
    # A tag declared here would replace a built-in tag of the same name (lm-eval merges folders
    # name by name), so none is declared at all.
    assert [n for n, e in OURS.items() if e.kind is Kind.TAG] == []
    docs = (ROOT / "docs" / "tasks.md").read_text()
    assert [n for n in OURS if f"`{n}`" not in docs] == []


def test_no_name_collides_with_a_builtin():
    assert sorted(set(OURS) & set(BUILTIN)) == []


def test_naming_scheme():
    for name in OURS:
        assert (name in ADVGLUE_TASKS or name.startswith(("sn_", "advglue", "transfer_"))), name


def test_builtin_glue_tag_is_intact(task_manager):
    assert sorted(task_index(task_manager)["glue"].tags) == sorted(BUILTIN["glue"].tags)
    assert "adv_sst2" not in task_index(task_manager)["glue"].tags


@pytest.mark.parametrize("task", OUR_TASKS)
def test_splits_and_clean_twin_declared(task, task_manager):
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(OURS[task].yaml_path, resolve_func=False)
    if task in CLEAN_TWINS:  # adversarial: evaluation split only; the twin has the training split
        assert cfg.get("training_split") is None
        assert cfg["metadata"]["clean_twin"] == CLEAN_TWINS[task]
        twin = task_index(task_manager)[CLEAN_TWINS[task]]
        assert load_yaml(twin.yaml_path, resolve_func=False)["training_split"] == "train"
    else:  # every Hub dataset behind a transfer target has a train split
        assert cfg["training_split"] == "train"
        assert "clean_twin" not in cfg["metadata"]


@pytest.mark.parametrize("task", sorted(PERTURBED))
def test_perturbed_twins_name_their_clean_task(task, task_manager):
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(OURS[task].yaml_path, resolve_func=False)
    assert cfg["task"] == task and cfg["perturbation"]["of"] == PERTURBED[task]
    assert PERTURBED[task] in task_manager.all_tasks  # lm-eval's own task
    assert len(OURS[task].yaml_path.read_text().splitlines()) <= 6
