"""From a spec (and/or existing lm-eval folders) to the four output files.

1. validate the spec, check that every entry can start (:mod:`.preflight`: model, ``model_args``,
   files; no model is loaded) and expand its suite to leaf tasks (no dataset is built);
2. read every results file under the ``--from`` folders into standings (:mod:`.results`), each
   checked against the shape lm-eval writes, so that a bad file stops the command before an
   hour of runs, not after;
3. plan one unit per (entry, task), run the missing ones (:mod:`.run`) and read their results;
4. rank them (:mod:`.rank`), render ``leaderboard.{json,csv,md}`` and ``index.html``
   (:mod:`.render`) and only then write the four files: an input that fails anywhere leaves the
   folder's previous outputs as they were, never some of them rewritten.

Only the units of the current plan are ranked: results of an earlier plan (another limit, another
prompt file under the same label) stay in the folder but are not shown. Before step 2 the output
folder is checked (:func:`~skillneuron_harness.core.folders.check_output_dir`) and locked
(:class:`~skillneuron_harness.core.locks.FolderLock`) for the whole build: a second build on the
same folder is refused at once, naming the first (``wait=True`` waits for it instead).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from skillneuron_harness.leaderboard.spec import Spec, load_spec


def build_leaderboard(spec: Spec | str | Path | None, out: str | Path, *, from_dirs: list[str | Path] = (),
                      manager=None, progress: Callable[[str], None] | None = None,
                      wait: bool = False) -> dict[str, Path]:
    """Run what is missing and write the outputs; returns {"json", "csv", "md", "html"} -> path."""
    from skillneuron_harness.core.folders import check_output_dir
    from skillneuron_harness.core.locks import FolderLock

    if spec is None and not from_dirs:
        raise ValueError("give a spec file, --from folders, or both.")
    if spec is not None and not isinstance(spec, Spec):
        spec = load_spec(spec)
    out = check_output_dir(out, "--out", what="leaderboard's units and pages")
    if spec is not None:
        from skillneuron_harness.leaderboard.preflight import check_entries

        check_entries(spec, out)  # every entry, before the first unit runs
    with FolderLock(out, "--out", wait=wait) as lock:
        return _build(spec, out, list(from_dirs), manager, progress, lock.holder.started_ts)


def _build(spec: Spec | None, out: Path, from_dirs: list[str | Path], manager, progress,
           since: float) -> dict[str, Path]:
    from skillneuron_harness.core.results import load_results
    from skillneuron_harness.leaderboard.rank import build_table
    from skillneuron_harness.leaderboard.render import write_all
    from skillneuron_harness.leaderboard.results import from_folders, read_cells, standing_of
    from skillneuron_harness.leaderboard.run import run_units
    from skillneuron_harness.leaderboard.suite import expand
    from skillneuron_harness.leaderboard.units import plan

    standings, suite = [], None
    taken = {e.label for e in spec.entries} if spec is not None else set()
    found = from_folders(list(from_dirs), taken=taken) if from_dirs else []
    if spec is not None:
        if manager is None:
            from skillneuron_harness.experiments.runs import task_manager

            manager = task_manager(spec.run.include_path)
        tasks = expand(spec.tasks, manager, spec.source)
        suite = [t.name for t in tasks]
        units = plan(spec.entries, tasks, spec.run.limit)
        done = run_units(spec, units, out, manager, progress, since)
        by_entry = {}
        for unit in units:
            path = done[unit.key]
            data = load_results(path)
            if unit.entry.label not in by_entry:
                standing = standing_of(unit.entry.label, data, "spec")
                standing.card = unit.entry.card()
                if spec.run.include_path:
                    standing.run["include_path"] = list(spec.run.include_path)
                by_entry[unit.entry.label] = standing
            for cell in read_cells(path, data):
                if cell.task == unit.task.name:
                    by_entry[unit.entry.label].cells[cell.task] = cell
        standings = list(by_entry.values())
    standings += found
    doc = build_table(standings, suite, title=spec.title if spec else "Robustness leaderboard",
                      spec=spec.source if spec else None, bootstrap_iters=spec.run.bootstrap_iters if spec else None)
    return write_all(doc, out)
