"""The tie order is an option wherever neurons are selected, and it changes exactly the tied choices.

Scores are multiples of 1/N, so ties are common; the expected selections below are worked out by
hand (high: the higher neuron index first, low: the lower), never by the code under test.
"""

from __future__ import annotations

import json

import pytest
import torch

from skillneuron_harness.cli import main
from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.neurons.consistency import consistency_report
from skillneuron_harness.neurons.io import write_task_stats
from skillneuron_harness.neurons.recorder import SkillNeuronConfig
from skillneuron_harness.neurons.suppression import select_neurons

# one layer of four neurons, all tied on the clean side; the adversarial side's best is neuron 0
CLEAN = torch.tensor([[0.6, 0.6, 0.6, 0.6]], dtype=torch.float64)
ADV = torch.tensor([[0.7, 0.1, 0.1, 0.1]], dtype=torch.float64)


def _overlap(report, fraction):
    return next(p for p in report["overlap"] if abs(p["fraction"] - fraction) < 1e-9)["mean"]


def test_consistency_follows_the_tie_order():
    # top 25 % = 1 neuron: high picks clean neuron 3 (no overlap with adv's 0), low picks neuron 0 (overlap 1)
    assert _overlap(consistency_report(CLEAN, ADV, fractions=(0.25,), top_fraction=0.25), 0.25) == 0.0
    assert _overlap(consistency_report(CLEAN, ADV, fractions=(0.25,), top_fraction=0.25, ties="low"), 0.25) == 1.0


def test_suppression_selects_by_the_tie_order():
    score = torch.tensor([[0.5, 0.9, 0.5, 0.5], [0.8, 0.8, 0.8, 0.1]])
    # top half = 2 per layer; layer 0: 1, then the tied 0/2/3; layer 1: two of the tied 0/1/2
    high = select_neurons(score, 0.5, ties="high")
    low = select_neurons(score, 0.5, ties="low")
    assert high.nonzero().tolist() == [[0, 1], [0, 3], [1, 1], [1, 2]]
    assert low.nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_model_args_take_the_tie_order_and_refuse_others(tmp_path):
    assert SkillNeuronConfig(output_dir=str(tmp_path), ties="low").ties == "low"
    with pytest.raises(ModelArgsError, match="sn_ties"):
        SkillNeuronConfig(output_dir=str(tmp_path), ties="middle")


def _tied_run(directory, prompt):
    # every neuron of every layer fires for the same documents: all scores tie
    counts = torch.tensor([4, 4])
    fire = torch.zeros(2, 2, 1, 10, dtype=torch.int64)
    fire[1] = 4  # (C, L, P, D): all positives fire, no negative does
    write_task_stats(directory, "sst2", baseline=torch.zeros(2, 1, 10), fire_counts=fire, class_counts=counts,
                     provenance={"prompt": prompt})


def test_average_marks_the_skill_neurons_by_the_tie_order(tmp_path):
    from safetensors.torch import load_file

    for s in (1, 2):
        _tied_run(tmp_path / f"s{s}", f"seed{s}")
    runs = [str(tmp_path / "s1"), str(tmp_path / "s2")]
    for ties, picked in (("high", [9, 8]), ("low", [0, 1])):  # 20 % of 10 neurons = 2 per layer
        assert main(["average", *runs, "--task", "sst2", "--output", str(tmp_path / ties), "--top", "0.2",
                     "--ties", ties]) == 0
        mask = load_file(tmp_path / ties / "sst2.safetensors")["skill_neurons"]  # (L, D)
        assert [sorted(row.nonzero().flatten().tolist()) for row in mask] == [sorted(picked)] * 2
        summary = json.loads((tmp_path / ties / "sst2.json").read_text())["summary"]
        first = summary["top_neurons"][0]
        assert (first["layer"], first["neuron"]) == ((1, 9) if ties == "high" else (0, 0))  # model-wide order
