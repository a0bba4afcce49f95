"""The greedy search against a transparent victim: a bag-of-words sentiment scorer written here.

The victim's log-likelihoods are the summed weights of the lexicon words a text holds (positive
for ``positive``, negative for ``negative``): a character edit of a lexicon word removes its
weight, so which documents can flip, and with how many words, is known by hand.
"""

from __future__ import annotations

import re

import pytest

from skillneuron_harness.attacks import AttackConfig, CharEdits, Target, run_searches, summarize
from skillneuron_harness.attacks.search import FAILED, SKIPPED, SUCCEEDED, first_argmax
from skillneuron_harness.attacks.words import STOP_WORDS, document_words

LEXICON = {"good": 2.0, "great": 3.0, "charming": 1.5, "bad": -2.0, "awful": -3.0, "dull": -1.0}


def victim(text: str) -> list[float]:
    """(negative, positive) scores of ``text``: +-(sum of its lexicon words' weights)."""
    s = sum(LEXICON.get(w, 0.0) for w in re.findall(r"\w+", text.lower()))
    return [-s / 2, s / 2]


class Counting:
    """The scorer: counts calls and variants, and remembers every variant it scored."""

    def __init__(self):
        self.calls, self.variants = 0, []

    def __call__(self, variants):
        self.calls += 1
        self.variants.extend(variants)
        return [victim(" ".join(fields.values())) for _, fields in variants]


DOCS = [
    ("a good film with a charming cast and some nice scenes in the middle of it", 1),   # 16 words: 2 may change
    ("an awful , dull and bad film that goes on and on without any point at all", 0),   # three negatives
    ("a great great great film , the best of the year by far for me and my friends", 1),  # 3 x great: 2 may go
    ("bad", 1),                                                                           # wrong from the start
    ("good film", 1),                                                                     # too short to change
]


def _targets():
    return [Target(i, {"sentence": t}, gold, protected=["positive", "negative"]) for i, (t, gold) in enumerate(DOCS)]


def _run(config, **kwargs):
    scorer = Counting()
    records = run_searches(_targets(), CharEdits(config), config, scorer, **kwargs)
    return records, scorer


def test_flips_are_real_and_budgets_hold():
    config = AttackConfig(max_words_changed=0.15, query_budget=200)
    records, scorer = _run(config)
    by_id = {r.doc_id: r for r in records}
    assert [r.doc_id for r in records] == list(range(len(DOCS)))
    assert by_id[3].status == SKIPPED and by_id[3].queries == 1
    assert by_id[4].status == FAILED and "allow no change" in by_id[4].reason
    # "good" (2.0) and "charming" (1.5) carry doc 0: two edits flip it; an independent re-scoring agrees
    assert by_id[0].status == SUCCEEDED and by_id[0].words_changed == 2
    # doc 1 needs all three negative words gone, but 16 words allow 2 changes
    assert by_id[1].status == FAILED and "max_words_changed" in by_id[1].reason
    # doc 2: three "great"s (+9 / 2); two edits leave +3 / 2: cannot flip within two words
    assert by_id[2].status == FAILED
    for r in records:
        assert r.queries <= config.query_budget
        text = r.fields["sentence"]
        pred = first_argmax(victim(text))
        assert (pred != r.gold) == (r.status in (SUCCEEDED, SKIPPED))
        words = len(re.findall(r"\w+", DOCS[r.doc_id][0]))
        assert r.words_changed <= int(0.15 * words)
        if r.status == SUCCEEDED:  # each substitution is one word, within the edit distance
            for _, old, new in r.substitutions:
                assert old in DOCS[r.doc_id][0] and new not in ("", old)
    assert sum(r.queries for r in records) == len(scorer.variants)


def test_word_importance_ranks_by_the_margin_drop():
    config = AttackConfig(max_words_changed=1.0, query_budget=500)
    (record,) = run_searches([Target(0, {"s": "good charming film"}, 1)], CharEdits(config), config, Counting())
    # deleting good drops the margin by 2.0, charming by 1.5: good is edited first
    assert record.status == SUCCEEDED
    assert [old for _, old, _ in record.substitutions] == ["good", "charming"]


def test_the_query_budget_caps_every_search():
    for budget in (2, 3, 5, 9, 20):
        config = AttackConfig(max_words_changed=1.0, query_budget=budget)
        records, _ = _run(config)
        assert all(r.queries <= budget for r in records)
        assert any("budget" in r.reason for r in records if r.status == FAILED) or budget == 20


def test_protected_and_stop_words_are_never_edited():
    text = "not a positive film but a good one"
    config = AttackConfig(max_words_changed=1.0, query_budget=500)
    scorer = Counting()
    run_searches([Target(0, {"s": text}, 1, protected=["positive"])], CharEdits(config), config, scorer)
    for _, fields in scorer.variants:
        words = re.findall(r"\w+", fields["s"])
        for kept in ("not", "a", "positive", "but"):
            assert kept in words
    eligible = [w.text for w in document_words({"s": text}, ["positive"]) if w.eligible]
    assert eligible == ["film", "good", "one"] and "not" in STOP_WORDS
    allowed = [w.text for w in document_words({"s": text}, ["positive"], stop_words=True) if w.eligible]
    assert "not" in allowed and "positive" not in allowed


def test_same_seed_same_records_other_seed_other_edits():
    a, _ = _run(AttackConfig(seed=7))
    b, _ = _run(AttackConfig(seed=7))
    c, _ = _run(AttackConfig(seed=8))
    assert [r.to_json() for r in a] == [r.to_json() for r in b]
    assert [r.substitutions for r in a] != [r.substitutions for r in c]


def test_width_changes_the_calls_not_the_records():
    wide, wide_scorer = _run(AttackConfig(), width=32)
    narrow, narrow_scorer = _run(AttackConfig(), width=1)
    assert [r.to_json() for r in wide] == [r.to_json() for r in narrow]
    assert wide_scorer.calls < narrow_scorer.calls


def test_summary_follows_textattack_definitions():
    records, _ = _run(AttackConfig(max_words_changed=0.15))
    s = summarize(records)
    n = len(DOCS)
    assert (s["succeeded"], s["failed"], s["skipped"]) == (1, 3, 1)
    assert s["clean_acc"] == pytest.approx(4 / n)
    assert s["attacked_acc"] == pytest.approx(3 / n)
    assert s["success_rate"] == pytest.approx(1 / 4)
    attacked = [r for r in records if r.status != SKIPPED]
    assert s["mean_queries"] == pytest.approx(sum(r.queries for r in attacked) / 4)
    won = [r for r in records if r.status == SUCCEEDED]
    assert s["mean_words_changed"] == pytest.approx(won[0].changed_words)
    assert summarize([])["clean_acc"] is None
