"""The leaderboard's numbers, as pure functions of per-task accuracies and their standard errors.

* **Suite mean** (the AdvGLUE score on the adversarial tasks, the clean mean on their twins): the
  unweighted mean over *components*, where MNLI matched and mismatched are first averaged into one
  component (``MERGED``), as the AdvGLUE leaderboard does: (SST-2 + QQP + (MNLI-m + MNLI-mm)/2 +
  QNLI + RTE) / 5. Undefined (NaN) unless every task of the suite was evaluated.
* **Standard errors** propagate as for independent estimates: a mean of k values has
  sqrt(sum se_i^2) / k; the drop rate (delta method) has sqrt(se_a^2 / c^2 + a^2 se_c^2 / c^4).
* **Performance drop rate** PDR = 1 - acc_adv / acc_clean (PromptBench), of the two suite means.
* **Chance level** is 1 / (number of choices) of each task (a component's chance is the mean of its
  tasks'). A task's accuracy is *at chance* when an exact two-sided binomial test of
  round(acc x n) correct out of n documents against that rate gives p >= 0.05; a mean is at
  chance when it lies within 1.96 standard errors of its chance level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NAN = math.nan
ALPHA = 0.05  # binomial test level for "at chance"
Z = 1.96  # means: within Z standard errors of chance
MERGED = {"adv_mnli_mismatched": "adv_mnli", "mnli_mismatch": "mnli"}  # scored as one component with the key's value
ADVGLUE = ("adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli", "adv_rte")


@dataclass(frozen=True)
class Accuracy:
    """What a score needs of one task's result."""

    acc: float
    stderr: float | None = None
    num_docs: int | None = None
    num_choices: int | None = None


@dataclass
class Value:
    """A leaderboard number with its standard error and chance-level verdict."""

    value: float = NAN
    stderr: float | None = None
    chance: float | None = None
    at_chance: bool | None = None
    p_value: float | None = None  # binomial test (task values only)

    @property
    def defined(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


def binomial_p(acc: float, num_docs: int, chance: float) -> float:
    """Two-sided exact binomial p-value of round(acc x n) successes in n trials at rate ``chance``."""
    from scipy.stats import binomtest

    k = min(num_docs, max(0, round(acc * num_docs)))
    return float(binomtest(k, num_docs, chance).pvalue)


def task_value(a: Accuracy) -> Value:
    """One task's accuracy, with its chance verdict from the binomial test."""
    chance = 1.0 / a.num_choices if a.num_choices else None
    p = binomial_p(a.acc, a.num_docs, chance) if chance is not None and a.num_docs else None
    return Value(a.acc, a.stderr, chance, None if p is None else p >= ALPHA, p)


def _within(value: float, stderr: float | None, chance: float | None) -> bool | None:
    if chance is None or stderr is None or not math.isfinite(stderr):
        return None
    return abs(value - chance) <= Z * stderr


def _mean(values: Sequence[Value]) -> Value:
    k = len(values)
    mean = sum(v.value for v in values) / k
    ses = [v.stderr for v in values]
    se = math.sqrt(sum(s * s for s in ses)) / k if all(s is not None for s in ses) else None
    chances = [v.chance for v in values]
    chance = sum(chances) / k if all(c is not None for c in chances) else None
    return Value(mean, se, chance, _within(mean, se, chance))


def components(tasks: Sequence[str]) -> dict[str, list[str]]:
    """Component name -> its tasks, in suite order (MNLI matched and mismatched as one)."""
    out: dict[str, list[str]] = {}
    for t in tasks:
        out.setdefault(MERGED.get(t, t), []).append(t)
    return out


def suite_mean(results: Mapping[str, Accuracy], tasks: Sequence[str]) -> Value:
    """Mean over the components of ``tasks``; NaN if any task is missing or the list is empty."""
    if not tasks or any(t not in results for t in tasks):
        return Value()
    parts = [_mean([task_value(results[t]) for t in members]) for members in components(tasks).values()]
    return _mean(parts)


def drop_rate(adversarial: Value, clean: Value) -> Value:
    """PDR = 1 - adversarial / clean with its delta-method standard error (NaN when clean is 0 or undefined)."""
    if not adversarial.defined or not clean.defined or clean.value == 0:
        return Value()
    a, c = adversarial.value, clean.value
    se = None
    if adversarial.stderr is not None and clean.stderr is not None:
        se = math.sqrt(adversarial.stderr ** 2 / c ** 2 + a ** 2 * clean.stderr ** 2 / c ** 4)
    return Value(1.0 - a / c, se)


def is_advglue(tasks: Sequence[str]) -> bool:
    """Whether the adversarial tasks are exactly AdvGLUE's (the mean is then the AdvGLUE score)."""
    return sorted(tasks) == sorted(ADVGLUE)
