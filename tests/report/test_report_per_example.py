"""The report's per-example section: the skill_neurons section's ``per_example`` block, as a table and a figure."""

from __future__ import annotations

import json

from synthetic_runs import write_run

from skillneuron_harness.report.render import build_report


def test_the_per_example_block_of_a_run_is_tabled_and_drawn(tmp_path):
    run = tmp_path / "runs" / "p"
    write_run(run, {"adv_sst2": (0.4, 0.04, 4), "sst2": (0.9, 0.03, 4)}, prompt="/p/one")
    (path,) = run.glob("results_*.json")
    pairs = tmp_path / "adv_sst2.pairs.jsonl"
    rows = [{"doc_id": 0, "clean_doc_id": 0, "prediction_flipped": True, "layer_flip": [0.5, 1.0]},
            {"doc_id": 1, "clean_doc_id": 1, "prediction_flipped": False, "layer_flip": [0.0, 0.5]},
            {"doc_id": 2, "clean_doc_id": 2, "prediction_flipped": False, "layer_flip": [0.0, 0.0]}]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = json.loads(path.read_text())
    data["skill_neurons"] = {"adv_sst2": {"per_example": {
        "clean_twin": "sst2", "pairs": 3, "prediction_flip_rate": 1 / 3, "mean_flip_fraction": 1 / 3, "auc": 1.0,
        "pointbiserial_r": 0.87, "pointbiserial_p": 0.33, "neurons_per_layer": 2,
        "layer_mean_flip_fraction": [1 / 6, 1 / 2], "file": str(pairs)}}}
    path.write_text(json.dumps(data))
    build_report([tmp_path / "runs"], tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    section = md.split("## Per-example consistency")[1].split("\n## ")[0]
    assert "| adv_sst2 | sst2 | 3 | 33.3 | 33.3 | 1.00 | 0.87 (p = 0.33) | 17 / 50 |" in section
    assert (tmp_path / "report" / "figures" / "per_example_layers.png").stat().st_size > 1000
    build_report([tmp_path / "runs"], tmp_path / "as_json", fmt="json")
    (row,) = json.loads((tmp_path / "as_json" / "report.json").read_text())["per_example"]
    assert (row["task"], row["pairs"], row["auc"], row["pairs_file"]) == ("adv_sst2", 3, 1.0, str(pairs))


def test_no_block_no_section(tmp_path):
    write_run(tmp_path / "runs" / "p", {"adv_sst2": (0.4, 0.04, 4), "sst2": (0.9, 0.03, 4)}, prompt="/p/one")
    build_report([tmp_path / "runs"], tmp_path / "report")
    assert "Per-example" not in (tmp_path / "report" / "report.md").read_text()
