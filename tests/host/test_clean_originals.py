"""Which clean document an adversarial document was made from: a clean_doc_id column, or AdvGLUE's shipped mapping."""

from __future__ import annotations

import json

from skillneuron_harness.core.shipped import task_folder
from skillneuron_harness.host import compat
from skillneuron_harness.host.tasks import clean_originals


def test_advglue_sst2_documents_find_their_glue_originals(task_manager):
    tasks = compat.load_tasks(task_manager, ["adv_sst2", "sst2"])
    adv, clean = tasks["adv_sst2"], tasks["sst2"]
    mapping = json.loads((task_folder() / "advglue" / "pairs" / "adv_sst2.json").read_text())["pairs"]
    matched = {int(k): v["glue_idx"] for k, v in mapping.items() if v["status"] == "matched"}
    got = clean_originals(adv, lambda: clean)
    assert len(got) == len(matched) == 125
    for doc_id, (clean_id, kind) in got.items():
        assert clean.eval_docs[clean_id]["idx"] == matched[adv.eval_docs[doc_id]["idx"]]
        assert kind is None


def test_a_clean_doc_id_column_names_the_original(task_manager, tmp_path):
    from lm_eval.tasks import TaskManager

    from skillneuron_harness.host.bridge import task_folder as ours

    rows = [{"sentence": "a b", "label": 0, "clean_doc_id": 3, "perturbation": "typo"},
            {"sentence": "c d", "label": 1},
            {"sentence": "e f", "label": 1, "clean_doc_id": 0}]
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "mine.yaml").write_text(f"include: {ours() / 'templates' / 'sst2_jsonl.yaml'}\ntask: mine\n"
                                        "dataset_kwargs:\n  data_files: mine.jsonl\n"
                                        "metadata: {clean_twin: sst2, perturbation: reversal}\n")
    task = compat.load_tasks(TaskManager(include_path=str(tmp_path)), ["mine"])["mine"]
    assert clean_originals(task, None) == {0: (3, "typo"), 2: (0, "reversal")}
