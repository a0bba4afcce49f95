"""Skill-neuron statistics: sufficient statistics, their reduction, and pure derived quantities.

Everything the method needs is two fixed-shape accumulators whose memory does not grow with the
number of documents: :class:`BaselineAccumulator` (float64 sums of the activation per
(layer, position, neuron) over the training split, plus a document count) and
:class:`FireCounter` (per class c, the number of documents whose activation is strictly greater
than the baseline, plus documents per class). Under data parallelism each rank fills its own
and :func:`all_reduce_` sums them with a single collective. From the counts, pure functions give
the accuracy and predictivity = max(acc, 1 - acc) of the rule "fires above baseline => positive"
for any binary decomposition of the classes (:func:`binary_subtasks`, :func:`parse_subtasks`),
the neuron score (max over positions, then mean over prompts), the per-layer top-p% skill
neurons, and the clean-vs-adversarial consistency numbers of Ackermann & Ohmer (2024): overlap
per layer, its mean and SEM over layers, the adversarial predictivity of the clean skill neurons
against random neurons, Spearman correlation, and the performance drop rate. Shapes: L layers,
P positions, D neurons per layer, C classes, B documents in a batch, S binary subtasks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

#: Top-n% fractions of the consistency curve of Ackermann & Ohmer (2024): 2, 4, ..., 20 %.
DEFAULT_FRACTIONS: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20)


# ---------------------------------------------------------------------------------------------
# Reduction across processes
# ---------------------------------------------------------------------------------------------


def is_distributed(group: Any | None = None) -> bool:
    """Whether a ``torch.distributed`` process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def all_reduce_(tensors: Sequence[torch.Tensor], group: Any | None = None) -> None:
    """Sum ``tensors`` in place over all processes of ``group`` with one ``all_reduce``.

    The tensors are packed into one flat buffer, reduced, and unpacked, so that any number of
    sums and counts cost one collective. The buffer is int64 when every tensor is int64, and
    float64 otherwise (int64 counts travel exactly as float64 up to 2**53). Only float64 and
    int64 tensors are accepted, so that nothing is rounded. Without an initialised process group
    of more than one process this does nothing.
    """
    for t in tensors:
        if t.dtype not in (torch.float64, torch.int64):
            raise TypeError(
                f"all_reduce_ sums float64 or int64 tensors exactly; got {t.dtype}. "
                "Accumulate in float64 (sums) or int64 (counts)."
            )
    if not tensors or not is_distributed(group):
        return
    device = tensors[0].device
    floating = any(t.dtype == torch.float64 for t in tensors)
    dtype = torch.float64 if floating else torch.int64
    flat = torch.cat([t.reshape(-1).to(device=device, dtype=dtype) for t in tensors])  # (sum numel,)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
    offset = 0
    for t in tensors:
        chunk = flat[offset : offset + t.numel()].view(t.shape)  # (*t.shape,)
        if floating and t.dtype == torch.int64:
            chunk = chunk.round()  # exact integers in float64; round() guards the cast
        t.copy_(chunk)
        offset += t.numel()


def _check_acts(acts: torch.Tensor) -> None:
    if acts.dim() != 4:
        raise ValueError(
            f"activations must have shape [B, L, P, D] (batch, layers, positions, neurons); got {tuple(acts.shape)}"
        )
    if not acts.is_floating_point():
        raise TypeError(f"activations must be a floating-point tensor; got {acts.dtype}")


# ---------------------------------------------------------------------------------------------
# Accumulators
# ---------------------------------------------------------------------------------------------


