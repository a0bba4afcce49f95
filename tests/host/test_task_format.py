"""``metadata.released_format`` of a user's own task YAML (``--include_path``) is applied, as docs/tasks.md says.

The user's YAML below includes nothing of ours: it renders MNLI as our ``sn_pt_mnli_t5`` does
(Prompt-Transferability's MNLIPromptT5 formatter, same answer words) with a Jinja template instead
of our ``utils.py``, keeps GLUE's labels (so only log-likelihoods are compared, not accuracy), and
declares the same token rules. Scored in one lm-eval run with our task, its per-choice
log-likelihoods must equal our task's; the same YAML without the key must score differently (the
T5 end token and the answers' later tokens are then kept), so the equality is the format's doing.
"""

from __future__ import annotations

import pytest
from lm_requests import logged_loglikelihoods

USER_YAML = """\
task: {name}
dataset_path: nyu-mll/glue
dataset_name: mnli
validation_split: validation_matched
output_type: multiple_choice
doc_to_text: "hypothesis: {{{{hypothesis.strip()}}}} [SEP] sentence: premise: {{{{premise.strip()}}}}"
doc_to_target: label
doc_to_choice: ["contradiction", "neutral", "entailment"]
metric_list:
  - metric: acc
metadata:
  version: 1.0
{released_format}"""
FORMAT = "  released_format: {max_text_tokens: 130, end_token: false, answer_tokens: 1}\n"
LIMIT = 4


def user_folder(root, released_format=FORMAT):
    """A task folder with ``my_mnli_t5`` (``released_format`` as given) and ``my_mnli_t5_plain`` (none)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "my_mnli_t5.yaml").write_text(USER_YAML.format(name="my_mnli_t5", released_format=released_format))
    (root / "my_mnli_t5_plain.yaml").write_text(USER_YAML.format(name="my_mnli_t5_plain", released_format=""))
    return root


def manager_with(folder):
    """The TaskManager of ``--include_path folder`` (lm-eval's own folder left out: indexing it takes seconds)."""
    from lm_eval.tasks import TaskManager

    from skillneuron_harness.host.bridge import task_folder

    return TaskManager(include_defaults=False, include_path=[str(folder), str(task_folder())])


def test_user_yaml_released_format_scores_as_our_format_matched_task(tiny_models, tmp_path):
    from lm_eval.evaluator import simple_evaluate

    from skillneuron_harness.host.model import PromptTunedLM

    tasks = ["sn_pt_mnli_t5", "my_mnli_t5", "my_mnli_t5_plain"]
    lm = PromptTunedLM(pretrained=str(tiny_models["t5"]), device="cpu", batch_size=4)
    out = simple_evaluate(model=lm, tasks=tasks, limit=LIMIT, log_samples=True, bootstrap_iters=0,
                          task_manager=manager_with(user_folder(tmp_path / "my_tasks")))
    samples = {name: out["samples"][name] for name in tasks}
    texts = {name: [(s["doc"]["hypothesis"], s["doc"]["premise"]) for s in samples[name]] for name in tasks}
    assert len(texts["sn_pt_mnli_t5"]) == LIMIT
    assert texts["my_mnli_t5"] == texts["my_mnli_t5_plain"] == texts["sn_pt_mnli_t5"]  # the same documents
    scores = {name: [ll for s in samples[name] for ll in logged_loglikelihoods(s)] for name in tasks}
    assert len(scores["sn_pt_mnli_t5"]) == 3 * LIMIT
    assert scores["my_mnli_t5"] == pytest.approx(scores["sn_pt_mnli_t5"], abs=1e-5)
    gap = max(abs(a - b) for a, b in zip(scores["my_mnli_t5_plain"], scores["sn_pt_mnli_t5"], strict=True))
    assert gap > 1e-3


def test_twin_outside_the_run_reads_the_indexed_yaml_of_that_run(tmp_path, monkeypatch):
    """A task loaded from the run's TaskManager but not evaluated (a user's clean twin, for the baseline
    pass) gets the format of the YAML that manager indexes; another run's folder, its own."""
    from skillneuron_harness.host import bridge as lm_eval_bridge
    from skillneuron_harness.host.task_format import TaskFormat, task_format

    first = manager_with(user_folder(tmp_path / "first"))
    second = manager_with(user_folder(tmp_path / "second", FORMAT.replace("130", "7")))
    monkeypatch.setattr(lm_eval_bridge, "_RUNNING", [{"task_dict": None, "task_manager": first}])
    assert task_format("my_mnli_t5") == TaskFormat(max_text_tokens=130, end_token=False, answer_tokens=1)
    assert task_format("my_mnli_t5_plain") is None
    monkeypatch.setattr(lm_eval_bridge, "_RUNNING", [{"task_dict": None, "task_manager": second}])
    assert task_format("my_mnli_t5") == TaskFormat(max_text_tokens=7, end_token=False, answer_tokens=1)
