"""Run a command in a forked child and ``kill -9`` it after a given delay (for the crash tests).

The child is forked from the test process, so it starts with everything already imported and
cached (models, lm-eval's task index): each kill point costs the command's own time only. The
child uses one thread (forking a process whose OpenMP pool has run is only safe that way).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

FINISH_TIMEOUT = 600  # seconds a child that is not killed may take


def _fresh_tqdm_lock() -> None:
    """Give the child tqdm locks of its own.

    A lock that another thread of the parent held at the fork (tqdm's monitor thread takes the
    bars' write lock every 10 s) stays held for ever in the child, whose first progress bar then
    waits on it: the child hangs.
    """
    import threading

    from tqdm import tqdm
    from tqdm.std import TqdmDefaultWriteLock

    TqdmDefaultWriteLock.th_lock = threading.RLock()
    if hasattr(TqdmDefaultWriteLock, "mp_lock"):
        del TqdmDefaultWriteLock.mp_lock  # recreated by the next instance
    tqdm.set_lock(TqdmDefaultWriteLock())


def _child(target, args, kwargs):
    import torch

    _fresh_tqdm_lock()
    torch.set_num_threads(1)
    target(*args, **kwargs)


def run_and_kill(delay: float | None, target, *args, **kwargs) -> tuple[bool, float]:
    """Run ``target`` in a child; SIGKILL it after ``delay`` seconds (None: let it finish).

    Returns (finished, seconds): whether it finished before the kill, and how long it ran.
    """
    process = multiprocessing.get_context("fork").Process(target=_child, args=(target, args, kwargs))
    started = time.perf_counter()
    process.start()
    process.join(delay if delay is not None else FINISH_TIMEOUT)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        assert delay is not None, f"the child did not finish in {FINISH_TIMEOUT} s (a lock held at the fork?)"
        return False, time.perf_counter() - started
    assert process.exitcode == 0, f"the child failed (exit code {process.exitcode})"
    return True, time.perf_counter() - started
