"""The figures of an attack, from its per-document records (TextAttack's attack summary, same definitions).

* ``clean_acc``: documents predicted right before the attack / all documents;
* ``attacked_acc`` (accuracy under attack): documents still right after it / all documents
  (a skipped document was wrong already; a failed one stays right);
* ``success_rate``: succeeded / attacked (the documents that were right);
* ``mean_queries``: victim queries per attacked document (the clean query included);
* ``mean_words_changed``: fraction of the words changed, over the succeeded documents
  (``changed_words``: words not kept in place); ``mean_chars_changed`` likewise, in characters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import fmean

from skillneuron_harness.attacks.search import FAILED, SKIPPED, SUCCEEDED, AttackRecord


def summarize(records: Sequence[AttackRecord]) -> dict:
    """The summary block (module docstring); None for a mean over no document."""
    counts = Counter(r.status for r in records)
    n = len(records)
    attacked = [r for r in records if r.status != SKIPPED]
    won = [r for r in records if r.status == SUCCEEDED]

    def mean(values):
        values = list(values)
        return fmean(values) if values else None

    return {
        "documents": n,
        "succeeded": counts[SUCCEEDED], "failed": counts[FAILED], "skipped": counts[SKIPPED],
        "clean_acc": len(attacked) / n if n else None,
        "attacked_acc": counts[FAILED] / n if n else None,
        "success_rate": len(won) / len(attacked) if attacked else None,
        "mean_queries": mean(r.queries for r in attacked),
        "total_queries": sum(r.queries for r in records),
        "mean_words_changed": mean(r.changed_words for r in won),
        "mean_substitutions": mean(r.words_changed for r in won),
        "mean_chars_changed": mean(r.changed_chars for r in won),
    }
