"""The one loop over a resumable plan: finished units are skipped, waiting ones wait, a failure keeps the rest."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from skillneuron_harness.experiments.units import MarkedUnit, run_plan


@dataclass(kw_only=True)
class Step(MarkedUnit):
    name: str

    def describe(self) -> str:
        return self.name


def _plan(tmp_path):
    a = Step(name="a", marker=tmp_path / "a" / "done.json")
    b = Step(name="b", marker=tmp_path / "b" / "done.json", after=[a.marker])
    c = Step(name="c", marker=tmp_path / "c" / "done.json", after=[tmp_path / "elsewhere" / "done.json"])
    return [a, b, c]


def _run(units, lines, ran, fail=None):
    def run(unit):
        if unit.name == fail:
            raise RuntimeError(unit.name)
        ran.append(unit.name)
        unit.mark_done({"unit": unit.name})
        return "ran"

    def waits(unit):
        return f"waits for {unit.missing}" if unit.missing else None

    return run_plan(units, run, finished=lambda u: "done earlier" if u.done else None, waits=waits,
                    progress=lines.append)


def test_a_plan_runs_in_order_and_resumes(tmp_path):
    units, lines, ran = _plan(tmp_path), [], []
    outcome = _run(units, lines, ran)
    assert ran == ["a", "b"]  # b's input was written by a before b came up; c's never is
    assert lines == ["[1/3] a: ran", "[2/3] b: ran", "[3/3] c: waits for 1"]
    assert [u.name for u in outcome.waiting] == ["c"]
    assert (tmp_path / "a" / "done.json").read_text().strip().startswith("{")

    lines, ran = [], []
    outcome = _run(_plan(tmp_path), lines, ran)
    assert ran == [] and lines[:2] == ["[1/3] a: done earlier", "[2/3] b: done earlier"]
    assert [u.name for u in outcome.earlier] == ["a", "b"]


def test_a_failed_unit_keeps_the_finished_ones_and_is_not_marked(tmp_path):
    units, lines, ran = _plan(tmp_path), [], []
    with pytest.raises(RuntimeError, match="b"):
        _run(units, lines, ran, fail="b")
    assert units[0].done and not units[1].done
    lines, ran = [], []
    _run(_plan(tmp_path), lines, ran)
    assert ran == ["b"] and lines[0] == "[1/3] a: done earlier"


def test_skipped_units_leave_no_line(tmp_path):
    units, lines = _plan(tmp_path), []
    run_plan(units, lambda u: "ran", finished=lambda u: None, skip=lambda u: u.name != "b", progress=lines.append)
    assert lines == ["[2/3] b: ran"]
