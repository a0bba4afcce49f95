"""Checks on skill-neuron files given as input: readable, complete, and written for the model at hand.

A ``<task>.safetensors`` file enters a run through ``sn_baseline=``, ``sn_reference=``,
``suppress=`` and ``skillneuron average``. :func:`check_neuron_file` reads only its header (a few
kilobytes, no tensor data, so it runs at configuration time, before any model is loaded) and
refuses, naming the argument and the file, a file that is empty, truncated, not safetensors, or
lacks a tensor the caller needs. :func:`check_fits` then compares what the file's provenance and
shapes say (model, backend, FFN layers and their width, positions recorded) with the model it is
used with, so that a file from another model is refused instead of being applied wherever its
shape happens to fit. Model names are compared by their last path component (``google-t5/t5-base``
and ``/models/t5-base`` are one model; ``bert-base-cased`` and ``bert-base-uncased`` are two).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillneuron_harness.core.atomic import partial_leftovers
from skillneuron_harness.core.errors import SkillNeuronError

# Bytes per element of each safetensors dtype (the format's own table).
_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
             "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
_RERUN = "rerun the skill_neurons= run that wrote it"


class NeuronFileError(SkillNeuronError):
    """A skill-neuron file that cannot be used: unreadable, incomplete, or from another model."""


@dataclass
class NeuronFileInfo:
    """What the header of a skill-neuron file says (no tensor data read)."""

    path: Path
    arg: str
    shapes: dict[str, list[int]]  # tensor name -> shape
    metadata: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> int | None:
        """L of ``score`` [L, D] (or ``baseline`` [L, P, D])."""
        shape = self.shapes.get("score") or self.shapes.get("baseline")
        return shape[0] if shape else None

    @property
    def width(self) -> int | None:
        """D, the FFN neurons per layer."""
        shape = self.shapes.get("score") or self.shapes.get("baseline")
        return shape[-1] if shape else None

    @property
    def positions(self) -> int | None:
        """P of ``baseline`` [L, P, D]."""
        shape = self.shapes.get("baseline")
        return shape[1] if shape else None


def _incomplete(path: Path, arg: str, what: str) -> NeuronFileError:
    leftovers = partial_leftovers(path)
    note = f" (an interrupted write left {leftovers[0].name} next to it)" if leftovers else ""
    return NeuronFileError(f"{arg}={path}: {what}{note}; the file is incomplete or damaged: {_RERUN}.")


def read_header(path: str | Path, arg: str) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Tensor shapes and string metadata of a safetensors file, after checking that it is complete."""
    path = Path(path)
    if not path.is_file():
        leftovers = partial_leftovers(path)
        if leftovers:
            raise _incomplete(path, arg, "the file was never completed")
        raise NeuronFileError(f"{arg}={path}: no such file; pass a <task>.safetensors written by a "
                              "skill_neurons= run.")
    size = path.stat().st_size
    if size == 0:
        raise _incomplete(path, arg, "the file is empty (0 bytes)")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise _incomplete(path, arg, f"{size} bytes, too short for a safetensors header")
            (length,) = struct.unpack("<Q", head)
            if length > _MAX_HEADER:
                raise _incomplete(path, arg, "not a safetensors file (no valid header length)")
            if length > size - 8:
                raise _incomplete(path, arg, f"the header claims {length} bytes but the file has {size}")
            raw = f.read(length)
    except OSError as err:
        raise NeuronFileError(f"{arg}={path}: cannot be read ({err.strerror or err}).") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _incomplete(path, arg, "not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise _incomplete(path, arg, "not a safetensors file (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    shapes: dict[str, list[int]] = {}
    end = 0
    for name, spec in header.items():
        try:
            dtype, shape, (begin, stop) = spec["dtype"], list(spec["shape"]), spec["data_offsets"]
            expected = math.prod(shape) * _ITEMSIZE[dtype]
        except (KeyError, TypeError, ValueError):
            raise _incomplete(path, arg, f"tensor {name!r} has a malformed header entry") from None
        if stop - begin != expected:
            raise _incomplete(path, arg, f"tensor {name!r} {dtype} {shape} should take {expected} bytes, "
                                         f"its header gives {stop - begin}")
        shapes[name] = shape
        end = max(end, stop)
    if 8 + length + end != size:
        cut = " (truncated)" if 8 + length + end > size else ""
        raise _incomplete(path, arg, f"the header describes {8 + length + end} bytes but the file has {size}{cut}")
    return shapes, {str(k): str(v) for k, v in metadata.items()}


def check_neuron_file(path: str | Path, arg: str, require: tuple[str, ...] = ("score",)) -> NeuronFileInfo:
    """Refuse, naming ``arg`` and ``path``, a file that is unreadable or lacks a tensor in ``require``."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise NeuronFileError(f"{arg}={path}: expected a <task>.safetensors written by a skill_neurons= run.")
    shapes, metadata = read_header(path, arg)
    missing = [name for name in require if name not in shapes]
    if missing:
        why = ""
        if "score" in missing and "class_counts" in shapes:
            why = " (predictivity was undefined in that run: a class without documents)"
        raise NeuronFileError(f"{arg}={path}: the file has no {', '.join(missing)}{why}; it holds "
                              f"{', '.join(sorted(shapes)) or 'no tensors'}. Pass a <task>.safetensors of a "
                              "skill_neurons= run that has it.")
    try:
        provenance = json.loads(metadata.get("provenance") or "{}")
    except json.JSONDecodeError:
        raise NeuronFileError(f"{arg}={path}: its provenance metadata is not JSON; {_RERUN}.") from None
    return NeuronFileInfo(path, arg, shapes, metadata, provenance if isinstance(provenance, dict) else {})


def model_key(name: str | None) -> str | None:
    """The comparable name of a model: the last component of a Hub id or path, lower case."""
    if not name:
        return None
    return os.path.basename(str(name).rstrip("/\\")).lower() or None


def check_fits(info: NeuronFileInfo, *, model: str | None = None, backend: str | None = None,
               layers: int | None = None, width: int | None = None, positions: str | None = None,
               num_positions: int | None = None) -> None:
    """Refuse ``info``'s file when it was written for another model than the one described.

    Each keyword left ``None`` is not checked; so is each fact the file does not record.
    """
    prov = info.provenance
    theirs = prov.get("model")
    label = f"{info.arg}={info.path}"
    problems = []
    if model is not None and theirs and model_key(theirs) != model_key(model):
        problems.append(f"it was written for model {theirs}, this run uses {model}")
    if backend is not None and prov.get("backend") and prov["backend"] != backend:
        problems.append(f"its backend is {prov['backend']}, this run's is {backend}")
    if layers is not None and info.layers is not None and info.layers != layers:
        problems.append(f"it has {info.layers} FFN layers, the model has {layers}")
    if width is not None and info.width is not None and info.width != width:
        problems.append(f"its layers have {info.width} neurons, the model's have {width}")
    if positions is not None and prov.get("positions") and prov["positions"] != positions:
        problems.append(f"it was recorded at sn_positions={prov['positions']}, this run records {positions}")
    if num_positions is not None and info.positions is not None and info.positions != num_positions:
        problems.append(f"its baseline has {info.positions} positions, this run records {num_positions}")
    if problems:
        who = f" (file: model {theirs or 'unrecorded'}; run: model {model or 'unknown'})"
        raise NeuronFileError(f"{label}: {'; '.join(problems)}{who}. Use a file written by a skill_neurons= run "
                              "of this model with these settings.")


def check_same_model(infos: list[NeuronFileInfo]) -> None:
    """Refuse a set of files (e.g. the runs ``skillneuron average`` averages) that come from different models."""
    if not infos:
        return
    first = infos[0]
    for info in infos[1:]:
        problems = []
        a, b = first.provenance, info.provenance
        if a.get("model") and b.get("model") and model_key(a["model"]) != model_key(b["model"]):
            problems.append(f"model {a['model']} vs {b['model']}")
        for key in ("backend", "positions"):
            if a.get(key) and b.get(key) and a[key] != b[key]:
                problems.append(f"{key} {a[key]} vs {b[key]}")
        if (first.layers, first.width) != (info.layers, info.width):
            problems.append(f"[layers, neurons] {[first.layers, first.width]} vs {[info.layers, info.width]}")
        if problems:
            raise NeuronFileError(f"{first.arg}: {first.path} and {info.path} come from different models or "
                                  f"settings ({'; '.join(problems)}); combine runs of one model only.")
