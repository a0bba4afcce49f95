"""The one results-JSON reader: rows named by task under either lm-eval's keys."""

from __future__ import annotations

from skillneuron_harness.core.results import task_results


def _results(key, group_key="advglue"):
    """A results JSON as lm-eval writes it for ``--tasks advglue`` with one member, under ``key``."""
    return {
        "results": {group_key: {"acc,none": 0.5}, key: {"acc,none": 0.75, "acc_stderr,none": 0.1}},
        "configs": {key: {"task": "adv_sst2", "doc_to_choice": ["negative", "positive"],
                          "metadata": {"clean_twin": "sst2", "version": 1.0}}},
        "versions": {group_key: 1.0, key: 1.0},
        "n-samples": {key: {"original": 148, "effective": 4}},
        "config": {"limit": 4},
        "skill_neurons": {"adv_sst2": {"num_docs": 4}},
    }


def test_group_members_are_named_by_their_task_under_both_keyings():
    # 0.4.13 keys a member by its name; next0.5 by its path in the group (seen in its results files)
    (old,) = task_results(_results("adv_sst2"))
    (new,) = task_results(_results("advglue::adv_sst2"))
    assert old == new
    assert (new.task, new.acc, new.acc_stderr, new.num_docs, new.num_choices) == ("adv_sst2", 0.75, 0.1, 4, 2)
    assert (new.clean_twin, new.version, new.limit, new.skill_neurons) == ("sst2", "1.0", 4.0, {"num_docs": 4})
