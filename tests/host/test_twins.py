"""Perturbed twins: a copy of a clean task that differs only in the perturbed fields of its evaluation documents.

The perturbation itself is replaced by a stand-in (upper case, on even document ids only) so that
these tests check the twin's mechanics against the clean task built by lm-eval; the perturbation
kinds have their own tests in tests/perturbations/.
"""

from __future__ import annotations

import sys
import types

import pytest
from lm_eval.tasks._yaml_loader import load_yaml

from skillneuron_harness.core.edits import change_size, levenshtein
from skillneuron_harness.host import tasks as host_tasks
from skillneuron_harness.host.twins import Twin, TwinError


class _Upper:
    """Upper-cases a field of the even documents; the answer words stay as they are."""

    def __init__(self, seed, protected=()):
        self.seed, self.protected = seed, protected

    @classmethod
    def from_spec(cls, steps, seed, protected=()):
        if steps[0].get("kind") != "upper":
            raise _Error(f"step 0: unknown kind {steps[0].get('kind')!r}")
        return cls(seed, protected)

    def apply(self, text, doc_id, field):
        new = " ".join(w if w.lower() in self.protected else w.upper() for w in text.split(" ")) if doc_id % 2 == 0 \
            else text
        return new, new != text

    def describe(self):
        return {"steps": [{"kind": "upper"}], "seed": self.seed}


class _Error(ValueError):
    pass


@pytest.fixture
def twin_of(tmp_path, monkeypatch, task_manager):
    stand_in = types.ModuleType("skillneuron_harness.perturbations")
    stand_in.Perturbation, stand_in.PerturbationError = _Upper, _Error
    monkeypatch.setitem(sys.modules, "skillneuron_harness.perturbations", stand_in)
    monkeypatch.setattr(host_tasks, "task_manager", lambda include_path=(): task_manager)

    def build(of, fields=("sentence",), extra=""):
        path = tmp_path / "twin.yaml"
        path.write_text(f"task: upper_{of}\nclass: !function skillneuron_harness.host.twins.Twin\n"
                        f"perturbation:\n  of: {of}\n  fields: [{', '.join(fields)}]\n  steps: [{{kind: upper}}]\n"
                        + extra)
        config = load_yaml(path)
        config.setdefault("metadata", {})["config_source"] = str(path)  # as lm-eval's TaskManager adds it
        assert config["class"] is Twin  # the YAML names the class through lm-eval's !function
        return config["class"](config={k: v for k, v in config.items() if k != "class"})

    return build


def test_a_twin_of_a_builtin_task_differs_only_in_its_perturbed_field(twin_of, task_manager):
    twin = twin_of("sst2")
    clean = task_manager.load(["sst2"])["tasks"]["sst2"]
    docs, originals = list(twin.eval_docs), list(clean.eval_docs)
    assert len(docs) == len(originals) == 872
    for doc_id, (doc, original) in enumerate(zip(docs, originals, strict=True)):
        assert doc["clean_doc_id"] == doc_id and doc["label"] == original["label"] and doc["idx"] == original["idx"]
        assert doc["sentence"] == (original["sentence"].upper() if doc_id % 2 == 0 else original["sentence"])
        assert doc["perturbed"] == (doc["sentence"] != original["sentence"])
        assert twin.doc_to_choice(doc) == clean.doc_to_choice(original)
        assert twin.doc_to_target(doc) == clean.doc_to_target(original)
        if doc_id % 2:  # unchanged document: rendered exactly as the clean task renders it
            assert twin.doc_to_text(doc) == clean.doc_to_text(original)
    upper = {**originals[0], "sentence": originals[0]["sentence"].upper()}
    assert twin.doc_to_text(docs[0]) == clean.doc_to_text(upper)
    metadata = twin.config.metadata
    assert metadata["clean_twin"] == "sst2" and metadata["perturbation"]["of"] == "sst2"
    assert metadata["perturbation"]["fields"] == ["sentence"]
    train, clean_train = twin.training_docs(), clean.training_docs()  # few-shot and baseline documents stay clean
    assert [d["sentence"] for d in list(train)[:50]] == [d["sentence"] for d in list(clean_train)[:50]]


def test_skip_unchanged_keeps_the_clean_ids(twin_of):
    docs = list(twin_of("sst2", extra="  skip_unchanged: true\n").eval_docs)
    assert [d["clean_doc_id"] for d in docs] == list(range(0, 872, 2)) and all(d["perturbed"] for d in docs)


def test_a_twin_of_our_released_format_task_keeps_its_format(twin_of, task_manager):
    twin = twin_of("sn_pt_sst2_roberta")
    clean = task_manager.load(["sn_pt_sst2_roberta"])["tasks"]["sn_pt_sst2_roberta"]
    assert twin.config.metadata["released_format"] == clean.config.metadata["released_format"]
    assert twin.config.metadata["clean_twin"] == "sn_pt_sst2_roberta"
    doc, original = list(twin.eval_docs)[1], list(clean.eval_docs)[1]
    assert twin.doc_to_text(doc) == clean.doc_to_text(original)


@pytest.mark.parametrize(("of", "fields", "extra", "message"), [
    ("sts2", ("sentence",), "", "no such task \\(did you mean .*sst2"),
    ("sst2", ("sentense",), "", "names 'sentense'.*text fields: sentence"),
    ("glue", ("sentence",), "", "is a group or tag"),
    ("sst2", ("sentence",), "  sed: 3\n", "no key 'sed' \\(did you mean 'seed'"),
    ("sst2", ("sentence",), "  seed: -1\n", "seed must be a whole number"),
])
def test_a_bad_twin_is_refused_in_one_line(twin_of, of, fields, extra, message):
    with pytest.raises(TwinError, match=message):
        list(twin_of(of, fields, extra).eval_docs)


def test_change_size_counts_words_out_of_place_and_edits():
    assert change_size("a b c d", "a b c d") == (0.0, 0)
    assert change_size("a b c d", "a x c d") == (0.25, 1)
    assert change_size("good film", "good film and true is true") == (0.0, 17)
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3


def test_the_same_seed_gives_byte_identical_documents_in_other_processes(tmp_path):
    """Two fresh interpreters (other hash seeds), one reading the first 5 documents as --limit 5 would:
    the same bytes as the full split's first 5 in this process's twin of the other."""
    import json
    import os
    import subprocess

    (tmp_path / "twin.yaml").write_text(
        "task: typo_rte\nclass: !function skillneuron_harness.host.twins.Twin\nperturbation:\n  of: rte\n"
        "  fields: [sentence1, sentence2]\n  steps: [{kind: keyboard_typo, rate: 0.2}, {kind: word_shuffle}]\n")
    code = f"""
import json, sys
from lm_eval.tasks import TaskManager
from skillneuron_harness.host import compat
limit = int(sys.argv[1])
task = compat.load_tasks(TaskManager(include_path={str(tmp_path)!r}), ["typo_rte"])["typo_rte"]
print(json.dumps([dict(d) for d in list(task.eval_docs)[:limit]], sort_keys=True))
"""
    runs = [subprocess.Popen([sys.executable, "-c", code, limit], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONHASHSEED": seed})
            for seed, limit in (("1", "277"), ("2", "5"))]  # side by side: each indexes lm-eval's tasks
    outs = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    full, first = outs
    assert len(full) == 277 and json.dumps(full[:5], sort_keys=True) == json.dumps(first, sort_keys=True)
    assert sum(d["perturbed"] for d in full) > 250  # the steps did change the documents
