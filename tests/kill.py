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


def _child(target, args, kwargs):
    import torch

    torch.set_num_threads(1)
    target(*args, **kwargs)


def run_and_kill(delay: float | None, target, *args, **kwargs) -> tuple[bool, float]:
    """Run ``target`` in a child; SIGKILL it after ``delay`` seconds (None: let it finish).

    Returns (finished, seconds): whether it finished before the kill, and how long it ran.
    """
    process = multiprocessing.get_context("fork").Process(target=_child, args=(target, args, kwargs))
    started = time.perf_counter()
    process.start()
    process.join(delay)
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        return False, time.perf_counter() - started
    assert process.exitcode == 0, f"the child failed (exit code {process.exitcode})"
    return True, time.perf_counter() - started
