"""The leaderboard spec: a YAML file naming the entries, the suite and the run options.

    title: AdvGLUE robustness of SST-2 prompts      # optional
    tasks: [advglue, sst2, qqp, mnli, mnli_mismatch, qnli, rte]   # optional: this is the default
    run: {device: cpu, batch_size: 8, limit: null, bootstrap_iters: 1000}
    entries:
      - label: bert-base (fine-tuned)
        model: hf
        model_args: {pretrained: textattack/bert-base-uncased-SST-2}
      - label: t5 prompt, seed 33
        model: prompt_tuned
        model_args: pretrained=google-t5/t5-base,prompt=prompts/sst2-33
        skill_neurons: true

``model`` is any lm-eval model name; ``model_args`` a mapping or lm-eval's ``k=v,k=v`` string.
Paths in ``pretrained``, ``prompt``, ``peft`` and ``sn_*`` file arguments that exist relative to
the spec's folder are made absolute, so that the spec runs from any working directory.
``skill_neurons: true`` (``prompt_tuned`` only) writes the entry's skill-neuron files into the
leaderboard folder, for the consistency column. Every error names the file and the key.

An entry's card on the page also shows, when the spec gives them::

        baseline: true                        # a reference row (chance level, no prompt): marked in every sort
        notes: "trained on SST-2 train only"
        unreliable: "prompt selected on the dev set"   # or true; shown as a flag with its reason
        reported: {source: "Ackermann & Ohmer 2024, Table 2", score: 0.412, adv_sst2: 0.45}

``reported`` holds numbers from a paper (fractions, keyed by column key or task name, and an
optional ``source``); the card shows each next to the re-evaluated number with their difference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.results import format_model_args, parse_limit, parse_model_args

# The AdvGLUE tasks and their clean twins (docs/tasks.md): the suite when the spec names none.
DEFAULT_TASKS = ("adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli", "adv_rte",
                 "sst2", "qqp", "mnli", "mnli_mismatch", "qnli", "rte")
# lm-eval's CLI bootstraps stderrs of non-accuracy metrics (f1, mcc) with 100,000 draws: ~20 min for
# adv_qqp's f1 on a CPU. The leaderboard ranks accuracy, whose stderr is analytic; 1,000 draws keep
# the other stderrs within a few percent of their value.
DEFAULT_BOOTSTRAP_ITERS = 1000
_PATH_ARGS = ("pretrained", "prompt", "peft", "sn_baseline", "sn_reference", "sn_include_path", "suppress")
_OUTPUT_ARGS = ("skill_neurons", "output_path")  # chosen by the leaderboard, not by the entry
_TOP_KEYS = ("title", "tasks", "run", "entries")
_ENTRY_KEYS = ("label", "model", "model_args", "skill_neurons", "baseline", "notes", "unreliable", "reported")
# The longest folder name a label may make: well under the 255 bytes of a file name, with room for prefixes.
MAX_SLUG = 100


class SpecError(SkillNeuronError):
    """A leaderboard spec that cannot be used; the message names the file, the key and the fix."""


def slug_of(label: str) -> str:
    """The folder name of a label: runs of characters other than ``A-Za-z0-9._-`` become one ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "entry"


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot name an entry's folder (``runs/<folder>/``), or None."""
    slug = slug_of(label)
    if set(slug) == {"."}:
        return (f"'{label}' would be the folder '{slug}', which is the runs folder itself or its parent; use a label "
                "with a letter or digit.")
    if len(slug) > MAX_SLUG:
        return (f"{len(label)} characters make a folder name of {len(slug)}, over the {MAX_SLUG} allowed (file "
                f"systems stop at 255 bytes per name); use a shorter label.")
    return None


@dataclass
class RunOptions:
    """How units are evaluated (``run:`` in the spec)."""

    device: str = field(default="cpu", metadata={"help": "lm-eval device: cpu, cuda, cuda:0, mps"})
    batch_size: int | str = field(default=8, metadata={"help": "lm-eval batch size, or 'auto'"})
    limit: int | float | None = field(
        default=None, metadata={"help": "documents per task (lm-eval's --limit; < 1: a fraction); none = all. "
                                        "Part of a unit's identity: results of another limit are not reused"})
    bootstrap_iters: int = field(
        default=DEFAULT_BOOTSTRAP_ITERS,
        metadata={"help": "bootstrap draws for non-accuracy stderrs (lm-eval's CLI: 100,000); 0 skips them"})
    include_path: list[str] = field(default_factory=list, metadata={"help": "extra lm-eval task folders"})


