"""``skillneuron replicate``: Ackermann & Ohmer's protocol from a checkout of their released prompts.

    skillneuron replicate --release continuous_prompts --models roberta-base t5-base \\
        --seeds 33 34 35 36 --out rep [--limit N] [--dry-run] [--model-path roberta-base=/local/dir] [--shard K/N]

For every model kind and released prompt ``seed_<S>/<Task>Prompt<Model>/`` found, it runs through
lm-eval (``prompt_tuned``), on the task variants rendered as the prompts were trained
(``task_configs/released/``; Su et al.'s ``seed_su`` MNLI prompts: 3-class MNLI): (1) the prompt
on its own clean task and AdvGLUE twin, for MNLI matched and mismatched, with ``skill_neurons=``
on (accuracy, skill neurons per prompt, clean-vs-adversarial consistency);
(2) the prompt on the other tasks of its type (the within-type transfer matrix); (3) per task,
``skillneuron average`` of the neuron scores over seeds; (4) per task, suppression curves of the
clean skill neurons against random ones on the clean and adversarial data; then (5)
``skillneuron report`` over all of it (accuracy, transfer, skill neurons, consistency, robustness
vs consistency, suppression). Each unit writes a ``done.json`` (atomically) when it finishes, so a
rerun skips finished (model, prompt, task) units and resumes where it stopped; one progress line
per unit. Every run, dry or not, first checks the options (``--percents``, ``--top``, ``--limit``, ...)
and reads every prompt file of the plan (:mod:`~skillneuron_harness.experiments.plan_checks`), and
stops with one line per problem before any unit runs; a ``--release`` in which no prompt of the
plan is found is an error. ``--dry-run`` then prints the plan and its size and runs nothing. ``--shard K/N`` splits the
units between N processes (one per GPU), largest first to the least-loaded shard (:func:`assign_shards`,
by documents to score); an average or suppression unit whose seeds' own-task units belong to other
shards waits for a second run of the shard, and the run that finds every unit done writes the report.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from skillneuron_harness.core.constants import DEFAULT_TOP, PERCENTS
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.logs import host_logs, setup_logging
from skillneuron_harness.core.results import parse_limit, task_results
from skillneuron_harness.experiments.plan_checks import (
    baseline_limit_problems,
    fraction_problems,
    limit_problems,
    percent_problems,
    prompt_problems,
)
from skillneuron_harness.experiments.runs import PromptSpec, add_run_arguments
from skillneuron_harness.experiments.units import MarkedUnit, run_plan
from skillneuron_harness.prompts.release import BASE_MODELS, TASK_TYPES, VARIANTS, variant

# --models names -> the model part of the release's folder names (base model and kind: prompts.release)
MODELS = {"roberta-base": "Roberta", "roberta-large": "RobertaLarge", "t5-base": "T5", "t5-small": "T5Small",
          "t5-xxl": "T5XXL", "bert-base-uncased": "Bert"}
TASKS = ("SST2", "IMDB", "MNLI", "QNLI", "QQP", "MRPC")
FILE_NAMES = ("task_prompt", "latest.pt")  # then the newest <epoch>_task_prompt.pkl
# Documents of the full split each released-format task reads (model suffix dropped), for the size of a plan.
# GLUE and IMDB: the datasets' published split sizes; binary MNLI less its neutral pairs (validation_matched
# 9,815 - 3,123, validation_mismatched 9,832 - 3,129); AdvGLUE dev: the whole sets (binary: less neutral).
DOCUMENTS = {"sn_pt_sst2": 872, "sn_pt_adv_sst2": 148, "sn_pt_imdb": 25000, "sn_pt_qnli": 5463, "sn_pt_adv_qnli": 148,
             "sn_pt_qqp": 40430, "sn_pt_adv_qqp": 78, "sn_pt_mrpc": 408,
             "sn_pt_mnli_binary": 6692, "sn_pt_adv_mnli_binary": 82, "sn_pt_mnli_mm_binary": 6703,
             "sn_pt_adv_mnli_mm_binary": 117, "sn_pt_mnli": 9815, "sn_pt_adv_mnli": 121, "sn_pt_mnli_mm": 9832,
             "sn_pt_adv_mnli_mm": 162}
# Training documents the baseline pass can read (binary MNLI: 392,702 less 130,900 neutral).
TRAINING_DOCUMENTS = {"sn_pt_sst2": 67349, "sn_pt_imdb": 25000, "sn_pt_qnli": 104743, "sn_pt_qqp": 363846,
                      "sn_pt_mrpc": 3668, "sn_pt_mnli_binary": 261802, "sn_pt_mnli": 392702}


@dataclass(kw_only=True)
class ReplicateUnit(MarkedUnit):
    """One piece of the protocol, on ``tasks`` of ``model``; done when its ``done.json`` exists."""

    kind: ClassVar[str]
    model: str
    label: str  # prompt label (eval, transfer) or task (average, suppression)
    tasks: list[str]

    def describe(self) -> str:
        return f"{self.kind:<11} {self.model:<14} {self.label:<28} {', '.join(self.tasks)}"


@dataclass(kw_only=True)
class EvalUnit(ReplicateUnit):
    """A prompt on its own clean and adversarial tasks, with ``skill_neurons=`` writing into ``neurons``."""

    kind: ClassVar[str] = "eval"
    prompt: PromptSpec
    neurons: Path


@dataclass(kw_only=True)
class TransferUnit(ReplicateUnit):
    """A prompt on another task of its type."""

    kind: ClassVar[str] = "transfer"
    prompt: PromptSpec


@dataclass(kw_only=True)
class AverageUnit(ReplicateUnit):
    """``skillneuron average`` of a task's neuron files over the seeds' ``dirs``."""

    kind: ClassVar[str] = "average"
    dirs: list[Path]


@dataclass(kw_only=True)
class SuppressionUnit(ReplicateUnit):
    """Suppression curves of each prompt's clean skill neurons (in ``dirs``) against random ones."""

    kind: ClassVar[str] = "suppression"
    prompts: list[PromptSpec]
    dirs: list[Path]


