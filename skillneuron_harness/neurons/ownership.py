"""The ``skill_neurons=`` folder has one writer, from the model's construction until its process ends.

Two runs with one ``skill_neurons=DIR`` at once would leave one run's statistics in ``DIR`` under the
other run's results JSON. So the folder is locked (:class:`~skillneuron_harness.core.locks.FolderLock`,
``DIR/.skillneuron.lock``):

* when ``model_args`` are read, :func:`refuse_if_busy` refuses a folder that another run holds,
  naming it (pid, host, start time, command);
* ``prompt_tuned`` takes the lock when it is constructed, before the model loads
  (:meth:`OutputFolder.take`), in the process launched as rank 0 (``RANK``/``LOCAL_RANK``: the
  recorder's rank 0, the one that writes). The lock stays with the process after the model is
  released, so past the results JSON that lm-eval writes after the run, until the process ends.
  Runs of one process follow each other: a later model of the process on the same folder takes the
  lock over (a notebook that reruns a cell, a leaderboard resumed after Ctrl-C), and an earlier
  model takes it back at its next evaluation;
* the recorder's first ``begin`` (:meth:`OutputFolder.claim`) takes it where no model did (a
  recorder built on its own) and broadcasts the outcome, so that under ``accelerate launch`` every
  rank stops when rank 0 cannot have the folder;
* a run refused before its first evaluation (``--use_cache``, a generation task) gives the folder
  back (:meth:`OutputFolder.give_back`), and a folder that the lock created and nothing else used
  is removed with it.

The files' size is known once the model is (L layers, P positions, D neurons): :func:`task_file_bytes`;
the recorder checks the folder's free space against it before the first evaluation.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import torch

from skillneuron_harness.core.locks import FolderBusy, FolderLock, refuse_if_held
from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.neurons.statistics import is_distributed

ARG = "skill_neurons="
# folder -> (its lock, the OutputFolder that owns it): locks outlive their model until the process ends
_HELD: dict[Path, tuple[FolderLock, weakref.ref]] = {}


def launch_rank() -> int:
    """The rank the launcher gave this process (``RANK``, else ``LOCAL_RANK``; 0 without one)."""
    for name in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def refuse_if_busy(path: str) -> None:
    """Refuse (rank 0 of the launch only) a ``skill_neurons=`` folder that another run holds."""
    if launch_rank() != 0 or not Path(path).expanduser().is_dir():
        return
    kept = _HELD.get(Path(path).expanduser().absolute())
    if kept is not None and kept[0].held:  # this process holds it: the new model takes it over
        return
    try:
        refuse_if_held(Path(path).expanduser(), ARG)
    except OSError:  # the lock file cannot be made: the write check names the reason
        return


def task_file_bytes(layers: int, positions: int, width: int, classes: int = 2) -> int:
    """Bytes of one task's ``.safetensors`` (fire counts, baseline, predictivity, score, position) plus its JSON."""
    cells = layers * positions * width
    return cells * (8 * classes + 4 + 8) + layers * width * (8 + 8) + (1 << 16)


class OutputFolder:
    """Rank 0's lock on the ``skill_neurons=`` folder (see the module docstring)."""

    def __init__(self, path: str, rank: int) -> None:
        self.path = path
        self.key = Path(path).expanduser().absolute()
        self.rank = rank
        self.lock: FolderLock | None = None
        self.checked = False  # on every rank, once the first claim went through

    def take(self) -> None:
        """Take the folder now (a no-op off rank 0); raises :class:`FolderBusy` naming the holder."""
        if self.rank != 0 or self.lock is not None:
            return
        kept = _HELD.get(self.key)
        if kept is not None and kept[0].held:  # an earlier model of this process: runs of a process follow
            previous = kept[1]()  # each other, so the lock passes on; the earlier model takes it back at its
            if previous is not None and previous is not self:  # next evaluation
                previous.lock, previous.checked = None, False
            self.lock = kept[0]
        else:
            self.lock = FolderLock(self.key, ARG).acquire()
        _HELD[self.key] = (self.lock, weakref.ref(self))

    def claim(self) -> None:
        """:meth:`take` on rank 0, or raise on every rank; a collective under ``accelerate launch``."""
        if self.checked:
            return
        error = None
        try:
            self.take()
        except FolderBusy as err:
            error = str(err)
        except OSError as err:
            error = f"{ARG}{self.path}: cannot be made or locked ({err.strerror or err}); pass a writable folder."
        if is_distributed():
            box = [error]
            torch.distributed.broadcast_object_list(box, src=0)
            error = box[0]
        if error is not None:
            if self.rank == 0:
                raise FolderBusy(error) if "in use by" in error else ModelArgsError(error)
            raise FolderBusy(f"rank 0 cannot have the folder: {error}")
        self.checked = True

    def give_back(self) -> None:
        """Release the folder (a run refused before any work); the next :meth:`claim` takes it again."""
        kept = _HELD.get(self.key)
        if self.lock is not None and kept is not None and kept[0] is self.lock:
            del _HELD[self.key]
            self.lock.release()
        self.lock, self.checked = None, False
