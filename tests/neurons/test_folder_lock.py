"""Two ``skill_neurons=`` runs on one folder never publish mixed statistics: the second is refused.

Run A is a second process (forked, as in the kill tests) stopped just before it writes its files;
run B, started then with another ``--limit`` into the same folder, must be refused naming A, and
the folder must end up holding A's statistics, the ones A's results JSON describes.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time

import lm_eval
import pytest
from kill import _child

from skillneuron_harness.core.locks import FolderBusy
from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.neurons.io import read_task_stats

WAIT = 300  # seconds either side waits for the other


def _wait_for(path, what):
    deadline = time.monotonic() + WAIT
    while not path.exists():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _run_a(model, out, flags, task_manager):
    """Run A: stops before its first write until the test says go, then writes its summary for the test."""
    from skillneuron_harness.neurons import recorder

    real = recorder.write_task_stats

    def write_when_told(directory, task, **kwargs):
        (flags / "a_writing").touch()
        _wait_for(flags / "go", "the test's go")
        return real(directory, task, **kwargs)

    recorder.write_task_stats = write_when_told
    results = lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"pretrained={model},skill_neurons={out},"
                                      "sn_baseline_limit=4", tasks=["sst2"], limit=4, device="cpu",
                                      task_manager=task_manager, bootstrap_iters=0)
    (flags / "a_summary.json").write_text(json.dumps(results["skill_neurons"]["sst2"]))


def test_a_second_run_on_the_folder_is_refused_and_the_first_keeps_its_own_statistics(tiny_models, tmp_path,
                                                                                       task_manager):
    out, flags = tmp_path / "sn", tmp_path / "flags"
    flags.mkdir()
    a = multiprocessing.get_context("fork").Process(target=_child, args=(_run_a, (tiny_models["bert"], out, flags,
                                                                                  task_manager), {}))
    a.start()
    try:
        _wait_for(flags / "a_writing", "run A to reach its write")
        started = time.perf_counter()
        with pytest.raises(FolderBusy, match=rf"skill_neurons={out}: in use by .*\(pid {a.pid} on "):
            lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"pretrained={tiny_models['bert']},"
                                    f"skill_neurons={out},sn_baseline_limit=8", tasks=["sst2"], limit=8,
                                    device="cpu", task_manager=task_manager, bootstrap_iters=0)
        refused_in = time.perf_counter() - started
    finally:
        (flags / "go").touch()
        a.join(WAIT)
    assert a.exitcode == 0
    summary = json.loads((flags / "a_summary.json").read_text())
    stats = read_task_stats(out, "sst2")
    assert summary["num_docs"] == 4 == int(stats.tensors["class_counts"].sum())
    assert summary["top_neurons"] == stats.summary["top_neurons"]
    assert refused_in < 5, f"the refusal took {refused_in:.1f} s: it must come before the model loads"


TRY = """
import sys
from skillneuron_harness.core.locks import FolderBusy, FolderLock
try:
    FolderLock(sys.argv[1], "skill_neurons=").acquire()
except FolderBusy as err:
    print(err)
"""


def _other_process_tries(folder) -> str:
    return subprocess.run([sys.executable, "-c", TRY, str(folder)], capture_output=True, text=True,
                          check=True).stdout


def test_the_folder_is_held_from_the_model_until_the_process_ends(tiny_models, tmp_path, task_manager):
    """Before the first evaluation, and after the model is gone (lm-eval writes its results JSON then)."""
    import gc
    import os

    out = tmp_path / "sn"
    args = f"pretrained={tiny_models['bert']},skill_neurons={out},sn_baseline_limit=4"
    lm = PromptTunedLM.create_from_arg_string(args, {"device": "cpu"})
    assert f"(pid {os.getpid()} on" in _other_process_tries(out)
    lm_eval.simple_evaluate(model=lm, tasks=["sst2"], limit=4, task_manager=task_manager, bootstrap_iters=0)
    del lm
    gc.collect()
    assert f"(pid {os.getpid()} on" in _other_process_tries(out)
    results = lm_eval.simple_evaluate(model="prompt_tuned", model_args=args, tasks=["sst2"], limit=4, device="cpu",
                                      task_manager=task_manager, bootstrap_iters=0)  # this process: taken over
    assert results["skill_neurons"]["sst2"]["num_docs"] == 4 and (out / "sst2.safetensors").is_file()


def test_a_later_model_of_the_process_takes_the_folder_over(tiny_models, tmp_path):
    args = f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'}"
    first = PromptTunedLM.create_from_arg_string(args, {"device": "cpu"})
    second = PromptTunedLM.create_from_arg_string(args, {"device": "cpu"})  # e.g. a notebook cell run again
    assert second.sn_folder.lock.held and first.sn_folder.lock is None
    assert "in use by" in _other_process_tries(tmp_path / "sn")
