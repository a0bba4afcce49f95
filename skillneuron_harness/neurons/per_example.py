"""Per-example skill-neuron consistency of clean/adversarial pairs, and how it goes with prediction flips.

A *pair* is an adversarial document and the clean document it was made from (its ``clean_doc_id``).
The clean task's skill neurons are the top ``k`` of each layer by its ``score`` [L, D], each read at
its selected position (``position`` [L, D]). A neuron *fires* on a document when its activation lies
above the baseline (the clean task's), and for each pair and layer

    flip_fraction[l] = |{j in top-k(l): fires(clean, l, j) != fires(adv, l, j)}| / k

``flip_fraction`` of the pair is the same over all L x k selected neurons (the mean over layers, k
being equal in every layer). It is then related to whether the pair's *prediction* flipped
(``adv_pred != clean_pred``), by :func:`flip_statistics`:

* the 2x2 table: flip fraction above the pairs' median (strictly) or not, x prediction flipped or not;
* the AUC of the flip fraction for telling flipped pairs from the others (Mann-Whitney U / (n1 n0),
  ties counted half; 0.5 is chance, undefined without both kinds of pairs);
* the point-biserial correlation of the flip fraction with the flip (0/1) and its two-sided p-value
  (``scipy.stats.pointbiserialr``; undefined when either is constant).

:func:`per_example_report` gives them overall and per perturbation kind. Shapes: N pairs, L layers,
k selected neurons per layer, P' captured positions, D neurons per layer. Pure functions on tensors
and lists; the recorder (:mod:`~skillneuron_harness.neurons.recorder`) keeps the firing bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class PairRow:
    """One evaluated pair: its documents, predictions and per-layer skill-neuron flip fractions."""

    doc_id: int  # the adversarial document
    clean_doc_id: int
    label: int  # the gold choice (of the adversarial document)
    clean_pred: int
    adv_pred: int
    layer_flip: tuple[float, ...]  # (L,) fraction of the layer's top-k whose firing state differs
    kind: str | None = None  # the perturbation kind, when the twin names kinds

    @property
    def flip_fraction(self) -> float:
        """The fraction over all L x k selected neurons (k equal in every layer: the mean over layers)."""
        values = [v for v in self.layer_flip if not math.isnan(v)]
        return math.fsum(values) / len(values) if values else math.nan

    @property
    def prediction_flipped(self) -> bool:
        return self.adv_pred != self.clean_pred

    def as_json(self) -> dict:
        """The row of ``<task>.pairs.jsonl``."""
        return {"doc_id": self.doc_id, "clean_doc_id": self.clean_doc_id, "label": self.label,
                "clean_pred": self.clean_pred, "adv_pred": self.adv_pred,
                "prediction_flipped": self.prediction_flipped, "kind": self.kind,
                "flip_fraction": _finite(self.flip_fraction), "layer_flip": [_finite(v) for v in self.layer_flip]}


def selected_neurons(score: torch.Tensor, position: torch.Tensor | None, fraction: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(neuron index [L, k], captured position [L, k]) of the top ``fraction`` of each layer by ``score`` [L, D].

    ``position`` [L, D] is each neuron's selected position among the captured ones (None: one position).
    """
    from skillneuron_harness.neurons.selection import top_fraction_indices

    index = top_fraction_indices(score, fraction)  # (L, k)
    where = torch.zeros_like(index) if position is None else position.long().gather(1, index)  # (L, k)
    return index, where


def selected_bits(fires: torch.Tensor, index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Firing bits (..., L, P', D) bool -> (..., L, k) at each selected neuron's position."""
    layers = torch.arange(index.shape[0]).unsqueeze(1).expand_as(index)  # (L, k)
    return fires[..., layers, position, index]  # (..., L, k)


def layer_flip_fraction(clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """(N, L, k) bits of each side -> (N, L) fraction that differs; NaN where k = 0."""
    if clean.shape != adv.shape:
        raise ValueError(f"clean and adversarial bits differ in shape: {list(clean.shape)} vs {list(adv.shape)}")
    if clean.shape[-1] == 0:
        return torch.full(clean.shape[:-1], math.nan, dtype=torch.float64)
    return (clean != adv).double().mean(-1)  # (N, L)


def mann_whitney_auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """P(score of a positive > score of a negative) + P(tie) / 2; NaN without both kinds."""
    from scipy.stats import rankdata

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = rankdata(x)  # average ranks: ties count half
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def median_table(scores: Sequence[float], flipped: Sequence[bool]) -> dict:
    """The 2x2 counts: flip fraction above the median (strictly) or not, x prediction flipped or not."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(flipped, dtype=bool)
    median = float(np.median(x))
    above = x > median
    return {"median": median,
            "above_flipped": int((above & y).sum()), "above_kept": int((above & ~y).sum()),
            "below_flipped": int((~above & y).sum()), "below_kept": int((~above & ~y).sum())}


def point_biserial(scores: Sequence[float], flipped: Sequence[bool]) -> tuple[float, float]:
    """(r, two-sided p) of ``scipy.stats.pointbiserialr``; NaN when either side is constant or n < 3."""
    from scipy.stats import pointbiserialr

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(flipped, dtype=bool)
    if len(x) < 3 or y.all() or not y.any() or np.ptp(x) == 0:
        return math.nan, math.nan
    result = pointbiserialr(y.astype(np.float64), x)
    return float(result.statistic), float(result.pvalue)


def flip_statistics(scores: Sequence[float], flipped: Sequence[bool]) -> dict:
    """The numbers of the module docstring over one set of pairs (NaN scores are left out)."""
    keep = [i for i, s in enumerate(scores) if not math.isnan(s)]
    x = [float(scores[i]) for i in keep]
    y = [bool(flipped[i]) for i in keep]
    if not x:
        return {"pairs": 0}
    r, p = point_biserial(x, y)
    return {"pairs": len(x), "prediction_flip_rate": sum(y) / len(y), "mean_flip_fraction": math.fsum(x) / len(x),
            "table": median_table(x, y), "auc": _finite(mann_whitney_auc(x, y)),
            "pointbiserial_r": _finite(r), "pointbiserial_p": _finite(p)}


def per_example_report(rows: Sequence[PairRow], *, top_fraction: float, neurons_per_layer: int) -> dict:
    """The results JSON's ``per_example`` block: overall, per layer and per perturbation kind."""
    out = {"top_fraction": top_fraction, "neurons_per_layer": neurons_per_layer,
           **flip_statistics([r.flip_fraction for r in rows], [r.prediction_flipped for r in rows])}
    if rows:
        layers = np.array([r.layer_flip for r in rows], dtype=np.float64)  # (N, L)
        out["layer_mean_flip_fraction"] = [_finite(v) for v in np.nanmean(layers, 0)] if layers.size else []
    kinds = sorted({r.kind for r in rows if r.kind is not None})
    if kinds:
        out["by_kind"] = {kind: flip_statistics([r.flip_fraction for r in rows if r.kind == kind],
                                                [r.prediction_flipped for r in rows if r.kind == kind])
                          for kind in kinds}
    return out


def _finite(value: float) -> float | None:
    """JSON has no NaN: None for an undefined number."""
    return None if value is None or math.isnan(value) else float(value)
