"""The lm-eval integration: one gold-label rule, one rendering path, both lm-eval request signatures."""

from __future__ import annotations

import json
from pathlib import Path

import lm_eval
import numpy as np
import pytest

from skillneuron_harness.core.observers import ScoringObserver
from skillneuron_harness.host import compat
from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.host.tasks import TaskError, document_groups, gold_label, load_task

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TEMPLATE = "{}\nQuestion: Is this sentence positive or negative?\nAnswer:"


class Task:
    """The two methods of an lm-eval Task that the label rule reads."""

    def __init__(self, target, choices=("no", "yes")):
        self.target, self.choices = target, list(choices)

    def doc_to_target(self, doc):
        return self.target

    def doc_to_choice(self, doc):
        return self.choices


@pytest.mark.parametrize(("target", "gold"), [(1, 1), (0, 0), ("yes", 1), (np.int64(1), 1)])
def test_gold_label_reads_indices_and_choice_texts(target, gold):
    assert gold_label(Task(target), {}, task_name="t", doc_id=3) == gold


@pytest.mark.parametrize("target", [2, -1, "maybe", "1", True, [0, 1], 1.0])
def test_gold_label_refuses_what_names_no_choice(target):
    with pytest.raises(TaskError, match=r"task=t, document 3: the target .* names none of its 2 choices"):
        gold_label(Task(target), {}, task_name="t", doc_id=3)


def test_gold_label_takes_the_target_lm_eval_stored_on_the_request():
    # next0.5 puts doc_to_target's value on Instance.target; where given it is the one read
    assert gold_label(Task(0), {}, task_name="t", doc_id=3, target="yes") == 1
    assert gold_label(Task(0), {}, task_name="t", doc_id=3, target=None) == 0


class Request:
    """The fields of a request Instance that the unconditional-request rule reads."""

    def __init__(self, idx, metadata):
        self.idx, self.metadata, self.doc = idx, metadata, {}


def test_unconditional_requests_of_both_versions():
    mutual = Task(0)
    mutual.config = type("Config", (), {"metric_list": [{"metric": "acc"}, {"metric": "acc_mutual_info"}]})()
    plain = Task(0)
    plain.config = type("Config", (), {"metric_list": [{"metric": "acc"}]})()
    # 0.4.13: untagged, after the document's 2 choices, and only when the task computes acc_mutual_info
    flags = [compat.unconditional_request(Request(i, ("t", 0, 1)), mutual) for i in range(4)]
    assert flags == [False, False, True, True]
    assert not compat.unconditional_request(Request(2, ("t", 0, 1)), plain)
    # next0.5: tagged in the metadata dict
    assert compat.unconditional_request(Request(0, {"acc_mutual_info": True}), plain)
    assert not compat.unconditional_request(Request(3, {}), mutual)
    assert compat.instance_tags(Request(0, ("t", 0, 1))) == {}
    assert compat.instance_tags(Request(0, {"acc_mutual_info": True})) == {"acc_mutual_info": True}


def test_unmatched_task_names_are_those_the_index_lacks():
    manager = type("Manager", (), {"all_tasks": ["sst2", "adv_sst2", "advglue"]})()
    names = ["sst2", "adv_sst", {"task": "from_a_yaml"}, "advglue::adv_sst2", "sst2@mcqa", "ad*"]
    assert compat.unmatched_task_names(names, manager) == ["adv_sst", "ad*"]
    assert compat.unmatched_task_names(None, manager) == []


class Task04:
    """lm-eval 0.4.13's request signature: the document id inside the metadata tuple."""

    config = type("Config", (), {"task": "t04", "gen_prefix": None})()

    def doc_to_prefix(self, doc):
        return "P:"

    def fewshot_context(self, doc, num_fewshot, gen_prefix=None):
        return f"{gen_prefix}{doc['x']}"

    def construct_requests(self, doc, ctx, **kwargs):
        return [(ctx, kwargs["metadata"])]


