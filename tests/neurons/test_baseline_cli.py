"""The baseline pass's size options. The pass as a user meets it at the command line (the stderr line,
the estimate, one pass for twin tasks) is checked on the stock ``lm_eval`` run in
tests/host/test_lm_eval_integration.py."""

from __future__ import annotations

import pytest

from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.neurons.recorder import DEFAULT_BASELINE_DOCS, SkillNeuronConfig


def test_default_size_and_the_papers_setting_one_argument_away():
    assert SkillNeuronConfig(output_dir="sn").baseline_limit == DEFAULT_BASELINE_DOCS == 1000
    assert SkillNeuronConfig(output_dir="sn", baseline_limit="all").baseline_limit is None  # the whole split
    assert SkillNeuronConfig(output_dir="sn", baseline_limit="250").baseline_limit == 250
    with pytest.raises(ModelArgsError, match=r"sn_baseline_limit=half: expected a whole number, e\.g\. "
                                             r"sn_baseline_limit=1000 or all"):
        SkillNeuronConfig(output_dir="sn", baseline_limit="half")
    with pytest.raises(ModelArgsError, match="sn_batch_size=0"):
        SkillNeuronConfig(output_dir="sn", batch_size=0)
