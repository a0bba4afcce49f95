"""A perturbation: a checked list of steps, a seed and the protected words, applied to one field of one document.

Each step draws from its own ``random.Random``, seeded by the first 8 bytes of the BLAKE2b hash of
``[seed, doc_id, field, step index]`` as JSON: the output depends on nothing else (not the order of
the calls, ``--limit``, the batch size, the number of processes, ``PYTHONHASHSEED`` or the machine).
``doc_id`` may be an int or a string; ``17`` and ``"17"`` are different documents.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from skillneuron_harness.perturbations.base import (
    KINDS,
    ParameterError,
    PerturbationError,
    Protection,
    Step,
    protected_pattern,
)


@functools.lru_cache(maxsize=4096)
def _json(value: int | str) -> str:
    return json.dumps(value, ensure_ascii=True)


def step_rng(seed: int, doc_id: int | str, field: str, index: int) -> random.Random:
    """The random stream of step ``index`` on ``field`` of document ``doc_id``."""
    # The compact JSON of [seed, doc_id, field, index], written out (json.dumps of the list is 3x slower).
    doc = str(doc_id) if type(doc_id) is int else _json(doc_id)
    key = f"[{seed},{doc},{_json(field)},{index}]".encode("ascii")
    return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))


def _kind(index: int, step: Any) -> type[Step]:
    where = f"steps[{index}]"
    if not isinstance(step, Mapping) or "kind" not in step:
        raise PerturbationError(f"{where}={step!r} is not a mapping with a 'kind'; "
                                f"write e.g. {{kind: keyboard_typo, rate: 0.05}} (kinds: {', '.join(KINDS)})")
    name = step["kind"]
    if name not in KINDS:
        close = difflib.get_close_matches(str(name), list(KINDS), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}? " if close else ""
        raise PerturbationError(f"{where}: unknown kind {name!r}; {hint}known kinds: {', '.join(KINDS)}")
    return KINDS[name]


def build_step(index: int, step: Any) -> Step:
    """The checked :class:`Step` of ``steps[index]`` (a mapping: ``kind`` and its parameters)."""
    cls = _kind(index, step)
    where = f"steps[{index}] ({cls.kind})"
    known = [f.name for f in dataclasses.fields(cls)]
    params = {k: v for k, v in step.items() if k != "kind"}
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}? " if close else ""
            raise PerturbationError(f"{where}: unknown parameter {key!r}; {hint}"
                                    f"{cls.kind} takes {', '.join(known) or 'no parameters'}")
    try:
        return cls(**params)
    except ParameterError as e:
        raise PerturbationError(f"{where}: {e.problem}") from None


def _protected(protected: Any) -> tuple[str, ...]:
    if isinstance(protected, str) or not isinstance(protected, Iterable):
        raise PerturbationError(f"protected={protected!r} is not a list of words; "
                                f"give e.g. protected=('positive', 'negative'), or () for none")
    words = tuple(protected)
    for w in words:
        if not isinstance(w, str) or not w.strip():
            raise PerturbationError(f"protected word {w!r} is not a non-empty string; give words such as 'positive'")
    return words


class Perturbation:
    """Seeded steps applied in order to one text; build it with :meth:`from_spec`."""

    def __init__(self, steps: Sequence[Step], seed: int, protected: Sequence[str] = ()):
        self.steps, self.seed, self.protected = tuple(steps), seed, tuple(protected)
        self._pattern = protected_pattern(self.protected)

    @classmethod
    def from_spec(cls, steps: Sequence[Mapping[str, Any]], seed: int = 0,
                  protected: Iterable[str] = ()) -> Perturbation:
        """Check a spec (``[{"kind": ..., param: value}, ...]``) and build it; PerturbationError if it is bad."""
        if isinstance(steps, (str, Mapping)) or not isinstance(steps, Sequence):
            raise PerturbationError(f"steps={steps!r} is not a list of steps; give e.g. "
                                    f"[{{'kind': 'keyboard_typo', 'rate': 0.05}}]")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise PerturbationError(f"seed={seed!r} is not a whole number; give e.g. seed=1234")
        return cls([build_step(i, s) for i, s in enumerate(steps)], seed, _protected(protected))

    def apply(self, text: str, doc_id: int | str, field: str) -> tuple[str, bool]:
        """The perturbed ``text`` and whether it differs from ``text``."""
        if not isinstance(text, str):
            raise PerturbationError(f"field {field!r} of document {doc_id!r} is a {type(text).__name__}, not text; "
                                    f"perturb only text fields")
        if isinstance(doc_id, bool) or not isinstance(doc_id, (int, str)):
            raise PerturbationError(f"doc_id={doc_id!r} is not an int or a string; pass the document's index")
        out = text
        for index, step in enumerate(self.steps):
            out = step.edit(out, step_rng(self.seed, doc_id, field, index), Protection(out, self._pattern))
        return out, out != text

    def describe(self) -> dict[str, Any]:
        """The normalised spec, JSON-able: every parameter with its default filled in."""
        return {"seed": self.seed, "protected": list(self.protected),
                "steps": [{"kind": s.kind, **s.params()} for s in self.steps]}

    def __repr__(self) -> str:
        return f"Perturbation({self.describe()!r})"
