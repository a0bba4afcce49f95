"""Robustness leaderboards: ``skillneuron leaderboard SPEC.yaml --out DIR``.

One file per step. :mod:`.spec` reads and validates the YAML spec (entries, suite, run options);
:mod:`.suite` expands task and group names to leaf tasks; :mod:`.units` defines a unit (one entry on
one task), its identity (what decides reuse) and the folder layout with atomic writes; :mod:`.run`
evaluates the missing units through lm-eval; :mod:`.results` reads results JSONs (ours and
``--from`` folders) into standings; :mod:`.scores` holds the pure numbers (AdvGLUE score, drop
rate, standard errors, chance level); :mod:`.consistency` the skill-neuron overlap; :mod:`.rank`
builds the ranked, versioned document (with each entry's card: :mod:`.reproduce`, the one
``lm_eval`` command behind its numbers, and :mod:`.training`, how its prompt was trained);
:mod:`.render`, :mod:`.render_html` and :mod:`.figures` write it as Markdown, CSV, JSON and one
self-contained HTML page (with the wording they share in :mod:`.texts`), and
:mod:`.every_eval_ever` as Every Eval Ever records; :mod:`.build` chains the steps
and :mod:`.cli` is the command.
"""

from __future__ import annotations

from skillneuron_harness.leaderboard.build import build_leaderboard
from skillneuron_harness.leaderboard.spec import Spec, SpecError, load_spec

__all__ = ["Spec", "SpecError", "build_leaderboard", "load_spec"]
