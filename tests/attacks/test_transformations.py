"""Character-edit candidates: single edits of five families, within the edit distance, seeded per word."""

from __future__ import annotations

import random

from skillneuron_harness.attacks import AttackConfig, CharEdits
from skillneuron_harness.attacks.transformations import interleave, single_edits
from skillneuron_harness.attacks.words import document_words, replace_words
from skillneuron_harness.perturbations.tables import HOMOGLYPHS, QWERTY_NEIGHBOURS


def _distance(a: str, b: str) -> int:  # a plain dynamic-programming Levenshtein, independent of rapidfuzz
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def test_the_five_families_of_a_word():
    swaps, deletions, insertions, keyboard, glyphs = single_edits("film", random.Random(0))
    assert swaps == ["iflm", "flim", "fiml"]
    assert deletions == ["ilm", "flm", "fim", "fil"]
    assert all(len(w) == 5 and _distance("film", w) == 1 for w in insertions)
    assert {w for w in keyboard} == {"film"[:i] + n + "film"[i + 1:] for i, c in enumerate("film")
                                     for n in QWERTY_NEIGHBOURS[c]}
    assert {w for w in glyphs} == {"film"[:i] + g + "film"[i + 1:] for i, c in enumerate("film")
                                   for g in HOMOGLYPHS.get(c, "")}
    every = swaps + deletions + insertions + keyboard + glyphs
    assert len(every) == len(set(every)) and "film" not in every


def test_candidates_stay_within_the_edit_distance_and_span_the_families():
    config = AttackConfig(candidates_per_word=10, max_edit_distance=1)
    words = document_words({"s": "a charming journey"}, [])
    cands = CharEdits(config).candidates([(0, {}, words)])[0]
    assert set(cands) == {1, 2}  # "a" is a stop word
    for i, options in cands.items():
        assert len(options) == 10
        assert all(_distance(words[i].text, o) == 1 for o in options)  # a swap (2) is over the limit
    assert interleave([["a1", "a2"], [], ["c1"]]) == ["a1", "c1", "a2"]


def test_candidates_depend_on_seed_document_and_word_only():
    words = document_words({"s": "a charming journey"}, [])
    one = CharEdits(AttackConfig(seed=1)).candidates([(0, {}, words), (5, {}, words)])
    again = CharEdits(AttackConfig(seed=1)).candidates([(5, {}, words)])
    other = CharEdits(AttackConfig(seed=2)).candidates([(0, {}, words)])
    assert one[1] == again[0] and one[0] != one[1] and one[0] != other[0]


def test_replacing_and_deleting_words_keeps_the_rest_of_the_text():
    fields = {"q": "Is it good?", "p": "A  charming, dull film."}
    words = document_words(fields, [])
    by = {w.text: w.index for w in words}
    out = replace_words(fields, words, {by["charming"]: "chrming", by["good"]: "g00d"})
    assert out == {"q": "Is it g00d?", "p": "A  chrming, dull film."}
    assert replace_words(fields, words, {by["dull"]: ""})["p"] == "A  charming, film."