def find_prompt(folder: Path) -> Path | None:
    """The prompt file of a release folder: task_prompt, latest.pt, else the last epoch's checkpoint."""
    for name in FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    checkpoints = sorted(folder.glob("*_task_prompt.pkl"), key=lambda p: int(p.name.split("_")[0])
                         if p.name.split("_")[0].isdigit() else -1)
    return checkpoints[-1] if checkpoints else None


def plan(release: Path, models: list[str], seeds: list[str], tasks: list[str], out: Path,
         percents=PERCENTS) -> tuple[list[ReplicateUnit], list[str]]:
    """The units of the protocol, and notes on what the release lacks."""
    units, notes = [], []
    for model in models:
        part = MODELS[model]
        kind = BASE_MODELS[part][0]
        if not any(k == kind for _, k in VARIANTS):
            notes.append(f"{model}: no task variants for this model kind; skipped")
            continue
        # (task, its variant) -> prompts: Su et al.'s seed_su MNLI (3-class) is averaged apart from the binary seeds
        found: dict[tuple, list[PromptSpec]] = {}
        own_markers: dict[str, Path] = {}  # prompt label -> its own-task unit's marker (its neuron files)
        for task in tasks:
            for seed in seeds:
                folder = release / f"seed_{seed}" / f"{task}Prompt{part}"
                file = find_prompt(folder)
                if file is None:
                    notes.append(f"{model}: no prompt in {folder}")
                    continue
                trained = variant(task, kind, seed)
                spec = PromptSpec(str(file), f"seed_{seed}_{task}Prompt{part}", task=trained.clean, seed=seed)
                found.setdefault((task, trained), []).append(spec)
                base = out / "runs" / model / spec.label
                # clean, adversarial, then MNLI's mismatched pair (metadata.split_of: the same prompt's own task)
                units.append(EvalUnit(model=model, label=spec.label, tasks=list(trained.names),
                                      marker=base / "own" / "done.json", prompt=spec,
                                      neurons=out / "neurons" / model / spec.label))
                own_markers[spec.label] = units[-1].marker
                for target in tasks:
                    if target != task and TASK_TYPES[target] == TASK_TYPES[task]:
                        name = variant(target, kind, seed).clean
                        units.append(TransferUnit(model=model, label=spec.label, tasks=[name],
                                                  marker=base / name / "done.json", prompt=spec))
        for (task, trained), specs in found.items():
            clean, adv = trained.clean, trained.adv
            dirs = [out / "neurons" / model / s.label for s in specs]
            after = [own_markers[s.label] for s in specs]
            units.append(AverageUnit(model=model, label=task, tasks=[clean],
                                     marker=out / "average" / model / clean / "done.json", dirs=dirs, after=after))
            if percents:
                folder = task if trained is VARIANTS[task, kind] else clean  # seed_su MNLI: a folder of its own
                units.append(SuppressionUnit(model=model, label=task, tasks=[clean] + ([adv] if adv else []),
                                             marker=out / "curves" / model / folder / "done.json", prompts=specs,
                                             dirs=dirs, after=after))
    return units, notes


