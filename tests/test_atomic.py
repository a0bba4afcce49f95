"""Atomic outputs: a failing or killed writer leaves the previous file (or none), never part of a new one."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

from skillneuron_harness.core import atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "x.json"
    atomic.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(path) as tmp:
        tmp.write_text('{"a": 2, "b"', encoding="utf-8")  # half a document, then the writer dies
        raise RuntimeError("killed")
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_writes_land_whole_with_plain_permissions(tmp_path):
    tensors = {"score": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    path = atomic.save_safetensors(tensors, tmp_path / "sub" / "t.safetensors", metadata={"task": "t"})
    assert torch.equal(load_file(path)["score"], tensors["score"])
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600


DISK_FULL = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'


def test_a_full_disk_under_safetensors_is_an_os_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    path = atomic.save_safetensors({"x": torch.zeros(2)}, tmp_path / "t.safetensors")
    real = safetensors.torch.save_file

    def disk_full(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)  # the file is begun, then the disk fills up
        raise SafetensorError(DISK_FULL)

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OSError) as caught:
        atomic.save_safetensors({"x": torch.ones(2)}, path)
    assert caught.value.errno == 28 and caught.value.filename == str(path)
    assert "No space left on device" in str(caught.value) and isinstance(caught.value.__cause__, SafetensorError)
    assert torch.equal(load_file(path)["x"], torch.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.safetensors"]


def test_leftovers_of_an_interrupted_write_are_found_and_never_match_result_globs(tmp_path):
    path = tmp_path / "sst2.safetensors"
    leftover = atomic.temp_name(path)
    leftover.write_bytes(b"\0" * 10)  # what a kill -9 in the middle of save_file leaves
    assert atomic.partial_leftovers(path) == [leftover]
    assert list(tmp_path.glob("*.safetensors")) == [] and list(tmp_path.rglob("*.json")) == []


def test_replace_dir_swaps_whole_folders(tmp_path):
    target, new = tmp_path / "adapter", tmp_path / "new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    (target / "mine.txt").write_text("the user's")
    new.mkdir()
    (new / "adapter.bin").write_text("new")
    atomic.carry_over(target, new, skip={"old.txt"})
    atomic.replace_dir(new, target)
    assert sorted(p.name for p in target.iterdir()) == ["adapter.bin", "mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]
