"""Every kind: its example, its parameters and their checks, determinism, and the `changed` flag."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest
from perturb_corpus import PROTECTED, documents

from skillneuron_harness.perturbations import KINDS, Perturbation, PerturbationError
from skillneuron_harness.perturbations.base import EXAMPLE_SEED

DOCS = [d + " it does not end" for d in documents(n=60)]  # a phrase for contraction
ALL = sorted(KINDS)
RATED = [k for k in ALL if "rate" in {f.name for f in dataclasses.fields(KINDS[k])}]


def test_the_kinds_are_all_there():
    assert set(KINDS) == {
        "keyboard_typo", "char_swap", "char_delete", "char_insert", "char_repeat", "homoglyph", "zero_width",
        "case", "contraction", "whitespace", "punctuation", "word_drop", "word_repeat", "word_shuffle", "filler",
        "distractor", "random_string", "url", "handle"}


@pytest.mark.parametrize("kind", ALL)
def test_the_example_is_what_the_code_does(kind):
    cls = KINDS[kind]
    before, after = cls.example
    assert cls.__doc__ and before and after != before
    assert Perturbation.from_spec([{"kind": kind}], seed=EXAMPLE_SEED).apply(before, 0, "text") == (after, True)


@pytest.mark.parametrize("kind", ALL)
def test_describe_fills_every_default_and_round_trips(kind):
    p = Perturbation.from_spec([{"kind": kind}], seed=9, protected=("yes",))
    described = p.describe()
    fields = dataclasses.fields(KINDS[kind])
    assert described["steps"] == [{"kind": kind, **{f.name: (list(f.default) if isinstance(f.default, tuple)
                                                             else f.default) for f in fields}}]
    assert all(f.metadata["help"] for f in fields)
    again = Perturbation.from_spec(**json.loads(json.dumps(described)))
    assert again.describe() == described
    assert again.apply(DOCS[0], 3, "text") == p.apply(DOCS[0], 3, "text")


def bad_values(f):
    shown = f.metadata["type"]
    if shown.startswith("rate"):
        return [1.5, -0.1, math.nan, math.inf, "0.1", True, None]
    if shown.startswith("count"):
        return [-1, 1.5, "3", math.nan, False]
    if " | " in shown:
        return ["sideways", 1]
    if shown == "string":
        return ["", 3]
    return ["um", [], [""], 3]


@pytest.mark.parametrize("kind", ALL)
def test_every_bad_parameter_names_the_step_the_kind_and_the_fix(kind):
    for f in dataclasses.fields(KINDS[kind]):
        for value in bad_values(f):
            with pytest.raises(PerturbationError) as info:
                Perturbation.from_spec([{"kind": "case"}, {"kind": kind, f.name: value}])
            message = str(info.value)
            assert message.startswith(f"steps[1] ({kind}): {f.name}=") and "e.g." in message and "\n" not in message


def test_a_misspelt_parameter_gets_a_did_you_mean():
    with pytest.raises(PerturbationError, match=r"steps\[0\] \(keyboard_typo\): unknown parameter 'rat'; "
                                                r"did you mean rate\? keyboard_typo takes rate"):
        Perturbation.from_spec([{"kind": "keyboard_typo", "rat": 0.1}])
    with pytest.raises(PerturbationError, match=r"did you mean keyboard_typo\?"):
        Perturbation.from_spec([{"kind": "keybord_typo"}])


def corpus_outputs(kind, seed=1, field="text", order=None, **params):
    p = Perturbation.from_spec([{"kind": kind, **params}], seed=seed, protected=PROTECTED)
    order = order or range(len(DOCS))
    return {i: p.apply(DOCS[i], doc_id=i, field=field) for i in order}


@pytest.mark.parametrize("kind", ALL)
def test_determinism(kind):
    params = {"rate": 0.5} if kind == "contraction" else {}  # its default rate 1 draws nothing visible
    base = corpus_outputs(kind, **params)
    assert corpus_outputs(kind, order=list(reversed(range(len(DOCS)))), **params) == base
    subset = list(range(0, len(DOCS), 7))  # as --limit or another process would see them
    assert corpus_outputs(kind, order=subset, **params) == {i: base[i] for i in subset}
    if kind != "distractor":  # a fixed text: nothing to draw
        assert corpus_outputs(kind, seed=2, **params) != base
        assert corpus_outputs(kind, field="other", **params) != base
        shifted = Perturbation.from_spec([{"kind": kind, **params}], seed=1, protected=PROTECTED)
        assert [shifted.apply(DOCS[i], doc_id=i + 1, field="text") for i in range(len(DOCS))] != list(base.values())


@pytest.mark.parametrize("kind", ALL)
def test_changed_is_false_exactly_when_nothing_changed(kind):
    params = {"rate": 0.5 if kind == "contraction" else 0.02} if kind in RATED else {}
    outs = corpus_outputs(kind, **params)
    flags = set()
    for i, (out, changed) in outs.items():
        assert changed == (out != DOCS[i])
        flags.add(changed)
    if kind in RATED:
        assert flags == {True, False}
        assert all(out == DOCS[i] and not changed for i, (out, changed) in corpus_outputs(kind, rate=0.0).items())


def test_the_documented_spec_runs():
    p = Perturbation.from_spec(steps=[{"kind": "keyboard_typo", "rate": 0.1},
                                      {"kind": "distractor", "text": "and true is true"}],
                               seed=1234, protected=("positive", "negative"))
    out, changed = p.apply("a positive , touching and Negative story ", doc_id=17, field="sentence")
    assert changed and out.endswith(" and true is true ")
    assert out.split()[1] == "positive" and out.split()[5] == "Negative"


PROGRAM = """
import json, sys
from skillneuron_harness.perturbations import KINDS, Perturbation
docs = json.loads(sys.stdin.read())
outs = [Perturbation.from_spec([{"kind": k}], seed=4, protected=("positive",)).apply(d, doc_id=i, field="s")[0]
        for k in sorted(KINDS) for i, d in enumerate(docs)]
print(json.dumps(outs))
"""


def test_outputs_do_not_depend_on_the_hash_seed_or_the_process():
    docs = DOCS[:5]
    runs = [subprocess.run([sys.executable, "-c", PROGRAM], input=json.dumps(docs), capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "999")]
    here = [Perturbation.from_spec([{"kind": k}], seed=4, protected=("positive",)).apply(d, doc_id=i, field="s")[0]
            for k in sorted(KINDS) for i, d in enumerate(docs)]
    assert json.loads(runs[0]) == json.loads(runs[1]) == here