def split_name(task: str) -> str:
    """``sn_pt_qqp_roberta`` -> ``sn_pt_qqp``: the key of :data:`DOCUMENTS`."""
    return task.rsplit("_", 1)[0]


def work_items(units: list[ReplicateUnit], limit: float | None, baseline_limit: int | None, percents) -> list[tuple]:
    """(documents, task, "eval" | "baseline", unit kind) of every scoring pass of ``units`` at full size.

    ``limit`` caps each evaluation as ``--limit`` does (a fraction: that share of the split);
    ``baseline_limit`` caps each baseline pass (None: the whole training split).
    """
    def capped(n: int) -> int:
        if limit is None:
            return n
        return min(n, int(limit)) if limit >= 1 else int(n * limit)

    items = []
    for unit in units:
        repeats = len(unit.prompts) * max(1, 2 * len(percents) - 1) if unit.kind == "suppression" else 1
        if unit.kind in ("eval", "transfer", "suppression"):
            items += [(capped(DOCUMENTS[split_name(t)]) * repeats, t, "eval", unit.kind) for t in unit.tasks]
        if unit.kind == "eval":
            train = TRAINING_DOCUMENTS[split_name(unit.tasks[0])]
            items.append((train if baseline_limit is None else min(train, baseline_limit), unit.tasks[0],
                          "baseline", "baseline"))
    return items


def assign_shards(units: list[ReplicateUnit], shards: int, items_of) -> list[int]:
    """The shard of each unit: the largest units first, each to the shard with the least work so far.

    ``items_of(unit)`` gives the unit's :func:`work_items`. The assignment depends only on the plan, so
    every process of a sharded run, given the same arguments, computes the same one.
    """
    size = [sum(n for n, *_ in items_of(u)) for u in units]
    load, shard_of = [0] * shards, [0] * len(units)
    for i in sorted(range(len(units)), key=lambda i: (-size[i], i)):
        shard_of[i] = min(range(shards), key=lambda k: (load[k], k))
        load[shard_of[i]] += size[i]
    return shard_of


def run_unit(unit: ReplicateUnit, path: str, args, manager) -> dict:
    """Run one unit; returns what goes into its marker."""
    from skillneuron_harness.experiments.runs import evaluate, load_model, write_manifest

    sn = {"sn_baseline_limit": args.sn_baseline_limit}  # all: the papers' whole training split
    if unit.kind in ("eval", "transfer"):
        model_args = {}
        if unit.kind == "eval":
            model_args = {"skill_neurons": str(unit.neurons), **sn}
        lm = load_model(path, unit.prompt, device=args.device, batch_size=args.batch_size, dtype=args.dtype,
                        **model_args)
        write_manifest(unit.marker.parent, [unit.prompt])
        results = evaluate(lm, unit.tasks, model=path, prompt=unit.prompt, out_dir=unit.marker.parent,
                           limit=args.limit, task_manager=manager, extra_model_args=model_args)
        accs = {row.task: row.acc for row in task_results(results, unit.describe())}  # the shape checked
        missing = [task for task in unit.tasks if task not in accs]
        if missing:  # not marked done: a rerun tries again
            raise SkillNeuronError(f"skillneuron replicate: {unit.describe()}: lm-eval returned no accuracy for "
                                   f"{', '.join(missing)}; see its log above.")
        return {task: accs[task] for task in unit.tasks}
    if unit.kind == "average":
        from skillneuron_harness.neurons.average import main as average

        dirs = [d for d in unit.dirs if (d / f"{unit.tasks[0]}.safetensors").is_file()]
        if average([*map(str, dirs), "--task", unit.tasks[0], "--output", str(unit.marker.parent)]) != 0:
            # (its reason is printed above) not marked done: a rerun tries again
            raise SkillNeuronError(f"skillneuron replicate: averaging {unit.tasks[0]} over {len(dirs)} prompts "
                                   "failed; see the line above.")
        return {"prompts": len(dirs)}
    from skillneuron_harness.experiments.suppression_curve import run_curve

    records = run_curve(path, unit.prompts, unit.tasks, unit.dirs, unit.marker.parent,
                        percents=args.percents, limit=args.limit, batch_size=args.batch_size, device=args.device,
                        manager=manager, dtype=args.dtype)
    return {"evaluations": len(records)}


