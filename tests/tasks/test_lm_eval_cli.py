"""The stock ``lm-eval`` command on our tasks: validate, run the suites, run a user's own task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from suite_names import ADVGLUE_TASKS, OUR_GROUPS, OUR_TASKS

from skillneuron_harness.host.bridge import task_folder

# The stock CLI, except that f1's bootstrap stderr (qqp, mrpc, adv_qqp) draws 100 samples, not
# lm-eval 0.4.13's fixed 100,000 (no CLI option), which alone takes minutes on a small CI machine.
# bootstrap_stderr is replaced in the module that defines it and that stderr_for_metric reads it from:
# lm_eval.api.metrics in 0.4.13, lm_eval.api.metrics.stderr in next0.5 (which re-exports it).
LM_EVAL = [sys.executable, "-c", """
import importlib
import lm_eval.api.metrics as metrics
home = importlib.import_module(metrics.bootstrap_stderr.__module__)
full_bootstrap = home.bootstrap_stderr
home.bootstrap_stderr = lambda f, xs, iters: full_bootstrap(f, xs, iters=min(iters, 100))
from lm_eval.__main__ import cli_evaluate
cli_evaluate()
"""]


def _run(args, *, cwd, cache, timeout=240):
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache)}
    proc = subprocess.run([*LM_EVAL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _results(out_dir: Path) -> dict:
    (path,) = out_dir.rglob("results_*.json")
    return json.loads(path.read_text())


def test_validate_every_task_and_group(monkeypatch, capsys, task_manager):
    """``lm-eval validate`` (run in this process, on the session's task index: the command needs nothing else)."""
    import lm_eval.tasks
    from lm_eval.__main__ import cli_evaluate

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", lambda include_path=None: task_manager)

    monkeypatch.setattr(sys, "argv", ["lm-eval", "validate", "--tasks", ",".join(OUR_TASKS + OUR_GROUPS)])
    cli_evaluate()
    assert "All tasks found and valid" in capsys.readouterr().out


def test_missing_dataset_error_names_hub_id(tmp_path, task_manager, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)  # an empty offline cache
    with pytest.raises(Exception, match="AI-Secure/adv_glue"):
        task_manager.load(["adv_sst2"])["tasks"]["adv_sst2"].dataset  # noqa: B018 (next0.5 loads it here)


def test_training_split_from_the_mirror_alone(task_manager):
    """lm-eval 0.4.13 reads a task's declared training split while building it (for few-shot
    examples), next0.5 when ``task.dataset`` is first read: the mirror's samples are enough to
    build the transfer tasks offline."""
    task = task_manager.load(["sn_imdb"])["tasks"]["sn_imdb"]
    assert len(task.dataset["train"]) == len(task.dataset["test"]) == 1000


def _model_args(tiny_models):
    return ["--model", "hf", "--model_args", f"pretrained={tiny_models['gpt2']}", "--device", "cpu",
            "--batch_size", "8"]


RECIPE_YAML = """\
include: {template}
task: my_adv_sst2
dataset_kwargs:
  data_files: my_adv_sst2.jsonl
metadata: {{clean_twin: sst2}}
"""


def test_advglue_and_user_recipe_end_to_end(tmp_path, tiny_models, full_hf_cache):
    """``advglue`` on a tiny model, with docs/tasks.md's recipe for a user's own adversarial task
    (five lines of YAML next to a generated JSONL file; lm_eval started in another folder)."""
    user_dir, elsewhere = tmp_path / "my_tasks", tmp_path / "elsewhere"
    user_dir.mkdir()
    elsewhere.mkdir()
    rows = [{"sentence": f"a synthetic adversarial sentence number {i} .", "label": i % 2} for i in range(5)]
    (user_dir / "my_adv_sst2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    template = task_folder() / "templates" / "sst2_jsonl.yaml"
    (user_dir / "my_adv_sst2.yaml").write_text(RECIPE_YAML.format(template=template))

    _run([*_model_args(tiny_models), "--include_path", str(user_dir), "--tasks", "advglue,my_adv_sst2",
          "--limit", "5", "--output_path", "out", "--log_samples"], cwd=elsewhere, cache=full_hf_cache)
    report = _results(elsewhere / "out")
    results = report["results"]
    # a member's key: its name (0.4.13) or its path in the group (next0.5: advglue::adv_sst2); its config names it
    key = {config["task"]: name for name, config in report["configs"].items()}
    assert set(ADVGLUE_TASKS) <= set(key), sorted(results)
    accs = {task: results[key[task]]["acc,none"] for task in ADVGLUE_TASKS}
    # unweighted means: over the six leaf tasks, and over MNLI matched + mismatched
    assert results["advglue"]["acc,none"] == pytest.approx(sum(accs.values()) / 6)
    assert results["advglue_mnli"]["acc,none"] == pytest.approx(
        (accs["adv_mnli"] + accs["adv_mnli_mismatched"]) / 2)

    assert report["n-samples"]["my_adv_sst2"] == {"original": 5, "effective": 5}
    assert report["configs"]["my_adv_sst2"]["metadata"]["clean_twin"] == "sst2"
    (samples,) = (elsewhere / "out").rglob("samples_my_adv_sst2_*.jsonl")
    first = json.loads(samples.read_text().splitlines()[0])
    assert first["arguments"]["gen_args_0"]["arg_0"] == (
        "a synthetic adversarial sentence number 0 .\nQuestion: Is this sentence positive or negative?\nAnswer:")
    assert str(first["target"]) == "0"  # label 0 -> "negative"


def test_transfer_groups_end_to_end(tmp_path, tiny_models, full_hf_cache):
    groups = ["transfer_sentiment", "transfer_nli", "transfer_paraphrase"]
    _run([*_model_args(tiny_models), "--tasks", ",".join(groups), "--limit", "2", "--output_path", "out"],
         cwd=tmp_path, cache=full_hf_cache)
    report = _results(tmp_path / "out")
    expected = {
        "transfer_sentiment": {"sst2", "adv_sst2", "sn_imdb", "sn_rotten_tomatoes", "sn_yelp_polarity"},
        "transfer_nli": {"mnli", "mnli_mismatch", "qnli", "rte", "adv_mnli", "adv_mnli_mismatched", "adv_qnli",
                         "adv_rte", "sn_snli", "sn_mnli_binary", "sn_adv_mnli_binary"},
        "transfer_paraphrase": {"qqp", "mrpc", "paws_en", "adv_qqp"},
    }
    for group, tasks in expected.items():
        members = report["group_subtasks"][group]  # lm-eval 0.5 names them group::task
        assert {m.removeprefix(f"{group}::") for m in members} == tasks
        for member in members:
            assert 0.0 <= report["results"][member]["acc,none"] <= 1.0


def test_user_data_missing_file_names_the_path(tmp_path):
    from lm_eval.tasks._yaml_loader import load_yaml

    template = load_yaml(task_folder() / "templates" / "sst2_jsonl.yaml")
    yaml_path = tmp_path / "mine.yaml"
    yaml_path.write_text("task: mine\n")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere.jsonl")):
        template["custom_dataset"](data_files="nowhere.jsonl", config_source=str(yaml_path))
