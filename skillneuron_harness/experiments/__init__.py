"""Experiments: commands that load models and run lm-eval evaluations, on the host layer.

:mod:`.training` (``skillneuron train``), :mod:`.demo` (``skillneuron demo``), :mod:`.transfer`,
:mod:`.suppression_curve`, :mod:`.replicate` (Ackermann & Ohmer's protocol), :mod:`.runs` (prompt
specs and manifests they share) and :mod:`.units` (the typed, resumable unit of work that
``replicate`` and the leaderboard both use). They write files; :mod:`skillneuron_harness.report`
reads them.
"""
