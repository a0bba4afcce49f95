"""Which tasks of an evaluation get paired metrics, and how their documents find their originals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from skillneuron_harness.host.paired import add_paired_metrics, plan


def _task(name, docs=(), **config):
    metadata = config.pop("metadata", {})
    return SimpleNamespace(OUTPUT_TYPE="multiple_choice", eval_docs=list(docs),
                           config=SimpleNamespace(**{"task": name, "metadata": metadata, "dataset_path": None,
                                                     "dataset_name": None, **config}))


def _sample(doc_id, doc, scores, acc):
    return {"doc_id": doc_id, "doc": doc, "filtered_resps": [[s, False] for s in scores], "acc": acc, "target": 0}


def test_the_plan_pairs_twins_and_advglue_only_when_the_clean_twin_runs():
    tasks = {"tasks": {
        "rte": _task("rte"),
        "adv_rte": _task("adv_rte", metadata={"clean_twin": "rte"}, dataset_path="AI-Secure/adv_glue",
                         dataset_name="adv_rte"),
        "typo_rte": _task("typo_rte", metadata={"clean_twin": "rte", "perturbation": {"of": "rte"}}),
        "adv_sst2": _task("adv_sst2", metadata={"clean_twin": "sst2"}, dataset_path="AI-Secure/adv_glue",
                          dataset_name="adv_sst2"),  # sst2 is not evaluated: nothing to pair with
        "mine": _task("mine", [{"sentence1": "a", "label": 0}], metadata={"clean_twin": "rte"}),  # no originals
        "own": _task("own", [{"sentence1": "a", "label": 0, "clean_doc_id": 3}],  # a JSONL naming its originals
                     metadata={"clean_twin": "rte"}),
    }}
    assert [(p.task, p.clean, p.key) for p in plan(tasks)] == [("adv_rte", "rte", "advglue"),
                                                                ("own", "rte", "clean_doc_id"),
                                                                ("typo_rte", "rte", "clean_doc_id")]


def test_advglue_documents_meet_their_glue_originals_by_the_shipped_mapping():
    # the shipped mapping: AdvGLUE RTE idx 0 -> GLUE RTE idx 10, 1 -> 12; idx 62 has no confident match
    (pairing,) = plan({"tasks": {"rte": _task("rte"), "adv_rte": _task(
        "adv_rte", metadata={"clean_twin": "rte"}, dataset_path="AI-Secure/adv_glue", dataset_name="adv_rte")}})
    results = {"results": {"adv_rte": {"acc,none": 0.5}}, "samples": {
        "rte": [_sample(0, {"idx": 12}, [-1.0, -2.0], 1.0), _sample(1, {"idx": 10}, [-1.0, -2.0], 1.0)],
        "adv_rte": [_sample(0, {"idx": 0}, [-3.0, -2.0], 0.0),  # flipped against GLUE idx 10
                    _sample(1, {"idx": 1}, [-1.0, -2.0], 1.0),  # kept against GLUE idx 12
                    _sample(2, {"idx": 62}, [-1.0, -2.0], 1.0)]}}  # unmatched: no pair
    add_paired_metrics(results, [pairing])
    assert results["paired"]["adv_rte"]["pairs"] == 2 and results["paired"]["adv_rte"]["unpaired"] == 1
    row = results["results"]["adv_rte"]
    assert row["flip_rate,none"] == pytest.approx(0.5) and row["pair_acc_clean,none"] == 1.0
    assert row["pair_acc,none"] == pytest.approx(0.5) and row["worst_case_acc,none"] == pytest.approx(0.5)


def test_a_dataset_names_its_originals_by_its_column():
    import datasets

    from skillneuron_harness.host.paired import names_clean_documents

    with_column = datasets.Dataset.from_list([{"sentence": "a", "label": 0, "clean_doc_id": 4}])
    without = datasets.Dataset.from_list([{"sentence": "a", "label": 0}])
    assert names_clean_documents(SimpleNamespace(eval_docs=with_column))
    assert not names_clean_documents(SimpleNamespace(eval_docs=without))
    assert not names_clean_documents(SimpleNamespace(eval_docs=[]))


@pytest.mark.parametrize("clean_key", ["rte", "grp::rte"])
def test_a_twin_in_a_group_is_paired_under_its_group_key(clean_key):
    # lm-eval 0.5 keys a group's members `group::task` in results and samples (0.4.13: the task's name)
    (pairing,) = plan({"tasks": {"rte": _task("rte"), "typo_rte": _task(
        "typo_rte", metadata={"clean_twin": "rte", "perturbation": {"of": "rte"}})}})
    results = {"results": {clean_key: {"acc,none": 1.0}, "grp::typo_rte": {"acc,none": 0.5}}, "samples": {
        clean_key: [_sample(0, {}, [-1.0, -2.0], 1.0), _sample(1, {}, [-1.0, -2.0], 1.0)],
        "grp::typo_rte": [_sample(0, {"clean_doc_id": 0}, [-3.0, -2.0], 0.0),  # flipped
                          _sample(1, {"clean_doc_id": 1}, [-1.0, -2.0], 1.0)]}}  # kept
    add_paired_metrics(results, [pairing])
    assert results["paired"]["grp::typo_rte"]["pairs"] == 2 and "typo_rte" not in results["results"]
    row = results["results"]["grp::typo_rte"]
    assert row["flip_rate,none"] == pytest.approx(0.5) and row["worst_case_acc,none"] == pytest.approx(0.5)
    assert results["higher_is_better"]["grp::typo_rte"]["flip_rate"] is False
