"""Skill-neuron consistency of an entry: overlap of its clean and adversarial top-2 % skill neurons.

For an adversarial task and its clean twin, the overlap is |S_clean ∩ S_adv| / |S_adv| per layer
(S: each layer's top 2 % neurons by score), averaged over layers (Ackermann & Ohmer 2024; see
:func:`skillneuron_harness.neurons.statistics.overlap_per_layer`). It is read from the
``consistency`` block of the adversarial task's ``skill_neurons`` results section when the two
tasks ran together, otherwise computed from the ``<task>.safetensors`` files both sections list.
An entry's consistency is the mean over its adversarial tasks that have both. Beside it, the overlap
two random sets of the same size give: k / D per layer (k = floor(top x D) of D neurons, the
expectation of a hypergeometric overlap; ``neurons/null_sets.py``), from the same block's
``random`` or the file's width.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from skillneuron_harness.core.constants import DEFAULT_TOP

log = logging.getLogger(__name__)

TOP = DEFAULT_TOP


def _score_file(summary: dict | None) -> Path | None:
    for f in (summary or {}).get("files") or []:
        if str(f).endswith(".safetensors") and Path(f).is_file():
            return Path(f)
    return None


def overlap(adversarial: dict | None, clean: dict | None, top: float = TOP) -> float | None:
    """Mean over layers of the top-``top`` overlap, from the two tasks' skill_neurons summaries (None if unknown)."""
    for point in ((adversarial or {}).get("consistency") or {}).get("overlap") or []:
        if abs(float(point.get("fraction", -1)) - top) < 1e-9 and point.get("mean") is not None:
            return float(point["mean"])
    adv_file, clean_file = _score_file(adversarial), _score_file(clean)
    if adv_file is None or clean_file is None:
        return None
    from safetensors.torch import load_file

    from skillneuron_harness.neurons.statistics import overlap_per_layer

    adv, cln = load_file(str(adv_file)), load_file(str(clean_file))
    if "score" not in adv or "score" not in cln or adv["score"].shape != cln["score"].shape:
        log.warning("consistency: %s and %s have no comparable scores", adv_file, clean_file)
        return None
    return float(overlap_per_layer(cln["score"], adv["score"], top).mean())  # (L,) -> mean over layers


def random_overlap(adversarial: dict | None, clean: dict | None, top: float = TOP) -> float | None:
    """The overlap two random top-``top`` sets of each layer give on average (k / D), or None if unknown."""
    for point in ((adversarial or {}).get("consistency") or {}).get("overlap") or []:
        if abs(float(point.get("fraction", -1)) - top) < 1e-9 and point.get("random") is not None:
            return float(point["random"])
    adv_file = _score_file(adversarial) or _score_file(clean)
    if adv_file is None:
        return None
    from safetensors import safe_open

    with safe_open(str(adv_file), "pt") as f:
        if "score" not in f.keys():
            return None
        width = f.get_slice("score").get_shape()[-1]  # score: (L, D)
    return math.floor(top * width) / width if width else None
