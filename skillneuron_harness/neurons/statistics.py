"""Skill-neuron sufficient statistics and their reduction across processes.

Everything the method needs is two fixed-shape accumulators whose memory does not grow with the
number of documents: :class:`BaselineAccumulator` (float64 sums of the activation per
(layer, position, neuron) over the training split, per class when labels are given, plus
document counts) and :class:`FireCounter` (per class c, the number of documents whose
activation is strictly greater than the baseline, plus documents per class). Under data
parallelism each rank fills its own and :func:`all_reduce_` sums them with a single collective.
Everything derived from them lives in pure functions, one idea per module, re-exported here:
:mod:`~skillneuron_harness.neurons.predictivity` (subtasks, accuracy, predictivity, scores,
subtask baselines), :mod:`~skillneuron_harness.neurons.selection` (top-k, tie order, union) and
:mod:`~skillneuron_harness.neurons.consistency` (clean vs adversarial, the paper's analyses),
:mod:`~skillneuron_harness.neurons.null` (exact p-values of the counts, FDR, the chance line),
:mod:`~skillneuron_harness.neurons.null_sets` (random overlaps, skill vs random neurons) and
:mod:`~skillneuron_harness.neurons.summary` (mean and SEM over prompts, std, Spearman with p).
Shapes: L layers, P positions, D neurons per layer, C classes, B documents in a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from skillneuron_harness.neurons.consistency import (  # noqa: F401  (re-exported)
    DEFAULT_FRACTIONS,
    AdversarialHistogram,
    ConsistencyPoint,
    SkillVsRandom,
    SpearmanMatrix,
    SpearmanResult,
    adversarial_histogram,
    adversarial_predictivity_of_clean_skill_neurons,
    ao24_consistency_curve,
    consistency_curve,
    consistency_report,
    json_safe,
    overlap_per_layer,
    performance_drop_rate,
    released_overlap_per_layer,
    spearman_correlation,
    top_predictivity_spearman,
)
from skillneuron_harness.neurons.null import (  # noqa: F401  (re-exported)
    DEFAULT_FDR,
    DEFAULT_QUANTILES,
    benjamini_hochberg,
    cell_p_values,
    hypergeom_tails,
    neuron_p_values,
    null_score_quantiles,
    subtask_cell_p_values,
)
from skillneuron_harness.neurons.null_sets import (  # noqa: F401  (re-exported)
    SkillVsRandomTest,
    combine_skill_vs_random,
    combined_overlap_p_value,
    overlap_p_values,
    random_overlap,
    skill_vs_random_test,
)
from skillneuron_harness.neurons.predictivity import (  # noqa: F401  (re-exported)
    BinarySubtask,
    accuracy,
    average_over_prompts,
    balanced_by_default,
    binary_subtasks,
    has_both_sides,
    inhibitory_fraction,
    inhibitory_mask,
    inhibitory_share,
    neuron_scores,
    parse_subtasks,
    predictivity,
    subtask_baseline,
    subtask_predictivity,
)
from skillneuron_harness.neurons.selection import (  # noqa: F401  (re-exported)
    model_wide_top_indices,
    skill_neuron_mask,
    top_fraction_indices,
    top_fraction_mask,
    top_k,
    union_indices,
    union_mask,
)
from skillneuron_harness.neurons.summary import (  # noqa: F401  (re-exported)
    EXACT_SPEARMAN_MAX_N,
    mean_sem,
    spearman_rho_p,
    std0,
)

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
    """Running float64 sums of activations per (layer, position, neuron) and document counts.

    ``update(acts)`` with acts [B, L, P, D] adds the B documents; ``mean()`` is the baseline,
    float32 [L, P, D]. With ``num_classes`` C, ``update(acts, labels)`` also keeps the sums per
    class (``class_sums`` float64 [C, L, P, D], ``class_counts`` int64 [C]), from which any binary
    subtask's own baseline follows (:func:`~skillneuron_harness.neurons.predictivity.subtask_baseline`,
    Wang et al.'s per-subtask baselines). The shape and device are taken from the first update
    unless given. ``all_reduce()`` sums over processes once; updating or reducing again afterwards
    is an error (it would count documents twice). ``state()`` / ``load()`` round-trip through
    safetensors (``baseline_sum`` float64 [L, P, D], ``baseline_count`` int64 [1], and with
    classes ``baseline_class_sums`` [C, L, P, D], ``baseline_class_counts`` [C]).
    """

    def __init__(self, shape: Sequence[int] | None = None, device: torch.device | str | None = None,
                 num_classes: int | None = None) -> None:
        self.sums: torch.Tensor | None = None  # (L, P, D) float64
        self.count = 0
        self.num_classes = num_classes
        self.class_sums: torch.Tensor | None = None  # (C, L, P, D) float64, with num_classes
        self.class_counts: torch.Tensor | None = None  # (C,) int64, with num_classes
        self._reduced = False
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 for per-class baselines; got {num_classes}")
        if shape is not None:
            self._init(tuple(shape), torch.device(device) if device is not None else None)

    def _init(self, shape: tuple[int, ...], device: torch.device | None) -> None:
        if len(shape) != 3:
            raise ValueError(f"baseline shape must be (L, P, D); got {shape}")
        self.sums = torch.zeros(shape, dtype=torch.float64, device=device)  # (L, P, D)
        if self.num_classes is not None:
            self.class_sums = torch.zeros((self.num_classes, *shape), dtype=torch.float64, device=device)
            self.class_counts = torch.zeros(self.num_classes, dtype=torch.int64, device=device)  # (C,)

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """(L, P, D), or None before the first update."""
        return None if self.sums is None else tuple(self.sums.shape)  # type: ignore[return-value]

    def update(self, acts: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        """Add a batch of activations [B, L, P, D] (and their class labels [B] with ``num_classes``)."""
        if self._reduced:
            raise RuntimeError("BaselineAccumulator was already all-reduced; create a new one")
        _check_acts(acts)
        if self.num_classes is not None and labels is None:
            raise ValueError("this BaselineAccumulator keeps per-class sums: pass the labels [B] of the batch")
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
        if self.num_classes is not None:
            labels = _check_labels(labels, acts.shape[0], self.num_classes).to(self.sums.device)  # (B,)
            self.class_sums.index_add_(0, labels, acts.to(torch.float64))  # (C, L, P, D)
            self.class_counts += torch.bincount(labels, minlength=self.num_classes)  # (C,)

    def mean(self) -> torch.Tensor:
        """Baseline activation, float32 [L, P, D]."""
        if self.sums is None or self.count == 0:
            raise ValueError("the baseline is undefined: no documents were added")
        return (self.sums / self.count).to(torch.float32)  # (L, P, D)

    def all_reduce(self, group: Any | None = None) -> BaselineAccumulator:
        """Sum the sums and the counts over processes (one collective); returns self."""
        if self._reduced:
            raise RuntimeError("BaselineAccumulator.all_reduce() called twice")
        if self.sums is None:
            raise ValueError("cannot all-reduce an empty BaselineAccumulator: call update() first")
        count = torch.tensor([self.count], dtype=torch.int64, device=self.sums.device)  # (1,)
        extra = [self.class_sums, self.class_counts] if self.num_classes is not None else []
        all_reduce_([self.sums, count, *extra], group=group)
        self.count = int(count.item())
        self._reduced = True
        return self

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors for safetensors (see the class docstring)."""
        if self.sums is None:
            raise ValueError("an empty BaselineAccumulator has no state")
        out = {
            "baseline_sum": self.sums.detach().cpu().contiguous(),
            "baseline_count": torch.tensor([self.count], dtype=torch.int64),
        }
        if self.num_classes is not None:
            out["baseline_class_sums"] = self.class_sums.detach().cpu().contiguous()
            out["baseline_class_counts"] = self.class_counts.detach().cpu().contiguous()
        return out

    @classmethod
    def load(cls, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> BaselineAccumulator:
        """Rebuild from :meth:`state` (e.g. read by ``safetensors.torch.load_file``)."""
        try:
            sums, count = state["baseline_sum"], state["baseline_count"]
        except KeyError as err:
            raise KeyError(f"baseline state needs {err.args[0]!r}; has {sorted(state)}") from None
        class_sums = state.get("baseline_class_sums")
        acc = cls(num_classes=None if class_sums is None else class_sums.shape[0])
        acc.sums = sums.to(device=device, dtype=torch.float64).clone()  # (L, P, D)
        acc.count = int(count.reshape(-1)[0].item())
        if class_sums is not None:
            acc.class_sums = class_sums.to(device=device, dtype=torch.float64).clone()  # (C, L, P, D)
            acc.class_counts = state["baseline_class_counts"].to(device=device, dtype=torch.int64).clone()  # (C,)
        return acc


def _check_labels(labels: torch.Tensor, batch: int, num_classes: int) -> torch.Tensor:
    """Labels as int64 [B] in [0, C), or a clear error."""
    labels = torch.as_tensor(labels)  # (B,), validated where it lives (usually the CPU)
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"labels must be integer class indices; got {labels.dtype}")
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape [B] = [{batch}]; got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got {sorted(set(labels.tolist()))}")
    return labels.to(torch.int64)


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
        labels = _check_labels(labels, acts.shape[0], self.num_classes).to(self.baseline.device)  # (B,)
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
