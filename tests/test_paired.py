"""Paired robustness metrics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from skillneuron_harness.core.paired import Pair, paired_metrics


def test_metrics_of_a_small_pair_set():
    # clean doc 0: original right (pred 1), two variants: one flips to 0 (wrong), one stays 1 (right)
    # clean doc 1: original wrong (pred 0, gold 1), its variant flips to 1 (right)
    # clean doc 2: original right (pred 0), variant stays 0 (right)
    pairs = [Pair(0, 1, True, 0, False, 0.25, 3), Pair(0, 1, True, 1, True, 0.0, 1),
             Pair(1, 0, False, 1, True, 0.5, 6), Pair(2, 0, True, 0, True, 0.0, 0)]
    m = paired_metrics(pairs)
    assert m["pairs"] == 4 and m["clean_documents"] == 3
    assert m["pair_acc_clean"] == 3 / 4  # the clean side of each pair: T, T, F, T
    assert m["pair_acc"] == 3 / 4  # F, T, T, T
    assert m["flip_rate"] == 2 / 4
    # doc 0: one variant disagrees -> 0; doc 1: disagrees -> 0; doc 2: agrees -> 1
    assert m["consistency_rate"] == pytest.approx(1 / 3)
    # doc 0: a variant is wrong -> 0; doc 1: the original is wrong -> 0; doc 2: 1
    assert m["worst_case_acc"] == pytest.approx(1 / 3)
    assert m["pair_pdr"] == pytest.approx(1 - (3 / 4) / (3 / 4))
    assert m["changed_words"] == pytest.approx(0.75 / 4) and m["changed_chars"] == pytest.approx(10 / 4)
    # stderr of a mean of 0/1 values: sample std / sqrt(n); flips 1,0,1,0 -> std sqrt(1/3)
    assert m["flip_rate_stderr"] == pytest.approx(math.sqrt(1 / 3) / 2)


def test_no_pairs_no_metrics_and_one_pair_no_stderr():
    assert paired_metrics([]) == {}
    m = paired_metrics([Pair("a", 0, True, 0, True)])
    assert m["flip_rate"] == 0.0 and math.isnan(m["flip_rate_stderr"]) and "changed_words" not in m
    assert math.isnan(paired_metrics([Pair("a", 0, False, 1, False)])["pair_pdr"])  # 0 / 0
