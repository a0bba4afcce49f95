"""The spec of a perturbation: validation messages, the normalised description, the seeded streams."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys

import pytest

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.perturbations import KINDS, Perturbation, PerturbationError
from skillneuron_harness.perturbations.pipeline import step_rng


def test_the_error_is_one_of_ours():
    assert issubclass(PerturbationError, SkillNeuronError)


@pytest.mark.parametrize("steps, seed, protected, words", [
    ("keyboard_typo", 0, (), ["steps='keyboard_typo'", "list of steps"]),
    ([{"rate": 0.1}], 0, (), ["steps[0]", "'kind'"]),
    ([], "12", (), ["seed='12'", "whole number"]),
    ([], True, (), ["seed=True"]),
    ([], 0, "positive", ["protected='positive'", "list of words"]),
    ([], 0, ("positive", ""), ["protected word ''"]),
    ([], 0, ("positive", 3), ["protected word 3"]),
])
def test_a_bad_spec_names_the_value_and_the_fix(steps, seed, protected, words):
    with pytest.raises(PerturbationError) as info:
        Perturbation.from_spec(steps=steps, seed=seed, protected=protected)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_an_unknown_kind_gets_a_did_you_mean():
    if not KINDS:
        pytest.skip("no kinds registered")
    name = sorted(KINDS)[0]
    with pytest.raises(PerturbationError, match=rf"steps\[1\]: unknown kind '{name}x'; did you mean {name}\?"):
        Perturbation.from_spec(steps=[{"kind": name}, {"kind": name + "x"}])


def test_an_empty_spec_changes_nothing():
    p = Perturbation.from_spec(steps=[], seed=3)
    assert p.apply("a b c", doc_id=0, field="text") == ("a b c", False)
    assert p.describe() == {"seed": 3, "protected": [], "steps": []}
    json.dumps(p.describe())


def test_apply_refuses_what_is_not_text():
    p = Perturbation.from_spec(steps=[])
    with pytest.raises(PerturbationError, match="field 'label' of document 4 is a int"):
        p.apply(1, doc_id=4, field="label")
    with pytest.raises(PerturbationError, match="doc_id=None"):
        p.apply("a", doc_id=None, field="text")


def independent_stream(seed, doc_id, field, index):
    # The documented derivation: BLAKE2b-64 of the JSON list [seed, doc_id, field, index], big-endian.
    key = json.dumps([seed, doc_id, field, index], separators=(",", ":")).encode("ascii")
    return random.Random(int(hashlib.blake2b(key, digest_size=8).hexdigest(), 16))


def test_each_step_stream_is_the_documented_hash():
    for args in [(1234, 17, "sentence", 0), (0, "doc-3", "premise", 2), (-5, 0, "hypothesis", 11),
                 (7, "d\u00e9j\u00e0 \"vu\"", "caf\u00e9", 1)]:
        assert [step_rng(*args).random() for _ in range(3)] == [independent_stream(*args).random() for _ in range(3)]


def test_streams_differ_by_every_coordinate():
    base = step_rng(1, 2, "f", 0).random()
    for args in [(2, 2, "f", 0), (1, 3, "f", 0), (1, "2", "f", 0), (1, 2, "g", 0), (1, 2, "f", 1)]:
        assert step_rng(*args).random() != base


def test_streams_do_not_depend_on_the_hash_seed():
    code = ("from skillneuron_harness.perturbations.pipeline import step_rng; "
            "print(repr(step_rng(1234, 17, 'sentence', 0).random()))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout.strip() for h in ("0", "1", "12345")}
    assert outs == {repr(step_rng(1234, 17, "sentence", 0).random())}


def test_the_package_imports_only_the_standard_library_and_the_core():
    import ast
    from pathlib import Path

    import skillneuron_harness.perturbations as package
    found = set()
    for path in Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found.add(node.module)
    outside = {n for n in found if n.split(".")[0] not in sys.stdlib_module_names
               and not n.startswith(("skillneuron_harness.core", "skillneuron_harness.perturbations"))}
    assert outside == set()
    code = ("import sys, skillneuron_harness.perturbations; "
            "print(sorted(set(sys.modules) & {'torch', 'numpy', 'lm_eval'}))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
