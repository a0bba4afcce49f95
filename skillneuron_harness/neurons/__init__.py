"""Skill neurons: activation capture, streaming statistics and their files.

One idea per module. :mod:`~skillneuron_harness.neurons.capture` finds the FFN intermediate
activation of every layer of a transformers model and keeps only the selected positions while a
context manager is armed; :mod:`~skillneuron_harness.neurons.statistics` turns those activations
into sufficient statistics (baseline sums, per-class "fires above baseline" counts, reduced
across processes with one all-reduce); pure functions derive from them the predictivity and
neuron scores (:mod:`~skillneuron_harness.neurons.predictivity`), the skill neurons
(:mod:`~skillneuron_harness.neurons.selection`) and the clean-vs-adversarial consistency numbers
and the papers' analyses (:mod:`~skillneuron_harness.neurons.consistency`);
:mod:`~skillneuron_harness.neurons.io` writes and reads the per-task ``<task>.safetensors`` and
``<task>.json`` files. The definitions are those of Wang et al. 2022 and Ackermann & Ohmer 2024,
as the README's "Skill neurons" section and docs/statistics.md state them. Shapes use L layers, P
positions, D neurons per layer, C classes and B documents in a batch.

Importing this package imports torch; :mod:`skillneuron_harness` itself stays light.
"""

from __future__ import annotations

from skillneuron_harness.neurons.capture import FFNCapture, HookPoint, capture_ffn, ffn_hook_points
from skillneuron_harness.neurons.io import read_task_stats, summarize, write_task_stats
from skillneuron_harness.neurons.statistics import (
    BaselineAccumulator,
    BinarySubtask,
    FireCounter,
    all_reduce_,
    average_over_prompts,
    binary_subtasks,
    consistency_curve,
    neuron_scores,
    overlap_per_layer,
    parse_subtasks,
    performance_drop_rate,
    top_fraction_mask,
)

__all__ = [
    "BaselineAccumulator",
    "BinarySubtask",
    "FFNCapture",
    "FireCounter",
    "HookPoint",
    "all_reduce_",
    "average_over_prompts",
    "binary_subtasks",
    "capture_ffn",
    "consistency_curve",
    "ffn_hook_points",
    "neuron_scores",
    "overlap_per_layer",
    "parse_subtasks",
    "performance_drop_rate",
    "read_task_stats",
    "summarize",
    "top_fraction_mask",
    "write_task_stats",
]
