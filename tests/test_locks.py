"""Folder locks: a second writer is refused naming the holder; a dead holder never blocks the next run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from skillneuron_harness.core import locks
from skillneuron_harness.core.locks import FolderBusy, FolderLock, held_by_other, lock_files, read_holder

HOLD = textwrap.dedent("""
    import sys, time
    from skillneuron_harness.core.locks import FolderLock
    lock = FolderLock(sys.argv[1], "--out").acquire()
    print("held", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def holder(tmp_path):
    """A second process holding the lock of ``tmp_path / 'out'``; killed at the end."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_process_is_refused_naming_the_holder(tmp_path, holder):
    with pytest.raises(FolderBusy) as caught:
        FolderLock(tmp_path / "out", "--out").acquire()
    message = str(caught.value)
    assert f"--out {tmp_path / 'out'}: in use by" in message
    assert f"pid {holder.pid} on {socket.gethostname()}" in message and "-c" in message
    assert "pass another folder" in message
    assert held_by_other(tmp_path / "out").pid == holder.pid


def test_a_killed_holder_leaves_the_folder_free_and_is_named_as_taken_over(tmp_path, holder):
    record = read_holder(lock_files(tmp_path / "out")[1])
    assert record.pid == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with FolderLock(tmp_path / "out", "--out") as lock:
        assert lock.took_over == record
        assert read_holder(lock.record).pid == os.getpid()
    assert not lock.record.exists()  # released: our record is gone
    assert held_by_other(tmp_path / "out") is None


def test_wait_waits_for_the_holder(tmp_path, holder):
    import threading

    threading.Timer(1.0, holder.kill).start()
    with FolderLock(tmp_path / "out", "--out", wait=True) as lock:
        assert lock.held


def test_in_one_process_a_live_lock_refuses_and_a_forgotten_one_is_collected(tmp_path):
    first = FolderLock(tmp_path, "skill_neurons=").acquire()
    with pytest.raises(FolderBusy, match=rf"skill_neurons={tmp_path}: in use by this process"):
        FolderLock(tmp_path, "skill_neurons=").acquire()
    first.release()
    FolderLock(tmp_path, "skill_neurons=").acquire().release()

    class Model:  # an object in a reference cycle: only the garbage collector frees it
        def __init__(self):
            self.me, self.lock = self, FolderLock(tmp_path, "skill_neurons=").acquire()

    Model()
    with FolderLock(tmp_path, "skill_neurons=") as lock:
        assert lock.held


def test_named_locks_of_one_folder_are_independent(tmp_path):
    with FolderLock(tmp_path, "--out", name="shard-0"), FolderLock(tmp_path, "--out", name="shard-1"):
        assert held_by_other(tmp_path, "shard-0") is not None and held_by_other(tmp_path) is None


# ---------------------------------------------------------------- file systems without flock
@pytest.fixture
def no_flock(monkeypatch):
    def unsupported(self):
        raise NotImplementedError("flock: Function not implemented")

    monkeypatch.setattr(FolderLock, "_os_lock", unsupported)


def _record(folder, pid, host):
    folder.mkdir(exist_ok=True)
    record = lock_files(folder)[1]
    record.write_text(json.dumps({"pid": pid, "host": host, "started": "2025-01-01T00:00:00",
                                  "command": "lm_eval --model prompt_tuned"}))
    return record


def test_without_flock_the_record_is_the_lock(tmp_path, no_flock):
    with FolderLock(tmp_path, "--out"):
        with pytest.raises(FolderBusy, match="in use by this process"):
            FolderLock(tmp_path, "--out").acquire()
    with FolderLock(tmp_path, "--out"):  # released: free again
        pass


def test_without_flock_a_dead_pid_of_this_host_is_taken_over(tmp_path, no_flock):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _record(tmp_path, dead.pid, socket.gethostname())
    with FolderLock(tmp_path, "--out") as lock:
        assert lock.took_over.pid == dead.pid and read_holder(lock.record).pid == os.getpid()


def test_without_flock_a_live_pid_or_another_host_is_refused(tmp_path, no_flock):
    _record(tmp_path, os.getppid(), socket.gethostname())
    with pytest.raises(FolderBusy, match=rf"lm_eval --model prompt_tuned \(pid {os.getppid()} on"):
        FolderLock(tmp_path, "--out").acquire()
    record = _record(tmp_path, 12345, "elsewhere")
    with pytest.raises(FolderBusy, match=f"on elsewhere.*if that run is gone, delete {record}"):
        FolderLock(tmp_path, "--out").acquire()


def test_pid_alive():
    assert locks.pid_alive(os.getpid()) and not locks.pid_alive(0)
