"""Word kinds against independent expectations: rates within a binomial bound, what each keeps, the tables."""

from __future__ import annotations

import numpy as np
import pytest
from perturb_corpus import PROTECTED, documents, protected_words, within_binomial, word

from skillneuron_harness.perturbations import Perturbation

DOCS = documents()
MARKS = set(".,;:!?")


def run(kind, docs=DOCS, protected=PROTECTED, **params):
    p = Perturbation.from_spec([{"kind": kind, **params}], seed=11, protected=protected)
    return [p.apply(d, doc_id=i, field="text")[0] for i, d in enumerate(docs)]


def is_protected(token):
    return token.strip(".,;:!?").lower() in PROTECTED


def movable(token):
    return not is_protected(token) and any(c.isalnum() for c in token)


@pytest.mark.parametrize("mode", ["upper", "title", "random"])
def test_case_rate_and_modes(mode):
    rate = 0.3
    outs = run("case", rate=rate, mode=mode)
    counts = {"upper": 0, "title": 0}
    trials = 0
    for d, o in zip(DOCS, outs, strict=True):
        a, b = d.split(" "), o.split(" ")
        assert [x.lower() for x in a] == [y.lower() for y in b]
        for x, y in zip(a, b, strict=True):
            if is_protected(x) or not x.isalpha():
                assert x == y
                continue
            trials += 1
            if y != x:
                counts["upper" if y == x.upper() else "title" if y == x[0].upper() + x[1:] else "other"] += 1
    assert set(counts) == {"upper", "title"}
    if mode == "random":  # each of upper, lower, title with rate / 3; lower leaves this corpus as it is
        assert within_binomial(counts["upper"], trials, rate / 3) and within_binomial(counts["title"], trials, rate / 3)
    else:
        assert within_binomial(counts[mode], trials, rate) and counts[{"upper": "title", "title": "upper"}[mode]] == 0


@pytest.mark.parametrize("before, after", [
    ("she does not care", "she doesn't care"), ("Does not", "Doesn't"), ("IT IS", "IT'S"),
    ("it 's fine", "it is fine"), ("does n't", "does not"), ("ca n't", "cannot"), ("can't", "cannot"),
    ("cannot", "can't"), ("wo n't", "will not"), ("won\u2019t", "will not"), ("I am here", "I'm here"),
    ("doesn't and do not", "does not and don't"), ("donot", "donot"), ("undo not", "undo not"),
    ("let's go", "let us go"), ("do  not", "don't"),
])
def test_contraction_table_by_hand(before, after):
    p = Perturbation.from_spec([{"kind": "contraction"}])
    assert p.apply(before, doc_id=0, field="t") == (after, after != before)


def test_contraction_directions_and_protection():
    text = "it is not and it's not"
    assert run("contraction", [text], direction="contract")[0] == "it's not and it's not"
    assert run("contraction", [text], direction="expand")[0] == "it is not and it is not"
    assert run("contraction", ["it does not work"], protected=("not",))[0] == "it does not work"
    assert run("contraction", ["it doesn't work"], protected=("doesn't",))[0] == "it doesn't work"


def test_contraction_rate():
    rng, rate = np.random.default_rng(1), 0.3
    docs = [" ".join(f"{word(rng)} do not" for _ in range(10)) for _ in range(100)]
    outs = run("contraction", docs, rate=rate)
    assert within_binomial(sum(o.count("don't") for o in outs), 1000, rate)
    assert all(o.count("don't") + o.count("do not") == 10 for o in outs)


def test_whitespace_rate_and_width():
    rate = 0.25
    outs = run("whitespace", rate=rate, max_extra=3, characters=" \t")
    widened = gaps = 0
    for d, o in zip(DOCS, outs, strict=True):
        assert o.split() == d.split()
        runs = [r for r in __import__("re").findall(r"\s+", o.strip())]
        gaps += len(d.split()) - 1
        for r in runs:
            assert 1 <= len(r) <= 4 and set(r) <= {" ", "\t"} and r[0] == " "
            widened += len(r) > 1
    assert within_binomial(widened, gaps, rate)


def test_punctuation_remove_rate():
    rate = 0.4
    docs = [d.replace(" .", ".").replace(" ,", ",") + " positive." for d in DOCS]
    outs = run("punctuation", docs, rate=rate, mode="remove")
    removed = trials = 0
    for d, o in zip(docs, outs, strict=True):
        assert o.endswith(" positive.") and [c for c in o if c not in MARKS] == [c for c in d if c not in MARKS]
        trials += sum(c in MARKS for c in d) - 1  # the protected "positive." keeps its mark
        removed += sum(c in MARKS for c in d) - sum(c in MARKS for c in o)
    assert within_binomial(removed, trials, rate)


