"""Null models of neuron sets: the overlap of random top-k sets, and random neurons' mean score.

Two comparisons of :mod:`~skillneuron_harness.neurons.consistency` have a chance level that is not
obvious from the numbers themselves.

- **Overlap.** Two k-subsets of a layer's D neurons drawn at random share X ~ Hypergeom(D, k, k)
  neurons: on average k^2 / D, an overlap fraction of k / D (2 % for the top 2 %). The p-value of
  an observed intersection is the upper tail P(X >= observed) (:func:`overlap_p_values`). Over
  several layers (and prompts) the sum of the intersections is compared with the sum of
  independent hypergeometric draws, whose law is the exact convolution of theirs
  (:func:`combined_overlap_p_value`); the mean overlap over layers is that sum / (L k).
- **Skill vs random.** The clean skill neurons' mean adversarial score against random neurons
  of the same count. Under the null "the skill neurons of each layer are, on adversarial data,
  a random k-subset of the layer", the difference d_l = mean(skill) - mean(layer) has mean 0
  and the exact randomisation variance sigma_l^2 / k x (D - k) / (D - 1) (sigma_l^2: the
  layer's population variance); summed over layers (and prompts), z = sum d / sqrt(sum var) is
  referred to the normal law (the permutational central limit theorem; good when the number of
  skill neurons summed, L x k, is a few dozen or more) for a two-sided p-value
  (:func:`skill_vs_random_test`). Plain numbers (``difference``, ``variance``) combine over
  prompts by summing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: Significance level of the "differ" verdicts.
ALPHA = 0.05


def random_overlap(num_neurons: int, k: int) -> float:
    """Expected overlap fraction |A ∩ B| / k of two random k-subsets of ``num_neurons``: k / D."""
    if not 0 < k <= num_neurons:
        raise ValueError(f"overlap of random {k}-subsets of {num_neurons} neurons is undefined; need 0 < k <= D")
    return k / num_neurons


def overlap_p_values(intersections: Sequence[int], num_neurons: int, k: int) -> list[float]:
    """P(X >= observed) for X ~ Hypergeom(D, k, k), one per observed intersection (per layer)."""
    from scipy.stats import hypergeom

    random_overlap(num_neurons, k)
    return [float(hypergeom.sf(int(x) - 1, num_neurons, k, k)) for x in intersections]


def combined_overlap_p_value(intersections: Sequence[int], num_neurons: int, k: int) -> float:
    """P(sum of independent Hypergeom(D, k, k) >= sum of ``intersections``): exact, by convolution."""
    from scipy.stats import hypergeom

    random_overlap(num_neurons, k)
    pmf = hypergeom.pmf(np.arange(k + 1), num_neurons, k, k)  # (k + 1,)
    total = np.ones(1)
    for _ in intersections:
        total = np.convolve(total, pmf)  # law of the running sum
    observed = int(sum(int(x) for x in intersections))
    return float(min(1.0, total[observed:].sum())) if intersections else math.nan


@dataclass
class SkillVsRandomTest:
    """Two-sided test of "the skill neurons' mean score equals that of random neurons of their layers"."""

    difference: float  # sum over layers (and prompts) of mean(skill) - mean(layer)
    variance: float  # its exact variance under the random-subset null
    z: float
    p_value: float
    p_per_layer: list[float]
    differ: bool  # p_value < alpha
    alpha: float = ALPHA


def _two_sided(difference: float, variance: float) -> tuple[float, float]:
    from scipy.stats import norm

    if variance <= 0:  # every neuron scores the same, or k = D: any set is the layer
        return (0.0, 1.0) if abs(difference) < 1e-12 else (math.copysign(math.inf, difference), 0.0)
    z = difference / math.sqrt(variance)
    return z, float(min(1.0, 2 * norm.sf(abs(z))))


def subset_mean_null(score: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the mean of a random k-subset of each layer, float64 [L] each."""
    s = score.detach().cpu().to(torch.float64)  # (L, D)
    num_neurons = s.shape[1]
    if not 0 < k <= num_neurons:
        raise ValueError(f"random {k}-subsets of {num_neurons} neurons are undefined; need 0 < k <= D")
    population_var = s.var(dim=1, unbiased=False)  # (L,)
    correction = (num_neurons - k) / (num_neurons - 1) if num_neurons > 1 else 0.0
    return s.mean(1), population_var / k * correction  # (L,), (L,)


def skill_vs_random_test(skill_means: Sequence[torch.Tensor], scores: Sequence[torch.Tensor], k: int,
                         alpha: float = ALPHA) -> SkillVsRandomTest:
    """Test the skill neurons' mean scores ``skill_means`` ([L] per prompt) against random k-subsets.

    ``scores``: the score maps [L, D] the means were taken from (the adversarial scores), one per
    prompt; see the module docstring. ``p_per_layer`` is given for one prompt (empty otherwise).
    """
    if len(skill_means) != len(scores) or not scores:
        raise ValueError(f"need one skill-mean vector per score map; got {len(skill_means)} and {len(scores)}")
    difference = variance = 0.0
    per_layer: list[float] = []
    for means, score in zip(skill_means, scores, strict=True):
        mean, var = subset_mean_null(score, k)  # (L,), (L,)
        d = means.detach().cpu().to(torch.float64) - mean  # (L,)
        difference += float(d.sum())
        variance += float(var.sum())
        if len(scores) == 1:
            per_layer = [_two_sided(float(dl), float(vl))[1] for dl, vl in zip(d, var, strict=True)]
    z, p = _two_sided(difference, variance)
    return SkillVsRandomTest(difference=difference, variance=variance, z=z, p_value=p, p_per_layer=per_layer,
                             differ=p < alpha, alpha=alpha)


def combine_skill_vs_random(tests: Sequence[dict], alpha: float = ALPHA) -> SkillVsRandomTest | None:
    """One test over prompts from their ``difference`` and ``variance`` (plain dicts); None without any."""
    usable = [t for t in tests if t and t.get("difference") is not None and t.get("variance") is not None]
    if not usable:
        return None
    difference = sum(float(t["difference"]) for t in usable)
    variance = sum(float(t["variance"]) for t in usable)
    z, p = _two_sided(difference, variance)
    return SkillVsRandomTest(difference=difference, variance=variance, z=z, p_value=p, p_per_layer=[],
                             differ=p < alpha, alpha=alpha)