@dataclass
class Entry:
    """One row of the leaderboard: a model (with its prompt) evaluated on the suite."""

    label: str = field(metadata={"help": "the row's name, unique in the spec"})
    model: str = field(metadata={"help": "lm-eval model name: prompt_tuned, hf, vllm, ..."})
    model_args: dict[str, str] = field(default_factory=dict, metadata={"help": "lm-eval model_args"})
    skill_neurons: bool = field(default=False, metadata={"help": "record skill neurons (prompt_tuned only)"})
    baseline: bool = field(default=False, metadata={"help": "a reference row (chance level, no prompt), marked"})
    notes: str | None = field(default=None, metadata={"help": "free text for the entry's card"})
    unreliable: str | None = field(default=None, metadata={"help": "why the entry's numbers are not to be trusted"})
    reported: dict[str, Any] = field(default_factory=dict,
                                     metadata={"help": "numbers from a paper: {source: str, <column or task>: float}"})

    def card(self) -> dict[str, Any]:
        """What the spec says about the entry beyond how to run it (the page's card)."""
        return {"baseline": self.baseline, "notes": self.notes, "unreliable": self.unreliable,
                "reported": dict(self.reported)}

    @property
    def slug(self) -> str:
        """The label as a folder name (see :func:`label_problem`)."""
        return slug_of(self.label)

    def args_string(self, extra: dict[str, str] | None = None) -> str:
        """lm-eval's ``k=v,k=v`` form of the model_args (and ``extra``)."""
        return format_model_args({**self.model_args, **(extra or {})})


@dataclass
class Spec:
    """A parsed, validated leaderboard spec."""

    entries: list[Entry]
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    run: RunOptions = field(default_factory=RunOptions)
    title: str = "Robustness leaderboard"
    source: str = ""  # the spec file


def _fail(where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}")


