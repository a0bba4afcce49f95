"""How much a text changed: the fraction of its words not kept in place, and the character edit distance."""

from __future__ import annotations

import difflib


def change_size(before: str, after: str) -> tuple[float, int]:
    """(fraction of the words of ``before`` not kept in place in ``after``, character edit distance)."""
    a, b = before.split(), after.split()
    kept = sum(block.size for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks())
    return (1.0 - kept / len(a) if a else float(bool(b))), levenshtein(before, after)


def levenshtein(a: str, b: str) -> int:
    """Character edit distance (insertions, deletions, substitutions), rapidfuzz's C++ implementation."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))
