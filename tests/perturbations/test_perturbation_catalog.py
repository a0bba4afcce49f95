"""docs/tasks.md holds the kinds table as the code renders it, and names what the docs promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillneuron_harness.perturbations import KINDS, Perturbation, PerturbationError
from skillneuron_harness.perturbations.catalog import markdown_table, visible

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def test_the_docs_hold_the_generated_table():
    if not DOCS.is_file():
        pytest.skip(f"no {DOCS}")
    page = DOCS.read_text(encoding="utf-8")
    assert markdown_table() in page, "regenerate: python -m skillneuron_harness.perturbations.catalog"


def test_the_table_has_a_row_per_kind_with_its_example():
    table = markdown_table()
    for name, cls in KINDS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert visible(cls.example[1]).replace("|", "\\|") in row
    for name in ("WordSwapQWERTY", "WordSwapNeighboringCharacterSwap", "WordSwapRandomCharacterDeletion",
                 "WordSwapRandomCharacterInsertion", "WordSwapHomoglyphSwap", "typos", "lowercase", "contraction",
                 "expansion", "extra spaces", "filler words"):
        assert name in table


def test_invisible_characters_are_shown_as_escapes():
    assert visible("a\u200bb\tc") == "a\\u200bb\\tc"
    assert "\u200b" not in markdown_table()


def test_the_error_the_docs_quote():
    with pytest.raises(PerturbationError) as info:
        Perturbation.from_spec([{"kind": "case"}, {"kind": "keyboard_typo", "rate": 1.5}])
    assert str(info.value) in DOCS.read_text(encoding="utf-8").replace("\n  ", " ")
