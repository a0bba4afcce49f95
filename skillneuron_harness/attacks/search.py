"""Greedy search by word importance (TextAttack's ``GreedyWordSwapWIR``), many documents at a time.

For one document (:func:`greedy_search`):

1. score the clean document; a wrong prediction ends the search (``skipped``): there is nothing to flip;
2. rank the eligible words by importance: the drop of the gold margin (the gold choice's
   log-likelihood minus the best other one's) when the word is deleted, highest first, ties by
   position ("delete", TextAttack's ``wir_method="delete"``);
3. walk the ranking: score every candidate replacement of the word (on top of the replacements
   kept so far) and keep the one with the lowest margin if it lowers the margin; stop as soon as
   the prediction (lm-eval's ``acc`` choice: the first argmax of the log-likelihoods) is not the
   gold one (``succeeded``), or when ``max_words_changed``, the query budget or the words run out
   (``failed``: the document keeps the replacements made, which lowered its margin without flipping it).

A query is one scored document variant (the clean one included). The search is a generator: it
yields the variants it needs scored and receives their log-likelihoods, so that :func:`run_searches`
can score the variants of many documents in one call of the victim (one forward batch per round).
It depends on nothing but the documents, the candidates and the scores: the same inputs give the
same records.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from skillneuron_harness.attacks.config import AttackConfig
from skillneuron_harness.attacks.transformations import Candidates, Transformation
from skillneuron_harness.attacks.words import Word, document_words, replace_words
from skillneuron_harness.core.edits import change_size

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"

Scores = Sequence[Sequence[float]]  # per variant: the log-likelihood of each choice
Search = Generator[list[dict[str, str]], Scores, "AttackRecord"]


@dataclass
class Target:
    """One document to attack: its id, the attacked fields' clean text, its gold choice and protected phrases."""

    doc_id: int
    fields: dict[str, str]
    gold: int
    protected: list[str] = field(default_factory=list)


@dataclass
class AttackRecord:
    """What happened to one document (a line of the attack log)."""

    doc_id: int
    status: str  # succeeded | failed | skipped
    reason: str  # why the search ended
    gold: int
    clean_prediction: int
    prediction: int  # on the returned fields
    queries: int
    words: int  # words of the attacked fields
    eligible_words: int
    words_changed: int  # words replaced by the search (a failed search: those it kept, the prediction unchanged)
    changed_words: float  # fraction of the clean words not kept in place (core.edits.change_size)
    changed_chars: int  # character edit distance, over the attacked fields
    clean_margin: float
    margin: float  # after the substitutions
    substitutions: list[list[Any]]  # [word index, clean word, replacement] in the order they were made
    fields: dict[str, str]  # the attacked fields with the substitutions (a skipped document: the clean text)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping) -> AttackRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def first_argmax(scores: Sequence[float]) -> int:
    """The first index of the largest value (NumPy's ``argmax``, lm-eval's ``acc`` rule)."""
    best = 0
    for i, s in enumerate(scores):
        if s > scores[best]:
            best = i
    return best


def margin(scores: Sequence[float], gold: int) -> float:
    """The gold choice's score minus the best other choice's (below 0: another choice wins)."""
    others = [s for i, s in enumerate(scores) if i != gold]
    return float(scores[gold] - max(others)) if others else float("inf")


