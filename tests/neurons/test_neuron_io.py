"""Per-task files: names, dtypes, shapes, metadata and summary, checked by hand."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from skillneuron_harness.neurons import io
from skillneuron_harness.neurons.statistics import parse_subtasks, top_k

L, P, D = 2, 3, 8


def _counts(num_classes: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    class_counts = torch.randint(5, 20, (num_classes,), generator=gen)  # (C,)
    fire = torch.stack(
        [torch.randint(0, int(n) + 1, (L, P, D), generator=gen) for n in class_counts]
    )  # (C, L, P, D)
    baseline = torch.randn(L, P, D, generator=gen)
    return baseline, fire, class_counts


def test_binary_roundtrip_and_summary(tmp_path):
    baseline, fire, counts = _counts(2)
    provenance = {"model": "tiny-t5", "prompt_sha256": "ab" * 32, "split": "validation"}
    st_path, json_path = io.write_task_stats(
        tmp_path / "sn", "sst2", baseline=baseline, fire_counts=fire, class_counts=counts,
        provenance=provenance, extra={"baseline_count": torch.tensor([40])}, top_n=5,
    )
    assert st_path == tmp_path / "sn" / "sst2.safetensors" and json_path.name == "sst2.json"
    with safe_open(str(st_path), framework="pt") as f:
        names = set(f.keys())
        meta = f.metadata()
    assert names == {"baseline", "class_counts", "fire_counts", "predictivity", "score",
                     "position", "baseline_count"}
    assert meta["task"] == "sst2" and meta["subtasks"] == "1:0" and meta["format"] == "pt"
    assert json.loads(meta["provenance"])["model"] == "tiny-t5"

    stats = io.read_task_stats(tmp_path / "sn", "sst2")
    t = stats.tensors
    assert (t["baseline"].dtype, t["baseline"].shape) == (torch.float32, (L, P, D))
    assert (t["fire_counts"].dtype, t["fire_counts"].shape) == (torch.int64, (2, L, P, D))
    assert (t["class_counts"].dtype, t["class_counts"].shape) == (torch.int64, (2,))
    assert (t["predictivity"].dtype, t["predictivity"].shape) == (torch.float64, (L, P, D))
    assert (t["score"].dtype, t["score"].shape) == (torch.float64, (L, D))
    assert torch.equal(t["fire_counts"], fire) and torch.equal(t["class_counts"], counts)
    assert stats.provenance["split"] == "validation" and "torch" in stats.provenance["versions"]
    assert stats.subtasks == parse_subtasks("1:0", 2)

    # The predictivity, by hand from the counts.
    n0, n1 = counts.tolist()
    acc = (fire[1].double() + (n0 - fire[0].double())) / (n0 + n1)
    pred = torch.maximum(acc, 1 - acc)
    torch.testing.assert_close(t["predictivity"], pred, rtol=0, atol=1e-6)
    torch.testing.assert_close(t["score"], pred.max(1).values, rtol=0, atol=1e-6)

    summary = stats.summary
    assert summary["num_docs"] == n0 + n1 and summary["class_counts"] == [n0, n1]
    assert summary["shape"] == {"layers": L, "positions": P, "neurons": D, "classes": 2}
    for layer in range(L):
        assert summary["layers"][layer]["max_score"] == pytest.approx(float(pred[layer].max()))
        assert summary["layers"][layer]["mean_score"] == pytest.approx(
            float(pred.max(1).values[layer].double().mean())
        )
    assert summary["skill_neurons"] == {"fraction": 0.02, "per_layer": top_k(D, 0.02), "ties": "high"}
    top = summary["top_neurons"]
    assert len(top) == 5
    best = max(
        ((float(pred[i, p, j]), i, j, p) for i in range(L) for p in range(P) for j in range(D)),
    )
    assert top[0]["predictivity"] == pytest.approx(best[0])
    assert (top[0]["layer"], top[0]["neuron"]) == (best[1], best[2])  # ties: the higher flat index
    assert all(pred[n["layer"], n["position"], n["neuron"]].item() == pytest.approx(n["predictivity"])
               for n in top)
    assert [n["predictivity"] for n in top] == sorted((n["predictivity"] for n in top), reverse=True)


def test_multiclass_and_undefined(tmp_path):
    baseline, fire, counts = _counts(3, seed=1)
    io.write_task_stats(tmp_path, "mnli", baseline=baseline, fire_counts=fire, class_counts=counts)
    stats = io.read_task_stats(tmp_path, "mnli")
    assert stats.metadata["subtasks"] == "0:2;1:0+2"
    sub = stats.tensors["subtask_predictivity"]
    assert sub.shape == (2, L, P, D)
    assert torch.equal(stats.tensors["predictivity"], sub.max(0).values)

    one_class = torch.tensor([0, 12])
    io.write_task_stats(tmp_path, "tiny", baseline=baseline, fire_counts=fire[:2].clamp(max=0),
                        class_counts=one_class)
    stats = io.read_task_stats(tmp_path, "tiny")
    assert "predictivity" not in stats.tensors and "score" not in stats.tensors
    assert "side without documents" in stats.summary["predictivity_undefined"]
    assert stats.summary["num_docs"] == 12


def test_bad_inputs(tmp_path):
    baseline, fire, counts = _counts(2)
    with pytest.raises(ValueError, match="cannot be a file name"):
        io.task_paths(tmp_path, "a/b")
    with pytest.raises(ValueError, match=r"\[C, L, P, D\]"):
        io.write_task_stats(tmp_path, "x", baseline=baseline[0], fire_counts=fire,
                            class_counts=counts)
    with pytest.raises(ValueError, match="overwrite"):
        io.write_task_stats(tmp_path, "x", baseline=baseline, fire_counts=fire,
                            class_counts=counts, extra={"score": torch.zeros(1)})
    with pytest.raises(TypeError, match="JSON"):
        io.write_task_stats(tmp_path, "x", baseline=baseline, fire_counts=fire,
                            class_counts=counts, provenance={"obj": object()})
    with pytest.raises(ValueError, match="missing.safetensors: no such file"):
        io.read_task_stats(tmp_path, "missing")
