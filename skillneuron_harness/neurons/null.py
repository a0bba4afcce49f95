"""The null model of a neuron's predictivity: exact p-values, FDR control and the chance line.

A cell (layer l, position t, neuron j) predicts a binary subtask by "fires above baseline =>
positive"; its predictivity is max(acc, 1 - acc) (:mod:`~skillneuron_harness.neurons.predictivity`).
Noise alone scores well above 0.5: with N documents the best of P positions of |acc - 1/2| is
of order sqrt(log P / N). Under the null "firing is independent of the label", given what the
counts fix (N_pos documents on the positive side, N_neg on the negative one, F documents firing),
the positive documents that fire, X, are a hypergeometric draw: X ~ Hypergeom(N, N_pos, F), which
is exactly the distribution of X under all N! label permutations (a permutation test). The
statistic is an affine function of X given the margins:

- plain accuracy: 2 correct - N = 4X - (2F + N_pos - N_neg), predictivity = 1/2 + |.| / (2N);
- balanced accuracy (more than two classes in the decomposition, as the code decides):
  X N - F N_pos, predictivity = 1/2 + |.| / (2 N_pos N_neg).

So a cell's two-sided p-value (the chance of a predictivity at least as high) is the mass of
both tails of X beyond the observed |a X - b| (:func:`cell_p_values`), exact in integers. A
multi-class task is binarised as the code does (:func:`~skillneuron_harness.neurons.predictivity.binary_subtasks`
or ``sn_subtasks``); each subtask has its own margins (and, with per-subtask baselines, its own
counts). A neuron's p-value tests "every one of its K = S x P cells is null" with Bonferroni,
min(1, K x the smallest cell p) (:func:`neuron_p_values`), valid whatever the dependence between
positions (and conservative, since positions are strongly correlated). Benjamini-Hochberg
q-values are taken within each layer (:func:`benjamini_hochberg`), as skill neurons are chosen
within each layer. The chance line (:func:`null_score_quantiles`) is the distribution of the
neuron score (the max over the K cells) when every cell is null and the cells are independent,
mixed over the neurons of a layer; correlated positions make the true null max smaller, so the
line is an upper bound for positively dependent positions.

Caveat: the null conditions on the baseline; a baseline computed from the evaluated documents
and their labels (``sn_baseline_source=self`` with per-subtask baselines of a multi-class task)
depends on the labels, and the p-values are then approximate.
Shapes: S subtasks, C classes, L layers, P positions, D neurons per layer, Q quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from skillneuron_harness.neurons.predictivity import BinarySubtask, balanced_by_default, has_both_sides

#: False discovery rate of the significance counts (``sn_fdr``).
DEFAULT_FDR = 0.05
#: Quantiles of the null neuron score drawn as the chance line.
DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.95)
_TABLE_BUDGET = 1 << 22  # pmf entries per chunk of the tail tables (32 MiB of float64)
_REFINE = 16  # thresholds per pass of the quantile search


# ---------------------------------------------------------------------------------------------
# Hypergeometric tails
# ---------------------------------------------------------------------------------------------


def hypergeom_tails(total: int, successes: int, draws, at_most, at_least) -> tuple[np.ndarray, np.ndarray]:
    """P(X <= at_most) and P(X >= at_least) for X ~ Hypergeom(total, successes, draws), elementwise.

    ``draws``, ``at_most`` and ``at_least`` are integer arrays of one shape (any bound outside
    the support is allowed). The pmf is exact (log-factorials from ``scipy.special.gammaln``) and
    each tail is summed from its far end, so small p-values keep their relative precision down
    to float64's underflow (about 1e-300, below which they are 0). Rows of the same ``draws``
    share one pmf, so millions of cells cost one table of N x N_pos entries at most; scipy's
    ``hypergeom.sf`` would take 10-200 microseconds per cell.
    """
    from scipy.special import gammaln

    draws = np.asarray(draws, dtype=np.int64)
    shape = draws.shape
    draws, at_most, at_least = (np.asarray(v, dtype=np.int64).reshape(-1) for v in (draws, at_most, at_least))
    failures = total - successes
    if total < 0 or not 0 <= successes <= total or draws.size and (draws.min() < 0 or draws.max() > total):
        raise ValueError(f"hypergeometric tails need 0 <= successes <= total and draws in [0, total]; got total="
                         f"{total}, successes={successes}, draws in [{draws.min(initial=0)}, {draws.max(initial=0)}]")
    log_fact = gammaln(np.arange(total + 1, dtype=np.float64) + 1)  # (N + 1,) log k!
    lower = np.zeros(draws.size)
    upper = np.zeros(draws.size)
    unique, inverse = np.unique(draws, return_inverse=True)  # (U,), (n,)
    order = np.argsort(inverse, kind="stable")  # queries grouped by their number of draws
    bounds = np.searchsorted(inverse[order], np.arange(unique.size + 1))  # (U + 1,)
    rows_per_chunk = max(1, _TABLE_BUDGET // (min(successes, total) + 1))
    for start in range(0, unique.size, rows_per_chunk):
        f = unique[start : start + rows_per_chunk]  # (m,) draws of this chunk
        lo, hi = np.maximum(0, f - failures), np.minimum(f, successes)  # (m,) support of each row
        x = np.arange(lo.min(), hi.max() + 1)  # (w,) union of the supports
        valid = (x[None, :] >= lo[:, None]) & (x[None, :] <= hi[:, None])  # (m, w)
        fx = np.clip(f[:, None] - x[None, :], 0, total)  # (m, w) failures drawn
        xs = np.broadcast_to(x, valid.shape)
        log_pmf = (log_fact[successes] - log_fact[xs] - log_fact[np.clip(successes - xs, 0, total)]
                   + log_fact[failures] - log_fact[fx] - log_fact[np.clip(failures - fx, 0, total)]
                   - log_fact[total] + log_fact[f][:, None] + log_fact[total - f][:, None])  # (m, w)
        pmf = np.where(valid, np.exp(log_pmf), 0.0)  # (m, w)
        cdf = np.cumsum(pmf, axis=1)  # (m, w) P(X <= x), summed from the lower end
        sf = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # (m, w) P(X >= x), summed from the upper end
        queries = order[bounds[start] : bounds[start + f.size]]  # the queries of these rows
        row = inverse[queries] - start
        j = at_most[queries] - x[0]
        lower[queries] = np.where(j < 0, 0.0, cdf[row, np.clip(j, 0, x.size - 1)])
        j = at_least[queries] - x[0]
        upper[queries] = np.where(j >= x.size, 0.0, sf[row, np.clip(j, 0, x.size - 1)])
    return np.minimum(lower, 1.0).reshape(shape), np.minimum(upper, 1.0).reshape(shape)


# ---------------------------------------------------------------------------------------------
# Per-cell p-values
# ---------------------------------------------------------------------------------------------


def _margins(fire_counts: torch.Tensor, class_counts: torch.Tensor, subtask: BinarySubtask, balanced: bool):
    """(X [L, P, D], F [L, P, D], N, N_pos, a, b [L, P, D], den) of the statistic |a X - b|, int64 numpy."""
    if fire_counts.dim() != 4 or class_counts.shape != fire_counts.shape[:1]:
        raise ValueError(f"expected fire_counts [C, L, P, D] and class_counts [C]; got "
                         f"{tuple(fire_counts.shape)} and {tuple(class_counts.shape)}")
    if not has_both_sides(class_counts, subtask.positive, subtask.negative):
        raise ValueError(f"the null of subtask {subtask.label} is undefined: class counts are "
                         f"{class_counts.tolist()}, so one side has no documents")
    fire = fire_counts.detach().cpu().to(torch.int64)  # (C, L, P, D)
    n = class_counts.detach().cpu().to(torch.int64)  # (C,)
    pos, neg = list(subtask.positive), list(subtask.negative)
    x = fire[pos].sum(0).numpy()  # (L, P, D) positive documents that fire
    f = x + fire[neg].sum(0).numpy()  # (L, P, D) documents that fire
    n_pos, n_neg = int(n[pos].sum()), int(n[neg].sum())
    if balanced:
        return x, f, n_pos + n_neg, n_pos, n_pos + n_neg, f * n_pos, n_pos * n_neg
    return x, f, n_pos + n_neg, n_pos, 4, 2 * f + n_pos - n_neg, n_pos + n_neg


def cell_p_values(fire_counts: torch.Tensor, class_counts: torch.Tensor, positive: Sequence[int] = (1,),
                  negative: Sequence[int] = (0,), balanced: bool = False) -> torch.Tensor:
    """Exact two-sided p-value of each cell's predictivity under label independence, float64 [L, P, D].

    p = P(predictivity >= observed) over all label permutations of the subtask's documents (the
    class counts and each cell's fire count fixed), i.e. over X ~ Hypergeom(N, N_pos, F); see the
    module docstring. ``balanced`` as :func:`~skillneuron_harness.neurons.predictivity.accuracy`.
    A cell that is exactly at 1/2 has p = 1.
    """
    subtask = BinarySubtask(tuple(positive), tuple(negative))
    x, f, total, n_pos, a, b, _ = _margins(fire_counts, class_counts, subtask, balanced)
    s = np.abs(a * x - b)  # (L, P, D) observed statistic, exact integers
    at_least = -((-(b + s)) // a)  # (L, P, D) ceil((b + s) / a): the upper tail
    at_most = (b - s) // a  # (L, P, D) floor((b - s) / a): the lower tail
    lower, upper = hypergeom_tails(total, n_pos, f, at_most, at_least)
    p = np.where(s == 0, 1.0, np.minimum(1.0, lower + upper))  # (L, P, D)
    return torch.from_numpy(p)


def subtask_cell_p_values(fire_counts: torch.Tensor, class_counts: torch.Tensor,
                          subtasks: Sequence[BinarySubtask], balanced: bool | None = None) -> torch.Tensor:
    """:func:`cell_p_values` of each subtask, float64 [S, L, P, D].

    ``fire_counts`` [C, L, P, D], or [S, C, L, P, D] counted against each subtask's own baseline;
    ``balanced`` defaults to the rule of
    :func:`~skillneuron_harness.neurons.predictivity.subtask_predictivity`.
    """
    if balanced is None:
        balanced = balanced_by_default(subtasks)
    per = fire_counts if fire_counts.dim() == 5 else [fire_counts] * len(subtasks)
    if len(per) != len(subtasks):
        raise ValueError(f"{len(per)} per-subtask count tensors for {len(subtasks)} subtasks")
    return torch.stack([cell_p_values(c, class_counts, s.positive, s.negative, balanced)
                        for c, s in zip(per, subtasks, strict=True)])  # (S, L, P, D)


def neuron_p_values(cell_p: torch.Tensor) -> torch.Tensor:
    """A neuron's p-value over its cells, Bonferroni: min(1, K x min p), float64 [L, D].

    ``cell_p`` [L, P, D] (K = P) or [S, L, P, D] (K = S x P: the score is the max over subtasks and
    positions). It tests "all K cells are null" at its level whatever their dependence.
    """
    if cell_p.dim() == 3:
        cell_p = cell_p.unsqueeze(0)  # (1, L, P, D)
    if cell_p.dim() != 4:
        raise ValueError(f"cell p-values must be [L, P, D] or [S, L, P, D]; got {tuple(cell_p.shape)}")
    cells = cell_p.shape[0] * cell_p.shape[2]
    smallest = cell_p.to(torch.float64).amin(dim=(0, 2))  # (S, L, P, D) -> (L, D)
    return torch.clamp(smallest * cells, max=1.0)  # (L, D)


def benjamini_hochberg(p: torch.Tensor) -> torch.Tensor:
    """Benjamini-Hochberg q-values along the last dimension (each layer of [L, D] on its own), float64.

    q_(i) = min over j >= i of m p_(j) / j, capped at 1; "q <= alpha" are the discoveries of the BH
    procedure at FDR alpha (valid for independent or positively dependent p-values).
    """
    p = p.to(torch.float64)
    m = p.shape[-1]
    sorted_p, order = torch.sort(p, dim=-1)  # (..., m) ascending
    ranks = torch.arange(1, m + 1, dtype=torch.float64)  # (m,)
    scaled = sorted_p * m / ranks  # (..., m)
    q_sorted = torch.flip(torch.cummin(torch.flip(scaled, [-1]), dim=-1).values, [-1]).clamp(max=1.0)
    return torch.empty_like(p).scatter_(-1, order, q_sorted)  # (..., m)


# ---------------------------------------------------------------------------------------------
# The chance line: quantiles of the null neuron score
# ---------------------------------------------------------------------------------------------


class _SubtaskNull:
    """One subtask's null: its margins, the statistic's form, and each cell's fire count."""

    def __init__(self, fire_counts: torch.Tensor, class_counts: torch.Tensor, subtask: BinarySubtask,
                 balanced: bool) -> None:
        _, f, self.total, self.n_pos, self.a, _, self.den = _margins(fire_counts, class_counts, subtask, balanced)
        self.balanced = balanced
        self.draws, self.index = np.unique(f, return_inverse=True)  # (U,), cell -> its row
        self.index = self.index.reshape(f.shape)  # (L, P, D)

    def offset(self, draws: np.ndarray) -> np.ndarray:
        """The offset b of the statistic |a X - b| for ``draws`` documents firing."""
        neg = self.total - self.n_pos
        return draws * self.n_pos if self.balanced else 2 * draws + self.n_pos - neg

    def log_cdf(self, thresholds: np.ndarray) -> np.ndarray:
        """The log of P(cell predictivity <= t), [U, *thresholds.shape], for each distinct fire count."""
        s_max = np.floor((2 * thresholds - 1) * self.den + 1e-6).astype(np.int64)  # largest |a X - b| <= t
        b = self.offset(self.draws).reshape(-1, *([1] * thresholds.ndim))  # (U, 1, ...)
        low = -((-(b - s_max)) // self.a)  # ceil((b - s) / a)
        high = (b + s_max) // self.a  # floor((b + s) / a)
        draws = np.broadcast_to(self.draws.reshape(b.shape), low.shape)
        below, above = hypergeom_tails(self.total, self.n_pos, draws, low - 1, high + 1)
        inside = np.where(s_max < 0, 0.0, np.clip(1.0 - below - above, 0.0, 1.0))
        with np.errstate(divide="ignore"):
            return np.log(inside)

    def lattice(self, low: float, high: float, limit: int) -> np.ndarray | None:
        """Values 1/2 + m / (2 den) in (low, high] (a superset of the attainable ones); None if above ``limit``."""
        first = math.floor((2 * low - 1) * self.den + 1e-6) + 1
        last = math.floor((2 * high - 1) * self.den + 1e-6)
        if last - first + 1 > limit:
            return None
        return 0.5 + np.arange(first, last + 1) / (2 * self.den)


def _mixture_cdf(nulls: list[_SubtaskNull], thresholds: np.ndarray) -> np.ndarray:
    """P(score <= t) of a random neuron of each layer with independent null cells.

    ``thresholds`` [L, Q, K] (layer l's thresholds in row l); returns [L, Q, K].
    """
    num_layers = thresholds.shape[0]
    log_cdf = np.zeros((num_layers, nulls[0].index.shape[2], *thresholds.shape[1:]))  # (L, D, Q, K)
    for null in nulls:
        table = null.log_cdf(thresholds)  # (U, L, Q, K)
        for layer in range(num_layers):
            log_cdf[layer] += table[null.index[layer], layer].sum(0)  # (P, D, Q, K) -> (D, Q, K)
    return np.exp(log_cdf).mean(1)  # (L, D, Q, K) -> (L, Q, K)


def null_score_quantiles(fire_counts: torch.Tensor, class_counts: torch.Tensor,
                         subtasks: Sequence[BinarySubtask], quantiles: Sequence[float] = DEFAULT_QUANTILES,
                         balanced: bool | None = None) -> torch.Tensor:
    """Quantiles of the neuron score when no neuron predicts the label, per layer, float64 [Q, L].

    The score of a neuron is the max over its S x P cells of predictivity; each cell's null is
    its hypergeometric law (its own fire count), the cells are taken as independent, and the
    neurons of a layer are mixed: the q-quantile of layer l is the smallest attainable score t
    with mean_j prod_cells P(cell <= t) >= q. ``fire_counts`` as :func:`subtask_cell_p_values`.
    The search narrows (low, high] with CDF(low) < q <= CDF(high) by a grid of thresholds per
    pass, then tests the few score values left in it.
    """
    if balanced is None:
        balanced = balanced_by_default(subtasks)
    bad = [q for q in quantiles if not 0 < q < 1]
    if bad:
        raise ValueError(f"quantiles {bad}: expected probabilities in (0, 1), e.g. 0.95")
    per = fire_counts if fire_counts.dim() == 5 else [fire_counts] * len(subtasks)
    nulls = [_SubtaskNull(c, class_counts, s, balanced) for c, s in zip(per, subtasks, strict=True)]
    shape = (per[0].shape[1], len(quantiles))  # (L, Q)
    target = np.broadcast_to(np.asarray(quantiles, dtype=np.float64) - 1e-12, shape)  # (L, Q)
    low, high = np.full(shape, 0.5 - 1e-3), np.ones(shape)  # CDF(low) = 0 < q <= CDF(high) = 1
    while True:
        lattices = [[[n.lattice(low[i, j], high[i, j], _REFINE) for j in range(shape[1])] for i in range(shape[0])]
                    for n in nulls]
        if all(v is not None for per_null in lattices for row in per_null for v in row):
            break  # few score values left in every bracket
        grid = low[..., None] + (high - low)[..., None] * np.arange(1, _REFINE + 1) / (_REFINE + 1)  # (L, Q, K)
        above = _mixture_cdf(nulls, grid) >= target[..., None]  # (L, Q, K), False ... True
        first = np.where(above.any(-1), above.argmax(-1), _REFINE)  # (L, Q) first threshold at or above q
        pick = np.take_along_axis
        high = np.where(first < _REFINE, pick(grid, np.minimum(first, _REFINE - 1)[..., None], -1)[..., 0], high)
        low = np.where(first > 0, pick(grid, np.maximum(first - 1, 0)[..., None], -1)[..., 0], low)
    candidates = np.empty((*shape, len(nulls) * _REFINE + 1))  # (L, Q, K'): padded with high
    for i in range(shape[0]):
        for j in range(shape[1]):
            values = np.unique(np.concatenate([per_null[i][j] for per_null in lattices] + [[high[i, j]]]))
            candidates[i, j] = np.pad(values, (0, candidates.shape[-1] - values.size), mode="edge")
    above = _mixture_cdf(nulls, candidates) >= target[..., None]  # (L, Q, K')
    first = np.where(above.any(-1), above.argmax(-1), candidates.shape[-1] - 1)
    return torch.from_numpy(np.take_along_axis(candidates, first[..., None], -1)[..., 0].T.copy())  # (Q, L)


# ---------------------------------------------------------------------------------------------
# The summary of a task's file
# ---------------------------------------------------------------------------------------------


def null_summary(fire_counts: torch.Tensor, class_counts: torch.Tensor, subtasks: Sequence[BinarySubtask],
                 score: torch.Tensor, *, top_fraction: float, fdr: float = DEFAULT_FDR,
                 subtask_fire_counts: torch.Tensor | None = None,
                 quantiles: Sequence[float] = DEFAULT_QUANTILES,
                 ties: str = "high") -> tuple[dict, torch.Tensor, torch.Tensor]:
    """The ``null`` block of a task's summary, with the neurons' p-values and q-values [L, D].

    Per layer: the chance line (``chance_score``, the null quantiles of the neuron score), the
    neurons significant at FDR ``fdr`` (Benjamini-Hochberg within the layer) and how many of the
    layer's top ``top_fraction`` skill neurons (by ``score`` [L, D]) are among them.
    """
    from skillneuron_harness.neurons.selection import top_fraction_mask

    counts = subtask_fire_counts if subtask_fire_counts is not None else fire_counts
    p = neuron_p_values(subtask_cell_p_values(counts, class_counts, subtasks))  # (L, D)
    q = benjamini_hochberg(p)  # (L, D)
    significant = q <= fdr  # (L, D)
    skill = top_fraction_mask(score, top_fraction, ties)  # (L, D)
    line = null_score_quantiles(counts, class_counts, subtasks, quantiles)  # (Q, L)
    layers = [{"layer": layer,
               "chance_score": {f"{qq:g}": float(line[i, layer]) for i, qq in enumerate(quantiles)},
               "significant": int(significant[layer].sum()),
               "significant_skill_neurons": int((significant[layer] & skill[layer]).sum())}
              for layer in range(score.shape[0])]
    block = {
        "fdr": fdr,
        "test": "exact permutation (hypergeometric) p-value per cell; Bonferroni over the subtasks x positions "
                "of a neuron; Benjamini-Hochberg within each layer",
        "chance_score": "quantiles of the neuron score when no cell predicts the label (independent cells)",
        "skill_neurons_per_layer": int(skill[0].sum()) if score.shape[0] else 0,
        "significant": int(significant.sum()),
        "significant_skill_neurons": int((significant & skill).sum()),
        "layers": layers,
    }
    return block, p, q
