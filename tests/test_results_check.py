"""Results files of the wrong shape, fed to every reader: skipped with a warning or refused, each named.

Each case is one good lm-eval results file (synthetic_runs.write_run) with one field changed. A
*foreign* file (valid JSON that is no lm-eval results file) is skipped: the leaderboard built from
the good folder and the foreign file equals the one built from the good folder alone. An *invalid*
file (an lm-eval results file with a value no run writes) is refused by the leaderboard and the
report with exit code 2 and the file named, and nothing is written. Variants lm-eval does write
are read as before.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from synthetic_runs import STRONG, write_run

from skillneuron_harness.cli import main as cli
from skillneuron_harness.core.results import ResultsFileError, task_results


def _set(path, value):
    def change(data):
        *parents, last = path
        for key in parents:
            data = data[key]
        data[last] = value
    return change


FOREIGN = {  # valid JSON, but not an lm-eval results file
    "a_list": lambda d: [1, 2],
    "a_string": lambda d: "results",
    "config_a_list": _set(["config"], [1]),
    "results_an_int": _set(["results"], 5),
    "no_configs": lambda d: {k: v for k, v in d.items() if k != "configs"},
    "configs_a_list": _set(["configs"], []),
}
INVALID = {  # an lm-eval results file with a value no run writes: field named in the message
    "n_samples_a_string": (_set(["n-samples"], "x"), "'n-samples' is a string"),
    "task_samples_a_string": (_set(["n-samples", "sst2"], "x"), "'n-samples.sst2' is a string"),
    "effective_a_string": (_set(["n-samples", "sst2", "effective"], "100"), "'n-samples.sst2.effective'"),
    "effective_negative": (_set(["n-samples", "sst2", "effective"], -3), "'n-samples.sst2.effective' is -3"),
    "effective_above_original": (_set(["n-samples", "sst2", "effective"], 101), "effective 101 > original 100"),
    "acc_nan": (_set(["results", "sst2", "acc,none"], math.nan), "'results.sst2.acc,none' is nan"),
    "acc_inf": (_set(["results", "sst2", "acc,none"], math.inf), "'results.sst2.acc,none' is inf"),
    "acc_percent": (_set(["results", "sst2", "acc,none"], 7.5), "is 7.5: an accuracy is a finite number in [0, 1]"),
    "acc_negative": (_set(["results", "sst2", "acc,none"], -0.1), "'results.sst2.acc,none' is -0.1"),
    "acc_a_string": (_set(["results", "sst2", "acc,none"], "0.9"), "'results.sst2.acc,none' is '0.9'"),
    "acc_a_boolean": (_set(["results", "sst2", "acc,none"], True), "'results.sst2.acc,none' is True"),
    "stderr_percent": (_set(["results", "sst2", "acc_stderr,none"], 16.7), "'results.sst2.acc_stderr,none'"),
    "metrics_a_list": (_set(["results", "sst2"], [1]), "'results.sst2' is a list"),
    "task_config_a_list": (_set(["configs", "sst2"], [1]), "'configs.sst2' is a list"),
    "metadata_a_list": (_set(["configs", "sst2", "metadata"], [1]), "'configs.sst2.metadata' is a list"),
    "clean_twin_a_number": (_set(["configs", "adv_sst2", "metadata", "clean_twin"], 3),
                            "'configs.adv_sst2.metadata.clean_twin'"),
    "versions_a_list": (_set(["versions"], [1]), "'versions' is a list"),
    "prompt_sha_an_int": (_set(["config", "prompt_sha256"], 12345), "'config.prompt_sha256' is a number"),
    "model_args_an_int": (_set(["config", "model_args"], 5), "'config.model_args' is a number"),
    "limit_a_string": (_set(["config", "limit"], "abc"), "'config.limit' is 'abc'"),
    "limit_zero": (_set(["config", "limit"], 0), "'config.limit' is 0"),
    "suppression_a_list": (_set(["config", "suppression"], [1]), "'config.suppression' is a list"),
    "skill_neurons_a_list": (_set(["skill_neurons"], [1]), "'skill_neurons' is a list"),
    "overlap_mean_above_one": (_set(["skill_neurons"], {"adv_sst2": {"consistency": {"overlap": [
        {"fraction": 0.02, "mean": 3.0}]}}}), "overlap[0].mean' is 3.0"),
    "overlap_fraction_a_string": (_set(["skill_neurons"], {"adv_sst2": {"consistency": {"overlap": [
        {"fraction": "2%", "mean": 0.3}]}}}), "overlap[0].fraction' is '2%'"),
}
VALID = {  # what lm-eval (or prompt_tuned) does write
    "stderr_not_available": _set(["results", "sst2", "acc_stderr,none"], "N/A"),
    "model_args_a_mapping": _set(["config", "model_args"], {"pretrained": "org/base-model", "prompt": "/p/strong"}),
    "limit_a_fraction": _set(["config", "limit"], 0.5),
    "limit_a_count": _set(["config", "limit"], 100),
    "choices_a_template": _set(["configs", "sst2", "doc_to_choice"], "{{choices}}"),
    "version_a_string": _set(["versions", "sst2"], "2.0"),
    "overlap_undefined": _set(["skill_neurons"], {"adv_sst2": {"consistency": {"overlap": [
        {"fraction": 0.02, "mean": None}, {"fraction": 0.04, "mean": math.nan}]}}}),
    "no_n_samples": lambda d: {k: v for k, v in d.items() if k != "n-samples"},
}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    write_run(root / "good", STRONG, prompt="/p/strong")
    path = next((root / "good").glob("results_*.json"))
    return root / "good", json.loads(path.read_text())


def _with_bad(tmp_path, good, change):
    folder, data = good
    changed = copy.deepcopy(data)
    result = change(changed)
    changed = changed if result is None else result
    bad = tmp_path / "runs" / "other" / "results_2026-01-02T00-00-00.json"  # newer than the good file
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps(changed))  # NaN and inf as Python's json writes them
    (tmp_path / "runs" / "good").mkdir()
    for f in folder.iterdir():
        (tmp_path / "runs" / "good" / f.name).write_bytes(f.read_bytes())
    return bad


def _entries(path):
    doc = json.loads((path / "leaderboard.json").read_text())
    return [{k: v for k, v in e.items() if k != "origin"} for e in doc["entries"]]


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_foreign_file_is_skipped_with_a_warning_naming_it(case, tmp_path, good, capsys, caplog):
    bad = _with_bad(tmp_path, good, FOREIGN[case])
    assert cli(["leaderboard", "--from", str(tmp_path / "runs"), "--out", str(tmp_path / "board")]) == 0
    assert f"skipping {bad}: not an lm-eval results file" in caplog.text  # a logged warning
    assert "Traceback" not in capsys.readouterr().err
    assert cli(["leaderboard", "--from", str(tmp_path / "runs" / "good"), "--out", str(tmp_path / "alone")]) == 0
    assert _entries(tmp_path / "board") == _entries(tmp_path / "alone")  # the file changed nothing
    with pytest.raises(ResultsFileError) as caught:
        task_results(json.loads(bad.read_text()), str(bad))
    assert caught.value.foreign
    assert cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    assert f"skipping {bad.resolve()}: not an lm-eval results file" in capsys.readouterr().err


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_file_is_refused_naming_it_and_the_field(case, tmp_path, good, capsys):
    change, field = INVALID[case]
    bad = _with_bad(tmp_path, good, change)
    assert cli(["leaderboard", "--from", str(tmp_path / "runs"), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "board").exists()
    assert cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert str(bad.resolve()) in err and field in err and "--skip-unreadable" in err
    assert not (tmp_path / "rep").exists()
    with pytest.raises(ResultsFileError) as caught:
        task_results(json.loads(bad.read_text()), str(bad))
    assert not caught.value.foreign and field in str(caught.value)


@pytest.mark.parametrize("case", list(VALID))
def test_what_lm_eval_writes_is_read(case, tmp_path, good):
    folder, data = good
    changed = copy.deepcopy(data)
    result = VALID[case](changed)
    rows = {r.task: r for r in task_results(changed if result is None else result, "x")}
    assert rows["sst2"].acc == pytest.approx(STRONG["sst2"][0]) and "advglue" not in rows


def test_no_accuracy_outside_zero_one_reaches_a_table(tmp_path, good, capsys):
    """The percent-scale accuracy that once showed as '750.0 ± 16.7' is refused by name, not ranked."""
    folder, data = good
    changed = copy.deepcopy(data)
    changed["results"]["sst2"].update({"acc,none": 7.5, "acc_stderr,none": 0.167})
    (tmp_path / "one").mkdir()
    bad = tmp_path / "one" / "results_2026-01-01T00-00-00.json"
    bad.write_text(json.dumps(changed))
    assert cli(["leaderboard", "--from", str(tmp_path / "one"), "--out", str(tmp_path / "board")]) == 2
    assert "(a percent? lm-eval writes fractions)" in capsys.readouterr().err
    assert not (tmp_path / "board").exists()


def test_a_file_cut_short_is_refused_by_the_leaderboard(tmp_path, good, capsys):
    folder, _ = good
    text = next(folder.glob("results_*.json")).read_text()
    (tmp_path / "runs").mkdir()
    cut = tmp_path / "runs" / "results_2026-01-01T00-00-00.json"
    cut.write_text(text[: len(text) // 2])
    assert cli(["leaderboard", "--from", str(tmp_path / "runs"), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err
    assert str(cut) in err and "not readable JSON" in err


def test_a_folder_of_foreign_files_only_is_refused(tmp_path, capsys, caplog):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "results_x.json").write_text("[1, 2]")
    assert cli(["leaderboard", "--from", str(tmp_path / "runs"), "--out", str(tmp_path / "board")]) == 2
    assert "none of its 1 results_*.json file(s) is an lm-eval results file" in capsys.readouterr().err
