"""``skillneuron report`` on synthetic run folders: golden tables, independent statistics, figures.

The fake folders hold what lm-eval and ``prompt_tuned`` write: ``results_*.json`` with the
``config`` and ``configs`` sections the report reads, per-task skill-neuron files written with
``write_task_stats``, a ``prompts.json`` manifest and a ``suppression_curve.json``.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from skillneuron_harness.cli import main as cli
from skillneuron_harness.neurons.io import write_task_stats
from skillneuron_harness.report.collect import collect
from skillneuron_harness.report.render import build_report, compute

# prompt -> (training task, seed, {task: accuracy})
PROMPTS = {
    "sst2-33": ("sst2", 33, {"sst2": 0.9, "adv_sst2": 0.45, "rte": 0.5}),
    "sst2-34": ("sst2", 34, {"sst2": 0.8, "adv_sst2": 0.6, "rte": 0.55}),
    "sst2-35": ("sst2", 35, {"sst2": 0.7, "adv_sst2": 0.35}),
    "rte-33": ("rte", 33, {"rte": 0.7, "sst2": 0.6}),
}
TWINS = {"adv_sst2": "sst2"}
L, P, D, N = 2, 3, 50, 40


def write_results(folder, prompt, accs, suppression=None):
    config = {"model": "prompt_tuned", "model_args": f"pretrained=org/tiny-model,prompt=/p/{prompt}",
              "prompt_source": f"/p/{prompt}", "prompt_sha256": f"sha-{prompt}"}
    if suppression:
        config["suppression"] = suppression
    data = {"results": {t: {"alias": t, "acc,none": a, "acc_stderr,none": 0.05} for t, a in accs.items()},
            "configs": {t: {"task": t, "doc_to_choice": ["negative", "positive"],
                            "metadata": {"clean_twin": TWINS[t]} if t in TWINS else {"version": 1}} for t in accs},
            "n-samples": {t: {"original": N, "effective": N} for t in accs}, "config": config}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(data))


def write_neurons(folder, prompt, task, seed):
    gen = torch.Generator().manual_seed(seed)
    class_counts = torch.tensor([N // 2, N // 2])
    fire = torch.randint(0, N // 2 + 1, (2, L, P, D), generator=gen)  # (C, L, P, D)
    provenance = {"model": "org/tiny-model", "prompt": f"/p/{prompt}", "prompt_sha256": f"sha-{prompt}",
                  "clean_twin": TWINS.get(task)}
    write_task_stats(folder, task, baseline=torch.zeros(L, P, D), fire_counts=fire, class_counts=class_counts,
                     provenance=provenance)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    manifest = {}
    for i, (prompt, (task, seed, accs)) in enumerate(PROMPTS.items()):
        write_results(root / "lm_eval" / prompt / "org__tiny-model", prompt, accs)
        for t in accs:
            if t in (task, "adv_sst2") and not (task == "rte" and t == "adv_sst2"):
                write_neurons(root / "neurons" / prompt, prompt, t, seed=100 * i + len(t))
        manifest[f"/p/{prompt}"] = {"label": prompt, "task": task, "seed": seed}
    (root / "prompts.json").write_text(json.dumps(manifest))
    # a suppressed run: never part of the accuracy table
    write_results(root / "lm_eval" / "suppressed", "sst2-33", {"sst2": 0.1},
                  suppression={"top": 0.05, "neurons_per_layer": [3, 3]})
    records = [{"model": "tiny-model", "prompt": p, "group": "sst2", "task": "sst2", "control": c, "percent": n,
                "acc": acc} for p, base in (("sst2-33", 0.9), ("sst2-34", 0.8))
               for c, drop in (("skill", 0.04), ("random", 0.01)) for n, acc in
               ((0, base), (5, base - 5 * drop), (15, base - 15 * drop))]
    (root / "curve").mkdir()
    (root / "curve" / "suppression_curve.json").write_text(json.dumps({"records": records}))
    return root


def test_accuracy_table_golden(runs, tmp_path):
    text = build_report([runs], tmp_path).read_text()
    assert "| tiny-model | sst2 | sst2 | 80.0 ± 5.8 | adv_sst2 | 46.7 ± 7.3 | 41.7 ± 8.3 | 50 | 3 | 40 / 40 |" in text
    assert "| tiny-model | rte | rte | 70.0 | - | n/a | n/a | 50 | 1 | 40 |" in text


def test_transfer_matrix_absolute_and_relative(runs):
    t = compute(collect([runs]))["transfer"]["tiny-model"]
    assert t["sources"] == ["rte", "sst2"] and t["targets"] == ["adv_sst2", "rte", "sst2"]
    assert t["absolute"]["sst2"]["rte"][0] == pytest.approx(0.525)
    assert t["relative"]["rte"]["sst2"][0] == pytest.approx(100 * 0.6 / 0.9)  # seed 33 matched with seed 33
    # seed 34 has no rte prompt: the mean of rte's own prompts stands in
    assert t["relative"]["sst2"]["rte"][0] == pytest.approx((100 * 0.5 / 0.7 + 100 * 0.55 / 0.7) / 2)
    assert t["relative"]["sst2"]["sst2"][0] == pytest.approx(100.0)


def test_consistency_and_robustness_against_independent_computation(runs):
    from safetensors.torch import load_file

    data = compute(collect([runs]), top=0.1)
    rows = {r["prompt"]: r for r in data["consistency"]["per_prompt"]}
    assert sorted(rows) == ["sst2-33", "sst2-34", "sst2-35"]
    consistency = {}
    for prompt in rows:
        clean = load_file(runs / "neurons" / prompt / "sst2.safetensors")["score"].numpy()
        adv = load_file(runs / "neurons" / prompt / "adv_sst2.safetensors")["score"].numpy()
        overlaps = []
        for n in range(1, 11):  # 2%, 4%, ..., 20% of 50 neurons = n neurons
            k = n
            per_layer = [len(set(np.argsort(clean[layer], kind="stable")[::-1][:k]) &
                             set(np.argsort(adv[layer], kind="stable")[::-1][:k])) / k for layer in range(L)]
            overlaps.append(np.mean(per_layer))
        assert rows[prompt]["overlap"] == pytest.approx(overlaps)
        consistency[prompt] = np.mean(overlaps)
        skill = np.mean([adv[layer][np.argsort(clean[layer], kind="stable")[::-1][:5]].mean() for layer in range(L)])
        assert rows[prompt]["skill_adv_score"] == pytest.approx(skill)
    rvc = data["robustness_vs_consistency"]
    prompts = sorted(consistency)
    xs, ys = [consistency[p] for p in prompts], [PROMPTS[p][2]["adv_sst2"] for p in prompts]
    want = spearmanr(xs, ys).statistic
    # Exact two-sided permutation p-value for 3 points: the share of orderings at least as extreme.
    others = [spearmanr(xs, list(perm)).statistic for perm in itertools.permutations(ys)]
    assert rvc["n"] == 3
    assert rvc["adversarial_accuracy"]["rho"] == pytest.approx(want)
    assert rvc["adversarial_accuracy"]["p"] == pytest.approx(np.mean([abs(r) >= abs(want) - 1e-12 for r in others]))


def test_skill_neuron_table(runs):
    from safetensors.torch import load_file

    data = compute(collect([runs]), top=0.1)
    row = next(r for r in data["skill_neurons"] if r["task"] == "sst2")
    assert row["prompts"] == 3 and row["layers"] == L and row["neurons_per_layer"] == D
    scores = [load_file(runs / "neurons" / p / "sst2.safetensors")["score"].numpy() for p in
              ("sst2-33", "sst2-34", "sst2-35")]
    mean = np.mean(scores, axis=0)
    assert row["layer_mean"] == pytest.approx(mean.mean(1), abs=1e-6)
    assert row["top_neurons"][0]["score"] == pytest.approx(mean.max(), abs=1e-6)
    pairs = [spearmanr(a.ravel(), b.ravel()).statistic for a, b in
             ((scores[0], scores[1]), (scores[0], scores[2]), (scores[1], scores[2]))]
    assert row["seed_agreement"][0] == pytest.approx(np.mean(pairs))
    assert 0.0 <= row["inhibitory"][0] <= 1.0


def test_suppression_table(runs):
    rows = compute(collect([runs]))["suppression"]
    skill15 = next(r for r in rows if r["control"] == "skill" and r["percent"] == 15)
    assert skill15["acc_mean"] == pytest.approx(0.85 - 0.6) and skill15["prompts"] == 2
    assert skill15["acc_sem"] == pytest.approx(0.05)


def test_every_figure_is_written_and_linked(runs, tmp_path):
    assert cli(["report", str(runs), "--out", str(tmp_path), "--top", "0.1"]) == 0
    text = (tmp_path / "report.md").read_text()
    figures = sorted((tmp_path / "figures").glob("*.png"))
    names = {f.name for f in figures}
    assert {"transfer_tiny-model.png", "consistency_overlap.png", "consistency_skill_vs_random.png",
            "robustness_vs_consistency.png", "suppression_curves.png", "scores_tiny-model_sst2.png"} <= names
    for f in figures:
        assert f.stat().st_size > 10_000, f  # a drawn figure, not an empty canvas
        assert f"figures/{f.name}" in text


def test_json_format_for_leaderboards(runs, tmp_path):
    assert cli(["report", str(runs), "--out", str(tmp_path), "--format", "json"]) == 0
    data = json.loads((tmp_path / "report.json").read_text())  # strict JSON: no NaN
    row = next(r for r in data["accuracy"] if r["group"] == "rte")
    assert row["clean_mean"] == pytest.approx(0.7) and row["clean_sem"] is None and row["chance"] == 0.5
    assert set(data) >= {"accuracy", "transfer", "skill_neurons", "consistency", "robustness_vs_consistency",
                         "suppression"}
    assert not any(isinstance(v, float) and math.isnan(v) for v in json.loads(json.dumps(data["accuracy"][0])).values())


def test_missing_folder_is_reported(tmp_path, capsys):
    assert cli(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "not found" in capsys.readouterr().err


def test_paper_sections_follow_ao24(runs, tmp_path):
    """The AO24 analyses on the seed means of the three sst2 prompts, against plain NumPy."""
    from safetensors.torch import load_file

    data = compute(collect([runs]), top=0.1)["paper"]
    prompts = ["sst2-33", "sst2-34", "sst2-35"]
    clean = np.mean([load_file(runs / "neurons" / p / "sst2.safetensors")["score"].numpy() for p in prompts], axis=0)
    adv = np.mean([load_file(runs / "neurons" / p / "adv_sst2.safetensors")["score"].numpy() for p in prompts], axis=0)
    (row,) = data["consistency"]
    for point in row["points"]:
        k = int(D / 100 * round(100 * point["fraction"]))
        top = [[set(np.argsort(s[layer], kind="stable")[::-1][:k]) for layer in range(L)] for s in (clean, adv)]
        overlap = [len(top[0][layer] & top[1][layer]) / k for layer in range(L)]
        assert point["mean"] == pytest.approx(np.mean(overlap))
        assert point["sem"] == pytest.approx(np.std(overlap, ddof=1) / np.sqrt(L))
    (hist,) = data["histograms"]
    order = np.argsort(clean.ravel(), kind="stable")[::-1][: int(L * D / 100 * 10)]
    assert hist["values"] == pytest.approx(sorted(adv.ravel()[order], reverse=True))
    assert sum(hist["counts"]) == len(order)
    sst2 = next(r for r in data["accuracy"] if r["group"] == "sst2" and r["task"] == "sst2")
    assert sst2["clean_std"] == pytest.approx(np.std([0.9, 0.8, 0.7]))  # ddof 0, as np.std
    assert sst2["adversarial_std"] == pytest.approx(np.std([0.45, 0.6, 0.35]))
    (seeds,) = [m for m in data["spearman"]["seeds"] if m["task"] == "sst2"]
    assert len(seeds["rho"]) == 3 and seeds["rho"][0][0] == pytest.approx(1.0)
    assert cli(["report", str(runs), "--out", str(tmp_path), "--top", "0.1"]) == 0
    text = (tmp_path / "report.md").read_text()
    for heading in ("## As Ackermann & Ohmer (2024) compute it", "### Accuracy, mean ± std",
                    "### Consistency on seed-averaged scores", "### Adversarial predictivity of the clean skill",
                    "### Spearman matrices over each layer's top-n predictivities"):
        assert heading in text


def test_one_prompt_on_its_task_and_twin_is_grouped_by_its_training_task(tmp_path, monkeypatch):
    """The demo's shape: a prompt folder named by a relative path, its train_config.json naming sst2."""
    root = tmp_path / "work"
    prompt_dir = root / "demo-out" / "prompt"
    prompt_dir.mkdir(parents=True)
    (prompt_dir / "train_config.json").write_text(json.dumps({"config": {"task": "sst2", "seed": 33}}))
    write_results(root / "demo-out", "x", {"sst2": 0.8, "adv_sst2": 0.45})
    path = next((root / "demo-out").glob("results_*.json"))
    data = json.loads(path.read_text())
    data["config"].update(prompt_source="demo-out/prompt",
                          model_args="pretrained=org/tiny-model,prompt=demo-out/prompt")
    path.write_text(json.dumps(data))
    for task in ("sst2", "adv_sst2"):
        write_neurons(root / "demo-out" / "skill_neurons", "x", task, seed=len(task))
    monkeypatch.chdir(tmp_path)  # not the folder the run started in: the relative path is found from the run's
    report = compute(collect([root / "demo-out"]))
    assert [(r["group"], r["task"], r["adversarial_task"]) for r in report["accuracy"]] == [
        ("sst2", "sst2", "adv_sst2")]
    assert not report["transfer"]["tiny-model"]["transfer_run"]
    text = (build_report([root / "demo-out"], tmp_path / "rep")).read_text()
    assert "## Transfer" not in text
    assert "## Robustness vs consistency" in text and "Not computed: the correlation over prompts needs at least 3 " \
        "prompts" in text and "found 1" in text


