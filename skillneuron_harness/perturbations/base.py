"""What every perturbation kind shares: parameters, the registry, protected words, seeded choices.

A kind is a frozen ``@dataclass`` deriving from :class:`Step`, registered under its name with
:func:`register`. Each field is one parameter, declared with :func:`rate`, :func:`count`,
:func:`choice`, :func:`text` or :func:`words`: the default, the help text the docs table is
generated from, and the check that ``__post_init__`` runs (a bad value raises
:class:`ParameterError`, which names the parameter, the value and the fix). A step's
:meth:`Step.edit` gets the text, a ``random.Random`` of its own and the :class:`Protection` of the
text, and returns the new text; it draws only with :func:`draw`, :func:`pick` and :func:`shuffle`,
which use nothing but ``Random.random()``: the one method whose sequence Python promises to keep
across versions for the same integer seed.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from skillneuron_harness.core.errors import SkillNeuronError

# A word for the character kinds: a maximal run of letters, digits or underscores (any script).
WORD = re.compile(r"\w+")
# A token for the word kinds: a maximal run of non-space characters.
TOKEN = re.compile(r"\S+")


class PerturbationError(SkillNeuronError):
    """A perturbation spec or input that cannot be used; the message names it and the fix."""


class ParameterError(PerturbationError):
    """A bad parameter value of one kind; ``problem`` is the message without the kind's name."""

    def __init__(self, kind: str, problem: str):
        super().__init__(f"{kind}: {problem}")
        self.kind, self.problem = kind, problem


# ------------------------------------------------------------------ parameters
def _param(default: Any, help: str, check: Callable[[str, Any], Any], shown: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "check": check, "type": shown})


def _number(name: str, value: Any, what: str, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}={value!r} is not a number; give {what}, e.g. {name}: {example}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}={value!r} is not finite; give {what}, e.g. {name}: {example}")
    return value


def rate(default: float, help: str) -> Any:
    """A probability in [0, 1] (per character, word, gap or window: ``help`` says which)."""
    def check(name: str, value: Any) -> float:
        value = float(_number(name, value, "a probability in [0, 1]", "0.1"))
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value!r} is outside [0, 1]; give a probability, e.g. {name}: 0.1")
        return value
    return _param(float(default), help, check, "rate in [0, 1]")


def count(default: int, help: str, minimum: int = 0) -> Any:
    """A whole number of at least ``minimum``."""
    def check(name: str, value: Any) -> int:
        value = _number(name, value, f"a whole number >= {minimum}", str(max(minimum, default)))
        if value != int(value):
            raise ValueError(f"{name}={value!r} is not a whole number; give one >= {minimum}, e.g. {name}: {default}")
        if value < minimum:
            raise ValueError(f"{name}={value!r} is below {minimum}; give a whole number >= {minimum}, "
                             f"e.g. {name}: {max(minimum, default)}")
        return int(value)
    return _param(int(default), help, check, f"count >= {minimum}")


def choice(default: str, choices: Sequence[str], help: str) -> Any:
    """One of a few names."""
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}; e.g. {name}: {default}")
        return value
    return _param(default, help, check, " | ".join(choices))


def text(default: str, help: str, blank: bool = False) -> Any:
    """A non-empty string (``blank``: whitespace only is fine too)."""
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or not (value if blank else value.strip()):
            raise ValueError(f"{name}={value!r} is not a non-empty string; e.g. {name}: {default!r}")
        return value
    return _param(default, help, check, "string")


