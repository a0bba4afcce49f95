"""Our errors print as one line when uncaught; lm-eval's and everyone else's keep their traceback."""

from __future__ import annotations

import os
import subprocess
import sys

RAISE = """
from skillneuron_harness.core.errors import SkillNeuronError, install_excepthook
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
    assert lines[-1] == "skillneuron_harness.core.errors.SkillNeuronError: bad sn_layers"


def test_other_errors_keep_their_traceback():
    out = run("ValueError('not ours')")
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: not ours"


def test_hub_connection_failure_points_to_the_offline_recipe():
    out = run("__import__('huggingface_hub.errors').errors.LocalEntryNotFoundError('cannot reach the Hub')",
              reraise="raise OSError('We could not connect to https://huggingface.co') from err")
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-2] == "OSError: We could not connect to https://huggingface.co"
    assert lines[-1].startswith("skillneuron-harness: the Hugging Face Hub could not be reached.")
    assert "HF_HUB_OFFLINE=1" in lines[-1] and "Offline use" in lines[-1]


def test_other_failures_get_no_offline_hint():
    out = run("FileNotFoundError('no such file: x.yaml')")
    assert "Hugging Face Hub" not in out.stderr


def test_bootstrap_iters_is_taken_out_of_lm_evals_arguments():
    from skillneuron_harness.host.evaluate import pop_bootstrap_iters as _pop_bootstrap_iters

    assert _pop_bootstrap_iters(["--tasks", "advglue", "--bootstrap_iters", "1000", "--limit", "3"]) == (
        ["--tasks", "advglue", "--limit", "3"], 1000)
    assert _pop_bootstrap_iters(["--bootstrap-iters=0"]) == ([], 0)
    assert _pop_bootstrap_iters(["--tasks", "sst2"]) == (["--tasks", "sst2"], None)


def test_bootstrap_iters_without_a_number_is_refused():
    import pytest

    from skillneuron_harness.core.errors import SkillNeuronError
    from skillneuron_harness.host.evaluate import pop_bootstrap_iters as _pop_bootstrap_iters

    with pytest.raises(SkillNeuronError, match="--bootstrap_iters takes a whole number"):
        _pop_bootstrap_iters(["--bootstrap_iters", "many"])


def test_a_closed_pipe_is_not_a_hub_failure():
    # BrokenPipeError and ConnectionResetError are builtin ConnectionErrors; requests' ConnectionError is the Hub's.
    import requests

    from skillneuron_harness.core.errors import is_hub_unreachable

    assert not is_hub_unreachable(BrokenPipeError(32, "Broken pipe"))
    assert not is_hub_unreachable(ConnectionResetError())
    assert is_hub_unreachable(requests.ConnectionError("huggingface.co: Name or service not known"))
    assert not is_hub_unreachable(ConnectionError("connection to the database lost"))


def test_datasets_builtin_connection_error_points_to_the_offline_recipe(tmp_path):
    # datasets raises the builtin ConnectionError (sometimes `from None`): the hint must still be the last line.
    code = ("import datasets\nfrom skillneuron_harness.core.errors import install_excepthook\n"
            "install_excepthook()\ndatasets.load_dataset('AI-Secure/adv_glue', 'adv_sst2')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_DATASETS_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1",
                              "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "home")})
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1
    assert any(line.startswith("ConnectionError: Couldn't reach") for line in lines), out.stderr[-2000:]
    assert lines[-1].startswith("skillneuron-harness: the Hugging Face Hub could not be reached.")
    assert "HF_DATASETS_CACHE=" in lines[-1]


def test_a_reader_that_leaves_ends_the_command_quietly():
    # `skillneuron replicate --dry-run | head`: the command ends with 141 (SIGPIPE), no traceback, no hint.
    code = ("import sys, types; from skillneuron_harness import cli\n"
            "def gone(argv): raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.modules['fake_command'] = types.SimpleNamespace(main=gone)\n"
            "cli.COMMANDS['replicate'] = 'fake_command:main'\n"
            "sys.exit(cli.main(['replicate', '--dry-run']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 141
    assert out.stderr == ""
