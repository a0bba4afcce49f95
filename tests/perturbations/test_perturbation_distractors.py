"""Distractor kinds: where the text goes, what it looks like, and that the text itself is kept."""

from __future__ import annotations

import re

import pytest

from skillneuron_harness.perturbations import Perturbation


def one(kind, sentence, doc_id=0, **params):
    return Perturbation.from_spec([{"kind": kind, **params}], seed=5).apply(sentence, doc_id=doc_id, field="sentence")


@pytest.mark.parametrize("text, position, expected", [
    ("it is fine . ", "end", "it is fine . and true is true "),
    ("it is fine", "start", "and true is true it is fine"),
    ("  two spaces\n", "start", "  and true is true two spaces\n"),
    ("", "end", "and true is true"),
])
def test_distractor_keeps_the_outer_whitespace(text, position, expected):
    assert one("distractor", text, position=position) == (expected, True)


def test_stress_test_tautologies():
    assert one("distractor", "A man sleeps.", text="and false is not true")[0] == "A man sleeps. and false is not true"


@pytest.mark.parametrize("kind, pattern", [
    ("random_string", r"[A-Za-z0-9]{8}"), ("url", r"https://t\.co/[A-Za-z0-9]{10}"), ("handle", r"@[A-Za-z]\w{7}"),
])
@pytest.mark.parametrize("position", ["end", "start"])
def test_random_distractors_have_their_form(kind, pattern, position):
    seen = set()
    for doc_id in range(200):
        out, changed = one(kind, "a plain sentence . ", doc_id=doc_id, position=position)
        assert changed
        if position == "end":
            m = re.fullmatch(rf"a plain sentence \. ({pattern}) ", out)
        else:
            m = re.fullmatch(rf"({pattern}) a plain sentence \. ", out)
        assert m, out
        seen.add(m.group(1))
    assert len(seen) == 200  # a fresh string per document


def test_random_string_length_and_character_frequencies():
    # 62 symbols, uniform: each of a-z, A-Z, 0-9 about 1/62 of 62,000 characters.
    chars = "".join(one("random_string", "x", doc_id=i, length=100)[0][2:] for i in range(620))
    counts = {c: chars.count(c) for c in set(chars)}
    assert len(chars) == 62000 and len(counts) == 62
    assert all(abs(n - 1000) <= 4 * (1000 * (61 / 62)) ** 0.5 for n in counts.values())