def own_output(out: Path, shard: tuple[int, int] | None, wait: bool = False):
    """Check ``--out`` and lock it for this run: a :class:`~skillneuron_harness.core.locks.FolderLock` to release.

    An unsharded run takes ``--out``'s lock and refuses while any shard runs; shard K takes a lock of
    its own (``shard-K``: the shards of one run share the folder) and refuses while an unsharded run
    or another shard K holds it. The refusal names the holder (pid, host, start time, command).
    """
    from skillneuron_harness.core.folders import check_output_dir
    from skillneuron_harness.core.locks import FolderLock, refuse_if_held

    out = check_output_dir(out, "--out", what="replication's runs and report")
    lock = FolderLock(out, "--out", wait=wait, name=f"shard-{shard[0]}" if shard else "").acquire()
    try:
        if shard:
            refuse_if_held(out, "--out")
        else:
            for path in sorted(out.glob(".skillneuron.shard-*.lock")):
                refuse_if_held(out, "--out", path.name.removeprefix(".skillneuron.").removesuffix(".lock"))
    except BaseException:
        lock.release()
        raise
    return lock


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` -> (K, N) with 0 <= K < N."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        raise argparse.ArgumentTypeError(f"--shard {text}: expected K/N with 0 <= K < N, e.g. --shard 0/4")
    return int(k), int(n)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="skillneuron replicate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--release", required=True, type=Path, help="the release's continuous_prompts/ folder")
    p.add_argument("--models", nargs="+", default=["roberta-base", "t5-base"], choices=sorted(MODELS))
    p.add_argument("--seeds", nargs="+", default=["33", "34", "35", "36"], help="seed_<S> folders (su: Su et al.)")
    p.add_argument("--tasks", nargs="+", default=["SST2", "IMDB", "MNLI", "QNLI", "QQP"], choices=TASKS)
    p.add_argument("--out", "--output", required=True, type=Path, help="output folder")
    p.add_argument("--model-path", action="append", default=[], metavar="NAME=PATH",
                   help="load a --models name from a local folder or another Hub id")
    p.add_argument("--percents", nargs="*", type=float, default=list(PERCENTS),
                   help="suppression: n%% of each layer's neurons (none: no suppression curves)")
    p.add_argument("--sn-baseline-limit", default="all",
                   help="training documents for the baselines: all (the papers' setting) or a number")
    p.add_argument("--top", type=float, default=DEFAULT_TOP, help="report: skill neurons per layer (fraction)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the options and prompt files, print the plan and its size, run nothing")
    p.add_argument("--wait", action="store_true",
                   help="when another run (or the same shard) is writing into --out, wait for it instead of refusing")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="K/N",
                   help="run shard K of N (one process per GPU, every other argument the same): units are shared "
                        "out by size; units that read other shards' outputs wait for the next run")
    add_run_arguments(p)
    return p


def option_problems(args) -> list[str]:
    """What is wrong with the numeric options (one line each), before anything is planned or run."""
    problems = [*percent_problems(args.percents), *fraction_problems(args.top, "--top"), *limit_problems(args.limit),
                *baseline_limit_problems(args.sn_baseline_limit)]
    size = str(args.batch_size)
    if not ((size.isdigit() and int(size) > 0) or size == "auto" or size.startswith("auto:")):
        problems.append(f"--batch-size {size}: a positive whole number or auto, e.g. --batch-size 8.")
    return problems


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron replicate``."""
    args = build_parser().parse_args(argv)
    setup_logging()
    world = os.environ.get("WORLD_SIZE", "1")
    if world.isdigit() and int(world) > 1 and not args.dry_run:
        # every process would run every unit (lm-eval's data parallelism splits one evaluation, not a plan)
        raise SystemExit(f"skillneuron replicate: started as one of {world} processes (accelerate launch / torchrun); "
                         "run one plain process per GPU with --shard K/N instead (README, 'Replicate the paper').")
    paths = {name: BASE_MODELS[part][1] for name, part in MODELS.items()}
    for item in args.model_path:
        name, sep, path = item.partition("=")
        if not sep or name not in MODELS:
            raise SystemExit(f"skillneuron replicate: --model-path {item}: expected NAME=PATH with NAME one of "
                             f"{', '.join(sorted(MODELS))}.")
        paths[name] = path
    if not args.release.is_dir():
        raise SystemExit(f"skillneuron replicate: --release {args.release}: no such folder (the release's "
                         "continuous_prompts/).")
    problems = option_problems(args)
    units, notes = plan(args.release, args.models, [str(s).removeprefix("seed_") for s in args.seeds], args.tasks,
                        args.out, tuple(p for p in args.percents if math.isfinite(p)))
    if not units:
        problems.append(f"--release {args.release}: no released prompt for --models {' '.join(args.models)}, --seeds "
                        f"{' '.join(map(str, args.seeds))}, --tasks {' '.join(args.tasks)} (expected seed_<S>/"
                        "<Task>Prompt<Model>/task_prompt, e.g. seed_33/SST2PromptRoberta/task_prompt); check the "
                        "folder and the flags.")
    problems += prompt_problems([u.prompt.path for u in units if u.kind == "eval"],
                                {u.prompt.path: paths[u.model] for u in units if u.kind == "eval"})
    if problems:  # every one of them, before any unit runs (and in a dry run)
        for problem in problems:
            print(f"skillneuron replicate: {problem}", file=sys.stderr)
        return 2
    todo = [u for u in units if not u.done]
    counts = {k: sum(u.kind == k for u in units) for k in ("eval", "transfer", "average", "suppression")}
    evaluations = sum(len(u.tasks) for u in units if u.kind in ("eval", "transfer")) + sum(
        len(u.prompts) * len(u.tasks) * max(1, 2 * len(args.percents) - 1) for u in units
        if u.kind == "suppression")
    from skillneuron_harness.neurons.recorder import parse_baseline_limit

    baseline_limit = parse_baseline_limit(args.sn_baseline_limit)
    items = work_items(units, args.limit, baseline_limit, args.percents)
    print(f"skillneuron replicate: {len(units)} units ({', '.join(f'{v} {k}' for k, v in counts.items())}), "
          f"{len(units) - len(todo)} already done; {evaluations} task evaluations"
          + (f" of at most {args.limit:g} documents each" if args.limit else ""))
    print(f"  size: {sum(n for n, *_ in items):,} documents to score "
          f"({sum(n for n, _, what, _ in items if what == 'baseline'):,} in baseline passes); seconds per "
          "document times this is the run's cost (bench/replicate_cost.py measures them)")
    for note in notes:
        print(f"  note: {note}")
    shard, shards = args.shard or (0, 1)
    shard_of = assign_shards(units, shards, lambda u: work_items([u], args.limit, baseline_limit, args.percents))
    if args.shard:
        mine = [n for u, k in zip(units, shard_of, strict=True) if k == shard
                for n, *_ in work_items([u], args.limit, baseline_limit, args.percents)]
        print(f"  shard {shard}/{shards}: {shard_of.count(shard)} units, {sum(mine):,} documents")
    if args.dry_run:
        for i, unit in enumerate(units):
            if shard_of[i] == shard:
                print(f"  {'done' if unit.done else 'todo'}  {unit.describe()}")
        return 0
    args.limit = parse_limit(args.limit)
    args.batch_size = int(args.batch_size) if str(args.batch_size).isdigit() else args.batch_size
    lock = own_output(args.out, args.shard, args.wait)
    try:
        return _run(args, units, shard_of, paths)
    finally:
        lock.release()


def _run(args, units: list[ReplicateUnit], shard_of: list[int], paths: dict[str, str]) -> int:
    """The units of this shard that are not done, then the report if every unit is."""
    from skillneuron_harness.experiments.runs import task_manager

    shard, shards = args.shard or (0, 1)
    manager = None  # built at the first unit to run: indexing lm-eval's tasks takes seconds, a resume may need none
    theirs = {u.key for u, k in zip(units, shard_of, strict=True) if k != shard}  # other shards' units

    def run(unit: ReplicateUnit) -> str:
        nonlocal manager
        start = time.perf_counter()
        if unit.kind != "average":  # averaging reads files only
            manager = manager or task_manager(args.include_path)
        with host_logs(args.verbose):
            record = run_unit(unit, paths[unit.model], args, manager)
        unit.mark_done({"unit": unit.describe(), "seconds": time.perf_counter() - start, **record})
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        return f"{shown} ({time.perf_counter() - start:.1f} s)"

    def waits(unit: ReplicateUnit) -> str | None:  # only when sharded: the plan lists a unit after those it reads
        return f"waits for {unit.missing} own-task unit(s) of other shards" if unit.missing else None

    outcome = run_plan(units, run, finished=lambda unit: "done earlier" if unit.done else None, waits=waits,
                       skip=lambda unit: unit.key in theirs,
                       progress=lambda line: print(line, flush=True))
    waiting = outcome.waiting
    if waiting or not all(u.done for u in units):
        print(f"skillneuron replicate: shard {shard}/{shards} done"
              + (f"; {len(waiting)} of its units wait for other shards: run this command again once they have "
                 "finished" if waiting else "")
              + ". The report is written by the run that finds every unit done.")
        return 0
    from skillneuron_harness.report.render import build_report

    roots = [d for d in (args.out / "runs", args.out / "neurons", args.out / "average", args.out / "curves")
             if d.is_dir()]
    report = build_report(roots, args.out / "report", top=args.top)
    print(f"skillneuron replicate: report in {report}")
    return 0