class Task05(Task04):
    """The next0.5 signature: ``doc_id`` keyword-only, no ``doc_to_prefix``."""

    doc_to_prefix = None  # removed upstream

    def __getattribute__(self, name):
        if name == "doc_to_prefix":
            raise AttributeError(name)
        return super().__getattribute__(name)

    def _resolve_field(self, doc, field):
        return "Q:"

    def construct_requests(self, doc, ctx, *, doc_id, metadata=None, **kwargs):
        return None if doc_id < 0 else [(ctx, doc_id)]


def test_compat_renders_and_builds_requests_for_both_signatures():
    assert compat.render_context(Task04(), {"x": "a"}) == "P:a"
    assert compat.document_requests(Task04(), {"x": "a"}, 7, "ctx") == [("ctx", ("t04", 7, 1))]
    assert compat.render_context(Task05(), {"x": "a"}) == "Q:a"
    assert compat.document_requests(Task05(), {"x": "a"}, 7, "ctx") == [("ctx", 7)]
    assert compat.document_requests(Task05(), {"x": "a"}, -1, "ctx") == []  # a skipped document


def test_hflm_keywords_come_from_its_signature():
    keys = compat.hflm_keywords()
    assert {"pretrained", "dtype", "trust_remote_code", "parallelize", "batch_size", "max_batch_size"} <= keys
    assert "promt" not in keys


def rows(name: str, split: str, n: int) -> list[dict]:
    with (DATA / name / f"{split}.jsonl").open() as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


def test_document_groups_tokenise_as_written_by_hand(tiny_models):
    from transformers import AutoTokenizer

    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu")
    task = load_task("sst2")
    docs = [task.training_docs()[i] for i in range(5)]
    tok = AutoTokenizer.from_pretrained(tiny_models["bert"])
    for document, row in zip(document_groups(task, docs, lm), rows("sst2", "train", 5), strict=True):
        assert document.group.context == tok.encode(TEMPLATE.format(row["sentence"]), add_special_tokens=False)
        assert document.group.continuations == [tok.encode(w, add_special_tokens=False)
                                                 for w in (" negative", " positive")]
        assert document.gold == row["label"]


class Watcher(ScoringObserver):
    """An observer outside the package: what it sees is what lm-eval evaluated."""

    capture_positions = "last"

    def __init__(self):
        self.events, self.seen, self.armed = [], [], 0

    def interventions(self, model):
        from contextlib import contextmanager

        @contextmanager
        def count():
            self.armed += 1
            yield

        return count()

    def begin(self, run):
        self.events.append(("begin", run.task_names, run.task("adv_sst2").clean_twin))

    def scored(self, batch):
        assert batch.activations.shape[:3] == (len(batch.tasks), 2, 1)  # (G, L, P'=1, D)
        self.seen += list(zip(batch.tasks, batch.doc_ids, batch.labels, batch.predictions, strict=True))

    def end(self):
        self.events.append(("end",))


def test_an_observer_sees_begin_each_document_with_its_label_and_end(tiny_models, task_manager):
    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu", batch_size=3)
    watcher = Watcher()
    lm.engine.observers.append(watcher)
    results = lm_eval.simple_evaluate(model=lm, tasks=["adv_sst2"], limit=5, task_manager=task_manager,
                                      log_samples=True)
    assert watcher.events == [("begin", ["adv_sst2"], "sst2"), ("end",)]
    labels = [r["label"] for r in rows("adv_sst2", "validation", 5)]
    assert sorted((d, y) for _, d, y, _ in watcher.seen) == list(enumerate(labels))
    accuracy = np.mean([p == y for _, _, y, p in watcher.seen])
    assert accuracy == pytest.approx(results["results"]["adv_sst2"]["acc,none"])
    assert watcher.armed >= 2  # around every forward batch (5 documents, batches of 3 choices)


