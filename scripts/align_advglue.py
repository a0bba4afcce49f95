#!/usr/bin/env python3
"""Pair every AdvGLUE dev document with the GLUE dev document it was made from.

AdvGLUE rows carry only their position in the AdvGLUE list (``idx``); this script finds, for each,
the clean GLUE validation document it perturbs, and writes the package's mapping
``task_configs/advglue/pairs/<task>.json`` (read by ``skillneuron_harness.core.advglue_pairs``).
It reads the JSONL files of ``../shared/data`` (``--data``) and nothing else; the output depends
only on those files, so a rerun reproduces the shipped files byte for byte::

    python scripts/align_advglue.py                       # all six tasks
    python scripts/align_advglue.py --tasks adv_rte --out /tmp/pairs

The rule (also written into every file's header):

* **Normalisation.** The distractions that AdvGLUE's sentence-level attacks append (``and true is
  true``, ``and false is not true``, a ``https://t.co/...`` URL, an ``@handle``) are dropped; the
  text is NFKD-decomposed, accents dropped, case-folded and cut into word tokens (maximal runs of
  letters and digits): AdvGLUE's ``U . S .`` and GLUE's ``U.S.`` are the same tokens. Two texts match
  *exactly* when their tokens joined without spaces are equal (a perturbation that only splits or
  joins a word, ``Ap ple``, is no change). Similarity is difflib's ``SequenceMatcher.ratio`` of the
  tokens joined by single spaces (GLUE text first, ``autojunk=False``).
* **Cut texts.** The distraction attack often cut the sentence at its first full stop
  (``Procter and Gamble spends $1 and true is true .``): a text that carried a distraction and keeps
  at least ``MIN_CUT`` words is compared with as many leading words of the GLUE text.
* **Candidates.** Pair tasks: the GLUE documents one of whose two texts matches the AdvGLUE text of
  the same field exactly (AdvGLUE usually perturbs one sentence of the pair); when neither text
  matches any document exactly, every document of the reference is a candidate. SST-2: every document.
* **Score.** Pair tasks: the lower of the two fields' similarities (1 for the field that matches
  exactly), so that both texts must agree, not just the longer one. SST-2: the sentence's similarity.
* **Decision.** The best candidate is ``matched`` when its score is at least ``THRESHOLD``
  (``THRESHOLD_SAMPLE`` against a sample, where the original may be absent and the runner-up then
  proves nothing) and at least ``MARGIN`` above the runner-up's (0 when there is none); a best
  candidate above the threshold that is not that far ahead is ``ambiguous``; otherwise the document
  is ``unmatched`` (no candidate close enough). Only a matched document names its original;
  ``label_agrees`` says whether the two labels are equal (AdvGLUE keeps the label; the labels are
  not used to decide, so that they check the rule), ``kept`` which fields are exactly unchanged.

MNLI and QQP: ``../shared/data`` holds only 1,000-row samples (``idx`` = the sample's row, not the
GLUE idx): TextFooler's samples of MNLI dev matched / mismatched, and a QQP sample whose GLUE split
of origin is not recorded. Most originals are outside them. For these tasks ``glue_idx`` is always
null, a document found in the sample is ``matched`` with ``sample_idx`` (the sample row), and
``unmatched`` means "not in the sample" rather than "no original".

A full run takes a few minutes (SST-2 and the pairs with no exact field are compared with every
document); ``--tasks adv_rte`` takes about a second.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "task_configs" / "advglue" / "pairs"

FORMAT = 1
THRESHOLD = 0.6  # below it a candidate is no original (see docs/tasks.md for the observed scores)
# Against a sample the original may be absent, and then the runner-up says nothing: another pair with
# the same premise or question scored up to 0.81 there (QQP idx 35, whose perturbed question only split
# "2017"; five other MNLI hypotheses of a premise scored 0.61-0.72, each with another label).
THRESHOLD_SAMPLE = 0.85
MARGIN = 0.1  # the best candidate must beat the runner-up by this much, else the pairing is ambiguous
DIGITS = 3  # scores are written with 3 decimals
MIN_CUT = 3  # a cut text of fewer words is compared whole (two words would fit too many openings)


@dataclass(frozen=True)
class Task:
    """One AdvGLUE task, its reference file in ``--data`` and the text fields compared."""

    name: str
    reference: str
    fields: tuple[str, ...]
    complete: bool  # True: the reference is the whole GLUE dev split, its idx the GLUE idx

    @property
    def threshold(self) -> float:
        return THRESHOLD if self.complete else THRESHOLD_SAMPLE


TASKS = {
    t.name: t
    for t in (
        Task("adv_sst2", "sst2/validation.jsonl", ("sentence",), True),
        Task("adv_qqp", "qqp/validation_sample1k.jsonl", ("question1", "question2"), False),
        Task("adv_mnli", "mnli/validation_matched_sample1k.jsonl", ("premise", "hypothesis"), False),
        Task("adv_mnli_mismatched", "mnli/validation_mismatched_sample1k.jsonl", ("premise", "hypothesis"), False),
        Task("adv_qnli", "qnli/validation.jsonl", ("question", "sentence"), True),
        Task("adv_rte", "rte/validation.jsonl", ("sentence1", "sentence2"), True),
    )
}
RULE = {
    "normalise": "distractions dropped ('and true is true', 'and false is not true', URLs, @handles), NFKD, "
    "accents dropped, casefold, word tokens = runs of letters and digits",
    "cut": f"an AdvGLUE text that carried a distraction and keeps >= {MIN_CUT} words is compared with as many "
    "leading words of the GLUE text",
    "exact": "tokens joined without spaces are equal",
    "similarity": "difflib SequenceMatcher(None, glue, adv, autojunk=False).ratio() of the tokens joined by spaces",
    "candidates": "pairs: documents with one field exactly equal, else all documents; single sentences: all",
    "score": "pairs: the lower of the two fields' similarities; single sentences: the similarity",
    "threshold": THRESHOLD,
    "threshold_sample": THRESHOLD_SAMPLE,
    "margin": MARGIN,
    "decision": "matched: score >= threshold (threshold_sample against a sample) and score - runner-up >= "
    "margin; ambiguous: score >= that threshold and not that margin; unmatched: otherwise; labels not used",
}

_TOKEN = re.compile(r"[^\W_]+")
# The distractions AdvGLUE's sentence-level attacks append (StressTest's tautologies, a short URL or a
# handle): none is in a GLUE dev text. The attack often cut the sentence at its first full stop before
# appending one (``Procter and Gamble spends $1 and true is true .``), so a text that carried one is
# compared with the same number of leading words of the GLUE text.
_DISTRACTION = re.compile(r"\band (?:true is true|false is not true)\b|https?://\S+|@\w+", re.IGNORECASE)


def tokens(text: str) -> list[str]:
    """Word tokens of a text: NFKD, accents dropped, case-folded, runs of letters and digits."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _TOKEN.findall(text.casefold())


