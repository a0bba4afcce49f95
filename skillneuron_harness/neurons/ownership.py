"""The ``skill_neurons=`` folder has one writer: checked before the model loads, owned from the first evaluation.

Two runs with one ``skill_neurons=DIR`` at once would leave one run's statistics in ``DIR`` under the
other run's results JSON. So the folder is locked (:class:`~skillneuron_harness.core.locks.FolderLock`,
``DIR/.skillneuron.lock``):

* when ``model_args`` are read (before the model loads), :func:`refuse_if_busy` refuses a folder
  that another run holds, naming it (pid, host, start time, command);
* at the first evaluation (:meth:`OutputFolder.claim`, from the recorder's ``begin``) rank 0, the
  process that writes the files, takes the lock and keeps it until the model is released (garbage
  collected, or the process ends), so past the results JSON lm-eval writes after the run. The
  outcome is broadcast, so that under ``accelerate launch`` every rank stops when rank 0 cannot
  have the folder. A run refused before its first evaluation (``--use_cache``, a generation task)
  has created nothing.

The files' size is known once the model is (L layers, P positions, D neurons): :func:`task_file_bytes`;
the recorder checks the folder's free space against it before the first evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from skillneuron_harness.core.locks import FolderBusy, FolderLock, refuse_if_held
from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.neurons.statistics import is_distributed

ARG = "skill_neurons="


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
    try:
        refuse_if_held(Path(path).expanduser(), ARG)
    except OSError:  # the lock file cannot be made: the write check names the reason
        return


def task_file_bytes(layers: int, positions: int, width: int, classes: int = 2) -> int:
    """Bytes of one task's ``.safetensors`` (fire counts, baseline, predictivity, score, position) plus its JSON."""
    cells = layers * positions * width
    return cells * (8 * classes + 4 + 8) + layers * width * (8 + 8) + (1 << 16)


class OutputFolder:
    """Rank 0's lock on the ``skill_neurons=`` folder, taken at the first :meth:`claim`."""

    def __init__(self, path: str, rank: int) -> None:
        self.path = path
        self.rank = rank
        self.lock: FolderLock | None = None
        self.claimed = False  # on every rank, once the first claim succeeded

    def claim(self) -> None:
        """Take the folder (rank 0) or raise on every rank; a collective under ``accelerate launch``."""
        if self.claimed:
            return
        error = None
        if self.rank == 0:
            try:
                self.lock = FolderLock(self.path, ARG).acquire()
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
        self.claimed = True

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
        self.lock, self.claimed = None, False
