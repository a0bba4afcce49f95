"""Predictivity of skill neurons from per-class counts: subtasks, accuracy, scores, baselines.

Wang et al. (2022) and Ackermann & Ohmer (2024) call a neuron predictive when the rule "fires
above baseline => positive" is right (or, inhibitory, wrong) for many documents. From the counts
of :class:`~skillneuron_harness.neurons.statistics.FireCounter`, pure functions here give, for
any binary decomposition of the classes (:func:`binary_subtasks`, :func:`parse_subtasks`), the
accuracy of that rule (plain, or balanced over the two sides as Wang et al.'s balanced binary
subtasks, Skill-Neuron ``src/helper/binarize.py:13-25``), predictivity = max(acc, 1 - acc)
(Robust-Neurons ``src/utils.py:572-573``), the neuron score (max over positions,
``src/find.py:229``; then the mean over prompts, ``src/find.py:230``), and a subtask's own
baseline from per-class baseline sums (Wang et al. compute the baseline over each subtask's
balanced training split). Everything is float64, as the originals' NumPy arrays, so that equal
scores, and therefore the tie order of :mod:`~skillneuron_harness.neurons.selection`, are the
same as theirs. Shapes: L layers, P positions, D neurons per layer, C classes, S subtasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch


class BinarySubtask(NamedTuple):
    """One binary view of the classes: documents of ``positive`` vs documents of ``negative``.

    Predictivity is symmetric under swapping the two sides; only the sign of "inhibitory"
    (accuracy below 0.5) depends on which side is called positive.
    """

    positive: tuple[int, ...]
    negative: tuple[int, ...]

    @property
    def label(self) -> str:
        """The :func:`parse_subtasks` spelling, e.g. ``"1:0"`` or ``"1:0+2"``."""
        return "+".join(map(str, self.positive)) + ":" + "+".join(map(str, self.negative))


def binary_subtasks(num_classes: int) -> list[BinarySubtask]:
    """Default binary decomposition of a C-class task.

    - C = 2: label 1 (positive) vs label 0: ``[1:0]``.
    - C = 3 (Wang et al. 2022): class 0 vs class 2, and class 1 vs the rest: ``[0:2, 1:0+2]``.
    - C = 4 (Wang et al.): class 1 vs class 3, and class 2 vs the rest: ``[1:3, 2:0+1+3]``
      (Skill-Neuron ``src/helper/binarize.py:56-61``).
    - C > 4: one-vs-rest for every class: ``[0:1+2+..., 1:0+2+..., ...]`` (Wang et al. give no
      rule beyond four classes; one-vs-rest uses every document in every subtask).

    Any other decomposition: :func:`parse_subtasks`.
    """
    if num_classes < 2:
        raise ValueError(f"a binary decomposition needs at least 2 classes; got {num_classes}")
    if num_classes == 2:
        return [BinarySubtask((1,), (0,))]
    if num_classes == 3:
        return [BinarySubtask((0,), (2,)), BinarySubtask((1,), (0, 2))]
    if num_classes == 4:
        return [BinarySubtask((1,), (3,)), BinarySubtask((2,), (0, 1, 3))]
    return [BinarySubtask((c,), tuple(o for o in range(num_classes) if o != c)) for c in range(num_classes)]


def parse_subtasks(spec: str, num_classes: int) -> list[BinarySubtask]:
    """Parse a user's decomposition, e.g. ``"0:2;1:0+2"`` or ``"1:rest"``.

    Subtasks are separated by ``;``; each is ``POSITIVE:NEGATIVE`` where each side is class
    indices joined by ``+`` (no commas, so that the value survives lm-eval's ``model_args``), and
    ``rest`` on the negative side means every class not on the positive side.
    """
    subtasks = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        if part.count(":") != 1:
            raise ValueError(f"subtask {part!r} in {spec!r}: expected POSITIVE:NEGATIVE, e.g. '0:2' or '1:0+2'")
        pos_s, neg_s = (s.strip() for s in part.split(":"))
        try:
            positive = tuple(int(c) for c in pos_s.split("+"))
            negative = (
                tuple(c for c in range(num_classes) if c not in positive)
                if neg_s == "rest"
                else tuple(int(c) for c in neg_s.split("+"))
            )
        except ValueError:
            raise ValueError(
                f"subtask {part!r} in {spec!r}: classes must be integers joined by '+' (or 'rest' on the negative side)"
            ) from None
        subtasks.append(BinarySubtask(positive, negative))
        _check_subtask(subtasks[-1], num_classes)
    if not subtasks:
        raise ValueError(f"no subtask in {spec!r}; expected e.g. '1:0' or '0:2;1:0+2'")
    return subtasks


def _check_subtask(subtask: BinarySubtask, num_classes: int) -> None:
    positive, negative = subtask
    if not positive or not negative:
        raise ValueError(f"subtask {subtask.label}: both sides need at least one class")
    bad = [c for c in (*positive, *negative) if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"subtask {subtask.label}: classes {bad} are not in [0, {num_classes})")
    if set(positive) & set(negative) or len(set(positive)) + len(set(negative)) != len(positive) + len(negative):
        raise ValueError(f"subtask {subtask.label}: a class is named twice")


# ---------------------------------------------------------------------------------------------
# Accuracy and predictivity
# ---------------------------------------------------------------------------------------------


def has_both_sides(class_counts: torch.Tensor, positive: Sequence[int] = (1,), negative: Sequence[int] = (0,)) -> bool:
    """Whether both sides of the subtask have at least one document (predictivity is defined)."""
    counts = class_counts.tolist()
    return sum(counts[c] for c in positive) > 0 and sum(counts[c] for c in negative) > 0


def accuracy(
    fire_counts: torch.Tensor,
    class_counts: torch.Tensor,
    positive: Sequence[int] = (1,),
    negative: Sequence[int] = (0,),
    balanced: bool = False,
) -> torch.Tensor:
    """Accuracy of "fires above baseline => positive" on the subtask's documents, float64 [L, P, D].

    Plain (``balanced=False``): correct / N over the documents of both sides, with
    correct = sum_{c in pos} fire[c] + sum_{c in neg} (n_c - fire[c]); the originals' float64
    ``neuron_accuracy / data_size`` (Robust-Neurons ``src/utils.py:572``; Skill-Neuron
    ``trainer.py:293``). Balanced: each side weighs one half, the classes within a side pooled
    by their counts: (F_pos N_neg + (N_neg - F_neg) N_pos) / (2 N_pos N_neg), computed from exact
    integers with one division, so that it equals the plain accuracy bit for bit when the two
    sides are the same size (Wang et al. balance each binary subtask by resampling; see
    docs/statistics.md). Raises ValueError when either side has no documents (e.g. an evaluation
    limited to one class): the rule cannot be judged there. Check first with
    :func:`has_both_sides` to handle it.
    """
    if fire_counts.dim() != 4 or class_counts.shape != fire_counts.shape[:1]:
        raise ValueError(
            f"expected fire_counts [C, L, P, D] and class_counts [C]; got "
            f"{tuple(fire_counts.shape)} and {tuple(class_counts.shape)}"
        )
    subtask = BinarySubtask(tuple(positive), tuple(negative))
    _check_subtask(subtask, fire_counts.shape[0])
    if not has_both_sides(class_counts, subtask.positive, subtask.negative):
        raise ValueError(
            f"predictivity of subtask {subtask.label} is undefined: class counts are "
            f"{class_counts.tolist()}, so one side has no documents"
        )
    fire = fire_counts.to(torch.int64)  # (C, L, P, D)
    n = class_counts.to(torch.int64)  # (C,)
    pos, neg = list(subtask.positive), list(subtask.negative)
    fire_pos, fire_neg = fire[pos].sum(0), fire[neg].sum(0)  # (L, P, D) each, exact integers
    n_pos, n_neg = int(n[pos].sum()), int(n[neg].sum())
    if not balanced:
        correct = fire_pos + (n_neg - fire_neg)  # (L, P, D)
        return correct.to(torch.float64) / float(n_pos + n_neg)  # (L, P, D)
    numerator = fire_pos * n_neg + (n_neg - fire_neg) * n_pos  # (L, P, D), exact below 2**63
    return numerator.to(torch.float64) / float(2 * n_pos * n_neg)  # (L, P, D)


def predictivity(
    fire_counts: torch.Tensor,
    class_counts: torch.Tensor,
    positive: Sequence[int] = (1,),
    negative: Sequence[int] = (0,),
    balanced: bool = False,
) -> torch.Tensor:
    """Predictivity max(acc, 1 - acc), float64 [L, P, D]; see :func:`accuracy`.

    Defaults to a binary task with label 1 positive and label 0 negative.
    """
    acc = accuracy(fire_counts, class_counts, positive, negative, balanced)  # (L, P, D)
    return torch.maximum(acc, 1.0 - acc)  # (L, P, D)


def balanced_by_default(subtasks: Sequence[BinarySubtask]) -> bool:
    """Wang et al.'s rule: balanced accuracy when the decomposition uses more than two classes."""
    return len({c for s in subtasks for c in (*s.positive, *s.negative)}) > 2


def subtask_predictivity(
    fire_counts: torch.Tensor, class_counts: torch.Tensor, subtasks: Sequence[BinarySubtask],
    balanced: bool | None = None,
) -> torch.Tensor:
    """Predictivity of each subtask, float64 [S, L, P, D].

    ``fire_counts`` [C, L, P, D] (one baseline for all subtasks) or [S, C, L, P, D] (subtask s
    counted against its own baseline). ``balanced`` defaults to Wang et al.'s rule: balanced
    for a decomposition of more than two classes, plain for a binary task, including one whose
    decomposition uses two classes of more answer words (the released binary MNLI: labels 0 and 1
    read at three words; Robust-Neurons' plain ``neuron_accuracy / data_size``).
    """
    if balanced is None:
        balanced = balanced_by_default(subtasks)
    per = fire_counts if fire_counts.dim() == 5 else [fire_counts] * len(subtasks)
    if len(per) != len(subtasks):
        raise ValueError(f"{len(per)} per-subtask count tensors for {len(subtasks)} subtasks")
    return torch.stack(
        [predictivity(f, class_counts, s.positive, s.negative, balanced) for f, s in zip(per, subtasks, strict=True)]
    )  # (S, L, P, D)


def subtask_baseline(
    baseline_sums: torch.Tensor, baseline_counts: torch.Tensor, subtask: BinarySubtask, balanced: bool = True
) -> torch.Tensor:
    """A subtask's own baseline from per-class sums, float64 [L, P, D].

    ``baseline_sums`` float64 [C, L, P, D] (sum of activations of the training documents of class
    c), ``baseline_counts`` int64 [C]. Balanced (Wang et al.'s balanced training split of the
    subtask): (mean of the positive side + mean of the negative side) / 2, each side pooling its
    classes by count; otherwise the mean over the subtask's documents.
    """
    if baseline_sums.dim() != 4 or baseline_counts.shape != baseline_sums.shape[:1]:
        raise ValueError(f"expected baseline_sums [C, L, P, D] and baseline_counts [C]; got "
                         f"{tuple(baseline_sums.shape)} and {tuple(baseline_counts.shape)}")
    _check_subtask(subtask, baseline_sums.shape[0])
    if not has_both_sides(baseline_counts, subtask.positive, subtask.negative):
        raise ValueError(f"the baseline of subtask {subtask.label} is undefined: training class counts are "
                         f"{baseline_counts.tolist()}")
    sums = baseline_sums.to(torch.float64)  # (C, L, P, D)
    pos, neg = list(subtask.positive), list(subtask.negative)
    n_pos, n_neg = float(baseline_counts[pos].sum()), float(baseline_counts[neg].sum())
    if balanced:
        return (sums[pos].sum(0) / n_pos + sums[neg].sum(0) / n_neg) / 2  # (L, P, D)
    return sums[pos + neg].sum(0) / (n_pos + n_neg)  # (L, P, D)


def inhibitory_mask(acc: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Which neurons are inhibitory (acc < 0.5 at their best position), bool [L, D].

    ``acc`` [L, P, D] from :func:`accuracy`, ``position`` long [L, D] from :func:`neuron_scores`.
    """
    best = acc.gather(1, position.unsqueeze(1)).squeeze(1)  # (L, P, D) -> (L, D)
    return best < 0.5  # (L, D)


def inhibitory_fraction(acc: torch.Tensor, position: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of the ``mask`` [L, D] neurons that are inhibitory, over the whole model (0 for an empty mask).

    The model-wide counterpart of :func:`inhibitory_share` (per layer): the share the report
    gives for a task's skill neurons.
    """
    return float((inhibitory_mask(acc, position) & mask).sum()) / max(int(mask.sum()), 1)


def inhibitory_share(acc: torch.Tensor, position: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Share of neurons that are inhibitory at their best position, per layer, float32 [L].

    A neuron is inhibitory when acc < 0.5: it fires above baseline mostly for the *negative*
    side (below baseline for the positive one). ``acc`` [L, P, D] from :func:`accuracy`,
    ``position`` long [L, D] from :func:`neuron_scores`, ``mask`` bool [L, D] the neurons to
    count (default: all). A layer with no selected neuron gives NaN.
    """
    inhibitory = inhibitory_mask(acc, position)  # (L, D) bool
    if mask is None:
        mask = torch.ones_like(inhibitory)  # (L, D)
    selected = mask.sum(1).to(torch.float32)  # (L,)
    return (inhibitory & mask).sum(1).to(torch.float32) / selected  # (L,)


# ---------------------------------------------------------------------------------------------
# Scores and skill neurons
# ---------------------------------------------------------------------------------------------


def neuron_scores(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron score = max predictivity over positions (Robust-Neurons ``src/find.py:229``).

    Returns (score float64 [L, D], position int64 [L, D]); on ties the first (lowest) position.
    """
    if pred.dim() != 3:
        raise ValueError(f"predictivity must have shape [L, P, D]; got {tuple(pred.shape)}")
    position = pred.argmax(dim=1)  # (L, P, D) -> (L, D), first maximum
    score = pred.gather(1, position.unsqueeze(1)).squeeze(1)  # (L, D)
    return score.to(torch.float64), position


def average_over_prompts(scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over prompts (seeds) of per-prompt scores, float64 of their shape ([L, D] or [S, L, D]).

    Summed in the given order and divided once, as NumPy's ``np.mean(x, axis=0)``
    (``src/find.py:230``), so that equal means stay equal to the last bit.
    """
    if not scores:
        raise ValueError("average_over_prompts needs at least one score tensor")
    shapes = {tuple(s.shape) for s in scores}
    if len(shapes) != 1 or len(next(iter(shapes))) not in (2, 3):
        raise ValueError(f"scores must all have the same shape [L, D] (or [S, L, D]); got {sorted(shapes)}")
    total = scores[0].to(torch.float64).clone()  # (L, D)
    for s in scores[1:]:
        total += s.to(torch.float64)
    return total / len(scores)  # (L, D)
