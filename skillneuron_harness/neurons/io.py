"""Per-task skill-neuron files: ``<dir>/<task>.safetensors`` and ``<dir>/<task>.json``.

The safetensors file holds these tensors (L layers, P positions, D neurons per layer, C classes,
S binary subtasks):

========================  =======  ==============  ============================================
name                      dtype    shape           meaning
========================  =======  ==============  ============================================
``baseline``              float32  [L, P, D]       mean activation over the baseline documents
``class_counts``          int64    [C]             evaluated documents per class
``fire_counts``           int64    [C, L, P, D]    documents of class c with activation > baseline
``predictivity``          float64  [L, P, D]       max(acc, 1 - acc); binary: label 1 positive;
                                                   C > 2: max over the subtasks
``score``                 float64  [L, D]          max of ``predictivity`` over positions
``position``              int64    [L, D]          the position of that maximum (first on ties)
``subtask_predictivity``  float64  [S, L, P, D]    only with more than one subtask
``subtask_score``         float64  [S, L, D]       its max over positions (Wang et al.'s union)
``subtask_baseline``      float32  [S, L, P, D]    only with per-subtask baselines (Wang et al.)
``subtask_fire_counts``   int64    [S, C, L, P, D] counts against each subtask's own baseline
========================  =======  ==============  ============================================

plus any extra tensors the caller passes (the recorder's multi-class files: ``baseline_class_sums``
float64 [C, L, P, D] and ``baseline_class_counts`` int64 [C], the per-class sufficient statistics of
the baseline, from which the subtasks' baselines follow). Files without the ``subtask_*`` tensors
(binary tasks, and multi-class files of earlier versions, whose subtasks shared ``baseline``) read
as before. Scores
are float64, as the originals' NumPy arrays, so that ties and their order match theirs. With
more than two classes the subtasks' accuracy is balanced (Wang et al.); ``subtask_fire_counts``,
when present, replace ``fire_counts`` for the subtasks' predictivity. ``predictivity``,
``score`` and ``position`` are left out when predictivity is undefined (a side of a subtask
without documents, or one class); the JSON then says why. The safetensors metadata (strings)
holds ``format`` = ``pt``, ``task``, ``subtasks`` (e.g. ``1:0`` or ``0:2;1:0+2``), ``kind``
(``run``; ``average`` for the files of ``skillneuron average``) and ``provenance`` (JSON). The
JSON file holds ``task``, ``provenance`` (what the caller gives: model, prompt hash, split, number of
documents, baseline source and size, positions used, ...; ``versions`` is filled in), a
``tensors`` table (dtype and shape of each tensor) and a ``summary``: number of documents, class
counts, per layer mean and max score, skill neurons per layer for ``top_fraction``, the
``top_n`` neurons of the model-wide ranking as (layer, neuron, position, predictivity, and their
null p- and q-values), and ``null``: per layer the chance line of the score and the neurons
significant at the false discovery rate (:func:`~skillneuron_harness.neurons.null.null_summary`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from skillneuron_harness.core.atomic import save_safetensors, write_json
from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.neurons.null import DEFAULT_FDR, null_summary
from skillneuron_harness.neurons.selection import descending_order
from skillneuron_harness.neurons.statistics import (
    BinarySubtask,
    binary_subtasks,
    has_both_sides,
    json_safe,
    neuron_scores,
    subtask_predictivity,
    top_k,
)

log = logging.getLogger(__name__)
SAFETENSORS_SUFFIX = ".safetensors"
JSON_SUFFIX = ".json"


@dataclass
class TaskStats:
    """What :func:`read_task_stats` returns."""

    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]  # safetensors metadata
    provenance: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    subtasks: list[BinarySubtask] = field(default_factory=list)


def task_paths(directory: str | Path, task: str) -> tuple[Path, Path]:
    """The ``(<dir>/<task>.safetensors, <dir>/<task>.json)`` pair; rejects path-like task names."""
    if not task or any(sep in task for sep in ("/", "\\")) or task in (".", ".."):
        raise SkillNeuronError(f"task name {task!r} cannot be a file name; expected e.g. 'sst2'")
    directory = Path(directory)
    return directory / f"{task}{SAFETENSORS_SUFFIX}", directory / f"{task}{JSON_SUFFIX}"


def derive(
    fire_counts: torch.Tensor,
    class_counts: torch.Tensor,
    subtasks: Sequence[BinarySubtask] | None = None,
    subtask_fire_counts: torch.Tensor | None = None,
) -> tuple[dict[str, torch.Tensor], str | None]:
    """``predictivity``, ``score``, ``position`` (and ``subtask_predictivity``/``subtask_score``).

    ``subtask_fire_counts`` [S, C, L, P, D]: counts against each subtask's own baseline. Returns
    (tensors, None), or ({}, reason) when predictivity is undefined.
    """
    num_classes = fire_counts.shape[0]
    if subtasks is None:
        if num_classes < 2:
            return {}, f"only {num_classes} class: no binary subtask"
        subtasks = binary_subtasks(num_classes)
    empty = [s.label for s in subtasks if not has_both_sides(class_counts, *s)]
    if empty:
        return {}, (f"subtasks {empty} have a side without documents (class counts {class_counts.tolist()})")
    counts = subtask_fire_counts if subtask_fire_counts is not None else fire_counts
    per_subtask = subtask_predictivity(counts, class_counts, subtasks)  # (S, L, P, D)
    pred = per_subtask[0] if len(subtasks) == 1 else per_subtask.max(0).values  # (L, P, D)
    score, position = neuron_scores(pred)  # (L, D), (L, D)
    out = {"predictivity": pred, "score": score, "position": position}
    if len(subtasks) > 1:
        out["subtask_predictivity"] = per_subtask
        out["subtask_score"] = per_subtask.max(2).values  # (S, L, P, D) -> (S, L, D)
    return out, None


def summarize(
    score: torch.Tensor,
    position: torch.Tensor,
    *,
    top_n: int = 20,
    top_fraction: float = DEFAULT_TOP,
    p_value: torch.Tensor | None = None,
    q_value: torch.Tensor | None = None,
    ties: str = "high",
) -> dict[str, Any]:
    """Per layer mean/max score, skill neurons per layer, and the model-wide top ``top_n``.

    Neurons are ranked model-wide as Ackermann & Ohmer (``ties="high"``: the higher flat index
    first among equal scores; ``"low"``: the lower, as Wang et al.). With
    the neurons' null ``p_value`` and ``q_value`` [L, D] (:mod:`~skillneuron_harness.neurons.null`)
    each top neuron carries its own.
    """
    num_layers, num_neurons = score.shape
    flat = score.detach().cpu().reshape(-1)  # (L * D,)
    order = descending_order(flat, ties)[:top_n]  # (top_n,)
    pos = position.detach().cpu().reshape(-1)  # (L * D,)
    return {
        "layers": [
            {"layer": layer, "mean_score": float(row.mean()), "max_score": float(row.max())}
            for layer, row in enumerate(score.detach().cpu().to(torch.float64))
        ],
        "skill_neurons": {
            "fraction": top_fraction,
            "per_layer": top_k(num_neurons, top_fraction),
        },
        "top_neurons": [
            {
                "layer": int(i) // num_neurons,
                "neuron": int(i) % num_neurons,
                "position": int(pos[i]),
                "predictivity": float(flat[i]),
                **({"p_value": float(p_value.reshape(-1)[i]), "q_value": float(q_value.reshape(-1)[i])}
                   if p_value is not None and q_value is not None else {}),
            }
            for i in order
        ],
    }


def _check_shapes(baseline: torch.Tensor, fire_counts: torch.Tensor, class_counts: torch.Tensor):
    if baseline.dim() != 3 or fire_counts.dim() != 4 or fire_counts.shape[1:] != baseline.shape:
        raise ValueError(
            f"expected baseline [L, P, D] and fire_counts [C, L, P, D]; got "
            f"{tuple(baseline.shape)} and {tuple(fire_counts.shape)}"
        )
    if class_counts.shape != fire_counts.shape[:1]:
        raise ValueError(f"class_counts must be [C] = [{fire_counts.shape[0]}]; got {tuple(class_counts.shape)}")


def _versions() -> dict[str, str]:
    import safetensors

    import skillneuron_harness

    return {
        "skillneuron_harness": skillneuron_harness.__version__,
        "torch": torch.__version__,
        "safetensors": safetensors.__version__,
    }


def write_task_stats(
    directory: str | Path,
    task: str,
    *,
    baseline: torch.Tensor,
    fire_counts: torch.Tensor,
    class_counts: torch.Tensor,
    provenance: dict[str, Any] | None = None,
    subtasks: Sequence[BinarySubtask] | None = None,
    extra: dict[str, torch.Tensor] | None = None,
    top_n: int = 20,
    top_fraction: float = DEFAULT_TOP,
    subtask_baseline: torch.Tensor | None = None,
    subtask_fire_counts: torch.Tensor | None = None,
    fdr: float = DEFAULT_FDR,
    ties: str = "high",
) -> tuple[Path, Path]:
    """Derive and write ``<task>.safetensors`` and ``<task>.json``; returns both paths.

    ``subtasks`` default to :func:`~skillneuron_harness.neurons.statistics.binary_subtasks`.
    ``provenance`` must be JSON-serialisable; ``versions`` is added when absent. The summary's
    ``null`` block (:func:`~skillneuron_harness.neurons.null.null_summary`) counts the neurons
    significant at false discovery rate ``fdr``.
    """
    _check_shapes(baseline, fire_counts, class_counts)
    st_path, json_path = task_paths(directory, task)
    tensors: dict[str, torch.Tensor] = {
        "baseline": baseline.detach().to(torch.float32),  # (L, P, D)
        "class_counts": class_counts.detach().to(torch.int64),  # (C,)
        "fire_counts": fire_counts.detach().to(torch.int64),  # (C, L, P, D)
    }
    if subtasks is None and fire_counts.shape[0] >= 2:
        subtasks = binary_subtasks(fire_counts.shape[0])
    if subtask_fire_counts is not None:
        if subtask_baseline is None or subtask_fire_counts.shape[2:] != fire_counts.shape[1:]:
            raise ValueError("subtask_fire_counts [S, C, L, P, D] need subtask_baseline [S, L, P, D] "
                             "of the same L, P, D")
        tensors["subtask_baseline"] = subtask_baseline.detach().to(torch.float32)  # (S, L, P, D)
        tensors["subtask_fire_counts"] = subtask_fire_counts.detach().to(torch.int64)  # (S, C, L, P, D)
    derived, undefined = derive(tensors["fire_counts"], tensors["class_counts"], subtasks,
                                tensors.get("subtask_fire_counts"))
    tensors.update(derived)
    for name, tensor in (extra or {}).items():
        if name in tensors:
            raise ValueError(f"extra tensor {name!r} would overwrite a standard tensor")
        tensors[name] = tensor.detach()
    tensors = {k: v.cpu().contiguous() for k, v in tensors.items()}

    provenance = dict(provenance or {})
    provenance.setdefault("versions", _versions())
    subtask_spec = ";".join(s.label for s in subtasks or ())
    try:
        provenance_json = json.dumps(provenance, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"provenance must be JSON-serialisable: {err}") from None
    metadata = {
        "format": "pt",
        "task": task,
        "subtasks": subtask_spec,
        "kind": "run",
        "provenance": provenance_json,
    }
    L, P, D = baseline.shape  # noqa: N806
    summary: dict[str, Any] = {
        "num_docs": int(tensors["class_counts"].sum()),  # the one name, as in the provenance and results JSON
        "class_counts": tensors["class_counts"].tolist(),
        "shape": {"layers": L, "positions": P, "neurons": D, "classes": fire_counts.shape[0]},
        "subtasks": [s.label for s in subtasks or ()],
    }
    if undefined is None:
        null, p_value, q_value = null_summary(
            tensors["fire_counts"], tensors["class_counts"], subtasks, derived["score"], top_fraction=top_fraction,
            fdr=fdr, subtask_fire_counts=tensors.get("subtask_fire_counts"), ties=ties)
        summary.update(summarize(derived["score"], derived["position"], top_n=top_n, top_fraction=top_fraction,
                                 p_value=p_value, q_value=q_value, ties=ties))
        summary["skill_neurons"]["ties"] = ties
        summary["null"] = null
    else:
        summary["predictivity_undefined"] = undefined
    document = {
        "task": task,
        "provenance": provenance,
        "tensors": {
            k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in tensors.items()
        },
        "summary": summary,
    }
    # Each file replaced atomically (a killed run leaves the old or the new one, never half); the
    # JSON, written second, repeats the provenance, so that a reader can tell a stale pair.
    save_safetensors(tensors, st_path, metadata=metadata)
    write_json(json_path, json_safe(document))
    return st_path, json_path


def read_task_stats(directory: str | Path, task: str, arg: str = "file") -> TaskStats:
    """Read what :func:`write_task_stats` wrote (the JSON is optional).

    An unreadable, incomplete or damaged file raises
    :class:`~skillneuron_harness.neurons.validate.NeuronFileError` naming ``arg`` and the file.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from skillneuron_harness.neurons.statistics import parse_subtasks
    from skillneuron_harness.neurons.validate import NeuronFileError, check_neuron_file

    st_path, json_path = task_paths(directory, task)
    info = check_neuron_file(st_path, arg, require=())
    try:
        tensors = load_file(str(st_path))
        with safe_open(str(st_path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
    except (SafetensorError, OSError) as err:
        raise NeuronFileError(f"{arg}={st_path}: cannot be read ({err}); rerun the skill_neurons= run that "
                              "wrote it.") from None
    summary = None
    if json_path.exists():
        try:
            document = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise NeuronFileError(f"{json_path}: not readable JSON ({err}); delete it or rerun the run that "
                                  f"wrote it (the tensors in {st_path} do not need it).") from None
        if document.get("provenance", info.provenance) == json_safe(info.provenance):
            summary = document.get("summary")
        else:  # a run died between its two writes: this JSON belongs to an earlier one
            log.warning("%s does not describe %s (their provenance differs: an interrupted write?); its summary "
                        "is ignored.", json_path, st_path)
    spec = metadata.get("subtasks", "")
    num_classes = tensors["class_counts"].shape[0] if "class_counts" in tensors else 0
    return TaskStats(
        tensors=tensors,
        metadata=metadata,
        provenance=info.provenance,
        summary=summary,
        subtasks=parse_subtasks(spec, num_classes) if spec else [],
    )
