"""Read run folders into records: evaluations, skill-neuron files, suppression curves.

A run folder is anything under which lm-eval wrote ``results_*.json`` (``--output_path``), and/or
``prompt_tuned`` wrote ``<task>.safetensors`` skill-neuron files (``skill_neurons=DIR``), and/or
``skillneuron suppression-curve`` wrote ``suppression_curve.json``. Folders are searched
recursively. Prompts are identified by ``prompt_sha256`` (recorded in both the results JSON and
the skill-neuron files), so results and neuron files of one prompt meet wherever they lie.

What a prompt was trained on, and with which seed, comes from (first found): a
``prompts.json`` manifest in a run folder (written by our commands: ``{path: {"label", "task",
"seed"}}``), the ``train_config.json`` that ``skillneuron train`` leaves in the adapter folder, or
nothing (then the prompt's label stands for its own group).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillneuron_harness.report.labels import model_arg, model_label, model_name, prompt_label

log = logging.getLogger(__name__)

MANIFEST = "prompts.json"
CURVE_FILE = "suppression_curve.json"


@dataclass(frozen=True)
class Prompt:
    """One soft prompt: who it is and what it was trained on."""

    key: str  # prompt_sha256, or the path when no hash is known
    label: str  # short name for tables
    path: str | None = None
    task: str | None = None  # training task, when known
    seed: int | str | None = None

    @property
    def group(self) -> str:
        """The training task, or the label when unknown."""
        return self.task or self.label


@dataclass
class Evaluation:
    """One task's accuracy for one (model, prompt) in one results file."""

    model: str
    prompt: Prompt
    task: str
    acc: float
    acc_stderr: float | None
    num_docs: int | None
    num_choices: int | None
    clean_twin: str | None
    suppression: dict | None
    source: str  # the results file


@dataclass
class NeuronFile:
    """One ``<task>.safetensors`` skill-neuron file (tensors read on demand)."""

    path: Path
    model: str
    prompt: Prompt
    task: str
    clean_twin: str | None
    provenance: dict[str, Any]
    subtasks: str = ""  # e.g. "1:0" (safetensors metadata)
    _tensors: dict | None = field(default=None, repr=False)

    @property
    def tensors(self) -> dict:
        """The file's tensors (``score`` [L, D], ``baseline`` [L, P, D], ``fire_counts`` ...)."""
        if self._tensors is None:
            from safetensors.torch import load_file

            self._tensors = load_file(str(self.path))
        return self._tensors


@dataclass
class Collection:
    """Everything found under the run folders."""

    evaluations: list[Evaluation] = field(default_factory=list)
    neuron_files: list[NeuronFile] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)  # records of suppression_curve.json files
    sources: list[str] = field(default_factory=list)


class _Prompts:
    """Prompt identities, with manifests and train_config.json files consulted once."""

    def __init__(self, manifests: dict[str, dict]) -> None:
        self.manifests = manifests  # resolved path -> {label, task, seed}
        self.by_key: dict[str, Prompt] = {}

    def get(self, path: str | None, sha: str | None) -> Prompt:
        key = sha or path or "none"
        if key in self.by_key:
            return self.by_key[key]
        entry: dict = {}
        if path:
            resolved = str(Path(path).resolve())
            entry = self.manifests.get(resolved) or self.manifests.get(path) or {}
            config = Path(path) / "train_config.json"
            if not entry and config.is_file():
                try:
                    train = json.loads(config.read_text()).get("config", {})
                    entry = {"task": train.get("task"), "seed": train.get("seed")}
                except (OSError, ValueError):
                    entry = {}
        prompt = Prompt(key=key, label=entry.get("label") or prompt_label(path), path=path,
                        task=entry.get("task"), seed=entry.get("seed"))
        self.by_key[key] = prompt
        return prompt


def _num_choices(task_config: dict) -> int | None:
    choices = task_config.get("doc_to_choice")
    return len(choices) if isinstance(choices, list) else None


