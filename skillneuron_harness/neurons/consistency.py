"""Consistency of skill neurons between clean and adversarial data (Ackermann & Ohmer 2024).

Pure functions of neuron scores [L, D]: the overlap of the per-layer top-n % of clean and
adversarial scores and its curve over n, the adversarial score of the clean skill neurons
against random neurons, Spearman correlations, the performance drop rate, and the analyses of
the paper's released ``src/analysis.py`` (Robust-Neurons): the consistency curve on the
*seed-averaged* scores with error bars over layers (:func:`ao24_consistency_curve`, lines
49-77), the adversarial scores of the model-wide top-n % clean skill neurons as a histogram
(:func:`adversarial_histogram`, lines 820-960), and the per-layer Spearman matrices between
seeds or tasks over each layer's top-n predictivities (:func:`top_predictivity_spearman`, lines
352-480). See docs/statistics.md for how each maps to the paper and its code. Shapes: L
layers, D neurons per layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.neurons.null_sets import (
    combined_overlap_p_value,
    overlap_p_values,
    random_overlap,
    skill_vs_random_test,
    subset_mean_null,
)
from skillneuron_harness.neurons.predictivity import average_over_prompts
from skillneuron_harness.neurons.selection import (
    descending_order,
    model_wide_top_indices,
    top_fraction_indices,
    top_fraction_mask,
    top_k,
)

#: Top-n% fractions of the consistency curve of Ackermann & Ohmer (2024): 2, 4, ..., 20 %.
DEFAULT_FRACTIONS: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20)


def _check_pair(score_clean: torch.Tensor, score_adv: torch.Tensor) -> None:
    if score_clean.dim() != 2 or score_clean.shape != score_adv.shape:
        raise ValueError(
            f"clean and adversarial scores must both be [L, D]; got "
            f"{tuple(score_clean.shape)} and {tuple(score_adv.shape)}"
        )


def _mean_sem(values: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error (ddof=1) of a 1-D tensor; SEM is NaN for fewer than 2 values."""
    v = values.to(torch.float64)  # (n,)
    mean = float(v.mean())
    if v.numel() < 2:
        return mean, math.nan
    return mean, float(v.std(unbiased=True)) / math.sqrt(v.numel())


def overlap_per_layer(score_clean: torch.Tensor, score_adv: torch.Tensor, fraction: float,
                      ties: str = "high") -> torch.Tensor:
    """overlap_l = |S_clean ∩ S_adv| / |S_adv| per layer, float64 [L].

    S are the per-layer top-``fraction`` neurons (:func:`top_fraction_mask`). Undefined, and a
    ValueError, when the fraction selects no neuron.
    """
    _check_pair(score_clean, score_adv)
    k = top_k(score_clean.shape[1], fraction)
    if k == 0:
        raise ValueError(f"overlap is undefined for fraction {fraction}: it selects no neuron")
    both = top_fraction_mask(score_clean, fraction, ties) & top_fraction_mask(score_adv, fraction, ties)
    return both.sum(1).to(torch.float64) / k  # (L, D) -> (L,)


@dataclass
class ConsistencyPoint:
    """One point of the consistency curve: top-``fraction`` (k neurons per layer).

    With its null (:mod:`~skillneuron_harness.neurons.null_sets`): ``random`` = k / D, the
    expected overlap of random k-subsets; ``hits``, the intersections summed over layers;
    ``p_per_layer``, P(Hypergeom(D, k, k) >= intersection) per layer; ``p_value``, the same for
    the sum over layers (independent layers, exact convolution).
    """

    fraction: float
    k: int
    mean: float
    sem: float
    per_layer: list[float]
    random: float = math.nan
    hits: int | None = None
    p_value: float = math.nan
    p_per_layer: list[float] = field(default_factory=list)


def consistency_curve(
    score_clean: torch.Tensor,
    score_adv: torch.Tensor,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ties: str = "high",
) -> list[ConsistencyPoint]:
    """Overlap per layer for each fraction, with its mean and SEM (ddof=1) over layers.

    A fraction that selects no neuron (floor(f x D) = 0 in a small model) gives NaN.
    """
    _check_pair(score_clean, score_adv)
    points = []
    for fraction in fractions:
        if top_k(score_clean.shape[1], fraction) == 0:
            nan = [math.nan] * score_clean.shape[0]
            points.append(ConsistencyPoint(float(fraction), 0, math.nan, math.nan, nan))
            continue
        per_layer = overlap_per_layer(score_clean, score_adv, fraction, ties)  # (L,)
        mean, sem = _mean_sem(per_layer)
        k, num_neurons = top_k(score_clean.shape[1], fraction), score_clean.shape[1]
        hits = [round(float(v) * k) for v in per_layer]  # intersections per layer
        points.append(
            ConsistencyPoint(
                fraction=float(fraction),
                k=k,
                mean=mean,
                sem=sem,
                per_layer=per_layer.tolist(),
                random=random_overlap(num_neurons, k),
                hits=sum(hits),
                p_value=combined_overlap_p_value(hits, num_neurons, k),
                p_per_layer=overlap_p_values(hits, num_neurons, k),
            )
        )
    return points


