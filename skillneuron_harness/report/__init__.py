"""Reports over lm-eval runs of ``prompt_tuned``: tables, figures and the experiments behind them.

Four modules, one step each. :mod:`~skillneuron_harness.report.collect` reads what runs left on
disk (lm-eval's ``results_*.json``, our per-task skill-neuron ``.safetensors`` files, suppression
curves and prompt manifests) into flat records; :mod:`~skillneuron_harness.report.tables` turns
records into the numbers of the report with pure functions (mean and SEM over the prompts of a
task, PDR, transfer matrices, seed agreement, consistency, the robustness-vs-consistency
correlation); :mod:`~skillneuron_harness.report.figures` draws them; and
:mod:`~skillneuron_harness.report.render` writes Markdown or JSON. Two experiments produce runs
for it: :mod:`~skillneuron_harness.experiments.suppression_curve` (``skillneuron suppression-curve``)
and :mod:`~skillneuron_harness.experiments.transfer` (``skillneuron transfer``); ``skillneuron report``
(:mod:`~skillneuron_harness.report.cli`) reports on any set of run folders.

Vocabulary: a *prompt* is one trained soft prompt (one seed); its *group* is the task it was
trained on (from the prompt manifest, the adapter's ``train_config.json``, its release folder or the
one task it was evaluated on: :mod:`~skillneuron_harness.report.runs`), or the prompt's own label
when that is unknown. Means and SEMs (ddof=1) are over the prompts of a group. A *report group* is
the runs of one ``--limit`` (:mod:`~skillneuron_harness.report.runs`): runs of different limits are
reported apart, never in one table.
"""

from __future__ import annotations

from skillneuron_harness.report.collect import Collection, collect
from skillneuron_harness.report.render import build_report

__all__ = ["Collection", "build_report", "collect"]