def _parse_model_args(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            return parse_model_args(value, strict=True)
        except ValueError as err:
            raise _fail(where, f"{err}; write model_args as a mapping or 'k=v,k=v'.") from None
    if isinstance(value, dict):
        if any(isinstance(v, (dict, list)) for v in value.values()):
            raise _fail(where, "values must be plain strings, numbers or booleans (lm-eval passes them as k=v).")
        return {str(k): str(v) for k, v in value.items() if v is not None}
    raise _fail(where, f"expected a mapping or a 'k=v,k=v' string, got {type(value).__name__}.")


def _resolve_paths(args: dict[str, str], base: Path) -> dict[str, str]:
    out = dict(args)
    for key in _PATH_ARGS:
        value = out.get(key)
        if value and not Path(value).is_absolute() and (base / value).exists():
            out[key] = str((base / value).resolve())
    return out


def _parse_entry(raw: Any, i: int, base: Path, where: str) -> Entry:
    here = f"{where}: entries[{i}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{here}: expected a mapping with label, model and model_args.")
    unknown = sorted(set(raw) - set(_ENTRY_KEYS))
    if unknown:
        raise SpecError(f"{here}: unknown key(s) {', '.join(unknown)}; an entry has {', '.join(_ENTRY_KEYS)}.")
    for key in ("label", "model"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise SpecError(f"{here}.{key}: required, a non-empty string.")
    problem = label_problem(raw["label"].strip())
    if problem is not None:
        raise SpecError(f"{here}.label: {problem}")
    args = _parse_model_args(raw.get("model_args"), f"{here}.model_args")
    for key in _OUTPUT_ARGS:
        if key in args:
            raise SpecError(f"{here}.model_args.{key}: the leaderboard chooses where outputs go; use "
                            "`skill_neurons: true` on the entry instead.")
    for key in ("batch_size", "device"):
        if key in args:
            raise SpecError(f"{here}.model_args.{key}: set it once for all entries under `run:` in the spec.")
    if raw["model"] == "prompt_tuned" and "peft" in args:
        args["prompt"] = args.pop("peft")  # prompt_tuned's alias: one name, so that the prompt's hash stands for it
    if raw["model"] == "prompt_tuned" and "pretrained" not in args:
        raise SpecError(f"{here}.model_args.pretrained: required for prompt_tuned (a leaderboard names its models; "
                        "without it prompt_tuned would evaluate the demo model).")
    skill_neurons = raw.get("skill_neurons", False)
    if not isinstance(skill_neurons, bool):
        raise SpecError(f"{here}.skill_neurons: true or false, got {skill_neurons!r}.")
    if skill_neurons and raw["model"] != "prompt_tuned":
        raise SpecError(f"{here}.skill_neurons: only model: prompt_tuned records skill neurons "
                        f"(this entry's model is {raw['model']}).")
    baseline = raw.get("baseline", False)
    if not isinstance(baseline, bool):
        raise SpecError(f"{here}.baseline: true or false, got {baseline!r}.")
    notes = raw.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise SpecError(f"{here}.notes: a string, got {notes!r}.")
    unreliable = raw.get("unreliable")
    if unreliable is True:
        unreliable = "marked unreliable in the spec (no reason given)"
    elif unreliable is False:
        unreliable = None
    elif unreliable is not None and (not isinstance(unreliable, str) or not unreliable.strip()):
        raise SpecError(f"{here}.unreliable: true, false or the reason as a string, got {unreliable!r}.")
    return Entry(label=raw["label"].strip(), model=raw["model"].strip(), model_args=_resolve_paths(args, base),
                 skill_neurons=skill_neurons, baseline=baseline, notes=notes, unreliable=unreliable,
                 reported=_parse_reported(raw.get("reported"), f"{here}.reported"))


def _parse_reported(value: Any, where: str) -> dict[str, Any]:
    """``reported:``: {source: text, key: fraction in [0, 1] (PDR may be negative)}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}: a mapping such as {{source: 'paper, Table 2', score: 0.41, adv_sst2: 0.45}}, "
                        f"got {value!r}.")
    out: dict[str, Any] = {}
    for key, number in value.items():
        key = str(key)
        if key == "source":
            if not isinstance(number, str):
                raise SpecError(f"{where}.source: a string (where the numbers come from), got {number!r}.")
            out[key] = number
        elif isinstance(number, bool) or not isinstance(number, (int, float)) or not -1 <= number <= 1:
            raise SpecError(f"{where}.{key}: a fraction (0.412 for 41.2%), got {number!r}.")
        else:
            out[key] = float(number)
    return out


def _parse_run(raw: Any, where: str) -> RunOptions:
    if raw is None:
        return RunOptions()
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: run: expected a mapping (device, batch_size, limit, bootstrap_iters, include_path).")
    known = RunOptions.__dataclass_fields__
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SpecError(f"{where}: run: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}.")
    opts = RunOptions(**{k: v for k, v in raw.items() if v is not None or k == "limit"})
    if not isinstance(opts.device, str):
        raise SpecError(f"{where}: run.device: a string such as cpu or cuda, got {opts.device!r}.")
    if not (opts.batch_size == "auto" or (isinstance(opts.batch_size, int) and opts.batch_size > 0)):
        raise SpecError(f"{where}: run.batch_size: a positive integer or 'auto', got {opts.batch_size!r}.")
    limit = opts.limit
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0:
            raise SpecError(f"{where}: run.limit: a positive number of documents (or a fraction < 1), or null "
                            f"for all; got {limit!r}.")
        opts.limit = parse_limit(limit)
    if isinstance(opts.bootstrap_iters, bool) or not isinstance(opts.bootstrap_iters, int) or opts.bootstrap_iters < 0:
        raise SpecError(f"{where}: run.bootstrap_iters: a whole number >= 0, got {opts.bootstrap_iters!r}.")
    if isinstance(opts.include_path, str):
        opts.include_path = [opts.include_path]
    if not isinstance(opts.include_path, list) or not all(isinstance(p, str) for p in opts.include_path):
        raise SpecError(f"{where}: run.include_path: a list of folders, got {opts.include_path!r}.")
    return opts


def parse_spec(data: Any, source: str = "<spec>", base: Path | None = None) -> Spec:
    """Validate a spec already read from YAML; ``base`` resolves relative paths (default: cwd)."""
    base = base or Path.cwd()
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with an `entries:` list at the top.")
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise SpecError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; known: {', '.join(_TOP_KEYS)}.")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise SpecError(f"{source}: entries: required, a non-empty list of {{label, model, model_args}}.")
    entries = [_parse_entry(raw, i, base, source) for i, raw in enumerate(raw_entries)]
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        if e.slug in seen:
            raise SpecError(f"{source}: entries[{i}].label: '{e.label}' repeats entries[{seen[e.slug]}] "
                            f"('{entries[seen[e.slug]].label}'); labels must be unique (also as folder names).")
        seen[e.slug] = i
    tasks = data.get("tasks")
    if tasks is None:
        tasks = list(DEFAULT_TASKS)
    elif isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise SpecError(f"{source}: tasks: a list of lm-eval task or group names (or leave it out for AdvGLUE and "
                        f"its clean twins); got {tasks!r}.")
    title = data.get("title", Spec.__dataclass_fields__["title"].default)
    if not isinstance(title, str):
        raise SpecError(f"{source}: title: a string, got {title!r}.")
    return Spec(entries=entries, tasks=tasks, run=_parse_run(data.get("run"), source), title=title, source=source)


def _unique_key_loader(source: str):
    """A ``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML would keep the last)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
                if first is not None:
                    raise SpecError(f"{source}: line {line}: key '{key}' is given twice in one mapping (first on line "
                                    f"{first}); YAML would silently keep the last: keep one.")
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file (a key repeated within one mapping is refused with its line)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_unique_key_loader(str(path)))  # noqa: S506
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML ({err}).") from err
    return parse_spec(data, str(path), path.resolve().parent)
