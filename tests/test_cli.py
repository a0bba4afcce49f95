"""The ``skillneuron`` command: every subcommand takes both --out and --output, help reads right."""

from __future__ import annotations

import re

import pytest

from skillneuron_harness.cli import COMMANDS, main

WRITERS = sorted(set(COMMANDS) - {"eval"})  # eval takes lm-eval's own arguments (--output_path)


def _help(capsys, name: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("name", WRITERS)
def test_every_subcommand_takes_out_and_output(name, capsys):
    text = _help(capsys, name)
    # one option under two names: "--out OUT, --output OUT" or "--output OUTPUT, --out OUTPUT"
    assert re.search(r"--out (\S+), --output \1|--output (\S+), --out \2", text), text


def test_suppression_curve_help_says_the_random_control_runs_by_default(capsys):
    text = _help(capsys, "suppression-curve")
    assert "--random, --no-random" in text and "--no-random skips it (default: True)" in text
    assert "--device DEVICE torch device" in text
