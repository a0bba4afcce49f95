"""Word kinds that keep the words in place: case, contractions, whitespace, punctuation.

They work on whitespace-separated tokens (:class:`~.base.Tokens`); a token holding a protected word
is never edited, and neither is the punctuation inside it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from skillneuron_harness.perturbations.base import (
    Protection,
    Step,
    Tokens,
    choice,
    count,
    draw,
    pick,
    rate,
    register,
    text,
)
from skillneuron_harness.perturbations.tables import CONTRACTIONS, PUNCTUATION

_EXAMPLE = "The film does not disappoint: it is a charming and often affecting journey."


@register
@dataclass(frozen=True)
class Case(Step):
    """Change the case of a word: UPPER, lower, Title, or one of the three at random (eligible: words with letters)."""

    kind = "case"
    unit = "word"
    rate: float = rate(0.3, "probability that a word is re-cased")
    mode: str = choice("upper", ("upper", "lower", "title", "random"), "the new case")
    example = (_EXAMPLE, "The film does not DISAPPOINT: it is a charming AND OFTEN affecting journey.")
    names = {"HELM": "lowercase (LowerCasePerturbation: mode lower, rate 1)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        for i, token in enumerate(tokens.tokens):
            if not tokens.fixed[i] and token.lower() != token.upper() and draw(rng, self.rate):
                mode = pick(rng, ("upper", "lower", "title")) if self.mode == "random" else self.mode
                tokens.tokens[i] = (token.upper() if mode == "upper" else token.lower() if mode == "lower"
                                    else token[:1].upper() + token[1:].lower())
        return str(tokens)


def _contracted_pattern(contracted: str) -> str:
    # "don't" -> do ?n['’]t, "it's" -> it ?['’]s: the plain form and PTB tokenisation ("do n't", "it 's").
    if contracted.endswith("n't"):
        return re.escape(contracted[:-3]) + r" ?n['\u2019]t"
    stem, tail = contracted.split("'")
    return re.escape(stem) + r" ?['\u2019]" + re.escape(tail)


def _key(phrase: str) -> str:
    return re.sub(r"\s+", " ", phrase.lower().replace("\u2019", "'")).replace(" n't", "n't").replace(" '", "'")


_EXPAND = {_key(c): e for e, c in CONTRACTIONS}
_CONTRACT = {_key(e): c for e, c in CONTRACTIONS}
_PATTERNS = {
    "contract": [r"\s+".join(map(re.escape, e.split())) for e, _ in CONTRACTIONS],
    "expand": [_contracted_pattern(c) for _, c in CONTRACTIONS],
}


def _compile(alternatives: list[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(sorted(alternatives, key=len, reverse=True)) + r")(?!\w)", re.I)


_REGEX = {"contract": _compile(_PATTERNS["contract"]), "expand": _compile(_PATTERNS["expand"]),
          "both": _compile(_PATTERNS["contract"] + _PATTERNS["expand"])}


@register
@dataclass(frozen=True)
class Contraction(Step):
    """Contract ("does not" -> "doesn't") or expand ("doesn't", PTB "does n't" -> "does not") from a table."""

    kind = "contraction"
    unit = "phrase"
    rate: float = rate(1.0, "probability that a phrase of the table is rewritten")
    direction: str = choice("both", ("contract", "expand", "both"), "which way to rewrite")
    example = (_EXAMPLE, "The film doesn't disappoint: it's a charming and often affecting journey.")
    names = {"HELM": "contraction / expansion (ContractionPerturbation, ExpansionPerturbation)",
             "CheckList": "Perturb.contractions, Perturb.expand_contractions"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        def rewrite(m: re.Match[str]) -> str:
            found = m.group()
            if protection.covers(m.start(), m.end()) or not draw(rng, self.rate):
                return found
            key = _key(found)
            new = _CONTRACT.get(key) or _EXPAND[key]
            if found.isupper() and len(found) > 1:
                return new.upper()
            return new[0].upper() + new[1:] if found[0].isupper() else new
        return _REGEX[self.direction].sub(rewrite, text)


@register
@dataclass(frozen=True)
class Whitespace(Step):
    """Widen the gap between two words by 1 to max_extra more of the given characters."""

    kind = "whitespace"
    unit = "gap"
    rate: float = rate(0.2, "probability that a gap between two words is widened")
    max_extra: int = count(2, "the most characters added to one gap", minimum=1)
    characters: str = text(" ", "the characters to add (e.g. ' \\t' for spaces and tabs)", blank=True)
    example = (_EXAMPLE, "The film does not disappoint:  it is a  charming and often affecting   journey.")
    names = {"HELM": "extra spaces (SpacePerturbation, which may also remove a space)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        for i in range(1, len(tokens.tokens)):
            if draw(rng, self.rate):
                extra = 1 + min(int(rng.random() * self.max_extra), self.max_extra - 1)
                tokens.seps[i] += "".join(pick(rng, self.characters) for _ in range(extra))
        return str(tokens)


@register
@dataclass(frozen=True)
class Punctuation(Step):
    """Remove marks (. , ; : ! ?) or add one after a word; with both, a word may lose and gain one."""

    kind = "punctuation"
    unit = "mark or word"
    rate: float = rate(0.2, "probability that a mark is removed / that a mark is added after a word")
    mode: str = choice("both", ("add", "remove", "both"), "remove marks, add marks, or both")
    example = (_EXAMPLE, "The film does not disappoint it is a charming, and often affecting journey.")
    names = {"CheckList": "Perturb.punctuation (adds or removes the final mark only)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        tokens = Tokens(text, protection)
        for i, token in enumerate(tokens.tokens):
            if tokens.fixed[i]:
                continue
            if self.mode != "add":
                token = "".join(c for c in token if c not in PUNCTUATION or not draw(rng, self.rate))
            if self.mode != "remove" and token and token[-1].isalnum() and draw(rng, self.rate):
                token += pick(rng, PUNCTUATION)
            tokens.tokens[i] = token or None
        return str(tokens)
