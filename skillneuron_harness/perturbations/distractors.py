"""Distractor kinds: a tautology, a random string, a URL or an @handle, appended or prepended.

The text itself is kept as it is, leading and trailing whitespace included (SST-2 sentences end in
a space): the distractor goes between the text and that whitespace, joined by one space.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from skillneuron_harness.perturbations.base import Protection, Step, choice, count, pick, register, text

_EXAMPLE = "The film does not disappoint: it is a charming and often affecting journey."
_ALNUM = string.ascii_letters + string.digits


def attach(text: str, extra: str, position: str) -> str:
    """``extra`` joined to ``text`` by one space at its end or start, outside its outer whitespace."""
    body = text.strip()
    if not body:
        return text + extra
    head, tail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    return f"{head}{body} {extra}{tail}" if position == "end" else f"{head}{extra} {body}{tail}"


def _position() -> str:
    return choice("end", ("end", "start"), "append (end) or prepend (start)")


@register
@dataclass(frozen=True)
class Distractor(Step):
    """Attach a fixed text; StressTest's tautologies: 'and true is true', 'and false is not true'."""

    kind = "distractor"
    unit = "text"
    text: str = text("and true is true", "the text to attach")
    position: str = _position()
    example = (_EXAMPLE,
               "The film does not disappoint: it is a charming and often affecting journey. and true is true")
    names = {"other": "StressTest's tautology distractors (Naik et al. 2018)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        return attach(text, self.text, self.position)


@register
@dataclass(frozen=True)
class RandomString(Step):
    """Attach a random string of letters and digits."""

    kind = "random_string"
    unit = "text"
    length: int = count(8, "characters in the string", minimum=1)
    position: str = _position()
    example = (_EXAMPLE,
               "The film does not disappoint: it is a charming and often affecting journey. xHP6euEx")
    names = {"CheckList": "random strings (its sentiment suite's irrelevant additions)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        return attach(text, "".join(pick(rng, _ALNUM) for _ in range(self.length)), self.position)


@register
@dataclass(frozen=True)
class Url(Step):
    """Attach a random short URL: https://t.co/ and ten letters or digits."""

    kind = "url"
    unit = "text"
    position: str = _position()
    example = (_EXAMPLE,
               "The film does not disappoint: it is a charming and often affecting journey. https://t.co/xHP6euExSe")
    names = {"CheckList": "random URLs (its sentiment suite's robustness tests)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        return attach(text, "https://t.co/" + "".join(pick(rng, _ALNUM) for _ in range(10)), self.position)


@register
@dataclass(frozen=True)
class Handle(Step):
    """Attach a random @handle: a letter, then seven letters, digits or underscores."""

    kind = "handle"
    unit = "text"
    position: str = _position()
    example = (_EXAMPLE,
               "The film does not disappoint: it is a charming and often affecting journey. @tIQ7euFx")
    names = {"CheckList": "random @handles (its sentiment suite's robustness tests)"}

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        name = pick(rng, string.ascii_letters) + "".join(pick(rng, _ALNUM + "_") for _ in range(7))
        return attach(text, "@" + name, self.position)
