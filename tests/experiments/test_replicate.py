"""``skillneuron replicate`` end to end on one-layer width-768 models with the real released files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from skillneuron_harness.cli import main

RELEASE = Path(__file__).resolve().parents[2].parent / "shared" / "published_prompts" / "continuous_prompts"
pytestmark = pytest.mark.skipif(not RELEASE.is_dir(), reason="../shared/published_prompts is not there")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tiny_models import build_roberta, build_t5

    root = tmp_path_factory.mktemp("rep_models")
    roberta = build_roberta(root / "roberta", layers=1, hidden=768, ffn=32, seed=4)
    tok = AutoTokenizer.from_pretrained(roberta)
    tok.add_tokens(["negative", "positive", "false", "true"])  # bare answer words as single tokens
    model = AutoModelForMaskedLM.from_pretrained(roberta)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    model.save_pretrained(roberta), tok.save_pretrained(roberta)
    t5 = build_t5(root / "t5", layers=1, d_model=768, d_ff=32, heads=2, seed=4)
    tok = AutoTokenizer.from_pretrained(t5)
    tok.add_special_tokens({"additional_special_tokens": ["<extra_id_0>"]})
    model = AutoModelForSeq2SeqLM.from_pretrained(t5)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    model.save_pretrained(t5), tok.save_pretrained(t5)
    return {"roberta-base": roberta, "t5-base": t5}


def test_replicate_end_to_end(models, tmp_path, capsys, monkeypatch, task_manager):
    built = []  # the session's TaskManager stands in for the one replicate builds (indexing takes seconds)
    monkeypatch.setattr("skillneuron_harness.experiments.runs.task_manager",
                        lambda include_path=None: built.append(include_path) or task_manager)
    args = ["replicate", "--release", str(RELEASE), "--models", "roberta-base", "t5-base", "--seeds", "33", "34",
            "--tasks", "SST2", "IMDB", "--out", str(tmp_path / "rep"), "--limit", "4",
            "--sn-baseline-limit", "4", "--percents", "0", "5", "--batch-size", "8",
            "--model-path", f"roberta-base={models['roberta-base']}", "--model-path", f"t5-base={models['t5-base']}"]
    assert main([*args, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    # per model: 2 tasks x 2 seeds own runs, 2 sentiment prompts x 1 transfer each x 2 seeds, 2 averages, 2 curves
    assert "24 units (8 eval, 8 transfer, 4 average, 4 suppression), 0 already done" in plan
    # per model, at --limit 4: own runs 2 x (sst2 4 + adv 4 + baseline 4) + 2 x (imdb 4 + baseline 4) = 40,
    # transfer 4 x 4 = 16, curves 2 prompts x 3 evaluations x (8 SST-2 + 4 IMDB) = 72; baselines 4 x 4
    assert "size: 256 documents to score (32 in baseline passes)" in plan
    assert not (tmp_path / "rep" / "runs").exists()

    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("] eval ") == 8 and "report in" in out
    report = (tmp_path / "rep" / "report" / "report.md").read_text()
    for heading in ("ccuracy", "ransfer", "kill neuron", "onsistency", "obustness", "uppression"):
        assert heading in report, heading
    assert (tmp_path / "rep" / "average" / "t5-base" / "sn_pt_sst2_t5" / "sn_pt_sst2_t5.safetensors").is_file()
    assert (tmp_path / "rep" / "neurons" / "roberta-base" / "seed_33_SST2PromptRoberta" /
            "sn_pt_adv_sst2_roberta.json").is_file()
    own = tmp_path / "rep" / "runs" / "t5-base" / "seed_34_SST2PromptT5" / "own"
    done = json.loads((own / "done.json").read_text())
    assert set(done) >= {"sn_pt_sst2_t5", "sn_pt_adv_sst2_t5"}

    # resumable: a second run reruns nothing
    assert main(args) == 0
    again = capsys.readouterr().out
    assert again.count("done earlier") == 24
    assert len(built) == 1  # built once, at the first unit to run; the resume had none to run


def test_mnli_plan_and_report_cover_matched_and_mismatched(tmp_path):
    """An MNLI prompt's own unit runs matched and mismatched, clean and adversarial; the report counts all
    four as the prompt's own task (the YAMLs' metadata.split_of), and seed_su MNLI gets the 3-class tasks."""
    import torch
    from lm_eval.tasks._yaml_loader import load_yaml

    from skillneuron_harness.experiments.replicate import plan
    from skillneuron_harness.host.bridge import task_folder
    from skillneuron_harness.report.collect import Collection, Evaluation, NeuronFile, Prompt
    from skillneuron_harness.report.tables import accuracy_table, consistency_pairs, transfer_matrix

    for seed in ("33", "su"):  # Su et al.'s MNLI prompts are not in the release: a copy stands in
        (tmp_path / f"seed_{seed}" / "MNLIPromptRoberta").mkdir(parents=True)
        (tmp_path / f"seed_{seed}" / "MNLIPromptRoberta" / "task_prompt").write_bytes(
            (RELEASE / "seed_33" / "MNLIPromptRoberta" / "task_prompt").read_bytes())
    units, _ = plan(tmp_path, ["roberta-base"], ["33", "su"], ["MNLI"], tmp_path / "rep", percents=(0, 5))
    own = {u.label: u.tasks for u in units if u.kind == "eval"}
    binary = ["sn_pt_mnli_binary_roberta", "sn_pt_adv_mnli_binary_roberta", "sn_pt_mnli_mm_binary_roberta",
              "sn_pt_adv_mnli_mm_binary_roberta"]
    assert own == {"seed_33_MNLIPromptRoberta": binary,
                   "seed_su_MNLIPromptRoberta": [t.replace("_binary", "") for t in binary]}
    assert sorted(u.tasks[0] for u in units if u.kind == "average") == ["sn_pt_mnli_binary_roberta",
                                                                         "sn_pt_mnli_roberta"]
    assert len({u.marker for u in units}) == len(units) == 6

    # the report: both pairs are the prompt's own task (accuracy rows, consistency pairs), no transfer
    meta = {}
    for path in (task_folder() / "released").glob("sn_pt_*mnli*binary_roberta.yaml"):
        cfg = load_yaml(path, resolve_func=False)
        meta[cfg["task"]] = cfg["metadata"]
    prompt = Prompt(key="k", label="seed_33", task="sn_pt_mnli_binary_roberta", seed="33")
    accs = dict(zip(binary, (0.8, 0.5, 0.7, 0.4), strict=True))
    evals = [Evaluation("m", prompt, t, a, None, 4, 3, meta[t].get("clean_twin"), None, "x",
                        split_of=meta[t].get("split_of")) for t, a in accs.items()]
    files = [NeuronFile(tmp_path / t, "m", prompt, t, meta[t].get("clean_twin"), {}, split_of=meta[t].get("split_of"),
                        _tensors={"score": torch.zeros(1, 4)}) for t in binary]
    collection = Collection(evaluations=evals, neuron_files=files)
    rows = [(r["task"], r["adversarial_task"], r["clean_mean"], r["adversarial_mean"])
            for r in accuracy_table(collection)]
    assert rows == [(binary[0], binary[1], 0.8, 0.5), (binary[2], binary[3], 0.7, 0.4)]
    assert [(c.task, a.task) for c, a in consistency_pairs(collection)] == [(binary[0], binary[1]),
                                                                            (binary[2], binary[3])]
    assert transfer_matrix(collection)["m"]["transfer_run"] is False


def test_shards_split_the_plan_and_wait_for_each_other(tmp_path, monkeypatch, capsys):
    """Two shards run every unit exactly once between them; an average or curve whose prompts' own-task
    units are the other shard's waits for a second run; the report is written once every unit is done."""
    import skillneuron_harness.experiments.replicate as replicate
    import skillneuron_harness.report.render as render

    ran, reports = [], []

    def fake_run(unit, path, args, manager):
        if unit.kind in ("average", "suppression"):  # what they read is there
            assert all(m.is_file() for m in unit.after)
        ran.append((unit.kind, unit.label, tuple(unit.tasks)))
        return {}

    monkeypatch.setattr(replicate, "run_unit", fake_run)
    monkeypatch.setattr("skillneuron_harness.experiments.runs.task_manager", lambda include_path=None: None)
    monkeypatch.setattr(render, "build_report", lambda roots, out, top: reports.append(out) or out)
    args = ["replicate", "--release", str(RELEASE), "--models", "roberta-base", "--seeds", "33", "34",
            "--tasks", "SST2", "IMDB", "--out", str(tmp_path / "rep"), "--percents", "0", "5"]
    units, _ = replicate.plan(RELEASE, ["roberta-base"], ["33", "34"], ["SST2", "IMDB"], tmp_path / "rep", (0, 5))
    assert len(units) == 12  # 4 own, 4 transfer, 2 averages, 2 curves
    shard_of = replicate.assign_shards(units, 2, lambda u: replicate.work_items([u], None, None, (0, 5)))
    crossing = [u for u, k in zip(units, shard_of, strict=True)
                if any(shard_of[units.index(o)] != k for o in units if o.marker in u.after)]
    assert crossing  # this plan exercises the wait

    outputs, reported, finished = [], [], []
    for shard in ("0/2", "1/2", "0/2", "1/2"):
        assert main([*args, "--shard", shard]) == 0
        outputs.append(capsys.readouterr().out)
        reported.append(len(reports))
        finished.append(len(ran))
    assert "wait for other shards" in outputs[0] + outputs[1]
    assert len(ran) == len(set(ran)) == 12  # each unit once
    assert sorted(ran) == sorted((u.kind, u.label, tuple(u.tasks)) for u in units)
    # the report: by every run that finds all units done, and by no run before
    assert [r > 0 for r in reported] == [f == 12 for f in finished] and reported[-1] >= 1
    # balanced by size: full-size documents of each shard within the largest unit of each other
    sizes = [sum(n for n, *_ in replicate.work_items([u], None, None, (0, 5))) for u in units]
    loads = [sum(s for s, k in zip(sizes, shard_of, strict=True) if k == shard) for shard in (0, 1)]
    assert abs(loads[0] - loads[1]) <= max(sizes)

    with pytest.raises(SystemExit):
        main([*args, "--shard", "2/2"])
    assert "expected K/N with 0 <= K < N" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "4")  # under accelerate launch: refused, pointing to --shard
    with pytest.raises(SystemExit, match="one plain process per GPU with --shard K/N"):
        main(args)


