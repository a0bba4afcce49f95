"""The leaderboard spec: the README's example parses; bad specs fail with the file and the key named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from skillneuron_harness.leaderboard.spec import (
    DEFAULT_BOOTSTRAP_ITERS,
    DEFAULT_TASKS,
    SpecError,
    load_spec,
    parse_spec,
)
from skillneuron_harness.leaderboard.suite import expand

README = Path(__file__).resolve().parents[2] / "README.md"
OK = {"label": "a", "model": "hf", "model_args": "pretrained=org/m"}


def test_readme_example_parses(tmp_path):
    text = README.read_text()
    block = re.search(r"## Leaderboards.*?```yaml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "prompts" / "sst2-t5-seed33").mkdir(parents=True)
    path = tmp_path / "board.yaml"
    path.write_text(block)
    spec = load_spec(path)
    assert [e.label for e in spec.entries] == ["Flan-T5 base (instruction-tuned, no prompt)", "T5 prompt, seed 33",
                                               "T5 prompt, seed 34", "T5, no prompt"]
    assert spec.tasks == list(DEFAULT_TASKS) and spec.run.bootstrap_iters == 1000 and spec.run.limit is None
    # a prompt path that exists next to the spec is made absolute; one that does not is left as written
    assert spec.entries[1].model_args["prompt"] == str((tmp_path / "prompts" / "sst2-t5-seed33").resolve())
    assert spec.entries[2].model_args["prompt"] == "prompts/sst2-t5-seed34"
    assert spec.entries[2].model_args["sn_baseline_limit"] == "2000" and spec.entries[2].skill_neurons
    assert spec.entries[2].reported == {"source": "the paper, Table 2", "adv_sst2": 0.45} and spec.entries[2].notes
    assert spec.entries[3].baseline and not spec.entries[2].baseline


def test_card_keys_are_checked():
    def entry(**extra):
        return parse_spec({"entries": [{**OK, **extra}]}, "board.yaml").entries[0]

    assert entry(unreliable=True).unreliable.startswith("marked unreliable")
    assert entry(unreliable="selected on dev").unreliable == "selected on dev"
    with pytest.raises(SpecError, match=r"entries\[0\]\.reported\.score: a fraction \(0\.412 for 41\.2%\), got 41\.2"):
        entry(reported={"score": 41.2})
    with pytest.raises(SpecError, match=r"entries\[0\]\.baseline: true or false"):
        entry(baseline="yes")


def test_defaults():
    spec = parse_spec({"entries": [OK]})
    assert spec.run.bootstrap_iters == DEFAULT_BOOTSTRAP_ITERS == 1000 and spec.run.batch_size == 8
    assert spec.entries[0].model_args == {"pretrained": "org/m"}


@pytest.mark.parametrize("data, message", [
    ({"entries": []}, "s.yaml: entries: required"),
    ({"entries": [OK], "task": ["sst2"]}, "unknown top-level key(s) task"),
    ({"entries": [{"model": "hf"}]}, "entries[0].label: required"),
    ({"entries": [OK, {**OK, "label": "a"}]}, "entries[1].label: 'a' repeats entries[0]"),
    ({"entries": [{**OK, "modle_args": {}}]}, "entries[0]: unknown key(s) modle_args"),
    ({"entries": [{**OK, "skill_neurons": True}]}, "entries[0].skill_neurons: only model: prompt_tuned"),
    ({"entries": [{"label": "p", "model": "prompt_tuned", "model_args": {"prompt": "x"}}]},
     "entries[0].model_args.pretrained: required for prompt_tuned"),
    ({"entries": [{**OK, "model_args": "pretrained=m,device=cuda"}]}, "entries[0].model_args.device: set it once"),
    ({"entries": [{**OK, "model_args": "pretrained=m,skill_neurons=o"}]}, "model_args.skill_neurons: the leaderboard"),
    ({"entries": [{**OK, "model_args": "pretrained"}]}, "'pretrained' is not key=value"),
    ({"entries": [OK], "run": {"limit": -3}}, "run.limit: a positive number"),
    ({"entries": [OK], "run": {"bootstrap_iters": 1.5}}, "run.bootstrap_iters: a whole number"),
    ({"entries": [OK], "run": {"batch_size": 0}}, "run.batch_size: a positive integer or 'auto'"),
    ({"entries": [OK], "run": {"devices": "cpu"}}, "run: unknown key(s) devices"),
    ({"entries": [OK], "tasks": []}, "tasks: a list of lm-eval task or group names"),
])
def test_errors_name_file_and_key(data, message):
    with pytest.raises(SpecError) as err:
        parse_spec(data, "s.yaml")
    assert message in str(err.value)


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("entries: [\n")
    with pytest.raises(SpecError, match="bad.yaml: not valid YAML"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text(yaml.safe_dump([OK]))
    with pytest.raises(SpecError, match="expected a mapping with an `entries:` list"):
        load_spec(tmp_path / "list.yaml")


def test_suite_expansion(task_manager):
    tasks = expand(["advglue", "sst2", "glue"], task_manager)
    names = [t.name for t in tasks]
    assert names[:6] == ["adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli", "adv_rte"]
    assert names.count("sst2") == 1 and "cola" in names  # the glue tag's tasks, each once
    twins = {t.name: t.clean_twin for t in tasks}
    assert twins["adv_mnli_mismatched"] == "mnli_mismatch" and twins["sst2"] is None
    assert {t.version for t in tasks if t.name in ("adv_sst2", "qqp")} == {"1.0", "2.0"}
    with pytest.raises(SpecError, match="unknown task or group 'ads_sst2'. Did you mean: adv_sst2"):
        expand(["ads_sst2"], task_manager, "s.yaml")


@pytest.mark.parametrize(("label", "message"), [
    (".", "entries[0].label: '.' would be the folder '.', which is the runs folder itself or its parent"),
    ("..", "entries[0].label: '..' would be the folder '..'"),
    (" ... ", "entries[0].label: '...' would be the folder '...'"),
    ("x" * 300, "entries[0].label: 300 characters make a folder name of 300, over the 100 allowed"),
])
def test_labels_that_cannot_be_folder_names_are_refused(label, message):
    with pytest.raises(SpecError) as err:
        parse_spec({"entries": [{**OK, "label": label}]}, "s.yaml")
    assert str(err.value).startswith(f"s.yaml: {message}")


def test_labels_are_mapped_to_folder_names_inside_runs(tmp_path):
    spec = parse_spec({"entries": [{**OK, "label": "T5 prompt, seed 33"}, {**OK, "label": "a/../../b"},
                                   {**OK, "label": "é" * 300}]})
    slugs = [e.slug for e in spec.entries]
    assert slugs == ["T5-prompt-seed-33", "a-..-..-b", "entry"]
    runs = tmp_path / "runs"
    for slug in slugs:  # each one folder directly inside runs/
        assert (runs / slug).resolve().parent == runs.resolve() and len(slug.encode()) <= 255


@pytest.mark.parametrize(("text", "line", "key", "first"), [
    ("entries:\n  - label: a\n    model: hf\n    model_args: {pretrained: org/m}\n    model_args: {pretrained: o/n}\n",
     5, "model_args", 4),
    ("title: x\nentries:\n  - {label: a, model: hf}\ntitle: y\n", 4, "title", 1),
    ("entries:\n  - {label: a, model: hf, model_args: {pretrained: m, pretrained: n}}\n", 2, "pretrained", 2),
])
def test_a_key_given_twice_is_refused_with_file_line_and_key(text, line, key, first, tmp_path):
    assert yaml.safe_load(text)  # plain YAML keeps the last value without a word
    path = tmp_path / "board.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == (f"{path}: line {line}: key '{key}' is given twice in one mapping (first on line "
                              f"{first}); YAML would silently keep the last: keep one.")
