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
* **Analytic stderr** of an accuracy over n documents: sqrt(acc (1 - acc) / (n - 1)), the sample
  standard deviation of the 0/1 scores over sqrt(n), which is lm-eval's own ``mean_stderr`` for
  ``acc``. lm-eval writes it only when ``bootstrap_iters`` > 0; the leaderboard fills it in otherwise.
* **Normalised score** (Open LLM Leaderboard): (acc - chance) / (1 - chance) per task, so 0 is chance
  and 1 is perfect whatever the number of choices; a suite's normalised score is the same suite mean
  of the normalised task accuracies, its stderr se / (1 - chance) per task, propagated as above.
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
    stderr_method: str | None = None  # "lm-eval", "analytic" (filled in), "propagated", "paired"
    random: float | None = None  # consistency only: the overlap random sets of the same size give (k / D)

    @property
    def defined(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


def binomial_p(acc: float, num_docs: int, chance: float) -> float:
    """Two-sided exact binomial p-value of round(acc x n) successes in n trials at rate ``chance``."""
    from scipy.stats import binomtest

    k = min(num_docs, max(0, round(acc * num_docs)))
    return float(binomtest(k, num_docs, chance).pvalue)


def analytic_stderr(acc: float, num_docs: int | None) -> float | None:
    """lm-eval's ``mean_stderr`` of 0/1 scores with mean ``acc`` over ``num_docs`` documents (None below 2)."""
    if not num_docs or num_docs < 2:
        return None
    return math.sqrt(max(0.0, acc * (1.0 - acc)) / (num_docs - 1))


def task_value(a: Accuracy) -> Value:
    """One task's accuracy, with its chance verdict from the binomial test.

    Without a stderr from lm-eval (``bootstrap_iters: 0`` writes ``N/A``) the analytic one is filled in.
    """
    chance = 1.0 / a.num_choices if a.num_choices else None
    p = binomial_p(a.acc, a.num_docs, chance) if chance is not None and a.num_docs else None
    stderr, method = a.stderr, "lm-eval"
    if stderr is None:
        stderr = analytic_stderr(a.acc, a.num_docs)
        method = None if stderr is None else "analytic"
    return Value(a.acc, stderr, chance, None if p is None else p >= ALPHA, p, method)


def normalised(v: Value) -> Value:
    """(value - chance) / (1 - chance), with its stderr scaled alike (undefined without a chance level)."""
    if not v.defined or v.chance is None or v.chance >= 1:
        return Value()
    scale = 1.0 - v.chance
    return Value((v.value - v.chance) / scale, None if v.stderr is None else v.stderr / scale, 0.0, v.at_chance,
                 v.p_value, v.stderr_method)


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
    return Value(mean, se, chance, _within(mean, se, chance), stderr_method=None if se is None else "propagated")


def components(tasks: Sequence[str]) -> dict[str, list[str]]:
    """Component name -> its tasks, in suite order (MNLI matched and mismatched as one)."""
    out: dict[str, list[str]] = {}
    for t in tasks:
        out.setdefault(MERGED.get(t, t), []).append(t)
    return out


def suite_mean(results: Mapping[str, Accuracy], tasks: Sequence[str], *, normalise: bool = False) -> Value:
    """Mean over the components of ``tasks``; NaN if any task is missing or the list is empty.

    ``normalise``: the mean of the tasks' normalised accuracies (:func:`normalised`).
    """
    if not tasks or any(t not in results for t in tasks):
        return Value()
    values = {t: task_value(results[t]) for t in tasks}
    if normalise:
        values = {t: normalised(v) for t, v in values.items()}
        if not all(v.defined for v in values.values()):
            return Value()
    parts = [_mean([values[t] for t in members]) for members in components(tasks).values()]
    return _mean(parts)


def mean_of(values: Sequence[Value]) -> Value:
    """Plain mean of defined values (stderrs propagated as independent); NaN when there is none."""
    values = [v for v in values if v.defined]
    if not values:
        return Value()
    return _mean(values)


def drop_rate(adversarial: Value, clean: Value) -> Value:
    """PDR = 1 - adversarial / clean with its delta-method standard error (NaN when clean is 0 or undefined)."""
    if not adversarial.defined or not clean.defined or clean.value == 0:
        return Value()
    a, c = adversarial.value, clean.value
    se = None
    if adversarial.stderr is not None and clean.stderr is not None:
        se = math.sqrt(adversarial.stderr ** 2 / c ** 2 + a ** 2 * clean.stderr ** 2 / c ** 4)
    return Value(1.0 - a / c, se, stderr_method=None if se is None else "propagated")


def is_advglue(tasks: Sequence[str]) -> bool:
    """Whether the adversarial tasks are exactly AdvGLUE's (the mean is then the AdvGLUE score)."""
    return sorted(tasks) == sorted(ADVGLUE)