def words(default: Sequence[str], help: str) -> Any:
    """A non-empty list of non-empty strings (a tuple once checked)."""
    def check(name: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value or \
                not all(isinstance(w, str) and w.strip() for w in value):
            raise ValueError(f"{name}={value!r} is not a non-empty list of non-empty strings; "
                             f"e.g. {name}: {list(default)[:2]}")
        return tuple(value)
    return dataclasses.field(default=tuple(default), metadata={"help": help, "check": check, "type": "list of strings"})


# ------------------------------------------------------------------ seeded choices
def draw(rng: random.Random, probability: float) -> bool:
    """True with ``probability`` (never for 0, always for 1)."""
    return rng.random() < probability


def pick(rng: random.Random, items: Sequence[Any]) -> Any:
    """One of ``items``, uniformly."""
    return items[min(int(rng.random() * len(items)), len(items) - 1)]


def shuffle(rng: random.Random, items: list[Any]) -> None:
    """Fisher-Yates in place, drawing only with ``random()``."""
    for i in range(len(items) - 1, 0, -1):
        j = min(int(rng.random() * (i + 1)), i)
        items[i], items[j] = items[j], items[i]


# ------------------------------------------------------------------ protected words
class Protection:
    """The protected words of one text: a mask of the characters that no step may change."""

    def __init__(self, text: str, pattern: re.Pattern[str] | None):
        self.mask = bytearray(len(text))
        if pattern is not None:
            for m in pattern.finditer(text):
                self.mask[m.start():m.end()] = b"\x01" * (m.end() - m.start())
        self.any = any(self.mask)

    def covers(self, start: int, end: int) -> bool:
        """Whether any character of ``text[start:end]`` is protected."""
        return self.any and 1 in self.mask[start:end]


def protected_pattern(protected: Sequence[str]) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive matches of any of ``protected`` (longest first); None for none."""
    if not protected:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(set(protected), key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def edit_words(text: str, protection: Protection, edit: Callable[[str], str]) -> str:
    """``text`` with every unprotected :data:`WORD` replaced by ``edit(word)``, left to right."""
    pieces, last = [], 0
    for m in WORD.finditer(text):
        if protection.covers(m.start(), m.end()):
            continue
        pieces.append(text[last:m.start()])
        pieces.append(edit(m.group()))
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces)


# ------------------------------------------------------------------ kinds
KINDS: dict[str, type[Step]] = {}
# The seed of every kind's ``example`` (document 0, field "text", the default parameters): the first
# seed at which each kind changes the shared example sentence.
EXAMPLE_SEED = 3


@dataclasses.dataclass(frozen=True)
class Step:
    """One perturbation kind with its parameters; subclasses set ``kind``, ``unit``, ``example``."""

    kind: ClassVar[str] = ""
    unit: ClassVar[str] = ""              # what a rate is per: "character", "word", "gap", "window", "text"
    example: ClassVar[tuple[str, str]] = ("", "")  # (before, after): the defaults, EXAMPLE_SEED, doc 0, "text"
    names: ClassVar[dict[str, str]] = {}  # the matching names elsewhere: {"TextAttack": ..., "HELM": ...}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            try:
                object.__setattr__(self, f.name, f.metadata["check"](f.name, getattr(self, f.name)))
            except ValueError as e:
                raise ParameterError(self.kind, str(e)) from None

    def edit(self, text: str, rng: random.Random, protection: Protection) -> str:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The parameters, JSON-able (tuples as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}


def register(cls: type[Step]) -> type[Step]:
    """Add a kind (a frozen dataclass deriving from :class:`Step`) to :data:`KINDS` under ``cls.kind``."""
    assert cls.kind and cls.kind not in KINDS, cls.kind
    KINDS[cls.kind] = cls
    return cls


# ------------------------------------------------------------------ tokens
class Tokens:
    """A text as whitespace-separated tokens: ``seps[i]`` precedes ``tokens[i]``, ``seps[-1]`` ends the text.

    ``fixed[i]`` says whether token i holds a protected character. Setting a token to None drops it
    with the whitespace before it (the whitespace after it for the first token), so ``str()`` never
    leaves a doubled separator behind.
    """

    def __init__(self, text: str, protection: Protection):
        self.tokens: list[str | None] = []
        self.seps: list[str] = []
        self.fixed: list[bool] = []
        last = 0
        for m in TOKEN.finditer(text):
            self.seps.append(text[last:m.start()])
            self.tokens.append(m.group())
            self.fixed.append(protection.covers(m.start(), m.end()))
            last = m.end()
        self.seps.append(text[last:])

    def __str__(self) -> str:
        kept = [i for i, t in enumerate(self.tokens) if t is not None]
        if not kept:
            return self.seps[0] + self.seps[-1] if self.tokens else self.seps[0]
        pieces = [self.seps[0], self.tokens[kept[0]]]
        for i in kept[1:]:
            pieces += [self.seps[i], self.tokens[i]]
        pieces.append(self.seps[-1])
        return "".join(pieces)  # type: ignore[arg-type]
