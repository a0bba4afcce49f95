"""``skillneuron report`` names each file it cannot read instead of skipping it or dying with a traceback."""

from __future__ import annotations

import json

import pytest
from neuron_files import T5, damage, write_run

from skillneuron_harness.cli import main as cli

CURVES = {
    "not_json": '{"settings": {}, "records": [',
    "no_records": '{"settings": {}}',
    "record_without_acc": json.dumps({"records": [{"model": "m", "task": "sst2", "control": "skill", "percent": 1}]}),
    "acc_not_a_number": json.dumps({"records": [{"model": "m", "task": "t", "control": "skill", "percent": 1,
                                                 "acc": "high"}]}),
}


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_unreadable_neuron_file_is_named_and_nothing_is_written(how, tmp_path, capsys):
    write_run(tmp_path / "runs" / "good", T5)
    bad = write_run(tmp_path / "runs" / "bad", T5)
    damage(bad, how)
    assert cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(bad.resolve()) in err and "--skip-unreadable" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--skip-unreadable"]) == 0
    assert str(bad.resolve()) in capsys.readouterr().err  # still named, on stderr


@pytest.mark.parametrize("content", list(CURVES.values()), ids=list(CURVES))
def test_malformed_suppression_curve_names_the_file(content, tmp_path, capsys):
    curve = tmp_path / "curves" / "suppression_curve.json"
    curve.parent.mkdir()
    curve.write_text(content, encoding="utf-8")
    assert cli(["report", str(tmp_path / "curves"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(curve.resolve()) in err and "malformed suppression curve" in err


def test_results_file_that_is_not_json_is_named(tmp_path, capsys):
    results = tmp_path / "runs" / "results_2026-01-01T00-00-00.json"
    results.parent.mkdir()
    results.write_text('{"results": {"sst2": ', encoding="utf-8")  # a copy cut short
    assert cli(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 2
    assert str(results.resolve()) in capsys.readouterr().err
