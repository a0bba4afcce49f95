"""lm-eval results JSONs read into leaderboard rows: one :class:`Standing` per entry, one :class:`Cell` per task.

Results come from the units of the spec (``DIR/runs``) or from existing lm-eval output folders
(``--from``: every ``results_*.json`` under them). A ``--from`` folder's results are grouped into
entries by exact model, prompt hash and ``model_args`` (output folders aside); its label is the
prompt's label (or the model's, for a run without a prompt) from the labelling rule shared with
``skillneuron report``. Runs with suppressed neurons are not standings and are skipped. Each cell
keeps where it came from (file, task version, limit, package versions) for the provenance columns.

Every file is checked against the shape lm-eval writes (:mod:`skillneuron_harness.core.results_check`)
before any standing is built: a file that is not an lm-eval results file at all (not JSON, a list,
no ``results`` object) is skipped with a warning naming it and why; an lm-eval results file with a
value no run writes (an accuracy of 7.5 or NaN, a string document count, an integer prompt hash)
is refused with :class:`FromFolderError`, which names every such file, because skipping it would
change the board.

A ``--from`` path may also be a ``leaderboard.json`` built elsewhere (:func:`from_board`): its
entries come back as standings with every cell as that board ranked it (accuracy, stderr,
documents, versions, provenance, paired metrics, consistency), so that boards built on several
machines merge into one. Entries are matched as ``--from`` folders' runs are: same weights, prompt
hash and ``model_args``; a later source's cell of the same task replaces an earlier one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.results import (
    ResultsFileError,
    format_model_args,
    load_results,
    parse_model_args,
    suppression_of,
    task_results,
)
from skillneuron_harness.leaderboard.units import SECTION, canonical_args
from skillneuron_harness.report.labels import model_arg, model_label, model_name, prompt_label

log = logging.getLogger(__name__)


class FromFolderError(SkillNeuronError):
    """Results files under ``--from`` whose values no lm-eval run writes; the message names each one."""

    def __init__(self, problems: list[ResultsFileError]) -> None:
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"--from: {len(problems)} results file(s) hold values no lm-eval run writes, and skipping "
                         f"them would change the board: {listed}. Regenerate or delete them, or move them out of "
                         "the --from folders.")


@dataclass
class Cell:
    """One task's accuracy for one entry, with its provenance."""

    task: str
    acc: float
    stderr: float | None
    num_docs: int | None
    num_choices: int | None  # None when the choices are computed per document
    clean_twin: str | None
    version: str | None
    limit: float | None
    source: str  # the results file
    versions: dict[str, str] = field(default_factory=dict)  # package versions
    skill_neurons: dict | None = None  # the results' skill_neurons[task] summary (files, consistency)
    kind: str | None = None  # "perturbation" (metadata.perturbation), "attack" (metadata.attack) or None
    recipe: str | None = None  # a perturbation's step kinds ("keyboard_typo + char_swap"), an attack's recipe
    attack: dict | None = None  # metadata.attack as the results hold it (recipe, victim, of)
    paired: dict[str, float] = field(default_factory=dict)  # flip_rate, worst_case_acc, ... (+ _stderr)


@dataclass
class Standing:
    """One entry: who it is and its cells."""

    label: str
    model: str  # lm-eval model name (prompt_tuned, hf, ...)
    model_name: str  # the exact weights: path or Hub id
    model_args: dict[str, str]
    prompt_sha256: str | None
    prompt_source: str | None
    origin: str  # "spec" or the --from folder
    cells: dict[str, Cell] = field(default_factory=dict)
    run: dict = field(default_factory=dict)  # how lm-eval ran it: model_args as given, batch_size, device, ...
    card: dict = field(default_factory=dict)  # the spec's baseline, notes, unreliable, reported
    prompt_info: dict = field(default_factory=dict)  # what the results record of the prompt (format, release)
    training: dict | None = None  # a board's recorded training block (None: read it from the prompt's files)
    family: str | None = None  # a board's recorded model family (None: from the weights' config.json)

    @property
    def model_label(self) -> str:
        return model_label(self.model_name)


