"""The suite: the spec's task and group names expanded to the leaf tasks that are units.

A unit is one entry on one leaf task (lm-eval reports groups as means of their leaves, so the
leaves are what is run and stored). Groups are expanded through their ``task:`` lists and tags
through their members, from lm-eval's task index, without building any dataset. Each leaf
carries what the leaderboard needs before running: its version (part of a unit's identity) and
its clean twin (``metadata.clean_twin``: the task is adversarial; a perturbed twin's YAML names it
as ``perturbation.of``) and whether it is *paired* (a perturbation twin or an attack set: evaluated
together with its clean twin, so that lm-eval's results hold the paired metrics, flip rate and
worst-case accuracy).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from skillneuron_harness.leaderboard.spec import SpecError


@dataclass(frozen=True)
class SuiteTask:
    """One leaf task of the suite."""

    name: str
    version: str | None  # metadata.version, as a string ("1.0")
    clean_twin: str | None = None
    paired: bool = False  # a perturbation twin or an attack set (metadata.perturbation / metadata.attack)


def _version(cfg: dict) -> str | None:
    version = (cfg.get("metadata") or {}).get("version", cfg.get("version"))
    return None if version is None else str(version)


def expand(names: list[str], manager, source: str = "<spec>") -> list[SuiteTask]:
    """The leaf tasks of ``names`` in order, each once (a SpecError names any unknown name)."""
    from skillneuron_harness.host.compat import task_index

    index = task_index(manager)  # name -> Entry(kind, yaml_path, cfg, tags)
    out: dict[str, SuiteTask] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        entry = index.get(name)
        if entry is None:
            close = difflib.get_close_matches(name, list(index), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            where = f" (in group {' > '.join(trail)})" if trail else ""
            raise SpecError(f"{source}: tasks: unknown task or group '{name}'{where}.{hint} Add the folder of your "
                            "own task YAMLs under run.include_path.")
        kind = getattr(entry.kind, "name", str(entry.kind))  # lm-eval's Kind enum: TASK, PY_TASK, GROUP, TAG
        if kind == "TAG":
            for member in sorted(entry.tags):
                visit(member, (*trail, name))
        elif kind == "GROUP":
            for item in (entry.cfg or {}).get("task") or []:
                member = item.get("task") if isinstance(item, dict) else item
                if not isinstance(member, str) or member not in index:
                    raise SpecError(f"{source}: tasks: group '{name}' defines a task inline ({item!r}); list its "
                                    "tasks by name instead, or give the task its own YAML.")
                visit(member, (*trail, name))
        elif name not in out:
            cfg = entry.cfg or {}
            meta = cfg.get("metadata") or {}
            perturbation = cfg.get("perturbation") or meta.get("perturbation")
            of = perturbation.get("of") if isinstance(perturbation, dict) else None
            out[name] = SuiteTask(name=name, version=_version(cfg), clean_twin=meta.get("clean_twin") or of,
                                  paired=isinstance(perturbation, dict) or isinstance(meta.get("attack"), dict))

    for name in names:
        visit(name, ())
    return list(out.values())
