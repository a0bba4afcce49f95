"""``replicate --out``: checked and locked before any unit; the shards of one run share it, nothing else does."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillneuron_harness.core import folders
from skillneuron_harness.core.folders import OutputDirError
from skillneuron_harness.core.locks import FolderBusy
from skillneuron_harness.experiments import replicate

RELEASE = Path(__file__).resolve().parents[2].parent / "shared" / "published_prompts" / "continuous_prompts"

HOLD = """
import sys, time
from skillneuron_harness.experiments.replicate import own_output
lock = own_output(__import__("pathlib").Path(sys.argv[1]), None if sys.argv[2] == "-" else (int(sys.argv[2]), 2))
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def hold(tmp_path):
    """hold(shard): a second process that owns tmp_path / 'rep' as an unsharded run (None) or shard K of 2."""
    procs = []

    def start(shard):
        which = "-" if shard is None else str(shard)
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "rep"), which], stdout=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_running_unsharded_run_refuses_every_other_run(tmp_path, hold):
    other = hold(None)
    for shard in (None, (0, 2), (1, 2)):
        with pytest.raises(FolderBusy, match=rf"--out {tmp_path / 'rep'}: in use by .*pid {other.pid}"):
            replicate.own_output(tmp_path / "rep", shard)


def test_shards_share_the_folder_but_refuse_the_same_shard_and_an_unsharded_run(tmp_path, hold):
    other = hold(0)
    replicate.own_output(tmp_path / "rep", (1, 2)).release()  # the other shard of the run
    for shard in (None, (0, 2)):
        with pytest.raises(FolderBusy, match=rf"pid {other.pid}"):
            replicate.own_output(tmp_path / "rep", shard)
    other.kill()
    other.wait()
    replicate.own_output(tmp_path / "rep", None).release()  # its holder gone: free


def test_a_read_only_out_is_refused_before_the_lock(tmp_path, monkeypatch):
    def refuse(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(folders, "probe_write", refuse)
    with pytest.raises(OutputDirError, match=f"--out {tmp_path / 'rep'}: cannot write in {tmp_path}"):
        replicate.own_output(tmp_path / "rep", None)
    assert not (tmp_path / "rep").exists()


@pytest.mark.skipif(not RELEASE.is_dir(), reason="../shared/published_prompts is not there")
def test_the_command_is_refused_before_any_unit(tmp_path, hold, monkeypatch):
    ran = []
    monkeypatch.setattr(replicate, "run_unit", lambda *args: ran.append(args) or {})
    other = hold(None)
    with pytest.raises(FolderBusy, match=rf"pid {other.pid}"):
        replicate.main(["--release", str(RELEASE), "--models", "roberta-base", "--seeds", "33", "--tasks", "SST2",
                        "--out", str(tmp_path / "rep"), "--percents"])
    assert ran == []
