"""Two CPU processes (gloo): reduced sums and counts equal a single-process run, one collective each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from skillneuron_harness.neurons.statistics import BaselineAccumulator, FireCounter

NUM_CLASSES = 3


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(11)
    # Quarters of small integers: float64 sums are exact in any order, so equality is exact.
    acts = rng.integers(-8, 9, size=(37, 2, 3, 5)).astype(np.float32) / 4  # (N, L, P, D)
    labels = rng.integers(0, NUM_CLASSES, size=37)  # (N,)
    return torch.from_numpy(acts), torch.from_numpy(labels)


def _run(acts: torch.Tensor, labels: torch.Tensor, reduce: bool) -> dict[str, torch.Tensor]:
    base = BaselineAccumulator()
    for start in range(0, len(acts), 4):
        base.update(acts[start : start + 4])
    if reduce:
        base.all_reduce()
    counter = FireCounter(base.mean(), NUM_CLASSES)
    for start in range(0, len(acts), 4):
        counter.update(acts[start : start + 4], labels[start : start + 4])
    if reduce:
        counter.all_reduce()
    return {
        "sums": base.sums,
        "count": torch.tensor(base.count),
        "fire_counts": counter.fire_counts,
        "class_counts": counter.class_counts,
    }


def _worker(rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    calls = []
    original = dist.all_reduce

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    dist.all_reduce = counting
    try:
        acts, labels = _data()
        result = _run(acts[rank::world], labels[rank::world], reduce=True)  # uneven shards 19/18
        result["calls"] = torch.tensor(len(calls))
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.all_reduce = original
        dist.destroy_process_group()


def test_two_process_all_reduce_equals_single_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    acts, labels = _data()
    single = _run(acts, labels, reduce=False)
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert got.pop("calls").item() == 2  # one collective per accumulator
        for name, expected in single.items():
            assert torch.equal(got[name], expected), (rank, name)
