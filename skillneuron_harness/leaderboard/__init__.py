"""Robustness leaderboards: ``skillneuron leaderboard SPEC.yaml --out DIR``.

One file per step. :mod:`.spec` reads and validates the YAML spec (entries, suite, run options);
:mod:`.suite` expands task and group names to leaf tasks; :mod:`.units` defines a unit (one entry on
one task), its identity (what decides reuse) and the folder layout with atomic writes; :mod:`.run`
evaluates the missing units through lm-eval; :mod:`.results` reads results JSONs (ours and
``--from`` folders) into standings; :mod:`.scores` holds the pure numbers (AdvGLUE score, drop
rate, standard errors, chance level); :mod:`.consistency` the skill-neuron overlap; :mod:`.rank`
builds the ranked, versioned document; :mod:`.render`, :mod:`.render_html` and :mod:`.figures`
write it as Markdown, CSV, JSON and one self-contained HTML page (with the wording they share in
:mod:`.texts`); :mod:`.build` chains the steps
and :mod:`.cli` is the command.
"""

from __future__ import annotations

from skillneuron_harness.leaderboard.build import build_leaderboard
from skillneuron_harness.leaderboard.spec import Spec, SpecError, load_spec

__all__ = ["Spec", "SpecError", "build_leaderboard", "load_spec"]
