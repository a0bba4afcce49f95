"""``skillneuron report`` over runs of one prompt with different limits: groups that never mix, each naming n.

The folders are written the way ``prompt_tuned`` writes them: a results JSON whose ``config``
records the limit and whose ``skill_neurons`` section lists the task's files, its ``num_docs``
and the evaluation's run id, and ``write_task_stats`` files whose provenance records the same
run id and document count (their ``class_counts`` sum to it). The expected pairing is computed
here from the folders each file was written into, not by the code under test.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from skillneuron_harness.cli import main as cli
from skillneuron_harness.neurons.io import write_task_stats
from skillneuron_harness.report.collect import collect, gather
from skillneuron_harness.report.render import compute
from skillneuron_harness.report.runs import MixedRuns, select

L, P, D = 2, 3, 50
TWINS = {"adv_sst2": "sst2"}


def write_run(folder, stamp, limit, docs, accs, *, prompt="demo", run_id=None, provenance_extra=None, seed=0,
              path=None):
    """One evaluation of ``prompt`` (at ``path``, default /p/<prompt>): results_<stamp>.json and, with ``run_id``, a
    skill-neuron file per task."""
    folder.mkdir(parents=True, exist_ok=True)
    path = path or f"/p/{prompt}"
    sections = {}
    for i, task in enumerate(accs):
        if run_id is None:
            continue
        n = docs[task]
        gen = torch.Generator().manual_seed(seed + i)
        counts = torch.tensor([n // 2, n - n // 2])
        fire = torch.stack([torch.randint(0, int(c) + 1, (L, P, D), generator=gen) for c in counts])  # (C, L, P, D)
        provenance = {"model": "org/tiny-model", "prompt": path, "prompt_sha256": f"sha-{prompt}",
                      "clean_twin": TWINS.get(task), "task": task, "num_docs": n, "run": run_id,
                      **(provenance_extra or {})}
        st, js = write_task_stats(folder / "sn", task, baseline=torch.zeros(L, P, D), fire_counts=fire,
                                  class_counts=counts,
                                  provenance={k: v for k, v in provenance.items() if v is not None})
        sections[task] = {"files": [str(st), str(js)], "num_docs": n, "run": run_id}
    data = {"results": {t: {"alias": t, "acc,none": a, "acc_stderr,none": 0.05} for t, a in accs.items()},
            "configs": {t: {"task": t, "doc_to_choice": ["negative", "positive"],
                            "metadata": {"clean_twin": TWINS[t]} if t in TWINS else {}} for t in accs},
            "n-samples": {t: {"original": 80 if t == "sst2" else 30, "effective": docs[t]} for t in accs},
            "config": {"model": "prompt_tuned", "model_args": f"pretrained=org/tiny-model,prompt={path}",
                       "prompt_source": path, "prompt_sha256": f"sha-{prompt}", "limit": limit}}
    if sections:
        data["skill_neurons"] = sections
    out = folder / f"results_{stamp}.json"
    out.write_text(json.dumps(data))
    return out


@pytest.fixture()
def three(tmp_path):
    """A full run, a --limit 20 run and a --limit 12 run (sst2 only, the newest file) of one prompt."""
    write_run(tmp_path / "demo-out", "2026-01-01T00-00-00", None, {"sst2": 80, "adv_sst2": 30},
              {"sst2": 0.8, "adv_sst2": 0.4}, run_id="full", seed=1)
    write_run(tmp_path / "out_q", "2026-01-02T00-00-00", 20, {"sst2": 20, "adv_sst2": 20},
              {"sst2": 0.85, "adv_sst2": 0.5}, run_id="q", seed=2)
    write_run(tmp_path / "out5", "2026-01-03T00-00-00", 12, {"sst2": 12}, {"sst2": 10 / 12}, run_id="five", seed=3)
    return tmp_path


def _score(path):
    from safetensors.torch import load_file

    return load_file(str(path))["score"].numpy()


def test_different_limits_are_never_paired_and_every_table_names_n(three, tmp_path, capsys):
    folders = [three / "demo-out", three / "out_q", three / "out5"]
    selection = select(gather(folders))
    assert [g.label for g in selection.groups] == ["all documents", "--limit 20", "--limit 12"]
    by_label = {g.label: compute(g, top=0.1) for g in selection.groups}
    acc = {label: [(r["task"], r["adversarial_task"], r["clean_mean"], r["adversarial_mean"], r["clean_docs"],
                    r["adversarial_docs"]) for r in data["accuracy"]] for label, data in by_label.items()}
    assert acc["all documents"] == [("sst2", "adv_sst2", 0.8, 0.4, [80], [30])]
    assert acc["--limit 20"] == [("sst2", "adv_sst2", 0.85, 0.5, [20], [20])]
    (row,) = acc["--limit 12"]
    assert row[:2] == ("sst2", None) and row[4] == [12] and row[5] == []
    # consistency only from the two files of one run, checked against the folder each was written into
    for label, folder in (("all documents", "demo-out"), ("--limit 20", "out_q")):
        (pair,) = by_label[label]["consistency"]["per_prompt"]
        assert (pair["clean_docs"], pair["adversarial_docs"]) == ({"demo-out": (80, 30), "out_q": (20, 20)}[folder])
        clean, adv = _score(three / folder / "sn" / "sst2.safetensors"), _score(three / folder / "sn" /
                                                                                 "adv_sst2.safetensors")
        k = 1  # 2% of 50 neurons
        want = np.mean([len(set(np.argsort(clean[i], kind="stable")[::-1][:k]) &
                            set(np.argsort(adv[i], kind="stable")[::-1][:k])) / k for i in range(L)])
        assert pair["overlap"][0] == pytest.approx(want)
    assert by_label["--limit 12"]["consistency"]["per_prompt"] == []
    assert not selection.left_out

    assert cli(["report", *map(str, folders), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "skillneuron report: all documents: 1 results file(s) (adv_sst2 n=30, sst2 n=80), 2 skill-neuron" in out
    assert "skillneuron report: --limit 12: 1 results file(s) (sst2 n=12)" in out
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Runs" in text and "## Group 1: all documents" in text and "## Group 3: --limit 12" in text
    assert "### Accuracy" in text and "| prompts | n (clean / adversarial) |" in text
    assert "| 80.0 | adv_sst2 | 40.0 | 50.0 | 50 | 1 | 80 / 30 |" in text
    assert "| 85.0 | adv_sst2 | 50.0 | 41.2 | 50 | 1 | 20 / 20 |" in text
    assert "| 83.3 | - | n/a | n/a | 50 | 1 | 12 |" in text
    assert "| documents (clean / adversarial) |" in text and "| 80 / 30 |" in text
    assert "figures/g1_consistency_overlap.png" in text and (tmp_path / "rep" / "figures" /
                                                             "g2_consistency_overlap.png").is_file()
    with pytest.raises(MixedRuns, match="--limit 20"):  # one group asked for: refused, the groups named
        collect(folders)
    data = json.loads((tmp_path / "rep2" / "report.json").read_text()) if cli(
        ["report", *map(str, folders), "--out", str(tmp_path / "rep2"), "--format", "json"]) == 0 else None
    assert [g["group"] for g in data["groups"]] == ["all documents", "--limit 20", "--limit 12"]
    assert [g["label"] for g in data["runs"]["groups"]] == ["all documents", "--limit 20", "--limit 12"]


def test_neuron_files_join_the_evaluation_that_wrote_them_wherever_they_lie(three, tmp_path, capsys):
    # the limit-20 run's neuron files moved away from its results (the listed paths no longer hold): run id pairs
    moved = tmp_path / "elsewhere" / "sn"
    shutil.move(str(three / "out_q" / "sn"), str(moved))
    # a file of another run of the prompt (40 documents) that no results file here belongs to
    write_run(tmp_path / "stray", "2026-01-04T00-00-00", 40, {"sst2": 40}, {"sst2": 0.7}, run_id="stray", seed=9)
    (tmp_path / "stray" / "results_2026-01-04T00-00-00.json").unlink()
    selection = select(gather([three / "demo-out", three / "out_q", moved, tmp_path / "stray"]))
    files = {g.label: sorted(str(f.path.relative_to(tmp_path)) for f in g.neuron_files) for g in selection.groups}
    assert files == {"all documents": ["demo-out/sn/adv_sst2.safetensors", "demo-out/sn/sst2.safetensors"],
                     "--limit 20": ["elsewhere/sn/adv_sst2.safetensors", "elsewhere/sn/sst2.safetensors"]}
    (stray,) = selection.left_out
    assert stray[0].endswith("stray/sn/sst2.safetensors") and "counted 40 documents" in stray[1] \
        and "written by another run" in stray[1]
    assert cli(["report", str(three / "demo-out"), str(three / "out_q"), str(moved), str(tmp_path / "stray"),
                "--out", str(tmp_path / "rep")]) == 0
    assert f"left out {stray[0]}: sst2: counted 40 documents" in capsys.readouterr().out
    assert "stray/sn/sst2.safetensors" in (tmp_path / "rep" / "report.md").read_text().split("Left out:")[1]


def test_files_of_older_versions_pair_by_their_document_count(tmp_path):
    """Files and results without a run id or listed paths: the class counts say which evaluation wrote them."""
    for name, limit, n, seed in (("full", None, 80, 1), ("quick", 20, 20, 2)):
        write_run(tmp_path / name, f"2026-01-0{seed}T00-00-00", limit, {"sst2": n, "adv_sst2": min(n, 30)},
                  {"sst2": 0.8, "adv_sst2": 0.4}, run_id=name, seed=seed)
        path = next((tmp_path / name).glob("results_*.json"))
        data = json.loads(path.read_text())
        del data["skill_neurons"]  # no listed paths, no run id
        path.write_text(json.dumps(data))
    for f in tmp_path.rglob("*.safetensors"):  # rewrite without num_docs and run in the provenance
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        with safe_open(str(f), "pt") as handle:
            metadata = handle.metadata()
        provenance = json.loads(metadata["provenance"])
        provenance.pop("num_docs"), provenance.pop("run")
        save_file(load_file(str(f)), str(f), metadata={**metadata, "provenance": json.dumps(provenance)})
    selection = select(gather([tmp_path / "quick", tmp_path / "full"]))
    for g in selection.groups:
        folder = {"all documents": "full", "--limit 20": "quick"}[g.label]
        assert {f.path.parent.parent.name for f in g.neuron_files} == {folder}
        assert len(g.neuron_files) == 2


def test_a_later_run_of_the_same_limit_supersedes_and_is_named(three, tmp_path, capsys):
    write_run(tmp_path / "again", "2026-01-05T00-00-00", 20, {"sst2": 20, "adv_sst2": 20},
              {"sst2": 0.9, "adv_sst2": 0.55}, run_id="again", seed=7)
    selection = select(gather([three / "out_q", tmp_path / "again"]))
    (g,) = selection.groups
    assert sorted(e.acc for e in g.evaluations) == [0.55, 0.9]
    assert {f.path.parent.parent.name for f in g.neuron_files} == {"again"}
    why = dict(selection.left_out)
    old = str((three / "out_q" / "results_2026-01-02T00-00-00.json").resolve())
    assert why[old].startswith("adv_sst2: superseded by") or why[old].startswith("sst2: superseded by")
    assert sum("written by the evaluation in" in w for w in why.values()) == 2  # its two neuron files


SEEDS = {"s33": (0.8, 0.40), "s34": (0.9, 0.45), "s35": (0.7, 0.50)}


def _seeds(root):
    for i, (prompt, (clean, adv)) in enumerate(SEEDS.items()):
        write_run(root / prompt, "2026-01-01T00-00-00", None, {"sst2": 80, "adv_sst2": 30},
                  {"sst2": clean, "adv_sst2": adv}, prompt=prompt, run_id=prompt, seed=10 * i)
    return [root / p for p in SEEDS]


def test_seeds_without_a_manifest_are_grouped_by_the_task_they_were_evaluated_on(tmp_path, capsys):
    folders = _seeds(tmp_path)
    selection = select(gather(folders))
    assert {p.label: (p.group, p.grouped_by) for p in selection.prompts} == {
        p: ("sst2", "the one task it was evaluated on (sst2)") for p in SEEDS}
    data = compute(selection.groups[0], top=0.1)
    (row,) = [r for r in data["accuracy"] if r["task"] == "sst2"]
    assert row["prompts"] == 3 and row["clean_mean"] == pytest.approx(0.8)
    (paper,) = data["paper"]["consistency"]
    assert paper["prompts"] == 3  # seed-averaged: the three prompts' scores averaged first
    clean = np.mean([_score(tmp_path / p / "sn" / "sst2.safetensors") for p in SEEDS], axis=0)  # (L, D)
    adv = np.mean([_score(tmp_path / p / "sn" / "adv_sst2.safetensors") for p in SEEDS], axis=0)
    k = 5  # 10% of 50
    point = next(pt for pt in paper["points"] if pt["fraction"] == pytest.approx(0.1))
    want = [len(set(np.argsort(clean[i], kind="stable")[::-1][:k]) & set(np.argsort(adv[i], kind="stable")[::-1][:k]))
            / k for i in range(L)]
    assert point["mean"] == pytest.approx(np.mean(want))
    assert cli(["report", *map(str, folders), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "| s33 | `sha-s33` | sst2 | s33 | the one task it was evaluated on (sst2) |" in text


def test_the_manifest_overrides_and_can_declare_a_group(tmp_path):
    folders = _seeds(tmp_path)
    (tmp_path / "prompts.json").write_text(json.dumps({"/p/s35": {"label": "s35", "group": "other", "seed": 35},
                                                       "/p/s34": {"task": "sst2", "seed": 34}}))
    selection = select(gather([*folders, tmp_path / "prompts.json"]))
    got = {p.label: (p.group, p.seed, p.grouped_by) for p in selection.prompts}
    assert got == {"s33": ("sst2", "s33", "the one task it was evaluated on (sst2)"),
                   "s34": ("sst2", 34, "prompts.json"), "s35": ("other", 35, "prompts.json")}
    groups = {r["group"]: r["prompts"] for r in compute(selection.groups[0])["accuracy"]}
    assert groups == {"sst2": 2, "other": 1}


def test_released_prompts_are_grouped_by_their_release_folder(tmp_path):
    for seed in ("33", "34"):
        write_run(tmp_path / seed, "2026-01-01T00-00-00", None, {"sst2": 80}, {"sst2": 0.8}, prompt=f"r{seed}",
                  path=f"/release/seed_{seed}/SST2PromptRoberta/task_prompt")
    prompts = {p.key: p for p in select(gather([tmp_path / "33", tmp_path / "34"])).prompts}
    assert {(p.group, p.seed, p.grouped_by) for p in prompts.values()} == {
        ("sn_pt_sst2_roberta", "33", "release folder SST2PromptRoberta"),
        ("sn_pt_sst2_roberta", "34", "release folder SST2PromptRoberta")}


def test_a_prompt_evaluated_on_two_tasks_keeps_its_own_label_and_says_why(tmp_path):
    write_run(tmp_path / "a", "2026-01-01T00-00-00", None, {"sst2": 80, "rte": 30}, {"sst2": 0.8, "rte": 0.6},
              prompt="both")
    (p,) = select(gather([tmp_path / "a"])).prompts
    assert p.group == "both" and "evaluated on 2 tasks" in p.grouped_by
