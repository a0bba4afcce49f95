"""lm-eval's notes that mislead on our own tasks are dropped, and only on ours.

* "Custom kwargs can be passed to `--metadata`": lm-eval logs it for every ``custom_dataset`` task;
  our JSONL templates' loader takes no ``--metadata``, another loader's note stays.
* "metric acc is defined, but aggregation is not": lm-eval's GLUE tasks log it while they are built;
  a clean twin that the skill-neuron statistics read (not evaluate) is built without it.
"""

from __future__ import annotations

import json
import logging

import pytest
from lm_eval.api.task import ConfigurableTask
from lm_eval.tasks._yaml_loader import load_yaml

import skillneuron_harness.host.model  # noqa: F401  (installs the filter, as lm-eval's --model does)
from skillneuron_harness.host import tasks as host_tasks
from skillneuron_harness.host.bridge import task_folder

NOTE = "Custom kwargs can be passed"


def _notes(caplog, needle):
    return [r for r in caplog.records if r.name.startswith("lm_eval.api.task") and needle in r.getMessage()]


@pytest.fixture
def lm_eval_logs(caplog):
    logger = logging.getLogger("lm_eval.api.task")
    propagate, logger.propagate = logger.propagate, True  # caplog listens at the root
    caplog.set_level(logging.WARNING, logger="lm_eval.api.task")
    yield caplog
    logger.propagate = propagate


def _user_task(tmp_path, yaml_text):
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"sentence": s, "label": i % 2}) + "\n"
                                                for i, s in enumerate(["good film", "bad film"])))
    (tmp_path / "task.yaml").write_text(yaml_text)
    config = load_yaml(tmp_path / "task.yaml")
    config.setdefault("metadata", {})["config_source"] = str(tmp_path / "task.yaml")  # as TaskManager does
    return ConfigurableTask(config=config)


def test_our_jsonl_template_builds_without_the_metadata_note(tmp_path, lm_eval_logs):
    template = task_folder() / "templates" / "sst2_jsonl.yaml"
    task = _user_task(tmp_path, f"include: {template}\ntask: mine\ndataset_kwargs:\n  data_files: rows.jsonl\n")
    assert len(task.dataset["validation"]) == 2
    assert _notes(lm_eval_logs, NOTE) == []


def test_another_custom_dataset_keeps_the_note(tmp_path, lm_eval_logs):
    (tmp_path / "loaders.py").write_text(
        "import datasets\n"
        "def rows(**kwargs):\n"
        "    return datasets.DatasetDict({'validation': datasets.Dataset.from_dict("
        "{'sentence': ['a', 'b'], 'label': [0, 1]})})\n")
    yaml_text = ("task: theirs\ncustom_dataset: !function loaders.rows\noutput_type: multiple_choice\n"
                 "validation_split: validation\ndoc_to_text: '{{sentence}}'\ndoc_to_target: label\n"
                 "doc_to_choice: ['no', 'yes']\nmetric_list:\n  - metric: acc\n    aggregation: mean\n"
                 "    higher_is_better: true\n")
    _user_task(tmp_path, yaml_text).dataset  # noqa: B018  (next0.5 downloads, and notes, here)
    assert len(_notes(lm_eval_logs, NOTE)) == 1


def test_a_clean_twin_read_for_its_labels_is_built_quietly(task_manager, monkeypatch, lm_eval_logs):
    # the check is meaningful where lm-eval has the note (0.4.13; next0.5 logs none): building its sst2 logs it
    task_manager.load(["sst2"])
    if not _notes(lm_eval_logs, "is defined, but aggregation is not"):
        pytest.skip("this lm-eval logs no 'aggregation is not' note for its sst2")
    lm_eval_logs.clear()
    monkeypatch.setattr(host_tasks, "task_manager", lambda include_path=(): task_manager)
    run = host_tasks.LmEvalRun(lm=None, requests=[])
    assert run.task("sst2").num_classes == 2
    assert _notes(lm_eval_logs, "is defined, but") == []
