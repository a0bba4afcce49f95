"""The crash tests' fork helper (tests/kill.py) survives a tqdm lock held by another thread at the fork."""

from __future__ import annotations

import threading

import kill


def _draw_a_bar():
    from tqdm import tqdm

    for _ in tqdm(range(3), disable=False):
        pass


def test_a_child_forked_while_another_thread_holds_tqdms_lock_still_runs(monkeypatch):
    # what tqdm's monitor thread does every 10 s: hold the bars' write lock for a moment
    from tqdm import tqdm

    monkeypatch.setattr(kill, "FINISH_TIMEOUT", 20, raising=False)
    taken, release = threading.Event(), threading.Event()

    def monitor():
        with tqdm.get_lock():
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=monitor)
    thread.start()
    taken.wait(5)
    try:
        finished, _ = kill.run_and_kill(None, _draw_a_bar)  # forked while the lock is held
    finally:
        release.set()
        thread.join()
    assert finished
