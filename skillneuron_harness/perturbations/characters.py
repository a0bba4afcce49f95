"""Character kinds: keyboard typos, swaps, deletions, insertions, repetitions, homoglyphs, zero-width characters.

Each edits the characters of the words (maximal ``\\w+`` runs) that hold no protected word, one
character at a time from left to right: a character is chosen with probability ``rate``, so a
step on n eligible characters makes Binomial(n, rate) edits, each of edit distance 1 (a swap: 2,
and it uses up two characters). Spaces and punctuation are never touched.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from skillneuron_harness.perturbations.base import Protection, Step, draw, edit_words, pick, rate, register, text
from skillneuron_harness.perturbations.tables import HOMOGLYPHS, QWERTY_NEIGHBOURS, ZERO_WIDTH

_EXAMPLE = "The film does not disappoint: it is a charming and often affecting journey."


@dataclass(frozen=True)
class _CharStep(Step):
    rate: float = rate(0.1, "probability that an eligible character is edited")
    unit = "character"

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        return edit_words(text, protection, lambda word: self.edit_word(word, rng))

    def edit_word(self, word: str, rng: random.Random) -> str:
        raise NotImplementedError


@register
@dataclass(frozen=True)
class KeyboardTypo(_CharStep):
    """Replace a letter by a neighbouring key of a US QWERTY keyboard, keeping its case (eligible: a-z, A-Z)."""

    kind = "keyboard_typo"
    example = (_EXAMPLE, "The fklm dies not disappoint: it is a dharming and ofyen qffectong journey.")
    names = {"TextAttack": "WordSwapQWERTY", "HELM": "typos (TyposPerturbation)"}

    def edit_word(self, word: str, rng: random.Random) -> str:
        chars = list(word)
        for i, c in enumerate(chars):
            near = QWERTY_NEIGHBOURS.get(c.lower()) if c.isascii() else None
            if near and draw(rng, self.rate):
                new = pick(rng, near)
                chars[i] = new.upper() if c.isupper() else new
        return "".join(chars)


@register
@dataclass(frozen=True)
class CharSwap(_CharStep):
    """Swap a character with the next one of its word (eligible: all but a word's last character).

    Left to right; the two characters of a swapped pair are not chosen again.
    """

    kind = "char_swap"
    example = (_EXAMPLE, "The fiml does nto disappoint: it is a charming and otfen affecting joureny.")
    names = {"TextAttack": "WordSwapNeighboringCharacterSwap", "nlpaug": "RandomCharAug(action='swap')"}

    def edit_word(self, word: str, rng: random.Random) -> str:
        chars, i = list(word), 0
        while i < len(chars) - 1:
            if draw(rng, self.rate):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
                i += 2
            else:
                i += 1
        return "".join(chars)


@register
@dataclass(frozen=True)
class CharDelete(_CharStep):
    """Delete a character; a word keeps at least one (eligible: the characters of words of two or more)."""

    kind = "char_delete"
    example = (_EXAMPLE, "The flm dos not disappoint: it is a chaming and often afecing jouney.")
    names = {"TextAttack": "WordSwapRandomCharacterDeletion", "nlpaug": "RandomCharAug(action='delete')"}

    def edit_word(self, word: str, rng: random.Random) -> str:
        if len(word) < 2:
            return word
        kept = [c for c in word if not draw(rng, self.rate)]
        return "".join(kept) if kept else word[-1]


@register
@dataclass(frozen=True)
class CharInsert(_CharStep):
    """Insert a random letter (a-z) after a character (eligible: every character of a word)."""

    kind = "char_insert"
    example = (_EXAMPLE, "The fiilm doees not disappoint: it is a cdharming and oftyen acffectinng journey.")
    names = {"TextAttack": "WordSwapRandomCharacterInsertion", "nlpaug": "RandomCharAug(action='insert')"}

    def edit_word(self, word: str, rng: random.Random) -> str:
        return "".join(c + pick(rng, string.ascii_lowercase) if draw(rng, self.rate) else c for c in word)


@register
@dataclass(frozen=True)
class CharRepeat(_CharStep):
    """Type a character twice ("goood") (eligible: every character of a word)."""

    kind = "char_repeat"
    example = (_EXAMPLE, "The fiilm doees not disappoint: it is a chaarming and often aaffeccting jouurney.")
    names = {}

    def edit_word(self, word: str, rng: random.Random) -> str:
        return "".join(c + c if draw(rng, self.rate) else c for c in word)


@register
@dataclass(frozen=True)
class Homoglyph(_CharStep):
    """Replace a Latin letter by a Cyrillic or Greek look-alike (eligible: the letters of the homoglyph table)."""

    kind = "homoglyph"
    example = (_EXAMPLE, "The film \u0501oes n\u043et disappoint: it is a charming and often \u0430ffecting journey.")
    names = {"TextAttack": "WordSwapHomoglyphSwap"}

    def edit_word(self, word: str, rng: random.Random) -> str:
        return "".join(pick(rng, HOMOGLYPHS[c]) if c in HOMOGLYPHS and draw(rng, self.rate) else c for c in word)


@register
@dataclass(frozen=True)
class ZeroWidth(_CharStep):
    """Insert an invisible character inside a word, after a character (eligible: all but a word's last one)."""

    kind = "zero_width"
    characters: str = text(ZERO_WIDTH, "the invisible characters to choose from (default: U+200B, U+200C, "
                                       "U+200D, U+2060)")
    example = (_EXAMPLE,
               "The fil\u200cm does n\u200bot disappoint: it is a charming an\u200bd often affecting "
               "j\u2060our\u200bney.")
    names = {"other": "invisible characters (Boucher et al. 2022, 'Bad Characters')"}

    def edit_word(self, word: str, rng: random.Random) -> str:
        last = len(word) - 1
        return "".join(c + pick(rng, self.characters) if i < last and draw(rng, self.rate) else c
                       for i, c in enumerate(word))
