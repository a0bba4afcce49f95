"""Output folders checked before any work: a folder (or a place to make one), writable, with room.

Every command that writes into a folder (``skill_neurons=``, ``skillneuron leaderboard --out``,
``replicate --out``, ``train --output``, ``report --out``) calls :func:`check_output_dir` first, so
that a read-only folder, a file in the folder's place or a full disk is one line naming the argument
before a model loads, not a traceback after the first unit. Nothing is created: the check writes a
few bytes to a hidden temporary file in the folder, or in its nearest existing parent, and removes
it. That write is the test that counts (permissions, read-only mounts, quotas and a full tmpfs all
show in it); the free space that the file system reports is checked against ``need`` bytes (a
floor of :data:`MIN_FREE` when the caller cannot know its outputs' size yet).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from skillneuron_harness.core.errors import SkillNeuronError

MIN_FREE = 1 << 20  # 1 MiB: below this not even a results JSON is sure to fit
_PROBE_BYTES = 4096  # a page: an empty file needs no free block, a written one does


class OutputDirError(SkillNeuronError):
    """An output folder that cannot be used; the message names the argument and the fix."""


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def free_bytes(path: str | Path) -> int | None:
    """Bytes free for this user under ``path`` (an existing folder), or None where it cannot be known."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def probe_write(folder: Path) -> None:
    """Write and remove a few bytes in ``folder``; raises the ``OSError`` of a folder that refuses them."""
    with tempfile.TemporaryFile(dir=folder, prefix=".skillneuron-write-test-") as f:
        f.write(b"\0" * _PROBE_BYTES)
        f.flush()
        os.fsync(f.fileno())


def check_output_dir(path: str | Path, arg: str, *, need: int = MIN_FREE, what: str = "outputs",
                     error: type[SkillNeuronError] = OutputDirError) -> Path:
    """Refuse, naming ``arg``, a folder that cannot be made, written or filled with ``need`` bytes.

    ``arg`` is a ``model_args`` key with its ``=`` (``skill_neurons=``) or a flag (``--out``);
    ``what`` says what goes there (for the message); ``error`` is the class raised (a
    ``ModelArgsError`` for ``model_args``). Returns the folder as an absolute path.
    """
    folder = Path(path).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise error(f"{_named(arg, path)}: this is a file; pass a folder for the {what}.")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise error(f"{_named(arg, path)}: {existing} is a file, so the folder cannot be made; pass another folder.")
    try:
        probe_write(existing)
    except OSError as err:
        raise error(f"{_named(arg, path)}: cannot write in {existing} ({err.strerror or err}); pass a writable "
                    "folder.") from None
    free = free_bytes(existing)
    if free is not None and free < need:
        raise error(f"{_named(arg, path)}: {_size(free)} free in {existing}, the {what} need about {_size(need)}; "
                    "free some space or pass a folder on another disk.")
    return folder


def _named(arg: str, path: str | Path) -> str:
    """``skill_neurons=DIR`` for a ``model_args`` key (``arg`` ending in ``=``), ``--out DIR`` for a flag."""
    return f"{arg}{path}" if arg.endswith("=") else f"{arg} {path}"
