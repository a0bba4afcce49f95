"""Character kinds against independent expectations: edit counts within a binomial bound, edit distances, tables."""

from __future__ import annotations

import re
import unicodedata

import pytest
from perturb_corpus import PROTECTED, documents, levenshtein, protected_words, within_binomial

from skillneuron_harness.perturbations import Perturbation
from skillneuron_harness.perturbations.tables import HOMOGLYPHS, QWERTY_NEIGHBOURS

DOCS = documents()
WORD = re.compile(r"\w+")


def run(kind, rate, docs=DOCS, **params):
    p = Perturbation.from_spec([{"kind": kind, "rate": rate, **params}], seed=7, protected=PROTECTED)
    return [p.apply(d, doc_id=i, field="text")[0] for i, d in enumerate(docs)]


def free_words(text):
    """The words of ``text`` that are not protected (the eligible ones), as the test corpus builds them."""
    return [w for w in WORD.findall(text) if w.lower() not in PROTECTED]


def pairs(docs, outs):
    """(input word, output word) of every unprotected word, for kinds that keep the words apart."""
    for d, o in zip(docs, outs, strict=True):
        a, b = free_words(d), free_words(o)
        assert len(a) == len(b)
        yield from zip(a, b, strict=True)


def test_qwerty_neighbours_by_hand():
    assert set(QWERTY_NEIGHBOURS["a"]) == set("qwsz")
    assert set(QWERTY_NEIGHBOURS["g"]) == set("fhtyvb")
    assert set(QWERTY_NEIGHBOURS["p"]) == set("ol")
    assert set(QWERTY_NEIGHBOURS["m"]) == set("njk")
    assert sorted(QWERTY_NEIGHBOURS) == list("abcdefghijklmnopqrstuvwxyz")
    assert all(k in QWERTY_NEIGHBOURS[v] for k, vs in QWERTY_NEIGHBOURS.items() for v in vs)  # symmetric


def test_homoglyphs_are_cyrillic_or_greek_look_alikes():
    for latin, looks in HOMOGLYPHS.items():
        for c in looks:
            name = unicodedata.name(c)
            assert name.split()[0] in ("CYRILLIC", "GREEK"), (latin, name)
            assert ("CAPITAL" in name) == latin.isupper(), (latin, name)


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_keyboard_typo_rate_and_neighbours(rate):
    outs = run("keyboard_typo", rate)
    edits = trials = 0
    for a, b in pairs(DOCS, outs):
        assert len(a) == len(b)
        trials += len(a)
        for x, y in zip(a, b, strict=True):
            if x != y:
                edits += 1
                assert y in QWERTY_NEIGHBOURS[x]
    assert within_binomial(edits, trials, rate)


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_char_swap_rate(rate):
    # Sequential trials: a success at i skips i + 1, so S - rate * T is a martingale over the trials T.
    outs = run("char_swap", rate)
    swaps = trials = 0
    for a, b in pairs(DOCS, outs):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        starts = diff[::2]
        assert all(b[i] == a[i + 1] and b[i + 1] == a[i] for i in starts) and len(diff) == 2 * len(starts)
        swaps += len(starts)
        trials += len(a) - 1 - sum(i <= len(a) - 3 for i in starts)
    assert within_binomial(swaps, trials, rate)


@pytest.mark.parametrize("kind", ["char_delete", "char_insert", "char_repeat"])
@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_length_changing_kinds_rate(kind, rate):
    outs = run(kind, rate)
    edits = trials = 0
    for a, b in pairs(DOCS, outs):
        trials += len(a)
        edits += abs(len(b) - len(a))
        if kind == "char_delete":
            assert is_subsequence(b, a) and b
        else:
            assert is_subsequence(a, b)
            if kind == "char_repeat":
                assert re.sub(r"(.)\1", r"\1", b) == a  # the corpus has no doubled letters of its own
            else:
                assert all(c in "abcdefghijklmnopqrstuvwxyz" for c in b)
    assert within_binomial(edits, trials, rate)


def is_subsequence(short, long):
    it = iter(long)
    return all(c in it for c in short)


def test_homoglyph_rate():
    rate = 0.3
    docs = [d.title() for d in DOCS]  # upper-case letters too
    outs = run("homoglyph", rate, docs)
    edits = trials = 0
    for a, b in pairs(docs, outs):
        for x, y in zip(a, b, strict=True):
            trials += x in HOMOGLYPHS
            if x != y:
                edits += 1
                assert y in HOMOGLYPHS[x]
    assert within_binomial(edits, trials, rate)


def test_zero_width_rate_and_invisibility():
    rate = 0.2
    outs = run("zero_width", rate)
    inserted = trials = 0
    for d, o in zip(DOCS, outs, strict=True):
        visible = re.sub("[\u200b\u200c\u200d\u2060]", "", o)
        assert visible == d
        inserted += len(o) - len(d)
        trials += sum(len(w) - 1 for w in free_words(d))
        assert not re.search(r"(^|\W)[\u200b-\u200d\u2060]|[\u200b-\u200d\u2060](\W|$)", o.replace(" ", "  "))
    assert within_binomial(inserted, trials, rate)


@pytest.mark.parametrize("kind, per_edit", [("keyboard_typo", 1), ("char_swap", 2), ("char_delete", 1),
                                            ("char_insert", 1), ("char_repeat", 1), ("homoglyph", 1),
                                            ("zero_width", 1)])
def test_edit_distance_bounds(kind, per_edit):
    # A rate-r step on n eligible characters: distance <= n per document (each character edited at most once,
    # a swap spends two), and in all at most per_edit * (r n + 3 sigma).
    rate, docs = 0.15, DOCS[:120]
    outs = run(kind, rate, docs)
    total = eligible = 0
    for d, o in zip(docs, outs, strict=True):
        n = sum(len(w) for w in free_words(d))
        distance = levenshtein(d, o)
        assert distance <= n
        total += distance
        eligible += n
    assert total <= per_edit * (rate * eligible + 3 * (eligible * rate * (1 - rate)) ** 0.5)


@pytest.mark.parametrize("kind", ["keyboard_typo", "char_swap", "char_delete", "char_insert", "char_repeat",
                                  "homoglyph", "zero_width"])
def test_protected_words_and_punctuation_survive_rate_one(kind):
    docs = [d.title() for d in DOCS]
    outs = run(kind, 1.0, docs)
    for d, o in zip(docs, outs, strict=True):
        assert protected_words(o) == protected_words(d)
        assert re.findall(r"[^\w\u200b-\u200d\u2060]", o) == re.findall(r"[^\w]", d)  # spaces, punctuation


def test_a_swap_of_equal_letters_is_no_change():
    p = Perturbation.from_spec([{"kind": "char_swap", "rate": 1.0}])
    assert p.apply("aa bb", doc_id=0, field="text") == ("aa bb", False)
    assert p.apply("ab", doc_id=0, field="text") == ("ba", True)


def test_delete_keeps_one_character_and_single_letters():
    p = Perturbation.from_spec([{"kind": "char_delete", "rate": 1.0}])
    assert p.apply("a ab xyz", doc_id=0, field="text") == ("a b z", True)
