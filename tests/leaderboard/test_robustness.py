"""Robustness beyond AdvGLUE: perturbation twins and attack sets in the results give their own columns.

A synthetic results file as lm-eval writes it for ``--tasks sst2,adv_sst2,sn_sst2_mild,sn_sst2_chars,
sn_sst2_attack``: the twins' configs carry ``metadata.perturbation`` (with their steps' kinds) and
their rows the paired metrics that host/paired.py adds; the attack set's config carries
``metadata.attack``. Expected values are the file's numbers, averaged by hand.
"""

from __future__ import annotations

import json

import pytest

from skillneuron_harness.leaderboard import build_leaderboard

MILD = [{"kind": "keyboard_typo", "rate": 0.02}, {"kind": "case_change", "rate": 0.02}]
CHARS = [{"kind": "keyboard_typo", "rate": 0.1}, {"kind": "char_swap", "rate": 0.05}]
# task -> (acc, stderr, metadata, paired metrics)
TASKS = {
    "sst2": (0.90, 0.03, {}, {}),
    "adv_sst2": (0.40, 0.04, {"clean_twin": "sst2"}, {}),
    "sn_sst2_mild": (0.85, 0.03, {"clean_twin": "sst2", "perturbation": {"of": "sst2", "steps": MILD}},
                     {"flip_rate": 0.10, "flip_rate_stderr": 0.02, "worst_case_acc": 0.80,
                      "worst_case_acc_stderr": 0.03}),
    "sn_sst2_chars": (0.70, 0.04, {"clean_twin": "sst2", "perturbation": {"of": "sst2", "steps": CHARS}},
                      {"flip_rate": 0.30, "flip_rate_stderr": 0.04, "worst_case_acc": 0.60,
                       "worst_case_acc_stderr": 0.04}),
    "sn_sst2_attack": (0.25, 0.04, {"clean_twin": "sst2",
                                    "attack": {"recipe": "chars", "victim": "bert-base SST-2", "of": "sst2"}}, {}),
}


def _write(folder):
    results, configs = {}, {}
    for task, (acc, se, meta, paired) in TASKS.items():
        results[task] = {"alias": task, "acc,none": acc, "acc_stderr,none": se,
                         **{f"{k},none": v for k, v in paired.items()}}
        configs[task] = {"task": task, "doc_to_choice": ["negative", "positive"], "metadata": {"version": 1.0, **meta}}
    data = {"results": results, "configs": configs, "versions": {t: 1.0 for t in TASKS},
            "n-samples": {t: {"original": 100, "effective": 100} for t in TASKS},
            "config": {"model": "prompt_tuned", "model_args": "pretrained=org/m,prompt=/p/a", "limit": None,
                       "prompt_sha256": "abc", "prompt_source": "/p/a", "pretrained": "org/m"}}
    folder.mkdir(parents=True)
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    _write(root / "runs" / "a")
    paths = build_leaderboard(None, root / "board", from_dirs=[root / "runs"])
    return paths, json.loads(paths["json"].read_text())


def test_columns_per_kind_worst_case_flip_rate_and_attack(board):
    _, doc = board
    keys = [c["key"] for c in doc["columns"]]
    assert doc["suite"]["adversarial"] == ["adv_sst2"]  # the score stays AdvGLUE's kind of task
    assert doc["suite"]["perturbation_twins"] == ["sn_sst2_mild", "sn_sst2_chars"]
    assert doc["suite"]["attacks"] == ["sn_sst2_attack"]
    assert keys[keys.index("pdr") + 1:] == ["perturbed:keyboard_typo + case_change",
                                           "perturbed:keyboard_typo + char_swap", "worst_case", "flip_rate",
                                           "under_attack", "consistency"]
    assert "sn_sst2_mild" not in keys  # twins are aggregated; the card shows each
    v = doc["entries"][0]["values"]
    assert v["score"]["value"] == pytest.approx(0.40)
    assert v["perturbed:keyboard_typo + case_change"]["value"] == pytest.approx(0.85)
    assert v["perturbed:keyboard_typo + char_swap"]["value"] == pytest.approx(0.70)
    assert v["worst_case"]["value"] == pytest.approx(0.70)  # (0.80 + 0.60) / 2; the attack set has no pairs
    assert v["worst_case"]["stderr"] == pytest.approx((0.03 ** 2 + 0.04 ** 2) ** 0.5 / 2)
    assert v["flip_rate"]["value"] == pytest.approx(0.20)
    assert next(c for c in doc["columns"] if c["key"] == "flip_rate")["higher_is_better"] is False
    assert v["under_attack"]["value"] == pytest.approx(0.25)
    cell = doc["entries"][0]["cells"]["sn_sst2_attack"]
    assert cell["kind"] == "attack" and cell["attack"]["victim"] == "bert-base SST-2"
    per_task = doc["entries"][0]["per_task"]
    assert list(per_task) == ["adv_sst2", "sst2", "sn_sst2_mild", "sn_sst2_chars", "sn_sst2_attack"]
    assert per_task["sn_sst2_chars"]["flip_rate"] == 0.30


def test_page_and_markdown_show_them(board):
    paths, doc = board
    page = paths["html"].read_text()
    for key in ("worst_case", "flip_rate", "under_attack"):
        assert f'data-key="{key}"' in page
    assert "perturbations and attacks" in page and page.count('class="bar"') == 5
    md = paths["md"].read_text()
    assert "| worst-case accuracy | flip rate | accuracy under attack |" in md
    assert "**flip rate**" in md


def test_a_twin_unit_runs_with_its_clean_task(tiny_models, task_manager, tmp_path):
    """A perturbation twin's unit is one lm-eval call with its clean twin: its results hold the paired metrics,
    and the unit keeps only the twin's rows (the clean task is its own unit)."""
    import torch
    from safetensors.torch import save_file

    from skillneuron_harness.leaderboard.spec import parse_spec

    torch.manual_seed(5)
    save_file({"prompt": torch.randn(3, 32)}, tmp_path / "p.safetensors")
    spec = parse_spec({"tasks": ["sst2", "sn_sst2_mild"], "run": {"batch_size": 4, "limit": 4, "bootstrap_iters": 0},
                       "entries": [{"label": "p", "model": "prompt_tuned", "model_args": {
                           "pretrained": str(tiny_models["bert"]), "prompt": "p.safetensors"}}]}, "b.yaml", tmp_path)
    paths = build_leaderboard(spec, tmp_path / "board", manager=task_manager)
    doc = json.loads(paths["json"].read_text())
    unit = json.loads(open(doc["entries"][0]["provenance"]["tasks"]["sn_sst2_mild"]["source"]).read())
    assert list(unit["results"]) == ["sn_sst2_mild"] and unit["leaderboard"]["evaluated_with"] == ["sst2"]
    assert "flip_rate,none" in unit["results"]["sn_sst2_mild"]
    v = doc["entries"][0]["values"]
    assert v["flip_rate"]["value"] == unit["results"]["sn_sst2_mild"]["flip_rate,none"]
    assert doc["suite"]["adversarial"] == ["sn_sst2_mild"]  # no other adversarial task: the twin is scored
