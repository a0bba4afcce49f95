"""Which neurons are skill neurons: top-k counts, tie order, per-layer, model-wide and union selections.

Both papers take the floor of f x D neurons per layer: Ackermann & Ohmer's
``int(number_neurons/100*topn)`` (Robust-Neurons ``src/utils.py:348``, ``src/analysis.py:54``) and
Wang et al.'s ``int(p*3072)`` (Skill-Neuron ``src/skillneuron.py:40``); :func:`top_k` does the same.
Ties (predictivities are multiples of 1/N, so many neurons share the k-th score) are broken by
``ties``: ``"high"`` (default) keeps the higher neuron index, which is what Ackermann & Ohmer's
descending order ``np.argsort(x)[::-1]`` (``src/find.py:475``, ``src/find.py:370``) gives when the
ascending argsort orders equal values by index (``np.argsort(x, kind="stable")[::-1]``); ``"low"``
keeps the lower index, as Wang et al.'s stable ``sorted(range(3072), key=lambda i: -h[l][i])``
(``src/skillneuron.py:38``). NumPy's default argsort is not stable (introsort, or SIMD sorts on
recent x86 CPUs), so the original run's choice among ties depends on its NumPy build; ``"high"`` is
its deterministic reading. For multi-class tasks :func:`union_indices` is Wang et al.'s union of
the subtasks' top neurons (``src/skillneuron.py:76-97``). Shapes: L layers, D neurons per layer,
S binary subtasks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from skillneuron_harness.core.constants import TIES  # noqa: F401  (re-exported)
from skillneuron_harness.core.options import StrEnum


class Ties(StrEnum):
    """``sn_ties=`` / ``suppress_ties=`` / ``--ties``: the order among neurons of equal score."""

    HIGH = "high"  # the higher index first: Ackermann & Ohmer's reversed argsort (the default)
    LOW = "low"  # the lower index first: Wang et al.'s stable sort


def top_k(num_neurons: int, fraction: float) -> int:
    """Neurons per layer in the top ``fraction``: floor(fraction x D), as both originals.

    A 1e-9 tolerance keeps exact products whole despite binary floating point (0.07 x 100 is
    6.999999999999999 in float64; the originals' fractions of 3072 never hit such a product).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1] (e.g. 0.02 for 2%); got {fraction}")
    return min(num_neurons, math.floor(fraction * num_neurons + 1e-9))


def _check_ties(ties: str) -> None:
    if ties not in TIES:
        raise ValueError(f"ties={ties!r}: use 'high' (Ackermann & Ohmer's reversed argsort) or 'low' (Wang et al.)")


def descending_order(score: torch.Tensor, ties: str = "high") -> torch.Tensor:
    """Indices along the last dimension by descending score, int64 of score's shape.

    ``ties="high"``: equal scores in descending index order (``np.argsort(x, kind="stable")[::-1]``);
    ``"low"``: ascending index order (Python's stable ``sorted(key=-score)``). NaN is rejected.
    """
    _check_ties(ties)
    if torch.isnan(score).any():
        raise ValueError("score contains NaN; skill neurons would be arbitrary")
    if ties == "low":
        return torch.sort(score, dim=-1, descending=True, stable=True).indices
    ascending = torch.sort(score, dim=-1, stable=True).indices  # (..., D), ties by ascending index
    return ascending.flip(-1)  # (..., D): descending, ties by descending index


def top_fraction_indices(score: torch.Tensor, fraction: float, ties: str = "high") -> torch.Tensor:
    """Indices of the top ``fraction`` of neurons of each layer, int64 [L, k], best first."""
    if score.dim() != 2:
        raise ValueError(f"score must have shape [L, D]; got {tuple(score.shape)}")
    k = top_k(score.shape[1], fraction)
    return descending_order(score, ties)[:, :k]  # (L, k)


def top_fraction_mask(score: torch.Tensor, fraction: float, ties: str = "high") -> torch.Tensor:
    """Skill neurons: bool [L, D], True for the top ``fraction`` of each layer (see :func:`top_k`)."""
    idx = top_fraction_indices(score, fraction, ties)  # (L, k)
    mask = torch.zeros(score.shape, dtype=torch.bool, device=score.device)  # (L, D)
    return mask.scatter_(1, idx, True)  # (L, D)


def union_indices(scores: torch.Tensor, fraction: float, ties: str = "high") -> list[torch.Tensor]:
    """Wang et al.'s multi-class skill neurons: per layer, the union of the subtasks' top neurons.

    ``scores`` float [S, L, D], one score map per binary subtask. As ``src/skillneuron.py:76-97``
    (there S = 2 and the file for fraction 2p): the top floor(p x D) of subtask 0 with
    p = fraction / S, then subtask s adds its best neurons not yet chosen until the layer has
    floor((s + 1) x p x D), so that the layer ends with floor(fraction x D) neurons. Returns L
    tensors of indices in the order they were chosen.
    """
    if scores.dim() != 3:
        raise ValueError(f"subtask scores must have shape [S, L, D]; got {tuple(scores.shape)}")
    num_subtasks, num_layers, num_neurons = scores.shape
    orders = descending_order(scores, ties)  # (S, L, D)
    step = fraction / num_subtasks
    out = []
    for layer in range(num_layers):
        chosen: list[int] = []
        seen: set[int] = set()
        for s in range(num_subtasks):
            # W22 computes int(3072*2*p) with p = step; (s + 1) * step reproduces it for s = 1
            target = top_k(num_neurons, step * (s + 1)) if s + 1 < num_subtasks else top_k(num_neurons, fraction)
            for idx in orders[s, layer].tolist():
                if len(chosen) >= target:
                    break
                if idx not in seen:
                    seen.add(idx)
                    chosen.append(idx)
        out.append(torch.tensor(chosen, dtype=torch.int64))
    return out


def union_mask(scores: torch.Tensor | Sequence[torch.Tensor], fraction: float, ties: str = "high") -> torch.Tensor:
    """Bool [L, D] of :func:`union_indices` (``scores`` [S, L, D] or S tensors [L, D])."""
    if not isinstance(scores, torch.Tensor):
        scores = torch.stack(list(scores))  # (S, L, D)
    mask = torch.zeros(scores.shape[1:], dtype=torch.bool)  # (L, D)
    for layer, idx in enumerate(union_indices(scores.cpu(), fraction, ties)):
        mask[layer, idx] = True
    return mask.to(scores.device)


def skill_neuron_mask(score: torch.Tensor, fraction: float, subtask_score: torch.Tensor | None = None,
                      ties: str = "high") -> torch.Tensor:
    """Skill neurons, bool [L, D]: the per-layer top ``fraction`` of ``score`` [L, D].

    For a multi-class task (``subtask_score`` [S, L, D] with S > 1): Wang et al.'s union.
    """
    if subtask_score is not None and subtask_score.dim() == 3 and subtask_score.shape[0] > 1:
        return union_mask(subtask_score, fraction, ties)
    return top_fraction_mask(score, fraction, ties)


def model_wide_top_indices(score: torch.Tensor, fraction: float, ties: str = "high") -> torch.Tensor:
    """The top ``fraction`` of all L x D neurons, int64 [k, 2] of (layer, neuron), best first.

    Ackermann & Ohmer's model-wide ranking: ``np.argsort(flat)[::-1]`` unravelled
    (``src/find.py:369-374``), cut at ``int(L*D/100*topn)`` (``src/analysis.py:823``).
    """
    if score.dim() != 2:
        raise ValueError(f"score must have shape [L, D]; got {tuple(score.shape)}")
    num_neurons = score.shape[1]
    k = top_k(score.numel(), fraction)
    flat = descending_order(score.reshape(-1), ties)[:k]  # (k,) indices into L*D
    return torch.stack([flat // num_neurons, flat % num_neurons], dim=1)  # (k, 2)
