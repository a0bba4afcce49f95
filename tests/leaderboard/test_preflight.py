"""Every entry of a leaderboard spec is checked before the first unit runs; each problem names the file and entry."""

from __future__ import annotations

import pytest
import torch
import yaml
from safetensors.torch import save_file

from skillneuron_harness.cli import main as cli
from skillneuron_harness.leaderboard import build_leaderboard, run
from skillneuron_harness.leaderboard.spec import SpecError


@pytest.fixture
def no_units(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a unit started")

    monkeypatch.setattr(run, "load_model", fail)
    monkeypatch.setattr(run, "evaluate_unit", fail)


def _spec(tmp_path, tiny_models, *bad: dict) -> str:
    save_file({"prompt": torch.randn(3, 32)}, tmp_path / "p.safetensors")
    good = {"label": "gpt2", "model": "hf", "model_args": {"pretrained": str(tiny_models["gpt2"])}}
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump({"tasks": ["sst2"], "run": {"limit": 2}, "entries": [good, *bad]}, sort_keys=False))
    return str(path)


def test_bad_entries_after_a_good_one_are_all_named_before_any_unit(tiny_models, tmp_path, no_units, task_manager):
    bert = str(tiny_models["bert"])
    spec = _spec(tmp_path, tiny_models,
                 {"label": "typo", "model": "prompt_tuned",
                  "model_args": {"pretrained": bert, "prompt": "p.safetensors", "sn_topp": 0.1}},
                 {"label": "gone", "model": "hf", "model_args": {"pretrained": str(tmp_path / "no-such-model")}},
                 {"label": "nan", "model": "prompt_tuned", "skill_neurons": True,
                  "model_args": {"pretrained": bert, "sn_top": "nan"}},
                 {"label": "bad prompt", "model": "prompt_tuned",
                  "model_args": {"pretrained": bert, "prompt": str(tmp_path / "missing.safetensors")}})
    with pytest.raises(SpecError) as err:
        build_leaderboard(spec, tmp_path / "board", manager=task_manager)
    lines = str(err.value).splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith(f"{spec}: entries[1] ('typo'): ") and "sn_topp= (did you mean sn_top=?)" in lines[0]
    assert lines[1].startswith(f"{spec}: entries[2] ('gone'): pretrained={tmp_path / 'no-such-model'}: no such folder")
    assert lines[2].startswith(f"{spec}: entries[3] ('nan'): sn_top=nan: expected a finite number")
    assert lines[3].startswith(f"{spec}: entries[4] ('bad prompt'): prompt=") and "no such file" in lines[3]
    assert not (tmp_path / "board").exists()


def test_the_command_prints_one_line_per_bad_entry(tiny_models, tmp_path, no_units, capsys):
    spec = _spec(tmp_path, tiny_models, {"label": "m", "model": "no_such_model", "model_args": {}},
                 {"label": "x", "model": "hf", "model_args": {"pretrained": "not a/valid//id"}})
    assert cli(["leaderboard", spec, "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith(f"skillneuron leaderboard: {spec}: entries[") for line in err), err
    assert "entries[1] ('m'): " in err[0] and "no_such_model" in err[0]
    assert "entries[2] ('x'): pretrained=not a/valid//id: neither a local folder" in err[1]
    assert not (tmp_path / "board").exists()
