"""Replacement candidates for one word: character edits (DeepWordBug / TextBugger) or a masked LM's words.

A transformation maps the eligible words of a document to their candidate replacements, once per
document, before the search starts (:class:`Candidates`): the search then only scores them.

:class:`CharEdits` lists every single edit of a word, of five families (as TextAttack's
``WordSwapNeighboringCharacterSwap``, ``WordSwapRandomCharacterDeletion``,
``WordSwapRandomCharacterInsertion``, ``WordSwapQWERTY`` and ``WordSwapHomoglyphSwap``): swap two
neighbouring characters, delete one, insert a letter (each of three letters drawn per gap), replace a
letter by a QWERTY neighbour, or by a Cyrillic/Greek look-alike. It drops edits beyond
``max_edit_distance``, shuffles each family with a stream seeded by (seed, document, field, word
position) and takes the families in turn, one edit each, until it has ``candidates_per_word``: the
same candidates on any machine, in any batch.
The masked-LM transformation is in ``masked_lm.py``.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Protocol

from skillneuron_harness.attacks.config import AttackConfig
from skillneuron_harness.attacks.words import Word
from skillneuron_harness.core.edits import levenshtein
from skillneuron_harness.perturbations.base import pick, shuffle
from skillneuron_harness.perturbations.pipeline import step_rng
from skillneuron_harness.perturbations.tables import HOMOGLYPHS, QWERTY_NEIGHBOURS

Candidates = dict[int, list[str]]  # word index -> its replacements, best first where the transformation ranks them


class Transformation(Protocol):
    """Candidate replacements for the eligible words of a batch of documents (one call per batch)."""

    def candidates(self, documents: Sequence[tuple[int, Mapping[str, str], Sequence[Word]]]) -> list[Candidates]:
        """``documents``: (doc_id, clean fields, words) each; returns one :data:`Candidates` per document."""
        ...


def single_edits(word: str, rng) -> list[list[str]]:
    """Every single-character edit of ``word``, one list per family (module docstring), without repeats."""
    n = len(word)
    swaps = [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(n - 1) if word[i] != word[i + 1]]
    deletions = [word[:i] + word[i + 1:] for i in range(n)]
    insertions = [word[:i] + pick(rng, string.ascii_lowercase) + word[i:] for i in range(n + 1) for _ in range(3)]
    keyboard, glyphs = [], []
    for i, c in enumerate(word):  # keeping the letter's case
        for near in QWERTY_NEIGHBOURS.get(c.lower(), "") if c.isascii() else "":
            keyboard.append(word[:i] + (near.upper() if c.isupper() else near) + word[i + 1:])
        glyphs += [word[:i] + glyph + word[i + 1:] for glyph in HOMOGLYPHS.get(c, "")]
    seen, families = {word, ""}, []
    for family in (swaps, deletions, insertions, keyboard, glyphs):
        unique = []
        for w in family:
            if w not in seen:
                seen.add(w)
                unique.append(w)
        families.append(unique)
    return families


def interleave(families: list[list[str]]) -> list[str]:
    """The families taken in turn, one edit each (so that ``candidates_per_word`` spans all of them)."""
    out, at = [], 0
    while any(at < len(f) for f in families):
        out += [f[at] for f in families if at < len(f)]
        at += 1
    return out


class CharEdits:
    """Seeded single character edits per word (module docstring)."""

    def __init__(self, config: AttackConfig):
        self.config = config

    def word_candidates(self, doc_id: int | str, word: Word) -> list[str]:
        rng = step_rng(self.config.seed, doc_id, word.field, word.index)
        families = [[e for e in family if levenshtein(word.text, e) <= self.config.max_edit_distance]
                    for family in single_edits(word.text, rng)]
        for family in families:
            shuffle(rng, family)
        return interleave(families)[: self.config.candidates_per_word]

    def candidates(self, documents):
        return [{w.index: self.word_candidates(doc_id, w) for w in words if w.eligible}
                for doc_id, _, words in documents]
