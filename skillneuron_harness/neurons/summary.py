"""Summaries of per-prompt numbers over prompts (seeds): mean and SEM, population std, Spearman.

Plain functions of plain values, used by :mod:`skillneuron_harness.report`: a "mean" is over
the finite values, an "SEM" the standard error of that mean (ddof=1), the
population standard deviation the paper's ``np.std`` (ddof=0), and Spearman's rho comes with a
two-sided p-value that is exact for few points. NaN marks what is undefined (no value, one
value for an SEM, constant input for a correlation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

#: Up to 8! = 40,320 orderings the exact permutation p-value of Spearman's rho is cheap.
EXACT_SPEARMAN_MAX_N = 8


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(x) for x in values if x is not None and math.isfinite(float(x))]


def mean_sem(values: Iterable[float | None]) -> tuple[float, float, int]:
    """(mean, SEM with ddof=1, n) of the finite values; NaN where undefined (n = 0, or n = 1 for the SEM)."""
    v = _finite(values)
    if not v:
        return math.nan, math.nan, 0
    mean = sum(v) / len(v)
    if len(v) < 2:
        return mean, math.nan, len(v)
    var = sum((x - mean) ** 2 for x in v) / (len(v) - 1)
    return mean, math.sqrt(var / len(v)), len(v)


def std0(values: Iterable[float | None]) -> float:
    """Population standard deviation (ddof 0) of the finite values, as ``np.std``; NaN for no value."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return math.nan
    mean = sum(v) / len(v)
    return math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))


def spearman_rho_p(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Spearman's rho and two-sided p-value of two equally long vectors (NaN if n < 3 or constant).

    For n <= :data:`EXACT_SPEARMAN_MAX_N` points the p-value is exact (every ordering of ``b``'s
    ranks): scipy's t approximation gives p = 0 for a perfect rank order of 3 points, whose
    exact p is 1/3.
    """
    import itertools

    import numpy as np
    from scipy.stats import rankdata, spearmanr

    x, y = a.reshape(-1).double().numpy(), b.reshape(-1).double().numpy()  # (n,), (n,)
    if len(x) < 3 or (x == x[0]).all() or (y == y[0]).all():
        return math.nan, math.nan
    rho = float(spearmanr(x, y).statistic)
    if len(x) > EXACT_SPEARMAN_MAX_N:
        return rho, float(spearmanr(x, y).pvalue)
    rx, ry = rankdata(x), rankdata(y)
    rx = (rx - rx.mean()) / np.linalg.norm(rx - rx.mean())
    orderings = np.array(list(itertools.permutations(ry)))  # (n!, n)
    centred = orderings - orderings.mean(axis=1, keepdims=True)
    rhos = centred @ rx / np.linalg.norm(centred, axis=1)  # (n!,)
    return rho, float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
