"""A synthetic corpus for the perturbation tests, drawn with its own RNG (numpy's), not the code under test's."""

from __future__ import annotations

import re

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz"
PROTECTED = ("positive", "negative")
PROTECTED_RE = re.compile(r"(?<!\w)(?:positive|negative)(?!\w)", re.IGNORECASE)


def word(rng: np.random.Generator, low: int = 6, high: int = 10) -> str:
    """A random lower-case word without two equal neighbouring letters (so that every swap is visible)."""
    out = [LETTERS[rng.integers(26)]]
    for _ in range(int(rng.integers(low, high + 1)) - 1):
        c = out[-1]
        while c == out[-1]:
            c = LETTERS[rng.integers(26)]
        out.append(c)
    return "".join(out)


def documents(n: int = 300, words: int = 12, seed: int = 0) -> list[str]:
    """Sentences of random words, a protected word (in any case) in about one in three, and punctuation tokens."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        tokens = [word(rng) for _ in range(words)]
        if rng.random() < 0.35:
            w = PROTECTED[rng.integers(2)]
            tokens.insert(int(rng.integers(len(tokens) + 1)), [w, w.upper(), w.title()][rng.integers(3)])
        tokens.insert(int(rng.integers(1, len(tokens))), ",")
        docs.append(" ".join(tokens) + " .")
    return docs


def protected_words(text: str) -> list[str]:
    return PROTECTED_RE.findall(text)


def within_binomial(successes: int, trials: int, rate: float, sigmas: float = 3.0) -> bool:
    return abs(successes - rate * trials) <= sigmas * (trials * rate * (1 - rate)) ** 0.5 + 1e-9


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
