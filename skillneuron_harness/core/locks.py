"""One writer per output folder: a lock file that names its holder, taken before any work.

Two runs writing into one folder at once publish mixed outputs (one run's statistics under the
other's results JSON, a unit computed twice, a ``.partial`` of a live writer deleted). So the
commands that own a folder (``skill_neurons=DIR``, ``skillneuron leaderboard --out``, ``skillneuron
replicate --out``) take :class:`FolderLock` on it first, and a second run refuses at once::

    --out board: in use by skillneuron leaderboard board.yaml --out board (pid 4242 on node7, since
    2025-05-01T10:00:00); wait for it to finish or pass another folder ...

The lock is an operating-system file lock (``flock``, through the ``filelock`` package) on
``DIR/.skillneuron.lock``; the holder's record (pid, host, start time, command) is written next to
it, to ``DIR/.skillneuron.lock.holder`` (JSON, under a name no ``*.json`` reader picks up), for the
message: ``filelock`` may empty or remove its own file. The operating system drops the lock when its
process ends, however it ends (``kill -9`` included), so a dead run never blocks the next: the next
run takes the lock and replaces the record. On a file system without ``flock`` (some network
mounts) the record itself is the lock, created exclusively: a record whose pid no longer runs *on
this host* is stale and is taken over; a record of another host is never guessed dead (the message
says to delete it once that run is gone). A lock is released by :meth:`FolderLock.release`, when
the object is garbage collected, or at exit. Within one process a second lock on a folder is
refused as well, after a garbage collection has had the chance to release a forgotten one.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import sys
import time
import weakref
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from skillneuron_harness.core.errors import SkillNeuronError

LOCK_NAME = ".skillneuron.lock"


class FolderBusy(SkillNeuronError):
    """The folder is locked by another run; the message names it."""


@dataclass
class Holder:
    """Who holds a folder's lock."""

    pid: int
    host: str
    started: str  # ISO time
    command: str
    started_ts: float = 0.0  # time.time() at acquisition: what the .partial files are compared against

    def describe(self) -> str:
        return f"{self.command} (pid {self.pid} on {self.host}, since {self.started})"

    def alive(self) -> bool | None:
        """Whether the process still runs; None when it is on another host (cannot be known)."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    return " ".join(argv)[:500]


def lock_files(folder: str | Path, name: str = "") -> tuple[Path, Path]:
    """(the lock file, its record) of ``folder``; ``name`` tells apart locks of one folder (``shard-0``)."""
    stem = f".skillneuron.{name}.lock" if name else LOCK_NAME
    return Path(folder) / stem, Path(folder) / f"{stem}.holder"


def read_holder(record: str | Path) -> Holder | None:
    """The holder a lock record names, or None (no record, or an unreadable one)."""
    try:
        data = json.loads(Path(record).read_text(encoding="utf-8"))
        return Holder(**{k: data[k] for k in ("pid", "host", "started", "command")},
                      started_ts=float(data.get("started_ts", 0.0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(record: Path, holder: Holder) -> None:
    from skillneuron_harness.core.atomic import write_json

    write_json(record, asdict(holder))


class FolderLock:
    """``with FolderLock(folder, "--out"):`` (or :meth:`acquire` / :meth:`release`): this run owns ``folder``.

    ``arg`` names the argument in the refusal (``--out``, ``skill_neurons=``); ``wait`` waits for
    the holder to finish instead of refusing; ``name`` picks one of several locks of a folder
    (``replicate --shard``). The folder is created; a folder this lock created and nothing else
    used (it holds only lock files) is removed again at release.
    """

    def __init__(self, folder: str | Path, arg: str, *, wait: bool = False, name: str = "") -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.arg = arg
        self.wait = wait
        self.path, self.record = lock_files(self.folder, name)
        self.holder: Holder | None = None  # ours, once acquired
        self.took_over: Holder | None = None  # the record of a dead run we replaced
        self._lock = None  # the filelock object, or None on the record-only path
        self._finalizer = None

    @property
    def held(self) -> bool:
        return self.holder is not None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise :class:`FolderBusy` naming the holder."""
        if self.held:
            return self
        created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        previous = read_holder(self.record)
        try:
            try:
                self._lock = self._os_lock()
            except FolderBusy:
                holder = read_holder(self.record)
                if holder is None or (holder.pid, holder.host) != (os.getpid(), socket.gethostname()):
                    raise
                gc.collect()  # an object of this process that nobody refers to any more releases its lock
                self._lock = self._os_lock()
        except NotImplementedError:  # no flock on this file system: the record is the lock
            self._lock = None
            self._record_lock()
        else:
            if previous is not None and previous.alive() is False:
                self.took_over = previous
        self.holder = Holder(os.getpid(), socket.gethostname(), datetime.now().isoformat(timespec="seconds"),
                             _command(), time.time())
        try:
            _write_record(self.record, self.holder)
        except OSError:
            _release(self._lock, self.record, None)
            self._lock, self.holder = None, None
            raise
        self._finalizer = weakref.finalize(self, _release, self._lock, self.record, self.holder,
                                           self.path if created else None)
        return self

    def _os_lock(self):
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path))
        try:
            lock.acquire(timeout=-1 if self.wait else 0)
        except Timeout:
            raise self.refusal(read_holder(self.record)) from None
        except OSError as err:
            if err.errno in _NO_FLOCK:
                raise NotImplementedError(str(err)) from err
            raise
        return lock

    def _record_lock(self) -> None:
        """The record-only lock: created exclusively; a dead run's record (this host) is taken over."""
        while True:
            try:
                os.close(os.open(self.record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                return
            except FileExistsError:
                pass
            holder = read_holder(self.record)
            if holder is not None and holder.alive() is False:
                stale = self.record.with_name(f"{self.record.name}.{os.getpid()}.stale")
                try:
                    os.replace(self.record, stale)  # of several contenders, one moves this very file aside
                except FileNotFoundError:
                    continue
                if read_holder(stale) == holder:
                    self.took_over = holder
                stale.unlink(missing_ok=True)
                continue
            if not self.wait:
                raise self.refusal(holder, record_only=True)
            time.sleep(1.0)

    def refusal(self, holder: Holder | None, record_only: bool = False) -> FolderBusy:
        """The error that names ``holder`` (``record_only``: the lock is the record, see the module docstring)."""
        named = f"{self.arg}{self.folder}" if self.arg.endswith("=") else f"{self.arg} {self.folder}"
        if holder is None or (not record_only and holder.alive() is False):  # a record of an earlier run
            who = "another run that has just started (its record is not written yet)"
        elif (holder.pid, holder.host) == (os.getpid(), socket.gethostname()):
            who = (f"this process, since {holder.started} (an earlier model or command of this process that still "
                   "holds the folder: let it finish, or release it)")
        else:
            who = holder.describe()
        fix = "wait for it to finish or pass another folder"
        if record_only and holder is not None and holder.alive() is None:
            fix += f"; if that run is gone, delete {self.record}"
        return FolderBusy(f"{named}: in use by {who}; {fix}. Two runs in one folder would mix their outputs.")

    def release(self) -> None:
        """Give the folder up (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
        self._lock, self.holder, self._finalizer = None, None, None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def held_by_other(folder: str | Path, name: str = "") -> Holder | None:
    """The holder of another run's lock on ``folder`` (``name``), or None when it is free.

    Takes and drops the lock at once to find out (a contender in that instant is refused as if busy).
    """
    _, record = lock_files(folder, name)
    if not Path(folder).is_dir():
        return None
    probe = FolderLock(folder, "", name=name)
    try:
        probe.acquire()
    except FolderBusy:
        return read_holder(record) or Holder(0, "?", "?", "another run")
    probe.release()
    return None


def refuse_if_held(folder: str | Path, arg: str, name: str = "") -> None:
    """Raise :class:`FolderBusy` (naming ``arg`` and the holder) when another run holds ``folder``; else nothing."""
    holder = held_by_other(folder, name)
    if holder is not None:
        raise FolderLock(folder, arg, name=name).refusal(holder)


# errno values of a file system that has no flock: ENOSYS, ENOLCK, EOPNOTSUPP/ENOTSUP
_NO_FLOCK = {38, 37, 95}


def _release(lock, record: Path, holder: Holder | None, created: Path | None = None) -> None:
    """Remove our record (if it is still ours) and drop the OS lock; also run at exit and on collection.

    ``created``: the lock file of a folder that this lock created; the folder goes too when nothing
    else was put in it (the lock file is removed while it is still held).
    """
    try:
        if holder is not None and read_holder(record) == holder:
            record.unlink(missing_ok=True)
        if created is not None and {p.name for p in created.parent.iterdir()} <= {created.name}:
            created.unlink(missing_ok=True)
            created.parent.rmdir()
    except OSError:
        pass
    if lock is not None:
        try:
            lock.release()
        except Exception:  # noqa: BLE001  (at exit, on a folder that is gone: nothing left to do)
            pass