def _versions(data: dict) -> dict[str, str]:
    recorded = (data.get(SECTION) or {}).get("versions")
    if recorded:
        return dict(recorded)
    out = {"lm_eval": data.get("lm_eval_version"), "transformers": data.get("transformers_version")}
    return {k: str(v) for k, v in out.items() if v}


PAIRED = ("flip_rate", "worst_case_acc", "consistency_rate", "pair_acc", "pair_acc_clean")


def _robustness(data: dict) -> dict[str, dict]:
    """Task name -> {kind, recipe, attack, paired} from the results' ``configs`` and ``results`` rows."""
    out = {}
    results = data.get("results") or {}
    for key, cfg in (data.get("configs") or {}).items():
        cfg = cfg if isinstance(cfg, dict) else {}
        name = cfg.get("task") if isinstance(cfg.get("task"), str) else key
        meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
        info: dict = {"kind": None, "recipe": None, "attack": None, "paired": {}}
        attack, perturbation = meta.get("attack"), meta.get("perturbation")
        if isinstance(attack, dict):
            info.update(kind="attack", attack=dict(attack), recipe=str(attack.get("recipe") or "attack"))
        elif isinstance(perturbation, dict):
            kinds = [str(s.get("kind")) for s in perturbation.get("steps") or [] if isinstance(s, dict)]
            info.update(kind="perturbation", recipe=" + ".join(kinds) or "perturbation")
        row = results.get(key) if isinstance(results.get(key), dict) else {}
        for metric in PAIRED:
            for suffix in ("", "_stderr"):
                value = row.get(f"{metric}{suffix},none")
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                    info["paired"][metric + suffix] = float(value)
        out[name] = info
    return out


def read_cells(path: Path, data: dict | None = None) -> list[Cell]:
    """The task cells of one results JSON (groups, which have no config of their own, skipped)."""
    data = data if data is not None else load_results(path)
    extra = _robustness(data)
    return [Cell(task=row.task, acc=row.acc, stderr=row.acc_stderr, num_docs=row.num_docs,
                 num_choices=row.num_choices, clean_twin=row.clean_twin, version=row.version, limit=row.limit,
                 source=row.source, versions=_versions(data), skill_neurons=row.skill_neurons,
                 **extra.get(row.task, {}))
            for row in task_results(data, str(path))]


RUN_KEYS = ("batch_size", "device", "bootstrap_iters", "limit", "random_seed", "numpy_seed", "torch_seed",
            "fewshot_seed")


def standing_of(label: str, data: dict, origin: str) -> Standing:
    """An empty standing named ``label`` for the model and prompt of a results JSON."""
    config = data.get("config") or {}
    args = config.get("model_args")
    run = {"model_args": args if isinstance(args, str) else format_model_args(parse_model_args(args)),
           **{k: config.get(k) for k in RUN_KEYS if k in config}}
    prompt_info = {k: v for k, v in config.items() if k.startswith("prompt_") and k != "prompt_sha256"
                   and isinstance(v, (str, int, float, bool, list, dict))}
    return Standing(label=label, model=str(config.get("model")), model_name=model_name(config),
                    model_args=canonical_args(config.get("model_args")), prompt_sha256=config.get("prompt_sha256"),
                    prompt_source=config.get("prompt_source") or model_arg(config.get("model_args"), "prompt"),
                    origin=origin, run=run, prompt_info=prompt_info)


BOARD_SCHEMA = "skillneuron-harness/leaderboard"
BOARD_VERSIONS = (2,)  # leaderboard.json versions that keep their cells