def greedy_search(target: Target, words: Sequence[Word], candidates: Candidates, config: AttackConfig) -> Search:
    """The search of one document (module docstring): a generator of variant lists, returning its record."""
    gold, clean = target.gold, target.fields
    (clean_scores,) = yield [clean]
    queries = 1
    clean_pred, clean_margin = first_argmax(clean_scores), margin(clean_scores, gold)
    eligible = [w for w in words if w.eligible and candidates.get(w.index)]

    def record(status: str, reason: str, kept: dict[int, str], pred: int, now: float) -> AttackRecord:
        fields = replace_words(clean, words, kept)
        fraction = max((change_size(clean[f], fields[f])[0] for f in clean), default=0.0)
        chars = sum(change_size(clean[f], fields[f])[1] for f in clean)
        subs = [[i, words[i].text, kept[i]] for i in kept]
        return AttackRecord(target.doc_id, status, reason, gold, clean_pred, pred, queries, len(words),
                            len(eligible), len(subs), fraction, chars, clean_margin, now, subs, fields)

    if clean_pred != gold:
        return record(SKIPPED, "wrong on the clean document", {}, clean_pred, clean_margin)
    budget_words = config.max_changes(len(words))
    if not eligible or budget_words == 0:
        why = "no eligible word" if not eligible else f"{len(words)} words allow no change at " \
                                                      f"max_words_changed={config.max_words_changed}"
        return record(FAILED, why, {}, clean_pred, clean_margin)

    # Word importance: the margin's drop when the word is deleted (as many words as the budget allows).
    ranked = eligible[: max(config.query_budget - queries - 1, 0)]
    if ranked:
        deleted = yield [replace_words(clean, words, {w.index: ""}) for w in ranked]
        queries += len(ranked)
        drop = {w.index: clean_margin - margin(s, gold) for w, s in zip(ranked, deleted, strict=True)}
        ranked.sort(key=lambda w: (-drop[w.index], w.index))

    kept: dict[int, str] = {}
    now, pred = clean_margin, clean_pred
    reason = "every eligible word tried" if len(ranked) == len(eligible) else \
        f"query budget of {config.query_budget} spent"
    for w in ranked:
        if len(kept) >= budget_words:
            reason = f"max_words_changed={config.max_words_changed} reached ({budget_words} of {len(words)} words)"
            break
        left = config.query_budget - queries
        if left <= 0:
            reason = f"query budget of {config.query_budget} spent"
            break
        options = candidates[w.index][:left]
        scores = yield [replace_words(clean, words, {**kept, w.index: c}) for c in options]
        queries += len(options)
        margins = [margin(s, gold) for s in scores]
        best = min(range(len(options)), key=lambda i: (margins[i], i))
        if margins[best] < now:
            kept[w.index], now, pred = options[best], margins[best], first_argmax(scores[best])
            if pred != gold:
                return record(SUCCEEDED, "prediction flipped", kept, pred, now)
    return record(FAILED, reason, kept, clean_pred, now)

def run_searches(targets: Iterable[Target], transformation: Transformation, config: AttackConfig,
                 score: Callable[[list[tuple[int, dict[str, str]]]], Scores], *, width: int = 32,
                 done: Callable[[AttackRecord], None] | None = None, stop_words: bool | None = None
                 ) -> list[AttackRecord]:
    """Attack ``targets``, ``width`` documents at a time, their variants scored together.

    ``score`` gets (doc_id, fields) per variant and returns each variant's choice log-likelihoods;
    each round of the loop calls it once, with the variants every active search asked for.
    ``done`` is called with each record as its search ends (in the order they end); the records
    are returned in the targets' order.
    """
    stop_words = config.stop_words if stop_words is None else stop_words
    pending = iter(targets)
    active: list[tuple[Target, Search, list[dict[str, str]]]] = []
    finished: dict[int, AttackRecord] = {}
    order: list[int] = []

    def finish(rec: AttackRecord) -> None:
        finished[rec.doc_id] = rec
        if done is not None:
            done(rec)

    def refill() -> None:
        new = []
        while len(active) + len(new) < width and (target := next(pending, None)) is not None:
            order.append(target.doc_id)
            words = document_words(target.fields, [*target.protected, *config.protect], stop_words=stop_words)
            new.append((target, words))
        if not new:
            return
        lists = transformation.candidates([(t.doc_id, t.fields, words) for t, words in new])
        for (target, words), candidates in zip(new, lists, strict=True):
            search = greedy_search(target, words, candidates, config)
            active.append((target, search, next(search)))

    refill()
    while active:
        flat = [(t.doc_id, variant) for t, _, asked in active for variant in asked]
        scores = list(score(flat))
        if len(scores) != len(flat):
            raise RuntimeError(f"the scorer returned {len(scores)} results for {len(flat)} variants")
        still, at = [], 0
        for target, search, asked in active:
            mine, at = scores[at: at + len(asked)], at + len(asked)
            try:
                still.append((target, search, search.send(mine)))
            except StopIteration as stop:
                finish(stop.value)
        active[:] = still
        refill()
    return [finished[d] for d in order]
