"""Paired robustness metrics: each adversarial document against the clean document it was made from.

Aggregate accuracies of two unrelated sets say nothing about a single example; pairs do. A *pair*
is one adversarial document and its clean original, both evaluated. Over the pairs:

* ``pair_acc_clean`` / ``pair_acc``: accuracy on the clean and the adversarial side of the pairs;
* ``flip_rate``: the fraction of pairs whose prediction changed (lower is better);
* ``consistency_rate``: per clean document, whether the original and *all* its adversarial
  variants get the same prediction, averaged over clean documents (lm-eval's ``tasks/score``
  consistency rate; with one variant per document it is 1 - ``flip_rate``);
* ``worst_case_acc``: per clean document, correct on the original and on every variant (HELM's
  worst case: the minimum over the original and its perturbations), averaged;
* ``pair_pdr``: 1 - ``pair_acc`` / ``pair_acc_clean``, the performance drop rate on the pairs;
* ``changed_words`` / ``changed_chars``: the mean size of the change, where the documents say it
  (perturbed twins do), so that a meaning change can be told from a surface one.

Standard errors are those of a mean over documents (sample standard deviation / sqrt(n)), as
lm-eval reports for ``acc``; none for ``pair_pdr``, a ratio.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """One adversarial document and its clean original, as evaluated."""

    clean_key: Hashable  # the clean document (several variants may share one)
    clean_pred: int
    clean_correct: bool
    adv_pred: int
    adv_correct: bool
    changed_words: float | None = None
    changed_chars: int | None = None


def _mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


# metric -> higher is better
HIGHER_IS_BETTER = {"pair_acc_clean": True, "pair_acc": True, "flip_rate": False, "consistency_rate": True,
                    "worst_case_acc": True, "pair_pdr": False, "changed_words": False, "changed_chars": False}


def paired_metrics(pairs: Sequence[Pair]) -> dict[str, float | int]:
    """``{metric: value, metric_stderr: value, "pairs": n, "clean_documents": m}``; empty without pairs."""
    if not pairs:
        return {}
    out: dict[str, float | int] = {"pairs": len(pairs)}

    def put(name: str, values: Sequence[float]) -> None:
        out[name], out[f"{name}_stderr"] = _mean_stderr(values)

    put("pair_acc_clean", [float(p.clean_correct) for p in pairs])
    put("pair_acc", [float(p.adv_correct) for p in pairs])
    put("flip_rate", [float(p.adv_pred != p.clean_pred) for p in pairs])
    by_clean: dict[Hashable, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_clean[p.clean_key].append(p)
    out["clean_documents"] = len(by_clean)
    put("consistency_rate", [float(all(v.adv_pred == v.clean_pred for v in group)) for group in by_clean.values()])
    put("worst_case_acc", [float(group[0].clean_correct and all(v.adv_correct for v in group))
                           for group in by_clean.values()])
    clean = out["pair_acc_clean"]
    out["pair_pdr"] = 1.0 - out["pair_acc"] / clean if clean else math.nan
    words = [p.changed_words for p in pairs if p.changed_words is not None]
    if words:
        put("changed_words", words)
    chars = [float(p.changed_chars) for p in pairs if p.changed_chars is not None]
    if chars:
        put("changed_chars", chars)
    return out