def read_board(path: Path) -> dict | None:
    """A ``leaderboard.json`` (None when the file is some other JSON); an old or broken one raises ValueError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("schema") != BOARD_SCHEMA:
        return None
    if data.get("schema_version") not in BOARD_VERSIONS:
        raise ValueError(f"--from {path}: leaderboard.json schema_version {data.get('schema_version')!r} keeps no "
                         f"cells to merge (versions {', '.join(map(str, BOARD_VERSIONS))} do); rebuild that board "
                         "with this version, or pass its runs/ folder instead.")
    return data


def _consistency_block(value: float) -> dict:
    from skillneuron_harness.leaderboard.consistency import TOP

    return {"consistency": {"overlap": [{"fraction": TOP, "mean": value}]}}


def from_board(data: dict, source: str) -> list[Standing]:
    """The standings of a ``leaderboard.json`` as its board ranked them (see the module docstring)."""
    out = []
    cell_fields = set(Cell.__dataclass_fields__)
    for row in data.get("entries") or []:
        cells = {}
        for task, record in (row.get("cells") or {}).items():
            cells[task] = Cell(**{k: v for k, v in record.items() if k in cell_fields})
        for task, value in (row.get("consistency_per_task") or {}).items():
            if task in cells:
                cells[task].skill_neurons = _consistency_block(value)
        card = row.get("card") or {}
        reported = {k: r["reported"] for k, r in (card.get("reported") or {}).items()}
        if card.get("reported_source"):
            reported["source"] = card["reported_source"]
        out.append(Standing(label=row["label"], model=row["lm_eval_model"], model_name=row["model_name"],
                            model_args=dict(row["model_args"]), prompt_sha256=row["prompt_sha256"],
                            prompt_source=row["prompt_source"], origin=row.get("origin") or source, cells=cells,
                            run=dict(row.get("run") or {}), prompt_info=dict(row.get("prompt_info") or {}),
                            card={"baseline": card.get("baseline", False), "notes": card.get("notes"),
                                  "unreliable": card.get("unreliable"), "reported": reported},
                            training=card.get("training"), family=row.get("family")))
    return out


def _key(s: Standing) -> tuple:
    return (s.model_name, s.prompt_sha256 or s.prompt_source, json.dumps(s.model_args, sort_keys=True))


def _suppressed(config: dict) -> bool:
    return suppression_of(config) is not None


def from_folders(folders: list[str | Path], taken: set[str] | None = None) -> list[Standing]:
    """Standings for every model and prompt with results under ``folders`` (newest result per task wins).

    Foreign files are skipped with a warning; invalid ones raise :class:`FromFolderError` once all are read.
    """
    taken = set(taken or ())
    invalid: list[ResultsFileError] = []
    standings: dict[tuple, Standing] = {}
    for folder in map(Path, folders):
        if not folder.exists():
            raise FileNotFoundError(f"--from {folder}: no such folder.")
        board = read_board(folder) if folder.is_file() else None
        if board is not None:
            for standing in from_board(board, str(folder)):
                key = _key(standing)
                if key in standings:
                    standings[key].cells.update(standing.cells)
                    continue
                base, n = standing.label, 2
                while standing.label in taken:
                    standing.label, n = f"{base} ({n})", n + 1
                taken.add(standing.label)
                standings[key] = standing
            continue
        files = [folder] if folder.is_file() else sorted(folder.rglob("results_*.json"), key=lambda p: p.name)
        if not files:
            raise FileNotFoundError(f"--from {folder}: no results_*.json under it (lm-eval's --output_path folder).")
        read, skipped = [], []
        for path in files:
            try:
                data = load_results(path)
                read.append((path, data, read_cells(path, data)))
            except ResultsFileError as err:
                if not err.foreign:
                    invalid.append(err)
                    continue
                log.warning("--from: skipping %s: not an lm-eval results file: %s", path, err.why)
                skipped.append(path)
        if len(skipped) == len(files):
            raise FileNotFoundError(f"--from {folder}: none of its {len(files)} results_*.json file(s) is an lm-eval "
                                    f"results file (each is named above).")
        for path, data, cells in read:
            config = data.get("config") or {}
            if _suppressed(config):
                log.info("--from: %s has suppressed neurons: not a standing, skipped", path)
                continue
            key = (model_name(config), config.get("prompt_sha256") or config.get("prompt_source"),
                   json.dumps(canonical_args(config.get("model_args")), sort_keys=True))
            if key not in standings:
                prompt = config.get("prompt_source") or model_arg(config.get("model_args"), "prompt")
                base = prompt_label(prompt) if prompt else model_label(model_name(config))
                label, n = base, 2
                while label in taken:
                    label, n = f"{base} ({n})", n + 1
                taken.add(label)
                standings[key] = standing_of(label, data, str(folder))
            for cell in cells:
                standings[key].cells[cell.task] = cell
    if invalid:
        raise FromFolderError(invalid)
    return list(standings.values())
