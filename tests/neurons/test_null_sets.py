"""Null models of neuron sets against independent computations: scipy's hypergeometric law and random subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import hypergeom

from skillneuron_harness.neurons import statistics as st


def scores(seed: int, shape=(4, 150), related: float = 0.5):
    gen = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=gen, dtype=torch.float64)
    adv = related * clean + (1 - related) * torch.rand(shape, generator=gen, dtype=torch.float64)
    return clean, adv


def top_sets(score: torch.Tensor, k: int) -> list[set[int]]:
    return [set(sorted(range(len(row)), key=lambda j: (-float(row[j]), -j))[:k]) for row in score]


@pytest.mark.parametrize("related", [0.0, 0.3, 0.9])
def test_overlap_p_values_are_scipy_hypergeometric_tails(related):
    clean, adv = scores(1, related=related)
    point = next(p for p in st.consistency_curve(clean, adv, [0.1]))
    num_neurons, k = clean.shape[1], 15
    hits = [len(a & b) for a, b in zip(top_sets(clean, k), top_sets(adv, k), strict=True)]
    assert point.k == k and point.hits == sum(hits) and point.random == k / num_neurons
    assert point.p_per_layer == pytest.approx([hypergeom.sf(h - 1, num_neurons, k, k) for h in hits], rel=1e-12)
    # the sum over layers: P(X1 + ... + X4 >= total), by direct summation over scipy's pmf
    pmf = hypergeom.pmf(np.arange(k + 1), num_neurons, k, k)
    law = np.zeros(4 * k + 1)
    for xs in np.ndindex(*(k + 1,) * 2):  # two layers by enumeration, then two more by the same table
        law[sum(xs)] += pmf[xs[0]] * pmf[xs[1]]
    two = law[: 2 * k + 1].copy()
    four = np.array([sum(two[i] * two[s - i] for i in range(max(0, s - 2 * k), min(s, 2 * k) + 1))
                     for s in range(4 * k + 1)])
    assert point.p_value == pytest.approx(float(four[sum(hits):].sum()), rel=1e-9)
    if related == 0.0:
        assert point.p_value > 0.05
    if related == 0.9:
        assert point.p_value < 1e-6


def test_report_block_carries_the_nulls():
    clean, adv = scores(2)
    report = st.consistency_report(clean, adv, top_fraction=0.1, fractions=[0.02, 0.1])
    point = report["overlap"][1]
    assert point["random"] == pytest.approx(0.1) and 0 <= point["p_value"] <= 1
    versus = report["skill_vs_random"]
    assert {"p_value", "differ", "expected_random_mean", "p_per_layer"} <= set(versus)
    assert versus["expected_random_mean"] == pytest.approx(float(adv.mean()))


def monte_carlo_p(skill_means: torch.Tensor, adv: torch.Tensor, k: int, draws: int = 20_000) -> float:
    """Two-sided Monte Carlo permutation p of sum_l (mean of a random k-subset - layer mean)."""
    rng = np.random.default_rng(3)
    a = adv.numpy()
    observed = float((skill_means.numpy() - a.mean(1)).sum())
    total = np.zeros(draws)
    for layer in range(a.shape[0]):
        idx = np.argsort(rng.random((draws, a.shape[1])), axis=1)[:, :k]  # uniform k-subsets
        total += a[layer][idx].mean(1) - a[layer].mean()
    return float(np.mean(np.abs(total) >= abs(observed) - 1e-12))


@pytest.mark.parametrize("related", [0.0, 0.12, 0.25])
def test_skill_vs_random_p_value_agrees_with_random_subsets(related):
    clean, adv = scores(4, shape=(4, 200), related=related)
    versus = st.adversarial_predictivity_of_clean_skill_neurons(clean, adv, 0.1, num_draws=3)
    k = versus.k
    expected = monte_carlo_p(torch.tensor(versus.skill_per_layer, dtype=torch.float64), adv, k)
    assert abs(versus.p_value - expected) < 0.02, (versus.p_value, expected)
    assert versus.differ == (versus.p_value < 0.05)
    assert len(versus.p_per_layer) == 4


def test_skill_vs_random_combines_over_prompts():
    pairs = [scores(seed, related=0.08) for seed in range(5)]
    tests = [st.adversarial_predictivity_of_clean_skill_neurons(c, a, 0.1) for c, a in pairs]
    combined = st.combine_skill_vs_random([{"difference": t.difference, "variance": t.variance} for t in tests])
    skill = [torch.tensor(t.skill_per_layer, dtype=torch.float64) for t in tests]
    direct = st.skill_vs_random_test(skill, [a for _, a in pairs], 15)
    assert combined.p_value == pytest.approx(direct.p_value, rel=1e-12)
    assert combined.p_value <= max(t.p_value for t in tests)  # five prompts' evidence adds up
    assert st.combine_skill_vs_random([{}]) is None


def test_identical_scores_never_differ():
    flat = torch.full((2, 50), 0.6, dtype=torch.float64)
    versus = st.adversarial_predictivity_of_clean_skill_neurons(flat, flat, 0.1)
    assert versus.p_value == 1.0 and versus.differ is False and not math.isnan(versus.variance)