def test_statistics_do_not_import_lm_eval():
    """neurons/ stays tensors in, files out: lm-eval is reached through lm_eval_tasks only."""
    import ast

    import skillneuron_harness.neurons as neurons

    for path in Path(neurons.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad = [n for n in names if n.split(".")[0] == "lm_eval" or n.startswith("skillneuron_harness.models")]
            assert not bad, f"{path.name} imports {bad}"


def test_statistics_read_the_tasks_of_the_evaluation_in_progress(tiny_models, tmp_path):
    """A user's task from the evaluation's own ``--include_path`` needs no ``sn_include_path``, and a
    TaskManager built later in the same process (without that folder) changes nothing."""
    from lm_eval.tasks import TaskManager

    from skillneuron_harness.host.bridge import task_folder

    user_dir = tmp_path / "my_tasks"
    user_dir.mkdir()
    sentences = [r["sentence"] for r in rows("adv_sst2", "validation", 4)]
    (user_dir / "my_adv_sst2.jsonl").write_text(
        "".join(json.dumps({"sentence": s, "label": i % 2}) + "\n" for i, s in enumerate(sentences)))
    (user_dir / "my_adv_sst2.yaml").write_text(
        f"include: {task_folder() / 'templates' / 'sst2_jsonl.yaml'}\ntask: my_adv_sst2\n"
        "dataset_kwargs:\n  data_files: my_adv_sst2.jsonl\nmetadata: {clean_twin: sst2}\n")
    manager = TaskManager(include_path=str(user_dir))
    TaskManager(include_defaults=False)  # the last one built knows nothing of my_adv_sst2
    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu", batch_size=4,
                       skill_neurons=str(tmp_path / "sn"), sn_baseline_limit=4)
    results = lm_eval.simple_evaluate(model=lm, tasks=["my_adv_sst2"], task_manager=manager)
    stats = json.loads((tmp_path / "sn" / "my_adv_sst2.json").read_text())
    assert stats["provenance"]["num_docs"] == 4
    assert stats["provenance"]["baseline_source"] == "sst2:train"
    assert results["skill_neurons"]["my_adv_sst2"]["num_docs"] == 4


def test_acc_mutual_info_requests_are_no_documents(tiny_models, tmp_path):
    """A task that also computes acc_mutual_info scores each document's choices a second time without
    context; an observer still sees each document once, with its label and lm-eval's acc prediction."""
    from lm_eval.tasks import TaskManager

    from skillneuron_harness.host.bridge import task_folder

    rows_ = rows("adv_sst2", "validation", 5)
    (tmp_path / "mi.jsonl").write_text("".join(json.dumps({"sentence": r["sentence"], "label": r["label"]}) + "\n"
                                               for r in rows_))
    (tmp_path / "mi.yaml").write_text(
        f"include: {task_folder() / 'templates' / 'sst2_jsonl.yaml'}\ntask: my_mi_sst2\n"
        # the space in the choices, not the delimiter: next0.5 puts no delimiter after an empty context
        # and then requires both kinds of request to have the same continuations
        "target_delimiter: ''\ndoc_to_choice: [' negative', ' positive']\n"
        "dataset_kwargs:\n  data_files: mi.jsonl\nmetadata: {clean_twin: sst2}\nmetric_list:\n"
        "  - {metric: acc, aggregation: mean, higher_is_better: true}\n"
        "  - {metric: acc_mutual_info, aggregation: mean, higher_is_better: true}\n")
    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu", batch_size=3)
    watcher = Watcher()
    watcher.begin = lambda run: None  # the run has no adv_sst2
    lm.engine.observers.append(watcher)
    results = lm_eval.simple_evaluate(model=lm, tasks=["my_mi_sst2"], task_manager=TaskManager(include_path=str(
        tmp_path)), log_samples=True, bootstrap_iters=0)
    samples = results["samples"]["my_mi_sst2"]
    assert all(len(s["arguments"]) == 4 for s in samples)  # 2 choices with context, 2 without
    assert sorted((d, y) for _, d, y, _ in watcher.seen) == [(i, r["label"]) for i, r in enumerate(rows_)]
    accuracy = np.mean([p == y for _, _, y, p in watcher.seen])
    assert accuracy == pytest.approx(results["results"]["my_mi_sst2"]["acc,none"])
