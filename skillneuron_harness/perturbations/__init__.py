"""Seeded, model-free text perturbations: typos, homoglyphs, word edits and distractors.

A perturbation is a list of steps, each a kind and its parameters, a seed and the protected words
(answer words, label-bearing tokens) that no step changes::

    from skillneuron_harness.perturbations import Perturbation, KINDS, PerturbationError

    p = Perturbation.from_spec(steps=[{"kind": "keyboard_typo", "rate": 0.1},
                                      {"kind": "distractor", "text": "and true is true"}],
                               seed=1234, protected=("positive", "negative"))
    new_text, changed = p.apply(text, doc_id=17, field="sentence")   # changed: new_text != text
    p.describe()   # {"seed": 1234, "protected": [...], "steps": [{"kind": ..., every parameter}, ...]}

The output depends only on (seed, doc_id, field, step index) and the text: see ``pipeline.py``.
``KINDS`` maps each kind's name to its class (a frozen dataclass: docstring, typed parameters with
defaults and help, ``example`` = (before, after)). The kinds live in ``characters.py``,
``words.py`` and ``distractors.py``, their tables in ``tables.py``; ``catalog.py`` renders the
table of docs/tasks.md. A bad spec (an unknown kind or parameter, a rate outside [0, 1], a
negative count) raises :class:`PerturbationError` naming the step, the kind and the fix. This
package imports only the standard library and ``skillneuron_harness.core``.
"""

from __future__ import annotations

# Importing a kinds module registers its kinds in KINDS.
from skillneuron_harness.perturbations import characters, distractors, word_order, words  # noqa: F401
from skillneuron_harness.perturbations.base import KINDS, PerturbationError, Step
from skillneuron_harness.perturbations.pipeline import Perturbation

__all__ = ["KINDS", "Perturbation", "PerturbationError", "Step"]
