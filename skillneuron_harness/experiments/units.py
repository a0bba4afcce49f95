"""Resumable plans: a long run as units that are each done or not, run in order, one progress line per unit.

``skillneuron replicate`` and ``skillneuron leaderboard`` are both plans of this kind. A
:class:`Unit` knows its :attr:`~Unit.key` (what makes two units the same work), how it
:meth:`~Unit.describe`\\ s itself in a progress line, and the keys of the units whose outputs it
reads (:attr:`~Unit.after`). How a finished unit is found differs: a replicate unit is done when
its marker file exists (:class:`MarkedUnit`, written atomically when it finishes); a leaderboard
unit when a stored results file carries its identity (``leaderboard/units.py``). :func:`run_plan`
is the one loop over a plan: finished units are reported and skipped, units whose inputs are not
there yet wait (a sharded run's second round), the rest run one after another. Stopping at any
point keeps every finished unit; the same command continues with the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from skillneuron_harness.core.atomic import write_json


@dataclass(kw_only=True)
class Unit:
    """One piece of a plan. Subclasses give :attr:`key` and :meth:`describe`."""

    after: list = field(default_factory=list)  # keys of the units whose outputs this one reads

    @property
    def key(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(kw_only=True)
class MarkedUnit(Unit):
    """A unit that is done once its ``marker`` exists; :attr:`after` holds the markers of its inputs."""

    marker: Path
    after: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.marker)

    @property
    def done(self) -> bool:
        return self.marker.is_file()

    @property
    def missing(self) -> int:
        """How many of the units this one reads have not finished."""
        return sum(not marker.is_file() for marker in self.after)

    def mark_done(self, record: dict) -> None:
        """Write the marker atomically (a half-written marker would skip an unfinished unit)."""
        write_json(self.marker, record, default=str)


U = TypeVar("U", bound=Unit)


@dataclass
class PlanRun:
    """What :func:`run_plan` did: the units that ran, were finished before, and wait for others."""

    ran: list = field(default_factory=list)
    earlier: list = field(default_factory=list)
    waiting: list = field(default_factory=list)


def run_plan(units: Sequence[U], run: Callable[[U], str], *, finished: Callable[[U], str | None],
             waits: Callable[[U], str | None] = lambda unit: None, skip: Callable[[U], bool] = lambda unit: False,
             progress: Callable[[str], None] | None = None) -> PlanRun:
    """Run every unit of ``units`` that is not finished, in order, with one progress line per unit.

    Each line starts ``[i/N] <describe>:``. ``finished(unit)``: the rest of the line for a unit
    found done (then it is not run), else None. ``waits(unit)``: the rest of the line for a unit
    whose inputs are missing (it waits for a later run), else None. ``run(unit)`` does the work and
    returns the rest of its line. ``skip(unit)``: units of another shard, left out silently. An
    exception from ``run`` propagates: the units finished before it stay finished.
    """
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    outcome = PlanRun()
    width = len(str(len(units)))
    for i, unit in enumerate(units, 1):
        if skip(unit):
            continue
        head = f"[{i:>{width}}/{len(units)}] {unit.describe()}:"
        line = finished(unit)
        if line is not None:
            outcome.earlier.append(unit)
        elif (line := waits(unit)) is not None:
            outcome.waiting.append(unit)
        else:
            line = run(unit)
            outcome.ran.append(unit)
        progress(f"{head} {line}")
    return outcome
