"""Faults in a user's JSONL file stop the run before evaluation, naming the file and the line."""

from __future__ import annotations

import json

import pytest
from lm_eval.tasks._yaml_loader import load_yaml

from skillneuron_harness.host.bridge import task_folder

GOOD = json.dumps({"sentence": "a fine film .", "label": 1})
FAULTS = {  # file content -> what the error says
    "missing_label": (f'{GOOD}\n{{"sentence": "no label here"}}\n'.encode(), "line 2: no 'label' field"),
    "label_5": (f'{GOOD}\n{GOOD}\n{{"sentence": "x", "label": 5}}\n'.encode(), "line 3: label 5 is not one of"),
    "label_minus_1": (b'{"sentence": "x", "label": -1}\n', "line 1: label -1 is not one of"),
    "label_string": (b'{"sentence": "x", "label": "positive"}\n', 'line 1: label "positive" is not'),
    "label_bool": (b'{"sentence": "x", "label": true}\n', "line 1: label true is not"),
    "empty": (b"", "the file has no examples"),
    "blank_lines_only": (b"\n\n  \n", "the file has no examples"),
    "invalid_json": (f'{GOOD}\n{{"sentence": "x", "label": 1\n'.encode(), "line 2: not valid JSON"),
    "not_an_object": (f"{GOOD}\n[1, 2]\n".encode(), "line 2: a JSON list, not an object"),
    "missing_field": (b'{"text": "x", "label": 0}\n', "line 1: no 'sentence' field"),
    "non_utf8": (GOOD.encode() + b'\n{"sentence": "caf\xe9", "label": 0}\n', "line 2: not UTF-8"),
}


@pytest.fixture(scope="module")
def sst2_loader():
    return load_yaml(task_folder() / "templates" / "sst2_jsonl.yaml")["custom_dataset"]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_names_the_file_and_the_line(fault, sst2_loader, tmp_path):
    content, said = FAULTS[fault]
    data = tmp_path / "mine.jsonl"
    data.write_bytes(content)
    (tmp_path / "mine.yaml").write_text("task: mine\n")
    with pytest.raises(ValueError) as err:
        sst2_loader(data_files="mine.jsonl", config_source=str(tmp_path / "mine.yaml"))
    assert type(err.value).__name__ == "UserDataError"
    assert f"{data}" in str(err.value) and said in str(err.value)


def test_three_class_template_takes_label_2_and_refuses_3(tmp_path):
    loader = load_yaml(task_folder() / "templates" / "mnli_jsonl.yaml")["custom_dataset"]
    row = {"premise": "p", "hypothesis": "h"}
    (tmp_path / "ok.jsonl").write_text(json.dumps({**row, "label": 2}) + "\n")
    assert loader(data_files=str(tmp_path / "ok.jsonl"))["validation"][0]["label"] == 2
    (tmp_path / "bad.jsonl").write_text(json.dumps({**row, "label": 3}) + "\n")
    with pytest.raises(ValueError, match=r"line 1: label 3 is not one of the task's classes: an integer 0\.\.2 "
                                         r"\(0 = True, 1 = Neither, 2 = False\)"):
        loader(data_files=str(tmp_path / "bad.jsonl"))


def test_out_of_range_label_stops_lm_eval_before_evaluation(tiny_models, tmp_path, task_manager):
    import lm_eval

    data = tmp_path / "my_adv_sst2.jsonl"
    data.write_text(f'{GOOD}\n{{"sentence": "x", "label": 5}}\n')
    config = {**load_yaml(task_folder() / "templates" / "sst2_jsonl.yaml"), "task": "my_adv_sst2",
              "dataset_kwargs": {"data_files": str(data)}}
    with pytest.raises(ValueError, match=f"{data}, line 2: label 5"):
        lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"pretrained={tiny_models['bert']}",
                                tasks=[config], device="cpu", task_manager=task_manager)