def test_transfer_section_appears_when_a_prompt_met_another_task(runs, tmp_path):
    report = compute(collect([runs]))
    assert report["transfer"]["tiny-model"]["transfer_run"]  # sst2 prompts on rte, the rte prompt on sst2
    assert "## Transfer" in build_report([runs], tmp_path / "rep").read_text()


def test_figures_draw_the_null_not_fifty_percent(runs, tmp_path, monkeypatch):
    import skillneuron_harness.report.figures as figures
    from skillneuron_harness.neurons.statistics import binary_subtasks, null_score_quantiles

    drawn = {}
    original = figures._save

    def keep(fig, path):
        ax = fig.axes[0]
        drawn[path.name] = ([(line.get_label(), list(line.get_ydata())) for line in ax.get_lines()]
                            + [(c.get_label(), list(c.get_segments()[0][:, 1])) for c in ax.collections
                               if hasattr(c, "get_segments") and c.get_segments()],
                            [t.get_text() for t in ax.texts])
        return original(fig, path)

    monkeypatch.setattr(figures, "_save", keep)
    assert cli(["report", str(runs), "--out", str(tmp_path), "--top", "0.1"]) == 0
    data = compute(collect([runs]), top=0.1)
    from safetensors.torch import load_file

    lines, _ = drawn["scores_tiny-model_sst2.png"]
    files = [load_file(runs / "neurons" / p / "sst2.safetensors") for p in ("sst2-33", "sst2-34", "sst2-35")]
    expected = np.mean([null_score_quantiles(f["fire_counts"], f["class_counts"], binary_subtasks(2)).numpy()
                        for f in files], axis=0)  # (Q, L): each prompt's chance line, then the mean
    chance = {label: y for label, y in lines if label.startswith("chance")}
    assert chance["chance: median score of noise"][:L] == pytest.approx(100 * expected[0])
    assert chance["chance: 95% of noise scores"][:L] == pytest.approx(100 * expected[1])
    assert (expected > 0.55).all()  # N = 40 documents, 3 positions: noise scores well above 50 %
    assert not any(y and all(v == 50 for v in y) for _, y in lines)  # no 50 % line
    summary = data["consistency"]["summary"][0]
    lines, texts = drawn["consistency_skill_vs_random.png"]
    assert any(label.startswith("chance") and y[0] == pytest.approx(100 * summary["adversarial_chance_score"][0])
               for label, y in lines)
    test = summary["skill_vs_random_test"]
    assert test["prompts"] == 3 and 0 <= test["p_value"] <= 1
    assert any(("not significant" if not test["differ"] else "differ") in t for t in texts)
    overlap, _ = drawn["consistency_overlap.png"]
    random = next(y for label, y in overlap if label.startswith("random"))
    assert random == pytest.approx([100 * math.floor(f * D + 1e-9) / D for f in summary["fractions"]])
