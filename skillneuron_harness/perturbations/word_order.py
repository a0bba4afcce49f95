"""Word kinds that change which words are where: drop, repeat, local shuffle, filler words.

A word is a whitespace-separated token with a letter or digit in it; punctuation tokens and tokens
holding a protected word stay where they are (and are never dropped, repeated or moved).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from skillneuron_harness.perturbations.base import (
    Protection,
    Step,
    Tokens,
    count,
    draw,
    pick,
    rate,
    register,
    shuffle,
    words,
)
from skillneuron_harness.perturbations.tables import FILLERS

_TRAILING = re.compile(r"(.*?[^\W_])(\W*)", re.S)  # a token: its words, then its trailing punctuation
_EXAMPLE = "The film does not disappoint: it is a charming and often affecting journey."


def _movable(tokens: Tokens) -> list[int]:
    return [i for i, t in enumerate(tokens.tokens) if not tokens.fixed[i] and any(c.isalnum() for c in t or "")]


@register
@dataclass(frozen=True)
class WordDrop(Step):
    """Delete a word (never the last one left)."""

    kind = "word_drop"
    unit = "word"
    rate: float = rate(0.1, "probability that a word is deleted")
    example = (_EXAMPLE, "The film does not it is a charming often affecting journey.")
    names = {"TextAttack": "WordDeletion (EDA's random deletion)", "nlpaug": "RandomWordAug(action='delete')"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        movable = _movable(tokens)
        dropped = [i for i in movable if draw(rng, self.rate)]
        if dropped and len(dropped) == len(tokens.tokens):
            dropped = dropped[1:]
        for i in dropped:
            tokens.tokens[i] = None
        return str(tokens)


@register
@dataclass(frozen=True)
class WordRepeat(Step):
    """Say a word twice ("the the"; "end." becomes "end end.")."""

    kind = "word_repeat"
    unit = "word"
    rate: float = rate(0.1, "probability that a word is repeated")
    example = (_EXAMPLE, "The film does not disappoint disappoint: it is a charming and and often affecting journey.")
    names = {}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        for i in _movable(tokens):
            if draw(rng, self.rate):
                core, tail = _TRAILING.fullmatch(tokens.tokens[i]).groups()  # type: ignore[union-attr]
                tokens.tokens[i] = f"{core} {core}{tail}"
        return str(tokens)


@register
@dataclass(frozen=True)
class WordShuffle(Step):
    """Shuffle the words within windows of `window` consecutive movable words.

    A protected word or a punctuation token ends a run of movable words; each run is cut into
    windows from the left, and a chosen window of two or more different words always changes
    (a shuffle that gives the same order is rotated by one).
    """

    kind = "word_shuffle"
    unit = "window"
    rate: float = rate(0.5, "probability that a window is shuffled")
    window: int = count(3, "words per window (a word moves at most window - 1 places)", minimum=2)
    example = (_EXAMPLE, "The does film not disappoint: it a charming is often and affecting journey.")
    names = {"TextAttack": "WordInnerSwapRandom (EDA's random swap)", "nlpaug": "RandomWordAug(action='swap')"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        runs: list[list[int]] = []
        previous = -2
        for i in _movable(tokens):
            if i != previous + 1:
                runs.append([])
            runs[-1].append(i)
            previous = i
        for run in runs:
            for start in range(0, len(run), self.window):
                places = run[start:start + self.window]
                if len(places) < 2 or not draw(rng, self.rate):
                    continue
                old = [tokens.tokens[i] for i in places]
                new = list(old)
                shuffle(rng, new)
                if new == old:
                    new = new[1:] + new[:1]
                for i, token in zip(places, new, strict=True):
                    tokens.tokens[i] = token
        return str(tokens)


@register
@dataclass(frozen=True)
class Filler(Step):
    """Insert a filler word ("um", "like", "you know", ...) between two words."""

    kind = "filler"
    unit = "gap"
    rate: float = rate(0.1, "probability that a filler is inserted in a gap between two tokens")
    words: tuple[str, ...] = words(FILLERS, "the fillers to choose from")
    example = (_EXAMPLE, "The film does not disappoint: like it is a charming uh and often affecting journey.")
    names = {"HELM": "filler words (FillerWordsPerturbation)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        for i in range(1, len(tokens.tokens)):
            if draw(rng, self.rate):
                tokens.seps[i] = f"{tokens.seps[i]}{pick(rng, self.words)} "
        return str(tokens)
