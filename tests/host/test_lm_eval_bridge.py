"""The bridge leaves lm-eval's documented ``TaskManager`` behaviour alone and steps aside for upstream plugins.

lm-eval's own ``TaskIndex.build`` is replaced by a recorder in a subprocess, so that these tests see
the folders each ``TaskManager`` asks lm-eval to index without indexing thousands of YAMLs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

from skillneuron_harness.host import bridge as lm_eval_bridge

RECORD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import lm_eval.tasks._index as index
    seen = []
    index.TaskIndex.build = staticmethod(lambda paths, **kw: seen.append([str(Path(p).resolve()) for p in paths]) or {})
    from lm_eval.tasks import TaskManager
    import lm_eval.tasks.manager as manager
    defaults = str(Path(manager.__file__).resolve().parent)
    ours = str(Path(sys.argv[1]).resolve())
    user = sys.argv[2]
    managers = [TaskManager(), TaskManager(include_path=user), TaskManager(include_path=[user], include_defaults=False),
                # what lm-eval's own plugin discovery (upstream #4015) passes: defaults, plugins, include_path
                TaskManager(include_path=[ours, user])]
    print(json.dumps({"defaults": defaults, "ours": ours, "seen": seen,
                      "include_path": [m.include_path for m in managers]}))
""")


def record(tmp_path, env=None):
    user = tmp_path / "mine"
    user.mkdir()
    out = subprocess.run([sys.executable, "-c", RECORD, str(lm_eval_bridge.task_folder()), str(user)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1]), str(user.resolve())


def test_task_manager_keeps_its_documented_behaviour(tmp_path):
    got, user = record(tmp_path)
    defaults, ours = got["defaults"], got["ours"]
    assert got["seen"] == [
        [defaults, ours],          # TaskManager(): lm-eval's tasks, then ours
        [defaults, ours, user],    # the user's folder last, so that it overrides ours
        [user],                    # include_defaults=False: only the user's tasks
        [defaults, ours, user],    # lm-eval already passes our folder: not indexed twice
    ]
    assert got["include_path"] == [None, user, [user], [ours, user]]


def test_switched_off_bridge_adds_nothing(tmp_path):
    got, user = record(tmp_path, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
    assert got["seen"][:3] == [[got["defaults"]], [got["defaults"], user], [user]]


def test_model_registration_steps_aside_when_lm_eval_reads_entry_points():
    import lm_eval.api.registry as registry

    assert not lm_eval_bridge._reads_model_entry_points(registry)  # lm-eval 0.4.13

    # Upstream #4013's get_model (abridged): it loads the group's entry points before the lookup.
    source = textwrap.dedent('''
        def get_model(model_name):
            load_plugins("lm_eval.models", model_registry)
            return model_registry.get(model_name)
    ''')
    upstream = types.ModuleType("upstream_registry")
    exec(compile(source, "upstream_registry", "exec"), upstream.__dict__)
    assert lm_eval_bridge._reads_model_entry_points(upstream)


def test_evaluate_overrides_apply_inside_the_block_only():
    with lm_eval_bridge.evaluate_overrides(bootstrap_iters=7):
        assert lm_eval_bridge._OVERRIDES == {"bootstrap_iters": 7}
        with lm_eval_bridge.evaluate_overrides(limit=2):
            assert lm_eval_bridge._OVERRIDES == {"bootstrap_iters": 7, "limit": 2}
        assert lm_eval_bridge._OVERRIDES == {"bootstrap_iters": 7}
    assert lm_eval_bridge._OVERRIDES == {}


def test_our_commands_quiet_lm_evals_git_probe(tmp_path, monkeypatch, capfd):
    """Outside a git checkout lm-eval's git probe prints git's "fatal: not a git repository" once per
    evaluation; our commands discard git's stderr and change nothing else."""
    import shutil

    import lm_eval.evaluator as evaluator
    import lm_eval.loggers.utils as logger_utils

    from skillneuron_harness.host.compat import quiet_git_probe

    monkeypatch.chdir(tmp_path)
    probe = logger_utils.get_git_commit_hash
    assert probe() is None
    if shutil.which("git"):
        assert "not a git repository" in capfd.readouterr().err  # what lm-eval alone prints
    with quiet_git_probe():
        assert evaluator.get_git_commit_hash() is None and logger_utils.get_git_commit_hash() is None
        print("after the probe", file=__import__("sys").stderr)
    err = capfd.readouterr().err
    assert "not a git repository" not in err and "after the probe" in err  # stderr itself is back
    assert logger_utils.get_git_commit_hash is probe and evaluator.get_git_commit_hash is probe


def test_results_record_the_device_and_batch_size_the_model_ran_with(tiny_models, task_manager):
    # lm-eval records its own arguments: None for both when the model is passed loaded (the leaderboard's units).
    import lm_eval

    from skillneuron_harness.host.model import PromptTunedLM

    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu", batch_size=3)
    loaded = lm_eval.simple_evaluate(model=lm, tasks=["sst2"], limit=2, task_manager=task_manager, bootstrap_iters=0)
    assert loaded["config"]["device"] == "cpu" and loaded["config"]["batch_size"] == 3


def test_a_raised_batch_size_is_recorded_for_the_summary_line(monkeypatch):
    """lm-eval prints ``batch_size: <asked> (<batch_sizes>)``: the demo model's 32 shows beside the 1 asked."""
    model = types.SimpleNamespace(engine=object(), batch_size=32, device="cpu")
    monkeypatch.setattr(lm_eval_bridge, "_RAISED_BATCH_SIZE", [32])
    config = {"batch_size": 32, "batch_sizes": [], "device": None}
    lm_eval_bridge._record_execution(config, model)
    assert config == {"batch_size": 32, "batch_sizes": [32], "device": "cpu"}
    monkeypatch.setattr(lm_eval_bridge, "_RAISED_BATCH_SIZE", [])
    config = {"batch_size": 32, "batch_sizes": [], "device": None}
    lm_eval_bridge._record_execution(config, model)
    assert config["batch_sizes"] == []  # the size asked: nothing to add
    kwargs = {"model_args": "", "batch_size": 1}
    monkeypatch.setattr(lm_eval_bridge, "_RAISED_BATCH_SIZE", [])
    lm_eval_bridge._demo_defaults(kwargs)
    assert kwargs["batch_size"] == 32 and lm_eval_bridge._RAISED_BATCH_SIZE == [32]
