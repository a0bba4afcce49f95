"""The stock ``lm_eval`` command finds ``prompt_tuned`` and our tasks after a plain install.

These run real subprocesses: the startup bridge only acts at interpreter start. (``lm_eval --model hf``
on our tasks runs in tests/tasks/test_lm_eval_cli.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

BIN = Path(sys.executable).parent


def run(args, env=None, **kwargs):
    merged = {**os.environ, **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=merged, timeout=600, **kwargs)


def python(code, env=None, flags=()):
    return run([sys.executable, *flags, "-c", code], env=env)


ROOT = Path(__file__).resolve().parents[2]


def modules_at_start(tmp_path, env=None) -> set[str]:
    """Modules loaded once the repository's .pth line has run (in a site dir of its own, as an install has it)."""
    site_dir = tmp_path / "site"
    site_dir.mkdir(exist_ok=True)
    (site_dir / "skillneuron_harness.pth").write_text((ROOT / "startup" / "skillneuron_harness.pth").read_text())
    code = f"import site, sys; site.addsitedir({str(site_dir)!r}); print(' '.join(sorted(sys.modules)))"
    out = run([sys.executable, "-S", "-c", code], env={"PYTHONPATH": str(ROOT), **(env or {})})
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_interpreter_start_imports_only_the_bridge(tmp_path):
    # The .pth line adds our package, the host package (an empty __init__) and the bridge module (and,
    # in a checkout, the task_configs namespace entry) to what the interpreter loads anyway: no lm_eval,
    # inspect or importlib.abc.
    off = modules_at_start(tmp_path, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
    on = modules_at_start(tmp_path)
    assert on - off <= {"skillneuron_harness", "skillneuron_harness.host", "skillneuron_harness.host.bridge",
                        "skillneuron_harness.task_configs"}
    assert "skillneuron_harness.host.bridge" in on
    for heavy in ("lm_eval", "torch", "transformers", "datasets", "inspect", "importlib.abc", "__future__"):
        assert heavy not in on


def test_switch_is_read_before_anything_is_imported(tmp_path):
    off = modules_at_start(tmp_path, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
    assert not [m for m in off if m.startswith("skillneuron_harness")]


def test_builtin_models_resolve_next_to_ours():
    # (lm-eval's own tasks next to ours: the stock CLI run below evaluates its sst2 with our adv_sst2)
    out = python("from lm_eval.api.registry import get_model; "
                 "print(get_model('hf').__name__, get_model('prompt_tuned').__name__, get_model('dummy').__name__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["HFLM", "PromptTunedLM", "DummyLM"]


def test_bridge_can_be_switched_off():
    code = ("from lm_eval.api.registry import model_registry; import lm_eval.models; "
            "from lm_eval.tasks import TaskManager; "
            "print('prompt_tuned' in model_registry, 'adv_sst2' in TaskManager().all_tasks)")
    out = python(code, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@pytest.fixture(scope="module")
def t5_prompt(tiny_models, tmp_path_factory):
    path = tmp_path_factory.mktemp("prompt") / "prompt.safetensors"
    torch.manual_seed(0)
    save_file({"prompt": torch.randn(4, 32)}, path)
    return path


def read_results(output_path: Path) -> dict:
    (results,) = output_path.rglob("results_*.json")
    return json.loads(results.read_text())


def test_stock_cli_evaluates_prompt_tuned_on_our_task(tiny_models, t5_prompt, tmp_path):
    """The flagship command: ``lm_eval --model prompt_tuned ... skill_neurons=`` on our adv_sst2 and lm-eval's
    own sst2. The baseline pass is announced on stderr whatever lm-eval's log level (its size, how to change
    it, then an estimate after the first batches) and runs once for both tasks (adv_sst2's baseline is sst2's
    training split)."""
    sn = tmp_path / "sn"
    out = run([str(BIN / "lm_eval"), "--model", "prompt_tuned",
               "--model_args", f"pretrained={tiny_models['t5']},prompt={t5_prompt},skill_neurons={sn},"
                               "sn_baseline_limit=24,sn_batch_size=4",
               "--tasks", "adv_sst2,sst2", "--limit", "6", "--batch_size", "2", "--device", "cpu",
               "--verbosity", "WARNING", "--output_path", str(tmp_path)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    results = read_results(tmp_path)
    assert 0.0 <= results["results"]["adv_sst2"]["acc,none"] <= 1.0
    assert 0.0 <= results["results"]["sst2"]["acc,none"] <= 1.0  # lm-eval's own task, next to ours
    assert results["configs"]["sst2"]["dataset_path"] == "nyu-mll/glue"
    assert results["config"]["model"] == "prompt_tuned"
    from skillneuron_harness.prompts import load_soft_prompt

    assert results["config"]["prompt_sha256"] == load_soft_prompt(str(t5_prompt)).sha256
    assert results["config"]["backend"] == "seq2seq"

    lines = [line.strip() for line in out.stderr.replace("\r", "\n").splitlines()]
    announced = [line for line in lines if line.startswith("Skill-neuron baseline of adv_sst2, sst2: ")]
    assert len(announced) == 1, out.stderr[-3000:]  # one pass for both tasks
    assert " sst2 training documents (sn_baseline_limit=N or all; " in announced[0]
    assert announced[0].split(": ", 1)[1].startswith("24 of ")
    assert announced[0].endswith("4 per pass (sn_batch_size=N).")
    assert any(line.startswith("Skill-neuron baseline of sst2: about ") and " in all (measured on the first "
               in line for line in lines), out.stderr[-3000:]
    sst2, adv = load_file(str(sn / "sst2.safetensors")), load_file(str(sn / "adv_sst2.safetensors"))
    assert torch.equal(sst2["baseline"], adv["baseline"])
    assert set(results["skill_neurons"]) == {"sst2", "adv_sst2"}


def test_skillneuron_eval_without_startup_files(tiny_models, t5_prompt, tmp_path):
    # `python -S` skips site-packages and every .pth file: the bridge never runs. lm-eval's own folder
    # is on the path too, for an lm-eval installed editable (a .pth line of its own).
    import lm_eval

    paths = [sysconfig.get_paths()["purelib"], str(Path(__file__).parents[2]), str(Path(lm_eval.__file__).parents[1])]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    out = run([sys.executable, "-S", "-m", "skillneuron_harness.cli", "eval", "--model", "prompt_tuned",
               "--model_args", f"pretrained={tiny_models['t5']},prompt={t5_prompt}",
               "--tasks", "adv_sst2", "--limit", "4", "--device", "cpu", "--output_path", str(tmp_path),
               "--bootstrap_iters", "7"], env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    results = read_results(tmp_path)
    assert "adv_sst2" in results["results"]
    assert results["config"]["bootstrap_iters"] == 7  # lm-eval records what simple_evaluate got


def test_our_errors_end_the_stock_cli_in_one_line(tmp_path):
    # a misspelled model_args key: refused before anything loads (no pretrained= given, no demo model
    # fetched), in one line with a did-you-mean
    out = run([str(BIN / "lm_eval"), "--model", "prompt_tuned", "--model_args", "promt=x.safetensors",
               "--tasks", "sst2", "--limit", "1"], cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert "unknown model_args promt= (did you mean prompt=?)" in last
    assert last.endswith("(full traceback: SKILLNEURON_HARNESS_TRACEBACK=1)")
    assert "demo model" not in out.stderr


def test_a_misspelled_task_name_gets_close_matches_in_one_line(tmp_path):
    # lm-eval's own "Tasks not found" traceback becomes one line with the names it was close to, before any model.
    out = run([str(BIN / "lm_eval"), "--model", "prompt_tuned", "--model_args", "pretrained=no/such-model",
               "--tasks", "adv_sst,sst2", "--limit", "1"], cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("SkillNeuronError: Tasks not found: adv_sst (adv_sst: did you mean adv_sst2"), last
    assert "no/such-model" not in out.stderr  # nothing was loaded


def test_a_user_task_whose_include_does_not_resolve_names_the_include(tmp_path):
    mine = tmp_path / "my_tasks"
    mine.mkdir()
    (mine / "my.yaml").write_text("include: templates/sst2_jsonl.yaml\ntask: my_adv_sst2\n")  # not next to it
    out = run([str(BIN / "lm_eval"), "--model", "hf", "--model_args", "pretrained=no/such-model",
               "--include_path", str(mine), "--tasks", "my_adv_sst2", "--limit", "1"], cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert f"my_adv_sst2: {mine / 'my.yaml'} includes templates/sst2_jsonl.yaml, which is no file" in last, last


def test_model_args_are_checked_before_lm_eval_indexes_its_tasks(tmp_path):
    # Both the key and the task are wrong: the key is reported, because it is checked before the task index is built.
    out = run([str(BIN / "lm_eval"), "--model", "prompt_tuned", "--model_args", "sn_topp=0.1",
               "--tasks", "no_such_task", "--limit", "1"], cwd=tmp_path)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert "unknown model_args sn_topp= (did you mean sn_top=?)" in last, out.stderr[-2000:]
    assert "Tasks not found" not in out.stderr


@pytest.mark.parametrize(("model_args", "message"), [
    ("suppress=SN,suppress_mode=noise,suppress_sigma=nan", "suppress_sigma=nan: expected a finite number"),
    ("skill_neurons=,sn_baseline_limit=8", "skill_neurons=: the value is empty"),
])
def test_stock_cli_refuses_bad_values_before_anything_loads(model_args, message, tmp_path):
    save_file({"score": torch.zeros(2, 4)}, tmp_path / "sst2.safetensors")
    out = run([str(BIN / "lm_eval"), "--model", "prompt_tuned", "--model_args",
               f"pretrained=no/such-model,{model_args.replace('SN', str(tmp_path / 'sst2.safetensors'))}",
               "--tasks", "sst2", "--limit", "1"], cwd=tmp_path)
    last = out.stderr.strip().splitlines()[-1]
    assert out.returncode == 1 and message in last and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sst2.safetensors"]  # nothing written


def test_without_the_bridge_an_entry_point_host_still_gets_the_statistics(tiny_models, t5_prompt, tmp_path):
    """An lm-eval that finds ``prompt_tuned`` through its entry point alone (no startup bridge): the model
    registered by its import, our tasks by ``include_path``. The statistics are written and reach the results
    JSON in ``config.skill_neurons`` (lm-eval's place for the model's info), where our readers find them."""
    sn, out_file = tmp_path / "sn", tmp_path / "results.json"
    code = f"""
import json
import lm_eval
import skillneuron_harness.host.model  # what lm-eval's entry-point discovery imports
from lm_eval.tasks import TaskManager
from skillneuron_harness.host.bridge import task_folder
results = lm_eval.simple_evaluate(
    model="prompt_tuned", tasks=["adv_sst2", "sst2"], limit=6, batch_size=2, device="cpu", bootstrap_iters=0,
    model_args="pretrained={tiny_models['t5']},prompt={t5_prompt},skill_neurons={sn},sn_baseline_limit=24",
    task_manager=TaskManager(include_path=str(task_folder())))
json.dump(results, open({str(out_file)!r}, "w"), default=str)
"""
    done = python(code, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(out_file.read_text())
    assert "skill_neurons" not in data  # nothing lifted it
    assert set(data["config"]["skill_neurons"]) == {"sst2", "adv_sst2"}
    assert (sn / "sst2.safetensors").is_file() and (sn / "adv_sst2.safetensors").is_file()
    assert data["config"]["skill_neurons"]["adv_sst2"]["consistency"]["reference"] == "task:sst2"
    from skillneuron_harness.core.results import task_results

    rows = {row.task: row for row in task_results(data, out_file)}
    assert rows["adv_sst2"].skill_neurons["num_docs"] == 6 and rows["sst2"].skill_neurons is not None