def _read_results(path: Path, prompts: _Prompts) -> list[Evaluation]:
    data = json.loads(path.read_text(encoding="utf-8"))
    config = data.get("config") or {}
    model = model_label(model_name(config))
    prompt_path = config.get("prompt_source") or model_arg(config.get("model_args"), "prompt")
    prompt = prompts.get(prompt_path, config.get("prompt_sha256"))
    suppression = config.get("suppression")
    if suppression is not None and not any(suppression.get("neurons_per_layer") or [0]):
        suppression = None  # suppress_top=0: the unsuppressed model
    configs = data.get("configs") or {}
    out = []
    for task, metrics in (data.get("results") or {}).items():
        if "acc,none" not in metrics or task not in configs:  # groups have no config of their own
            continue
        task_config = configs.get(task) or {}
        out.append(Evaluation(
            model=model, prompt=prompt, task=task, acc=float(metrics["acc,none"]),
            acc_stderr=metrics.get("acc_stderr,none") if isinstance(metrics.get("acc_stderr,none"), float) else None,
            num_docs=(data.get("n-samples") or {}).get(task, {}).get("effective"),
            num_choices=_num_choices(task_config),
            clean_twin=(task_config.get("metadata") or {}).get("clean_twin"),
            suppression=suppression, source=str(path),
        ))
    return out


def _read_neuron_file(path: Path, prompts: _Prompts) -> NeuronFile | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            names = set(f.keys())
    except Exception:  # noqa: BLE001  (not a safetensors file we can read)
        return None
    if "task" not in metadata or "score" not in names:
        return None
    provenance = json.loads(metadata.get("provenance") or "{}")
    prompt = prompts.get(provenance.get("prompt"), provenance.get("prompt_sha256"))
    return NeuronFile(path=path, model=model_label(provenance.get("model")), prompt=prompt,
                      task=metadata["task"], clean_twin=provenance.get("clean_twin"), provenance=provenance,
                      subtasks=metadata.get("subtasks", ""))


def collect(run_dirs: list[str | Path]) -> Collection:
    """Read every results file, skill-neuron file and suppression curve under ``run_dirs``."""
    roots = [Path(d) for d in run_dirs]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise FileNotFoundError(f"run folder(s) not found: {', '.join(missing)}")
    files = sorted({p.resolve() for r in roots for p in ([r] if r.is_file() else r.rglob("*")) if p.is_file()})
    manifests: dict[str, dict] = {}
    for p in files:
        if p.name == MANIFEST:
            for path, entry in json.loads(p.read_text(encoding="utf-8")).items():
                manifests[str(Path(path).resolve())] = entry
    prompts = _Prompts(manifests)
    result = Collection(sources=[str(r) for r in roots])
    results_files = [p for p in files if p.name.startswith("results") and p.suffix == ".json"]
    neuron_paths = {p for p in files if p.suffix == ".safetensors"}
    latest: dict[tuple, Evaluation] = {}
    for path in sorted(results_files, key=lambda p: p.name):  # results_<ISO date>: later runs win
        try:
            evaluations = _read_results(path, prompts)
        except (OSError, ValueError) as err:
            log.warning("skipping %s: %s", path, err)
            continue
        for ev in evaluations:
            latest[ev.model, ev.prompt.key, ev.task, json.dumps(ev.suppression, sort_keys=True)] = ev
        data = json.loads(path.read_text(encoding="utf-8"))
        for summary in (data.get("skill_neurons") or {}).values():  # files written elsewhere
            for f in summary.get("files") or []:
                if f.endswith(".safetensors") and Path(f).is_file():
                    neuron_paths.add(Path(f).resolve())
    result.evaluations = list(latest.values())
    by_identity: dict[tuple, NeuronFile] = {}
    for path in sorted(neuron_paths, key=lambda p: p.stat().st_mtime):  # the newest file of a prompt and task wins
        neuron_file = _read_neuron_file(path, prompts)
        if neuron_file is not None:
            by_identity[neuron_file.model, neuron_file.prompt.key, neuron_file.task] = neuron_file
    result.neuron_files = list(by_identity.values())
    for p in files:
        if p.name == CURVE_FILE:
            result.curves.extend(json.loads(p.read_text(encoding="utf-8")).get("records", []))
    return result
