import json

import numpy as np
import torch

from skillneuron_harness.cli import main
from skillneuron_harness.neurons.io import write_task_stats


def fake_run(directory, seed, classes=2, layers=3, positions=2, neurons=50):
    g = torch.Generator().manual_seed(seed)
    class_counts = torch.tensor([20, 30])
    fire = torch.stack([torch.randint(0, int(n) + 1, (layers, positions, neurons), generator=g) for n in class_counts])
    write_task_stats(directory, "sst2", baseline=torch.zeros(layers, positions, neurons), fire_counts=fire,
                     class_counts=class_counts, provenance={"prompt": f"seed{seed}"})
    acc = (fire[1] + class_counts[0] - fire[0]).numpy() / 50  # (L, P, D): "fires => positive"
    return np.maximum(acc, 1 - acc).max(1)  # (L, D)


def test_average_is_mean_over_prompts_of_max_over_positions(tmp_path):
    want = np.mean([fake_run(tmp_path / f"s{s}", s) for s in (1, 2, 3)], axis=0)
    assert main(["average", *(str(tmp_path / f"s{s}") for s in (1, 2, 3)), "--task", "sst2",
                 "--output", str(tmp_path / "mean"), "--top", "0.1"]) == 0
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "mean" / "sst2.safetensors")
    np.testing.assert_allclose(saved["score"].numpy(), want, atol=1e-6)
    top = np.argsort(-want, axis=1, kind="stable")[:, :5]  # 10% of 50 neurons per layer
    assert all(set(np.flatnonzero(row)) == set(t) for row, t in zip(saved["skill_neurons"].numpy(), top, strict=True))
    summary = json.loads((tmp_path / "mean" / "sst2.json").read_text())
    assert summary["num_prompts"] == 3 and [s["prompt"] for s in summary["sources"]] == ["seed1", "seed2", "seed3"]


def test_average_is_marked_and_the_report_skips_it(tmp_path):
    from safetensors import safe_open

    from skillneuron_harness.report.collect import collect

    for s in (1, 2):
        fake_run(tmp_path / "runs" / f"s{s}", s)
    assert main(["average", str(tmp_path / "runs" / "s1"), str(tmp_path / "runs" / "s2"), "--task", "sst2",
                 "--output", str(tmp_path / "runs" / "mean")]) == 0
    with safe_open(str(tmp_path / "runs" / "mean" / "sst2.safetensors"), framework="pt") as f:
        meta = f.metadata()
    provenance = json.loads(meta["provenance"])
    assert meta["kind"] == "average" and provenance["kind"] == "average"
    assert provenance["averaged_over"] == ["seed1", "seed2"] and provenance["num_prompts"] == 2
    files = collect([tmp_path / "runs"]).neuron_files
    assert sorted(f.path.parent.name for f in files) == ["s1", "s2"]  # the average is not a third prompt
    assert main(["average", str(tmp_path / "runs" / "mean"), str(tmp_path / "runs" / "s1"), "--task", "sst2",
                 "--output", str(tmp_path / "again")]) == 2  # an average is never averaged again
