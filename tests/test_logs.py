"""Our commands' logging: host notices only with --verbose, every datasets message once."""

from __future__ import annotations

import logging
import subprocess
import sys

from skillneuron_harness.core.logs import host_logs


def test_host_messages_are_limited_to_errors_inside_host_logs(caplog):
    import datasets

    host = logging.getLogger("lm_eval.api.task")
    before = (logging.getLogger("lm_eval").level, datasets.utils.logging.get_verbosity())
    with caplog.at_level(logging.WARNING), host_logs():
        host.warning("[Task: sst2] metric acc is defined, but higher_is_better is not")
        host.error("a real error")
        logging.getLogger("skillneuron_harness.host.demo_model").warning("ours")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["a real error", "ours"]
    assert (logging.getLogger("lm_eval").level, datasets.utils.logging.get_verbosity()) == before


def test_verbose_keeps_the_host_messages(caplog):
    with caplog.at_level(logging.WARNING), host_logs(verbose=True):
        logging.getLogger("lm_eval.api.task").warning("a note")
    assert [r.getMessage() for r in caplog.records] == ["a note"]


def test_a_datasets_message_is_printed_once_under_our_logging():
    # a fresh interpreter: the root logger as our commands configure it, then datasets' own handler
    code = ("import logging, datasets\n"
            "from skillneuron_harness.core.logs import setup_logging\n"
            "setup_logging()\n"
            "logging.getLogger('datasets.load').warning('Using the latest cached version')\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert err.count("Using the latest cached version") == 1, err
    plain = code.replace("setup_logging()", "logging.basicConfig()")  # a bare basicConfig prints it twice
    err = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, check=True).stderr
    assert err.count("Using the latest cached version") == 2, err