class BaselineAccumulator:
    """Running float64 sums of activations per (layer, position, neuron) and a document count.

    ``update(acts)`` with acts [B, L, P, D] adds the B documents; ``mean()`` is the baseline,
    float32 [L, P, D]. The shape and device are taken from the first update unless given.
    ``all_reduce()`` sums over processes once; updating or reducing again afterwards is an
    error (it would count documents twice). ``state()`` / ``load()`` round-trip through
    safetensors (``baseline_sum`` float64 [L, P, D], ``baseline_count`` int64 [1]).
    """

    def __init__(self, shape: Sequence[int] | None = None, device: torch.device | str | None = None) -> None:
        self.sums: torch.Tensor | None = None  # (L, P, D) float64
        self.count = 0
        self._reduced = False
        if shape is not None:
            self._init(tuple(shape), torch.device(device) if device is not None else None)

    def _init(self, shape: tuple[int, ...], device: torch.device | None) -> None:
        if len(shape) != 3:
            raise ValueError(f"baseline shape must be (L, P, D); got {shape}")
        self.sums = torch.zeros(shape, dtype=torch.float64, device=device)  # (L, P, D)

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """(L, P, D), or None before the first update."""
        return None if self.sums is None else tuple(self.sums.shape)  # type: ignore[return-value]

    def update(self, acts: torch.Tensor) -> None:
        """Add a batch of activations [B, L, P, D]."""
        if self._reduced:
            raise RuntimeError("BaselineAccumulator was already all-reduced; create a new one")
        _check_acts(acts)
        if self.sums is None:
            self._init(tuple(acts.shape[1:]), acts.device)
        assert self.sums is not None
        if tuple(acts.shape[1:]) != tuple(self.sums.shape):
            raise ValueError(
                f"activations [B, L, P, D] = {tuple(acts.shape)} do not match the baseline shape "
                f"(L, P, D) = {tuple(self.sums.shape)}"
            )
        acts = acts.to(self.sums.device)
        self.sums += acts.sum(dim=0, dtype=torch.float64)  # (B, L, P, D) -> (L, P, D)
        self.count += acts.shape[0]

    def mean(self) -> torch.Tensor:
        """Baseline activation, float32 [L, P, D]."""
        if self.sums is None or self.count == 0:
            raise ValueError("the baseline is undefined: no documents were added")
        return (self.sums / self.count).to(torch.float32)  # (L, P, D)

    def all_reduce(self, group: Any | None = None) -> BaselineAccumulator:
        """Sum the sums and the count over processes (one collective); returns self."""
        if self._reduced:
            raise RuntimeError("BaselineAccumulator.all_reduce() called twice")
        if self.sums is None:
            raise ValueError("cannot all-reduce an empty BaselineAccumulator: call update() first")
        count = torch.tensor([self.count], dtype=torch.int64, device=self.sums.device)  # (1,)
        all_reduce_([self.sums, count], group=group)
        self.count = int(count.item())
        self._reduced = True
        return self

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors for safetensors: ``baseline_sum`` float64 [L, P, D], ``baseline_count`` [1]."""
        if self.sums is None:
            raise ValueError("an empty BaselineAccumulator has no state")
        return {
            "baseline_sum": self.sums.detach().cpu().contiguous(),
            "baseline_count": torch.tensor([self.count], dtype=torch.int64),
        }

    @classmethod
    def load(cls, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> BaselineAccumulator:
        """Rebuild from :meth:`state` (e.g. read by ``safetensors.torch.load_file``)."""
        try:
            sums, count = state["baseline_sum"], state["baseline_count"]
        except KeyError as err:
            raise KeyError(f"baseline state needs {err.args[0]!r}; has {sorted(state)}") from None
        acc = cls()
        acc.sums = sums.to(device=device, dtype=torch.float64).clone()  # (L, P, D)
        acc.count = int(count.reshape(-1)[0].item())
        return acc


class FireCounter:
    """Per-class counts of documents whose activation is strictly above the baseline.

    ``fire_counts`` int64 [C, L, P, D]: number of documents of class c with
    activation > baseline (strictly; equal does not fire); ``class_counts`` int64 [C]. The
    baseline is kept in float32, the dtype it is written in, so that a reloaded baseline counts
    identically. ``update(acts [B, L, P, D], labels long [B])`` requires labels in [0, C).
    ``all_reduce()`` sums both over processes with one collective.
    """

    def __init__(self, baseline: torch.Tensor, num_classes: int, device: torch.device | str | None = None) -> None:
        if baseline.dim() != 3:
            raise ValueError(f"baseline must have shape [L, P, D]; got {tuple(baseline.shape)}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.num_classes = num_classes
        self.baseline = baseline.detach().to(device=device or baseline.device, dtype=torch.float32)
        dev = self.baseline.device
        self.fire_counts = torch.zeros(
            (num_classes, *self.baseline.shape), dtype=torch.int64, device=dev
        )  # (C, L, P, D)
        self.class_counts = torch.zeros(num_classes, dtype=torch.int64, device=dev)  # (C,)
        self._reduced = False

    @property
    def num_docs(self) -> int:
        """Number of documents counted so far."""
        return int(self.class_counts.sum().item())

    def update(self, acts: torch.Tensor, labels: torch.Tensor) -> None:
        """Count a batch: acts [B, L, P, D], labels long [B] in [0, C)."""
        if self._reduced:
            raise RuntimeError("FireCounter was already all-reduced; create a new one")
        _check_acts(acts)
        if tuple(acts.shape[1:]) != tuple(self.baseline.shape):
            raise ValueError(
                f"activations [B, L, P, D] = {tuple(acts.shape)} do not match the baseline "
                f"(L, P, D) = {tuple(self.baseline.shape)}"
            )
        labels = torch.as_tensor(labels)  # (B,), validated where it lives (usually the CPU)
        if labels.is_floating_point() or labels.is_complex():
            raise TypeError(f"labels must be integer class indices; got {labels.dtype}")
        if labels.shape != (acts.shape[0],):
            raise ValueError(f"labels must have shape [B] = [{acts.shape[0]}]; got {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}); got {sorted(set(labels.tolist()))}")
        labels = labels.to(device=self.baseline.device, dtype=torch.int64)  # (B,)
        acts = acts.to(self.baseline.device)
        fires = (acts > self.baseline).reshape(acts.shape[0], -1).to(torch.float32)  # (B, L*P*D) 0/1
        one_hot = torch.nn.functional.one_hot(labels, self.num_classes).T.to(torch.float32)  # (C, B)
        # One matmul counts every class at once; sums of at most B ones are exact in float32.
        per_class = (one_hot @ fires).round().to(torch.int64)  # (C, L*P*D)
        self.fire_counts += per_class.view(self.fire_counts.shape)  # (C, L, P, D)
        self.class_counts += torch.bincount(labels, minlength=self.num_classes)  # (C,)

    def all_reduce(self, group: Any | None = None) -> FireCounter:
        """Sum fire and class counts over processes (one collective); returns self."""
        if self._reduced:
            raise RuntimeError("FireCounter.all_reduce() called twice")
        all_reduce_([self.fire_counts, self.class_counts], group=group)
        self._reduced = True
        return self

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors ``baseline`` [L, P, D], ``fire_counts`` [C, L, P, D], ``class_counts`` [C]."""
        return {
            "baseline": self.baseline.detach().cpu().contiguous(),
            "fire_counts": self.fire_counts.cpu().contiguous(),
            "class_counts": self.class_counts.cpu().contiguous(),
        }

    @classmethod
    def load(cls, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> FireCounter:
        """Rebuild from :meth:`state`."""
        fire_counts = state["fire_counts"]  # (C, L, P, D)
        counter = cls(state["baseline"], fire_counts.shape[0], device=device)
        counter.fire_counts.copy_(fire_counts)
        counter.class_counts.copy_(state["class_counts"])
        return counter


# ---------------------------------------------------------------------------------------------
# Binary decompositions
# ---------------------------------------------------------------------------------------------


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
    - C > 3: one-vs-rest for every class: ``[0:1+2+..., 1:0+2+..., ...]`` (Wang et al. give no
      rule beyond three classes; one-vs-rest uses every document in every subtask).

    Any other decomposition: :func:`parse_subtasks`.
    """
    if num_classes < 2:
        raise ValueError(f"a binary decomposition needs at least 2 classes; got {num_classes}")
    if num_classes == 2:
        return [BinarySubtask((1,), (0,))]
    if num_classes == 3:
        return [BinarySubtask((0,), (2,)), BinarySubtask((1,), (0, 2))]
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
) -> torch.Tensor:
    """Accuracy of "fires above baseline => positive" over the subtask's documents.

    acc = (sum_{c in pos} fire[c] + sum_{c in neg} (n_c - fire[c])) / sum_{c in pos+neg} n_c,
    float32 [L, P, D], computed in float64. Raises ValueError when either side has no documents
    (e.g. an evaluation limited to one class): the rule cannot be judged there, and
    max(acc, 1 - acc) would rate every neuron by its firing rate instead. Check first with
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
    fire = fire_counts.to(torch.float64)  # (C, L, P, D)
    n = class_counts.to(torch.float64)  # (C,)
    pos, neg = list(subtask.positive), list(subtask.negative)
    correct = fire[pos].sum(0) + (n[neg].sum() - fire[neg].sum(0))  # (L, P, D)
    return (correct / n[pos + neg].sum()).to(torch.float32)  # (L, P, D)


def predictivity(
    fire_counts: torch.Tensor,
    class_counts: torch.Tensor,
    positive: Sequence[int] = (1,),
    negative: Sequence[int] = (0,),
) -> torch.Tensor:
    """Predictivity max(acc, 1 - acc), float32 [L, P, D]; see :func:`accuracy`.

    Defaults to a binary task with label 1 positive and label 0 negative.
    """
    acc = accuracy(fire_counts, class_counts, positive, negative).to(torch.float64)  # (L, P, D)
    return torch.maximum(acc, 1.0 - acc).to(torch.float32)  # (L, P, D)


def subtask_predictivity(
    fire_counts: torch.Tensor, class_counts: torch.Tensor, subtasks: Sequence[BinarySubtask]
) -> torch.Tensor:
    """Predictivity of each subtask, float32 [S, L, P, D]."""
    return torch.stack(
        [predictivity(fire_counts, class_counts, s.positive, s.negative) for s in subtasks]
    )  # (S, L, P, D)


def inhibitory_share(acc: torch.Tensor, position: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Share of neurons that are inhibitory at their best position, per layer, float32 [L].

    A neuron is inhibitory when acc < 0.5: it fires above baseline mostly for the *negative*
    side (below baseline for the positive one). ``acc`` [L, P, D] from :func:`accuracy`,
    ``position`` long [L, D] from :func:`neuron_scores`, ``mask`` bool [L, D] the neurons to
    count (default: all). A layer with no selected neuron gives NaN.
    """
    best = acc.gather(1, position.unsqueeze(1)).squeeze(1)  # (L, P, D) -> (L, D)
    inhibitory = best < 0.5  # (L, D) bool
    if mask is None:
        mask = torch.ones_like(inhibitory)  # (L, D)
    selected = mask.sum(1).to(torch.float32)  # (L,)
    return (inhibitory & mask).sum(1).to(torch.float32) / selected  # (L,)


# ---------------------------------------------------------------------------------------------
# Scores and skill neurons
# ---------------------------------------------------------------------------------------------


def neuron_scores(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Neuron score = max predictivity over positions.

    Returns (score float32 [L, D], position int64 [L, D]); on ties the first (lowest) position.
    """
    if pred.dim() != 3:
        raise ValueError(f"predictivity must have shape [L, P, D]; got {tuple(pred.shape)}")
    position = pred.argmax(dim=1)  # (L, P, D) -> (L, D), first maximum
    score = pred.gather(1, position.unsqueeze(1)).squeeze(1)  # (L, D)
    return score.to(torch.float32), position


def average_over_prompts(scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over prompts (seeds) of per-prompt neuron scores [L, D]; float32 [L, D]."""
    if not scores:
        raise ValueError("average_over_prompts needs at least one score tensor")
    shapes = {tuple(s.shape) for s in scores}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"scores must all have the same shape [L, D]; got {sorted(shapes)}")
    stacked = torch.stack([s.to(torch.float64) for s in scores])  # (prompts, L, D)
    return stacked.mean(0).to(torch.float32)  # (L, D)


def top_k(num_neurons: int, fraction: float) -> int:
    """Neurons per layer in the top ``fraction``: 0 for 0, else max(1, round_half_up(f * D)).

    Round half up, with a 1e-9 tolerance so that e.g. 0.15 * 10 counts as 1.5 -> 2 despite
    binary floating point.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1] (e.g. 0.02 for 2%); got {fraction}")
    if fraction == 0.0:
        return 0
    return min(num_neurons, max(1, math.floor(fraction * num_neurons + 0.5 + 1e-9)))


def top_fraction_indices(score: torch.Tensor, fraction: float) -> torch.Tensor:
    """Indices of the top ``fraction`` of neurons of each layer, int64 [L, k].

    Sorted by descending score; ties are broken by the lower neuron index. k from :func:`top_k`.
    NaN scores are rejected.
    """
    if score.dim() != 2:
        raise ValueError(f"score must have shape [L, D]; got {tuple(score.shape)}")
    if torch.isnan(score).any():
        raise ValueError("score contains NaN; skill neurons would be arbitrary")
    k = top_k(score.shape[1], fraction)
    order = torch.sort(score, dim=1, descending=True, stable=True).indices  # (L, D)
    return order[:, :k]  # (L, k)


def top_fraction_mask(score: torch.Tensor, fraction: float) -> torch.Tensor:
    """Skill neurons: bool [L, D], True for the top ``fraction`` of each layer (see top_k)."""
    idx = top_fraction_indices(score, fraction)  # (L, k)
    mask = torch.zeros(score.shape, dtype=torch.bool, device=score.device)  # (L, D)
    return mask.scatter_(1, idx, True)  # (L, D)


def union_mask(scores: Sequence[torch.Tensor], fraction: float) -> torch.Tensor:
    """Union over subtasks of the per-layer top ``fraction`` (Wang et al.); bool [L, D]."""
    masks = [top_fraction_mask(s, fraction) for s in scores]  # S x (L, D)
    return torch.stack(masks).any(0)  # (S, L, D) -> (L, D)


# ---------------------------------------------------------------------------------------------
# Consistency between clean and adversarial data (Ackermann & Ohmer 2024)
# ---------------------------------------------------------------------------------------------


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


def overlap_per_layer(score_clean: torch.Tensor, score_adv: torch.Tensor, fraction: float) -> torch.Tensor:
    """overlap_l = |S_clean ∩ S_adv| / |S_adv| per layer, float32 [L].

    S are the per-layer top-``fraction`` neurons (:func:`top_fraction_mask`). Undefined, and a
    ValueError, when the fraction selects no neuron.
    """
    _check_pair(score_clean, score_adv)
    k = top_k(score_clean.shape[1], fraction)
    if k == 0:
        raise ValueError(f"overlap is undefined for fraction {fraction}: it selects no neuron")
    both = top_fraction_mask(score_clean, fraction) & top_fraction_mask(score_adv, fraction)
    return both.sum(1).to(torch.float32) / k  # (L, D) -> (L,)


@dataclass
class ConsistencyPoint:
    """One point of the consistency curve: top-``fraction`` (k neurons per layer)."""

    fraction: float
    k: int
    mean: float
    sem: float
    per_layer: list[float]


def consistency_curve(
    score_clean: torch.Tensor,
    score_adv: torch.Tensor,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> list[ConsistencyPoint]:
    """Overlap per layer for each fraction, with its mean and SEM (ddof=1) over layers."""
    points = []
    for fraction in fractions:
        per_layer = overlap_per_layer(score_clean, score_adv, fraction)  # (L,)
        mean, sem = _mean_sem(per_layer)
        points.append(
            ConsistencyPoint(
                fraction=float(fraction),
                k=top_k(score_clean.shape[1], fraction),
                mean=mean,
                sem=sem,
                per_layer=per_layer.tolist(),
            )
        )
    return points


@dataclass
class SkillVsRandom:
    """Adversarial score of the clean skill neurons vs random neurons of the same count."""

    fraction: float
    k: int
    seed: int
    num_draws: int
    skill_per_layer: list[float]
    random_per_layer: list[float]
    skill_mean: float
    random_mean: float


def adversarial_predictivity_of_clean_skill_neurons(
    score_clean: torch.Tensor,
    score_adv: torch.Tensor,
    fraction: float,
    seed: int = 0,
    num_draws: int = 1,
) -> SkillVsRandom:
    """Mean adversarial score of the clean top-``fraction`` neurons, and of random neurons.

    Per layer, the k clean skill neurons' mean adversarial score, against k neurons drawn
    uniformly without replacement from all D neurons of the layer (skill neurons included),
    averaged over ``num_draws`` draws. Draws come from ``torch.Generator().manual_seed(seed)``
    with ``torch.randperm(D)[:k]`` per draw, layer by layer (draw-major order), so results are
    reproducible across runs and machines.
    """
    _check_pair(score_clean, score_adv)
    if num_draws < 1:
        raise ValueError(f"num_draws must be >= 1; got {num_draws}")
    num_layers, num_neurons = score_clean.shape
    k = top_k(num_neurons, fraction)
    if k == 0:
        raise ValueError(f"fraction {fraction} selects no neuron")
    adv = score_adv.detach().cpu().to(torch.float64)  # (L, D)
    skill_idx = top_fraction_indices(score_clean.detach().cpu(), fraction)  # (L, k)
    skill = adv.gather(1, skill_idx).mean(1)  # (L, k) -> (L,)
    gen = torch.Generator().manual_seed(seed)
    random = torch.zeros(num_layers, dtype=torch.float64)  # (L,)
    for _ in range(num_draws):
        for layer in range(num_layers):
            idx = torch.randperm(num_neurons, generator=gen)[:k]  # (k,)
            random[layer] += adv[layer, idx].mean()
    random /= num_draws  # (L,)
    return SkillVsRandom(
        fraction=float(fraction),
        k=k,
        seed=seed,
        num_draws=num_draws,
        skill_per_layer=skill.tolist(),
        random_per_layer=random.tolist(),
        skill_mean=float(skill.mean()),
        random_mean=float(random.mean()),
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
    top_fraction: float = 0.02,
    seed: int = 0,
    num_draws: int = 1,
    acc_clean: float | None = None,
    acc_adv: float | None = None,
) -> dict[str, Any]:
    """The consistency block for results JSON: curve, skill vs random, Spearman, PDR.

    Plain Python values only; NaN (e.g. the SEM of a one-layer model) becomes None.
    """
    report: dict[str, Any] = {
        "overlap": [asdict(p) for p in consistency_curve(score_clean, score_adv, fractions)],
        "skill_vs_random": asdict(
            adversarial_predictivity_of_clean_skill_neurons(
                score_clean, score_adv, top_fraction, seed=seed, num_draws=num_draws
            )
        ),
        "spearman": asdict(spearman_correlation(score_clean, score_adv)),
    }
    if acc_clean is not None and acc_adv is not None:
        report["accuracy"] = {
            "clean": acc_clean,
            "adversarial": acc_adv,
            "performance_drop_rate": performance_drop_rate(acc_clean, acc_adv),
        }
    return json_safe(report)
