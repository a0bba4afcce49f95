"""Our errors print as one line when uncaught; lm-eval's and everyone else's keep their traceback."""

from __future__ import annotations

import os
import subprocess
import sys

RAISE = """
from skillneuron_harness.errors import SkillNeuronError, install_excepthook
install_excepthook()
install_excepthook()  # idempotent
def load():
    raise {exc}
try:
    load()
except Exception as err:
    {reraise}
"""


def run(exc, reraise="raise", env=None):
    code = RAISE.format(exc=exc, reraise=reraise)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_our_error_is_one_line():
    out = run("SkillNeuronError('prompt= file x.pt not found; give the path of a .safetensors file')")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "SkillNeuronError: prompt= file x.pt not found; give the path of a .safetensors file  "
        "(full traceback: SKILLNEURON_HARNESS_TRACEBACK=1)"]


def test_our_error_wrapped_by_a_host_is_still_one_line():
    out = run("SkillNeuronError('bad sn_layers')", reraise="raise RuntimeError('model load failed') from err")
    assert out.stderr.strip().splitlines() == [
        "SkillNeuronError: bad sn_layers  (full traceback: SKILLNEURON_HARNESS_TRACEBACK=1)"]


def test_full_traceback_on_request():
    out = run("SkillNeuronError('bad sn_layers')", env={"SKILLNEURON_HARNESS_TRACEBACK": "1"})
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in load" in out.stderr
    assert lines[-1] == "skillneuron_harness.errors.SkillNeuronError: bad sn_layers"


def test_other_errors_keep_their_traceback():
    out = run("ValueError('not ours')")
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: not ours"
