"""Adversarial search against the model under test: seeded candidates, greedy search by word importance.

Given a scorer (variants of a document -> the victim's log-likelihood of each choice) and the
documents' attacked fields, :func:`~skillneuron_harness.attacks.search.run_searches` finds, per
document, a few word replacements that flip the victim's prediction::

    from skillneuron_harness.attacks import AttackConfig, CharEdits, Target, run_searches, summarize

    config = AttackConfig(recipe="chars", max_words_changed=0.15, query_budget=500, seed=1234)
    records = run_searches([Target(doc_id=0, fields={"sentence": text}, gold=1, protected=["positive"])],
                           CharEdits(config), config, score=my_scorer)
    summarize(records)   # clean_acc, attacked_acc, success_rate, mean_queries, ...

``config.py`` holds the settings, ``words.py`` the eligible words (stop words, protected phrases),
``transformations.py`` the character edits, ``masked_lm.py`` a masked LM's substitutes,
``search.py`` the search and ``summary.py`` its figures. Nothing here knows lm-eval: the
``skillneuron attack`` command (``experiments/attack.py``) scores variants through an lm-eval
model and task (``host/attack_sets.py``) and writes the result as a task.
"""

from __future__ import annotations

from skillneuron_harness.attacks.config import RECIPES, AttackConfig, AttackError
from skillneuron_harness.attacks.search import AttackRecord, Target, run_searches
from skillneuron_harness.attacks.summary import summarize
from skillneuron_harness.attacks.transformations import CharEdits

__all__ = ["RECIPES", "AttackConfig", "AttackError", "AttackRecord", "CharEdits", "Target", "run_searches",
           "summarize"]