@dataclass
class SkillVsRandom:
    """Adversarial score of the clean skill neurons vs random neurons of the same count.

    ``random_*`` are the means over ``num_draws`` random draws; ``expected_random_mean`` is their
    exact expectation (the mean over layers of each layer's mean score). The test
    (:func:`~skillneuron_harness.neurons.null_sets.skill_vs_random_test`): ``difference`` = sum
    over layers of skill mean - layer mean, its null ``variance``, ``z``, the two-sided
    ``p_value`` (and ``p_per_layer``), and ``differ`` = p_value < ``alpha``.
    """

    fraction: float
    k: int
    seed: int
    num_draws: int
    skill_per_layer: list[float]
    random_per_layer: list[float]
    skill_mean: float
    random_mean: float
    expected_random_mean: float = math.nan
    difference: float = math.nan
    variance: float = math.nan
    z: float = math.nan
    p_value: float = math.nan
    p_per_layer: list[float] = field(default_factory=list)
    differ: bool | None = None
    alpha: float = math.nan


def adversarial_predictivity_of_clean_skill_neurons(
    score_clean: torch.Tensor,
    score_adv: torch.Tensor,
    fraction: float,
    seed: int = 0,
    num_draws: int = 1,
    ties: str = "high",
) -> SkillVsRandom:
    """Mean adversarial score of the clean top-``fraction`` neurons, and of random neurons.

    Per layer, the k clean skill neurons' mean adversarial score, against k neurons drawn
    uniformly without replacement from all D neurons of the layer (skill neurons included),
    averaged over ``num_draws`` draws. Draws come from ``torch.Generator().manual_seed(seed)``
    with ``torch.randperm(D)[:k]`` per draw, layer by layer (draw-major order), so results are
    reproducible across runs and machines. The test of skill against random neurons does not
    depend on the draws (see :class:`SkillVsRandom`).
    """
    _check_pair(score_clean, score_adv)
    if num_draws < 1:
        raise ValueError(f"num_draws must be >= 1; got {num_draws}")
    num_layers, num_neurons = score_clean.shape
    k = top_k(num_neurons, fraction)
    if k == 0:
        raise ValueError(f"fraction {fraction} selects no neuron")
    adv = score_adv.detach().cpu().to(torch.float64)  # (L, D)
    skill_idx = top_fraction_indices(score_clean.detach().cpu(), fraction, ties)  # (L, k)
    skill = adv.gather(1, skill_idx).mean(1)  # (L, k) -> (L,)
    gen = torch.Generator().manual_seed(seed)
    random = torch.zeros(num_layers, dtype=torch.float64)  # (L,)
    for _ in range(num_draws):
        for layer in range(num_layers):
            idx = torch.randperm(num_neurons, generator=gen)[:k]  # (k,)
            random[layer] += adv[layer, idx].mean()
    random /= num_draws  # (L,)
    test = skill_vs_random_test([skill], [adv], k)
    return SkillVsRandom(
        fraction=float(fraction),
        k=k,
        seed=seed,
        num_draws=num_draws,
        skill_per_layer=skill.tolist(),
        random_per_layer=random.tolist(),
        skill_mean=float(skill.mean()),
        random_mean=float(random.mean()),
        expected_random_mean=float(subset_mean_null(adv, k)[0].mean()),
        difference=test.difference,
        variance=test.variance,
        z=test.z,
        p_value=test.p_value,
        p_per_layer=test.p_per_layer,
        differ=test.differ,
        alpha=test.alpha,
    )


@dataclass
class SpearmanResult:
    """Spearman rank correlation of per-neuron scores, clean vs adversarial."""

    overall: float
    per_layer: list[float]


def spearman_correlation(score_clean: torch.Tensor, score_adv: torch.Tensor) -> SpearmanResult:
    """Spearman correlation over all L x D neurons, and within each layer (NaN if constant)."""
    import numpy as np
    from scipy.stats import spearmanr

    _check_pair(score_clean, score_adv)
    clean = score_clean.detach().cpu().to(torch.float64).numpy()  # (L, D)
    adv = score_adv.detach().cpu().to(torch.float64).numpy()  # (L, D)

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        if np.all(a == a[0]) or np.all(b == b[0]):
            return math.nan  # undefined for constant input
        return float(spearmanr(a, b).statistic)

    return SpearmanResult(
        overall=rho(clean.reshape(-1), adv.reshape(-1)),
        per_layer=[rho(clean[layer], adv[layer]) for layer in range(clean.shape[0])],
    )