def test_a_failed_average_is_not_marked_done(tmp_path, monkeypatch):
    import skillneuron_harness.experiments.replicate as replicate
    import skillneuron_harness.neurons.average as average
    from skillneuron_harness.core.errors import SkillNeuronError

    units, _ = replicate.plan(RELEASE, ["roberta-base"], ["33"], ["SST2"], tmp_path / "rep", ())
    (unit,) = [u for u in units if u.kind == "average"]
    monkeypatch.setattr(average, "main", lambda argv: 2)  # e.g. a neuron file without scores
    with pytest.raises(SkillNeuronError, match="averaging sn_pt_sst2_roberta over 0 prompts failed"):
        replicate.run_unit(unit, "unused", replicate.build_parser().parse_args(["--release", "r", "--out", "o"]), None)
    assert not unit.marker.exists()


def _release_copy(root: Path, truncate_seed: str | None = None) -> Path:
    """seed_33 and seed_34 SST-2 RoBERTa prompts of the release, one of them cut to half its bytes."""
    for seed in ("33", "34"):
        folder = root / f"seed_{seed}" / "SST2PromptRoberta"
        folder.mkdir(parents=True)
        data = (RELEASE / f"seed_{seed}" / "SST2PromptRoberta" / "task_prompt").read_bytes()
        (folder / "task_prompt").write_bytes(data[:len(data) // 2] if seed == truncate_seed else data)
    return root


def _no_units(monkeypatch):
    import skillneuron_harness.experiments.replicate as replicate

    def fail(*args, **kwargs):
        raise AssertionError("a unit ran")

    monkeypatch.setattr(replicate, "run_unit", fail)


@pytest.mark.parametrize("dry", [True, False])
def test_a_truncated_prompt_file_is_refused_before_any_unit(dry, tmp_path, capsys, monkeypatch):
    import torch

    release = _release_copy(tmp_path / "release", truncate_seed="34")
    bad = release / "seed_34" / "SST2PromptRoberta" / "task_prompt"
    with pytest.raises(Exception):  # noqa: B017 - what torch itself makes of the file: unreadable
        torch.load(bad, weights_only=True)
    _no_units(monkeypatch)
    args = ["replicate", "--release", str(release), "--models", "roberta-base", "--seeds", "33", "34", "--tasks",
            "SST2", "--out", str(tmp_path / "rep"), *(["--dry-run"] if dry else [])]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "truncated" in err[0], err
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize(("flags", "line"), [
    (["--percents", "0", "150"], "--percents 150: each value is a percentage of each layer's neurons in [0, 100]"),
    (["--percents", "nan"], "--percents nan: each value is a percentage"),
    (["--top", "1.5"], "--top 1.5: a fraction of each layer's neurons in (0, 1]"),
    (["--top", "0"], "--top 0: a fraction"),
    (["--limit", "-3"], "--limit -3.0: a number of documents per task (>= 1) or a fraction"),
    (["--sn-baseline-limit", "0"], "--sn-baseline-limit 0: a positive whole number"),
    (["--batch-size", "0"], "--batch-size 0: a positive whole number or auto"),
])
@pytest.mark.parametrize("dry", [True, False])
def test_bad_options_are_refused_by_the_dry_run_and_before_any_unit(flags, line, dry, tmp_path, capsys, monkeypatch):
    release = _release_copy(tmp_path / "release")
    _no_units(monkeypatch)
    args = ["replicate", "--release", str(release), "--models", "roberta-base", "--seeds", "33", "34", "--tasks",
            "SST2", "--out", str(tmp_path / "rep"), *flags, *(["--dry-run"] if dry else [])]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"skillneuron replicate: {err[0].removeprefix('skillneuron replicate: ')}"] and line in err[0], err
    assert not (tmp_path / "rep").exists()


def test_several_problems_are_all_named(tmp_path, capsys):
    release = _release_copy(tmp_path / "release", truncate_seed="33")
    assert main(["replicate", "--release", str(release), "--models", "roberta-base", "--seeds", "33", "34",
                 "--tasks", "SST2", "--out", str(tmp_path / "rep"), "--top", "2", "--limit", "-1", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--top 2" in err and "--limit -1" in err and "seed_33" in err and err.count("\n") == 3


@pytest.mark.parametrize("dry", [True, False])
def test_a_release_without_prompts_is_an_error(dry, tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    _no_units(monkeypatch)
    rc = main(["replicate", "--release", str(tmp_path / "empty"), "--out", str(tmp_path / "rep"),
               *(["--dry-run"] if dry else [])])
    err = capsys.readouterr().err
    assert rc == 2 and "no released prompt for --models roberta-base t5-base" in err, err
    assert not (tmp_path / "rep").exists()
