"""The leaderboard folder: skill-neuron files kept per unit, one run at a time, checked before any work.

A limit 4, 8, 4 sequence on one ``--out``: the third run reuses the limit-4 units and must read the
neuron files written with them (not the limit-8 run's). A second run on a folder that another
process holds is refused naming it before any unit runs; temporary files of a live writer are never
removed. A read-only or full ``--out`` is refused before the first unit.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from skillneuron_harness.cli import main as cli
from skillneuron_harness.core import folders
from skillneuron_harness.core.folders import OutputDirError
from skillneuron_harness.core.locks import FolderBusy
from skillneuron_harness.leaderboard import build_leaderboard, run
from skillneuron_harness.leaderboard.spec import load_spec
from skillneuron_harness.leaderboard.units import scan


@pytest.fixture(scope="module")
def spec_file(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("spec")
    torch.manual_seed(3)
    save_file({"prompt": torch.randn(3, 32)}, root / "p.safetensors")
    spec = {"tasks": ["sst2", "adv_sst2"], "run": {"device": "cpu", "batch_size": 4, "limit": 4, "bootstrap_iters": 0},
            "entries": [{"label": "p", "model": "prompt_tuned", "skill_neurons": True,
                         "model_args": {"pretrained": str(tiny_models["bert"]), "prompt": "p.safetensors",
                                        "sn_baseline_limit": 4}}]}
    path = root / "board.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def units_run(monkeypatch):
    """The (entry, task) of every unit that runs."""
    ran, real = [], run.evaluate_unit

    def unit(lm, u, options, manager):
        ran.append(u.task.name)
        return real(lm, u, options, manager)

    monkeypatch.setattr(run, "evaluate_unit", unit)
    return ran


def _neuron_files(out) -> dict[str, str]:
    """task -> the .safetensors its ranked unit lists."""
    doc = json.loads((out / "leaderboard.json").read_text())
    files = {}
    for task, cell in doc["entries"][0]["provenance"]["tasks"].items():
        summary = json.loads(open(cell["source"]).read())["skill_neurons"][task]
        files[task] = next(f for f in summary["files"] if f.endswith(".safetensors"))
    return files


def _overlap(clean_file, adv_file) -> float:
    """Top-2% overlap per layer, mean over layers, as the originals compute it (NumPy)."""
    clean, adv = load_file(clean_file)["score"].numpy(), load_file(adv_file)["score"].numpy()  # (L, D)
    k = int(clean.shape[1] * 0.02)
    return float(np.mean([len(set(np.argsort(clean[layer], kind="stable")[::-1][:k]) &
                              set(np.argsort(adv[layer], kind="stable")[::-1][:k])) / k
                          for layer in range(clean.shape[0])]))


def _consistency(out) -> float | None:
    doc = json.loads((out / "leaderboard.json").read_text())
    return doc["entries"][0]["values"]["consistency"]["value"]


def test_limit_4_8_4_reads_the_neuron_files_of_its_own_units(spec_file, tmp_path, task_manager, units_run):
    out, spec = tmp_path / "board", load_spec(spec_file)
    build_leaderboard(spec, out, manager=task_manager)
    first = _neuron_files(out)
    want = _overlap(first["sst2"], first["adv_sst2"])
    snapshot = {task: load_file(path) for task, path in first.items()}
    assert _consistency(out) == pytest.approx(want)

    spec.run.limit = 8
    build_leaderboard(spec, out, manager=task_manager)
    assert {task: int(load_file(f)["class_counts"].sum()) for task, f in _neuron_files(out).items()} == \
        {"sst2": 8, "adv_sst2": 8}

    spec.run.limit = 4
    units_run.clear()
    build_leaderboard(spec, out, manager=task_manager)
    assert units_run == []  # both reused
    again = _neuron_files(out)
    assert again == first
    for task, path in again.items():  # the files written with the limit-4 units, untouched by the limit-8 run
        tensors = load_file(path)
        assert int(tensors["class_counts"].sum()) == 4
        assert all(torch.equal(tensors[k], snapshot[task][k]) for k in snapshot[task])
    assert _consistency(out) == pytest.approx(want)
    assert not list((out / "neurons" / "p" / ".current").glob("*.safetensors"))  # every file moved to its unit


HOLD = """
import sys, time
from skillneuron_harness.core.locks import FolderLock
lock = FolderLock(sys.argv[1], "--out").acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_run_on_the_folder_is_refused_before_any_unit(spec_file, tmp_path, task_manager, units_run, capsys):
    out = tmp_path / "board"
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=rf"--out {out}: in use by .*\(pid {other.pid} on "):
            build_leaderboard(spec_file, out, manager=task_manager)
        assert cli(["leaderboard", str(spec_file), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pid {other.pid}" in err[0] and "pass another folder" in err[0]
    finally:
        other.kill()
        other.wait()
    assert units_run == [] and not (out / "runs").exists()


def test_temporary_files_of_a_live_writer_are_kept_and_a_dead_ones_removed(tmp_path):
    folder = tmp_path / "runs" / "p" / "sst2"
    folder.mkdir(parents=True)
    dead, live = folder / ".results_a.json.0001.partial", folder / ".results_b.json.0002.partial"
    dead.write_text("{")
    live.write_text("{")
    started = time.time()
    os.utime(dead, (started - 60, started - 60))  # written before this run took the lock
    scan(tmp_path, since=started - 1)
    assert not dead.exists() and live.exists()
    scan(tmp_path)  # without the lock's time nothing is removed
    assert live.exists()


def test_a_read_only_folder_is_refused_before_any_unit(spec_file, tmp_path, task_manager, units_run):
    out = tmp_path / "board"
    out.mkdir()
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running as root: chmod does not make the folder read-only")
        with pytest.raises(OutputDirError, match=f"--out {out}: cannot write in {out}"):
            build_leaderboard(spec_file, out, manager=task_manager)
    finally:
        out.chmod(0o755)
    assert units_run == []


@pytest.mark.parametrize("fault", ["read_only_mount", "full_disk"])
def test_an_unusable_folder_is_refused_in_one_line_before_any_unit(fault, spec_file, tmp_path, monkeypatch,
                                                                   units_run, capsys):
    if fault == "read_only_mount":
        def refuse(folder):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(folders, "probe_write", refuse)
        expected = "cannot write in"
    else:
        monkeypatch.setattr(folders, "free_bytes", lambda path: 0)
        expected = "0 B free in"
    out = tmp_path / "board"
    assert cli(["leaderboard", str(spec_file), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"skillneuron leaderboard: --out {out}: {expected}")
    assert units_run == [] and not out.exists()