@dataclass(frozen=True)
class Text:
    """A text as compared: its words, its exact-match key, and whether it is to be read as a cut text."""

    words: tuple[str, ...]
    key: str
    cut: bool  # it carried a distraction and keeps at least MIN_CUT words

    @classmethod
    def of(cls, text: str) -> Text:
        kept = _DISTRACTION.sub(" ", text)
        words = tuple(tokens(kept))
        return cls(words, "".join(words), kept != text and len(words) >= MIN_CUT)

    @property
    def spaced(self) -> str:
        return " ".join(self.words)


class Similarity:
    """difflib's ratio against one AdvGLUE text, with difflib's cheap upper bound to skip hopeless ones."""

    def __init__(self, adv: Text) -> None:
        self.adv = adv
        self.matcher = difflib.SequenceMatcher(None, autojunk=False)
        self.matcher.set_seq2(adv.spaced)  # seq2 is the one difflib indexes: set once

    def _compare(self, glue: Text) -> bool:
        """Set up the matcher for ``glue``; False when the texts are equal (similarity 1)."""
        words = glue.words[: len(self.adv.words)] if self.adv.cut else glue.words
        if "".join(words) == self.adv.key:
            return False
        self.matcher.set_seq1(" ".join(words))
        return True

    def bound(self, glue: Text) -> float:
        """An upper bound of :meth:`ratio` from the lengths only."""
        return self.matcher.real_quick_ratio() if self._compare(glue) else 1.0

    def ratio(self, glue: Text) -> float:
        if not self._compare(glue):
            return 1.0
        return self.matcher.ratio() if self.matcher.quick_ratio() > 0 else 0.0


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSONL file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sha256(path: Path) -> str:
    """The file's SHA-256, as hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_line(data: Path, file: str) -> str | None:
    """The ``* source:`` line that ``SOURCES.md`` gives for ``file``, or None."""
    notes = data / "SOURCES.md"
    if not notes.is_file():
        return None
    lines = notes.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip() == f"### `{file}`":
            for follow in lines[i + 1 : i + 6]:
                if follow.startswith("* source:"):
                    return follow[len("* source:") :].strip()
    return None


def best_two(adv: list[Text], candidates: list[tuple[int, list[Text]]]) -> tuple[int | None, float, float]:
    """(position of the best candidate, its score, the runner-up's score); the score is the lowest field ratio."""
    sims = [Similarity(a) for a in adv]
    best_at, best, second = None, 0.0, 0.0
    for at, texts in candidates:
        # Fields cheapest to rule out first; a candidate that cannot reach the runner-up changes nothing.
        if min(s.bound(t) for s, t in zip(sims, texts, strict=True)) <= second:
            continue
        score = 1.0
        for s, t in sorted(zip(sims, texts, strict=True), key=lambda st: len(st[1].words)):
            score = min(score, s.ratio(t))
            if score <= second:
                break
        if score > best:
            best_at, best, second = at, score, best
        elif score > second:
            second = score
    return best_at, best, second


def align(task: Task, adv_rows: list[dict], glue_rows: list[dict]) -> dict[str, dict]:
    """The mapping of one task: ``{adv_idx: entry}`` in AdvGLUE order."""
    glue = [[Text.of(r[f]) for f in task.fields] for r in glue_rows]
    exact: list[dict[str, list[int]]] = [{} for _ in task.fields]  # per field: key -> positions in glue
    for at, texts in enumerate(glue):
        for field, text in enumerate(texts):
            exact[field].setdefault(text.key, []).append(at)
    everything = list(enumerate(glue))
    pairs: dict[str, dict] = {}
    for row in adv_rows:
        adv = [Text.of(row[f]) for f in task.fields]
        kept = [task.fields[i] for i, text in enumerate(adv) if text.key in exact[i]]
        if len(task.fields) > 1 and kept:
            hits = sorted({at for i, text in enumerate(adv) for at in exact[i].get(text.key, [])})
            candidates = [(at, glue[at]) for at in hits]
        else:
            candidates = everything
        at, score, second = best_two(adv, candidates)
        entry: dict = {"glue_idx": None, "score": round(score, DIGITS), "margin": round(score - second, DIGITS)}
        if at is None or score < task.threshold:
            entry["status"] = "unmatched"
        elif score - second < MARGIN:
            entry["status"] = "ambiguous"
        else:
            entry["status"] = "matched"
            original = glue_rows[at]
            entry["glue_idx" if task.complete else "sample_idx"] = int(original["idx"])
            entry["label_agrees"] = int(original["label"]) == int(row["label"])
            if len(task.fields) > 1:
                entry["kept"] = [f for f, a, g in zip(task.fields, adv, glue[at], strict=True) if a.key == g.key]
        pairs[str(int(row["idx"]))] = entry
    return pairs


def counts(pairs: dict[str, dict]) -> dict[str, int]:
    """How many documents each status has, and how many matched ones disagree on the label."""
    statuses = [e["status"] for e in pairs.values()]
    return {
        "documents": len(pairs),
        "matched": statuses.count("matched"),
        "ambiguous": statuses.count("ambiguous"),
        "unmatched": statuses.count("unmatched"),
        "label_disagreements": sum(1 for e in pairs.values() if e.get("label_agrees") is False),
    }


def build(task: Task, data: Path) -> dict:
    """The whole file of one task: header and pairs."""
    adv_file, ref_file = f"{task.name}/validation.jsonl", task.reference
    adv_rows, glue_rows = read_jsonl(data / adv_file), read_jsonl(data / ref_file)
    pairs = align(task, adv_rows, glue_rows)
    header = {
        "format": FORMAT,
        "task": task.name,
        "fields": list(task.fields),
        "adv": {"file": adv_file, "sha256": sha256(data / adv_file), "rows": len(adv_rows),
                "source": source_line(data, adv_file)},
        "reference": {"file": ref_file, "sha256": sha256(data / ref_file), "rows": len(glue_rows),
                      "source": source_line(data, ref_file), "complete": task.complete,
                      "idx": "GLUE validation idx" if task.complete else "row of a sample (not the GLUE idx)"},
        "rule": RULE,
        "counts": counts(pairs),
        "made_by": "scripts/align_advglue.py",
    }
    return {"header": header, "pairs": pairs}


def dumps(doc: dict) -> str:
    """The file's text: the header indented, one line per pair (small and diffable)."""
    header = json.dumps(doc["header"], indent=1, ensure_ascii=False)
    lines = [f" {json.dumps(k)}: {json.dumps(v, separators=(', ', ': '))}" for k, v in doc["pairs"].items()]
    body = ",\n".join(lines)
    return '{\n"header": ' + header + ',\n"pairs": {\n' + body + "\n}\n}\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``<task>.json`` for each task of ``--tasks`` into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the JSONL files (default ../shared/data)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder the <task>.json files go to")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated AdvGLUE tasks (default all)")
    args = parser.parse_args(argv)
    names = [n for n in args.tasks.split(",") if n]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}: expected one of {', '.join(TASKS)}")
    for name in names:
        for file in (f"{name}/validation.jsonl", TASKS[name].reference):
            if not (args.data / file).is_file():
                parser.error(f"--data {args.data} has no {file}: give the folder of the shared JSONL files")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        doc = build(TASKS[name], args.data)
        (args.out / f"{name}.json").write_text(dumps(doc), encoding="utf-8")
        c = doc["header"]["counts"]
        print(f"{name}: {c['documents']} documents, {c['matched']} matched, {c['ambiguous']} ambiguous, "
              f"{c['unmatched']} unmatched, {c['label_disagreements']} label disagreements", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
