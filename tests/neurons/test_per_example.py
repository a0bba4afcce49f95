"""Per-example skill-neuron consistency on a synthetic pair set, against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from skillneuron_harness.neurons.per_example import (
    PairRow,
    flip_statistics,
    layer_flip_fraction,
    mann_whitney_auc,
    median_table,
    per_example_report,
    selected_bits,
    selected_neurons,
)


def test_selected_bits_read_each_neuron_at_its_position():
    # L=2 layers, P'=2 positions, D=4 neurons; top 50% -> k=2 per layer
    score = torch.tensor([[0.9, 0.1, 0.8, 0.2], [0.3, 0.7, 0.6, 0.95]])
    position = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 1]])
    index, where = selected_neurons(score, position, 0.5)
    assert index.tolist() == [[0, 2], [3, 1]] and where.tolist() == [[1, 0], [1, 1]]
    fires = torch.zeros(2, 2, 4, dtype=torch.bool)  # (L, P', D)
    fires[0, 1, 0] = True  # layer 0 neuron 0 at its position 1
    fires[0, 1, 2] = True  # layer 0 neuron 2 at position 1: not its position (0)
    fires[1, 1, 1] = True  # layer 1 neuron 1 at its position 1
    assert selected_bits(fires, index, where).tolist() == [[True, False], [False, True]]
    batch = torch.stack([fires, ~fires])  # (N=2, L, P', D)
    assert selected_bits(batch, index, where).tolist()[1] == [[False, True], [True, False]]


def test_flip_fraction_counts_differing_states():
    clean = torch.tensor([[[1, 0, 1, 1], [0, 0, 0, 0]]], dtype=torch.bool)  # (N=1, L=2, k=4)
    adv = torch.tensor([[[1, 1, 0, 1], [0, 0, 0, 1]]], dtype=torch.bool)
    assert layer_flip_fraction(clean, adv).tolist() == [[0.5, 0.25]]
    assert layer_flip_fraction(clean, clean).tolist() == [[0.0, 0.0]]
    assert math.isnan(layer_flip_fraction(clean[..., :0], adv[..., :0])[0, 0])
    row = PairRow(0, 0, 1, 1, 0, (0.5, 0.25))
    assert row.flip_fraction == pytest.approx(0.375) and row.prediction_flipped


# Six pairs: flip fractions and whether the prediction flipped, by hand below.
FRACTIONS = [0.1, 0.4, 0.4, 0.2, 0.6, 0.0]
FLIPPED = [False, True, False, False, True, True]


def test_auc_counts_ties_half():
    # positives 0.4, 0.6, 0.0 vs negatives 0.1, 0.4, 0.2:
    # 0.4: > 0.1, = 0.4 (half), > 0.2 -> 2.5; 0.6: 3; 0.0: 0 -> 5.5 / 9
    assert mann_whitney_auc(FRACTIONS, FLIPPED) == pytest.approx(5.5 / 9)
    assert mann_whitney_auc([0.3, 0.3], [True, False]) == 0.5
    assert math.isnan(mann_whitney_auc([0.1, 0.2], [True, True]))


def test_median_table():
    # median of 0, .1, .2, .4, .4, .6 = 0.3; above: 0.4 (flipped), 0.4 (kept), 0.6 (flipped)
    table = median_table(FRACTIONS, FLIPPED)
    assert table == {"median": pytest.approx(0.3), "above_flipped": 2, "above_kept": 1, "below_flipped": 1,
                     "below_kept": 2}


def test_point_biserial_is_pearson_with_the_flip():
    stats = flip_statistics(FRACTIONS, FLIPPED)
    x = torch.tensor(FRACTIONS, dtype=torch.float64)
    y = torch.tensor([float(f) for f in FLIPPED], dtype=torch.float64)
    xc, yc = x - x.mean(), y - y.mean()
    r = float((xc * yc).sum() / (xc.norm() * yc.norm()))
    assert stats["pointbiserial_r"] == pytest.approx(r)
    # two-sided p of t = r sqrt(n - 2) / sqrt(1 - r^2) with n - 2 = 4 degrees of freedom
    from scipy.stats import t as student

    t = r * math.sqrt(4) / math.sqrt(1 - r * r)
    assert stats["pointbiserial_p"] == pytest.approx(2 * student.sf(abs(t), 4))
    assert stats["pairs"] == 6 and stats["prediction_flip_rate"] == 0.5
    assert stats["mean_flip_fraction"] == pytest.approx(1.7 / 6)
    constant = flip_statistics([0.2, 0.3, 0.1], [False, False, False])
    assert constant["auc"] is None and constant["pointbiserial_r"] is None


def test_report_overall_per_layer_and_per_kind():
    rows = [PairRow(i, 10 + i, 0, 0, 1 if f else 0, (frac, frac), kind="typo" if i < 3 else "synonym")
            for i, (frac, f) in enumerate(zip(FRACTIONS, FLIPPED, strict=True))]
    report = per_example_report(rows, top_fraction=0.5, neurons_per_layer=2)
    assert report["auc"] == pytest.approx(5.5 / 9) and report["pairs"] == 6
    assert report["layer_mean_flip_fraction"] == pytest.approx([1.7 / 6, 1.7 / 6])
    typo = report["by_kind"]["typo"]  # 0.1 kept, 0.4 flipped, 0.4 kept: 0.4 vs 0.1 (1), 0.4 (half)
    assert typo["pairs"] == 3 and typo["auc"] == pytest.approx(0.75)
    assert set(report["by_kind"]) == {"typo", "synonym"}
    assert "by_kind" not in per_example_report(rows[:1] and [PairRow(0, 0, 0, 0, 0, (0.0,))], top_fraction=0.5,
                                               neurons_per_layer=1)
    assert rows[1].as_json()["prediction_flipped"] is True
