"""Skill-neuron files for tests of bad input: a valid run's files, and the ways a file gets damaged."""

from __future__ import annotations

import torch

from skillneuron_harness.core.atomic import temp_name
from skillneuron_harness.neurons import io

T5 = {"model": "/models/t5-small", "backend": "seq2seq", "positions": "prompt"}
BERT = {"model": "google-bert/bert-base-uncased", "backend": "masked", "positions": "prompt"}


def write_run(directory, provenance, layers=2, positions=3, neurons=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([5, 7])
    fire = torch.stack([torch.randint(0, int(n) + 1, (layers, positions, neurons), generator=g) for n in counts])
    return io.write_task_stats(directory, "sst2", baseline=torch.rand(layers, positions, neurons, generator=g),
                               fire_counts=fire, class_counts=counts, provenance=provenance)[0]


def damage(path, how):
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) - 40])
    elif how == "header_cut":
        path.write_bytes(data[:20])
    elif how == "garbage":
        path.write_bytes(b"this is not a safetensors file at all" * 3)
    elif how == "never_completed":  # a kill -9 during the write: only the temporary file exists
        temp_name(path).write_bytes(data[:100])
        path.unlink()
    return {"empty": "empty", "truncated": "truncated", "header_cut": "header", "garbage": "not a safetensors",
            "never_completed": "never completed"}[how]
