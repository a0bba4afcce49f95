"""The words an attack may change: spans of the attacked fields, stop words and protected words left out.

A word is a maximal ``\\w+`` run (the character kinds' rule, ``perturbations/base.py``). Every word
counts towards a document's length (the ``max_words_changed`` fraction); a word is *eligible* for
edits unless it is protected (inside an answer choice of the document or a ``--protect`` word, matched
whole-word and case-insensitive), a stop word (unless ``stop_words`` is on), a single character, or has no letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from skillneuron_harness.perturbations.base import WORD, Protection, protected_pattern

# NLTK's English stop-word list (nltk.corpus.stopwords.words("english"), 2023), which TextAttack's
# attacks also leave alone; the negations are among them.
STOP_WORDS = frozenset("""
a about above after again against ain all am an and any are aren aren't as at be because been before being
below between both but by can couldn couldn't d did didn didn't do does doesn doesn't doing don don't down
during each few for from further had hadn hadn't has hasn hasn't have haven haven't having he her here hers
herself him himself his how i if in into is isn isn't it it's its itself just ll m ma me mightn mightn't more
most mustn mustn't my myself needn needn't no nor not now o of off on once only or other our ours ourselves
out over own re s same shan shan't she she's should should've shouldn shouldn't so some such t than that
that'll the their theirs them themselves then there these they this those through to too under until up ve
very was wasn wasn't we were weren weren't what when where which while who whom why will with won won't
wouldn wouldn't y you you'd you'll you're you've your yours yourself yourselves
""".split())


@dataclass(frozen=True)
class Word:
    """One word of a document: its field, its place in the field's clean text, and whether it may change."""

    index: int  # position among all words of the attacked fields, in field order
    field: str
    start: int
    end: int
    text: str
    eligible: bool


def document_words(fields: Mapping[str, str], protected: Sequence[str], *, stop_words: bool = False) -> list[Word]:
    """Every word of ``fields`` (in their order), each marked eligible or not (module docstring)."""
    pattern = protected_pattern(list(protected))
    out: list[Word] = []
    for name, text in fields.items():
        protection = Protection(text, pattern)
        for m in WORD.finditer(text):
            word = m.group()
            eligible = (len(word) > 1 and any(c.isalpha() for c in word)
                        and not protection.covers(m.start(), m.end())
                        and (stop_words or word.lower() not in STOP_WORDS))
            out.append(Word(len(out), name, m.start(), m.end(), word, eligible))
    return out


def replace_words(fields: Mapping[str, str], words: Sequence[Word], replacements: Mapping[int, str]) -> dict[str, str]:
    """``fields`` with word ``i`` of ``words`` replaced by ``replacements[i]`` ("" deletes it with one space)."""
    out = dict(fields)
    by_field: dict[str, list[Word]] = {}
    for i in replacements:
        by_field.setdefault(words[i].field, []).append(words[i])
    for name, chosen in by_field.items():
        text = fields[name]
        for w in sorted(chosen, key=lambda w: w.start, reverse=True):  # right to left: earlier spans stay valid
            new = replacements[w.index]
            start, end = w.start, w.end
            if not new:  # a deletion takes one neighbouring space with it
                if end < len(text) and text[end] == " ":
                    end += 1
                elif start > 0 and text[start - 1] == " ":
                    start -= 1
            text = text[:start] + new + text[end:]
        out[name] = text
    return out



def answer_phrases(choices: Iterable[str]) -> list[str]:
    """A document's answer choices as protected phrases (as twins protect them): ``" positive"`` -> ``positive``."""
    return sorted({str(c).strip() for c in choices if str(c).strip()})