def test_punctuation_add_rate():
    rate = 0.2
    outs = run("punctuation", rate=rate, mode="add")
    added = trials = 0
    for d, o in zip(DOCS, outs, strict=True):
        a, b = d.split(" "), o.split(" ")
        for x, y in zip(a, b, strict=True):
            if movable(x) and x[-1].isalnum():
                trials += 1
                added += y != x
                assert y == x or (y[:-1] == x and y[-1] in MARKS)
            else:
                assert x == y
    assert within_binomial(added, trials, rate)


def test_punctuation_removes_a_mark_token_with_its_space():
    assert run("punctuation", ["a , b ."], rate=1.0, mode="remove") == ["a b"]


def test_word_drop_rate_and_what_stays():
    rate = 0.2
    outs = run("word_drop", rate=rate)
    dropped = trials = 0
    for d, o in zip(DOCS, outs, strict=True):
        a, b = d.split(" "), o.split(" ")
        assert [t for t in a if not movable(t)] == [t for t in b if not movable(t)]
        assert set(b) <= set(a) and "  " not in o
        trials += sum(map(movable, a))
        dropped += len(a) - len(b)
    assert within_binomial(dropped, trials, rate)


def test_word_drop_keeps_one_word():
    assert run("word_drop", ["alone"], rate=1.0) == ["alone"]
    assert run("word_drop", ["a b c"], rate=1.0) == ["a"]
    assert run("word_drop", ["a b ."], rate=1.0) == ["."]


def test_word_repeat_rate():
    rate = 0.2
    outs = run("word_repeat", rate=rate)
    repeated = trials = 0
    for d, o in zip(DOCS, outs, strict=True):
        b = o.split(" ")
        undone = [t for i, t in enumerate(b) if i == 0 or t != b[i - 1]]  # the corpus never repeats a word
        assert undone == d.split(" ")
        trials += sum(map(movable, d.split(" ")))
        repeated += len(b) - len(undone)
    assert within_binomial(repeated, trials, rate)


@pytest.mark.parametrize("window", [2, 4])
def test_word_shuffle_is_local_and_honours_the_rate(window):
    rate = 0.5
    outs = run("word_shuffle", rate=rate, window=window)
    shuffled = trials = 0
    for d, o in zip(DOCS, outs, strict=True):
        a, b = d.split(" "), o.split(" ")
        assert sorted(a) == sorted(b)
        for i, t in enumerate(a):
            if not movable(t):
                assert b[i] == t
            else:
                assert i - window < b.index(t) < i + window
        # The windows, rebuilt here: runs of consecutive movable tokens, cut every `window` from the left.
        runs, run_ = [], []
        for i, t in enumerate(a):
            if movable(t):
                run_.append(i)
            elif run_:
                runs.append(run_)
                run_ = []
        runs += [run_] if run_ else []
        for r in runs:
            for s in range(0, len(r), window):
                places = r[s:s + window]
                if len(places) >= 2:
                    trials += 1
                    shuffled += [a[i] for i in places] != [b[i] for i in places]
    assert within_binomial(shuffled, trials, rate)


def test_filler_rate():
    rate = 0.15
    outs = run("filler", rate=rate, words=["um", "uh"])
    inserted = gaps = 0
    for d, o in zip(DOCS, outs, strict=True):
        b = o.split(" ")
        assert [t for t in b if t not in ("um", "uh")] == d.split(" ")
        assert b[0] not in ("um", "uh") and b[-1] not in ("um", "uh")
        gaps += len(d.split(" ")) - 1
        inserted += len(b) - len(d.split(" "))
    assert within_binomial(inserted, gaps, rate)


@pytest.mark.parametrize("kind", ["case", "contraction", "whitespace", "punctuation", "word_drop", "word_repeat",
                                  "word_shuffle", "filler"])
def test_protected_words_survive_rate_one(kind):
    docs = [d.replace(" .", " positive.") for d in DOCS]
    outs = run(kind, docs, rate=1.0)
    for d, o in zip(docs, outs, strict=True):
        assert protected_words(o) == protected_words(d)
        if kind in ("punctuation", "word_shuffle"):
            assert o.endswith("positive.")