def performance_drop_rate(acc_clean: float, acc_adv: float) -> float:
    """PDR = 1 - acc_adv / acc_clean (PromptBench); ValueError when acc_clean is 0."""
    if acc_clean == 0:
        raise ValueError("performance drop rate is undefined for a clean accuracy of 0")
    return 1.0 - acc_adv / acc_clean


def json_safe(value: Any) -> Any:
    """Plain JSON values: non-finite floats become None, tuples lists, keys strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def consistency_report(
    score_clean: torch.Tensor,
    score_adv: torch.Tensor,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    top_fraction: float = DEFAULT_TOP,
    seed: int = 0,
    num_draws: int = 1,
    acc_clean: float | None = None,
    acc_adv: float | None = None,
    ties: str = "high",
) -> dict[str, Any]:
    """The consistency block for results JSON: curve, skill vs random, Spearman, PDR.

    Plain Python values only; NaN (e.g. the SEM of a one-layer model) becomes None.
    """
    versus = None  # a fraction that selects no neuron has no skill neurons to compare
    if top_k(score_clean.shape[1], top_fraction) > 0:
        versus = asdict(adversarial_predictivity_of_clean_skill_neurons(
            score_clean, score_adv, top_fraction, seed=seed, num_draws=num_draws, ties=ties))
    report: dict[str, Any] = {
        "overlap": [asdict(p) for p in consistency_curve(score_clean, score_adv, fractions, ties)],
        "skill_vs_random": versus,
        "spearman": asdict(spearman_correlation(score_clean, score_adv)),
    }
    if acc_clean is not None and acc_adv is not None:
        report["accuracy"] = {
            "clean": acc_clean,
            "adversarial": acc_adv,
            "performance_drop_rate": performance_drop_rate(acc_clean, acc_adv),
        }
    return json_safe(report)


# ---------------------------------------------------------------------------------------------
# The analyses of the released analysis.py
# ---------------------------------------------------------------------------------------------


def ao24_consistency_curve(
    clean_scores: Sequence[torch.Tensor],
    adv_scores: Sequence[torch.Tensor],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    ties: str = "high",
) -> list[ConsistencyPoint]:
    """The paper's consistency curve: overlap of the top-n % of the seed-averaged scores.

    ``clean_scores`` / ``adv_scores``: per-prompt scores [L, D] of one task (same prompts, any
    order within each list). Both are averaged over prompts first (``*_mean.npy``,
    ``src/find.py:229-230``); then per layer |top_n(clean) ∩ top_n(adv)| / k, and the mean and
    SEM (ddof 1) over *layers* (``src/analysis.py:49-77``). The released lines 52-53 reverse
    the layer axis instead of the neuron axis, which makes the released figure the *bottom*-n %
    overlap (:func:`released_overlap_per_layer`); this follows the paper's text.
    """
    return consistency_curve(average_over_prompts(list(clean_scores)), average_over_prompts(list(adv_scores)),
                             fractions, ties)


def released_overlap_per_layer(score_clean: torch.Tensor, score_adv: torch.Tensor, fraction: float) -> torch.Tensor:
    """What ``src/analysis.py:52-61`` computes, float64 [L]; kept to document the finding.

    ``np.argsort(p, axis=1)[::-1]`` reverses the *layer* axis, so row i holds layer L-1-i's
    neurons in *ascending* order and ``[:, :k]`` keeps its bottom k: the overlap of the bottom-n %
    clean and adversarial neurons of each layer (listed in reversed layer order).
    """
    _check_pair(score_clean, score_adv)
    k = top_k(score_clean.shape[1], fraction)
    if k == 0:
        raise ValueError(f"overlap is undefined for fraction {fraction}: it selects no neuron")
    bottom_clean = descending_order(score_clean, "high").flip(-1)[:, :k]  # (L, k) ascending, stable
    bottom_adv = descending_order(score_adv, "high").flip(-1)[:, :k]  # (L, k)
    out = [len(set(c.tolist()) & set(a.tolist())) / k for c, a in zip(bottom_clean, bottom_adv, strict=True)]
    return torch.tensor(out[::-1], dtype=torch.float64)  # (L,) in the released (reversed) layer order


def bin_edges(values: torch.Tensor, width: float = 0.05) -> torch.Tensor:
    """Histogram bin edges every ``width`` from floor(min/width) to ceil(max/width) x width.

    ``get_bin_boundaries`` of ``src/analysis.py:804-818``: ``np.arange(min, max + width, width)``.
    """
    import numpy as np

    v = values.detach().cpu().to(torch.float64).numpy()
    low = np.floor(np.min(v) / width) * width
    high = np.ceil(np.max(v) / width) * width
    return torch.from_numpy(np.arange(low, high + width, width))


@dataclass
class AdversarialHistogram:
    """Adversarial scores of the model-wide top-n % clean skill neurons, and their histogram."""

    fraction: float
    k: int
    values: list[float]  # descending
    edges: list[float]
    counts: list[int]


def adversarial_histogram(score_clean: torch.Tensor, score_adv: torch.Tensor, fraction: float,
                          width: float = 0.05, ties: str = "high") -> AdversarialHistogram:
    """The adversarial score of the model-wide top ``fraction`` clean skill neurons (histogram).

    ``src/analysis.py:820-830``: the clean seed-mean scores ranked over all L x D neurons
    (``src/find.py:369-374``), the first ``int(L*D/100*topn)``, their adversarial seed-mean scores;
    lines 871 and 961-962 sort them descending and 995-1003 draw a histogram with 0.05-wide bins
    (:func:`bin_edges`). Pass seed-averaged scores [L, D] (:func:`average_over_prompts`).
    """
    import numpy as np

    _check_pair(score_clean, score_adv)
    top = model_wide_top_indices(score_clean.detach().cpu(), fraction, ties)  # (k, 2)
    if len(top) == 0:
        raise ValueError(f"fraction {fraction} of {score_clean.numel()} neurons selects none")
    adv = score_adv.detach().cpu().to(torch.float64)[top[:, 0], top[:, 1]]  # (k,)
    values = torch.sort(adv, descending=True).values  # (k,)
    edges = bin_edges(values, width)
    counts, _ = np.histogram(values.numpy(), bins=edges.numpy())
    return AdversarialHistogram(fraction=float(fraction), k=len(top), values=values.tolist(),
                                edges=edges.tolist(), counts=[int(c) for c in counts])


def top_predictivity_vectors(score: torch.Tensor, fraction: float, ties: str = "high") -> torch.Tensor:
    """Per layer, the scores of the layer's own top ``fraction`` neurons in ascending neuron order.

    float64 [L, k]: ``src/analysis.py:389-399`` (and 450-460) take each run's top-n neurons of the
    layer (by its own ranking) and list their scores by increasing neuron index.
    """
    idx = top_fraction_indices(score, fraction, ties).sort(dim=1).values  # (L, k) ascending index
    return score.detach().cpu().to(torch.float64).gather(1, idx.cpu())  # (L, k)


@dataclass
class SpearmanMatrix:
    """Mean over layers of the per-layer Spearman matrices (and of their p-values)."""

    fraction: float
    labels: list[str]
    rho: list[list[float]]  # (n, n), mean over layers
    p: list[list[float]]  # (n, n), mean over layers
    per_layer_rho: list[list[list[float]]]  # (L, n, n)


def top_predictivity_spearman(scores: Sequence[torch.Tensor], labels: Sequence[str], fraction: float,
                              ties: str = "high") -> SpearmanMatrix:
    """Spearman matrices between runs over each layer's top-n predictivities, averaged over layers.

    ``scores``: one score map [L, D] per run: per seed of one task (``correlation_matrix_across_
    seed``, ``src/analysis.py:352-407``) or the seed-mean of each task
    (``correlation_matrix_across_layer``, lines 410-480). Per layer, run i's vector is
    :func:`top_predictivity_vectors`; rho_l(i, j) = spearmanr(v_i, v_j) (scipy; NaN for a
    constant vector, which then makes the layer mean NaN, as ``np.mean`` does). Note the vectors
    hold the scores of *different* neurons paired by index order: this is the released
    definition, reproduced as is.
    """
    import numpy as np
    from scipy.stats import spearmanr

    if len(scores) != len(labels) or len(scores) < 2:
        raise ValueError(f"need at least 2 score maps with one label each; got {len(scores)} and {len(labels)}")
    vectors = [top_predictivity_vectors(s, fraction, ties).numpy() for s in scores]  # n x (L, k)
    num_layers, n = vectors[0].shape[0], len(vectors)
    rho = np.zeros((num_layers, n, n))
    p = np.zeros((num_layers, n, n))
    for layer in range(num_layers):
        for i in range(n):
            for j in range(n):
                a, b = vectors[i][layer], vectors[j][layer]
                if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
                    rho[layer, i, j] = p[layer, i, j] = math.nan  # scipy's answer, without its warning
                else:
                    result = spearmanr(a, b)
                    rho[layer, i, j], p[layer, i, j] = result[0], result[1]
    return SpearmanMatrix(fraction=float(fraction), labels=list(labels), rho=rho.mean(0).tolist(),
                          p=p.mean(0).tolist(), per_layer_rho=rho.tolist())
