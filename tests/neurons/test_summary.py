"""Summaries over prompts (neurons/summary.py) and the model-wide inhibitory share, against NumPy and by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from skillneuron_harness.neurons.predictivity import inhibitory_fraction, inhibitory_share
from skillneuron_harness.neurons.summary import mean_sem, spearman_rho_p, std0


def test_mean_sem_and_std0_match_numpy_on_the_finite_values():
    values = [0.9, None, 0.7, math.nan, 0.8, 0.65]
    finite = np.array([0.9, 0.7, 0.8, 0.65])
    mean, sem, n = mean_sem(values)
    assert n == 4 and abs(mean - finite.mean()) < 1e-15
    assert abs(sem - finite.std(ddof=1) / math.sqrt(4)) < 1e-15
    assert abs(std0(values) - finite.std(ddof=0)) < 1e-15
    one = mean_sem([0.5])
    assert one[0] == 0.5 and math.isnan(one[1]) and one[2] == 1
    none = mean_sem([])
    assert math.isnan(none[0]) and math.isnan(none[1]) and none[2] == 0 and math.isnan(std0([]))


def test_inhibitory_fraction_is_model_wide():
    # acc (L=2, P=2, D=3); at the best positions acc < 0.5 for neurons (0, 1), (1, 0), (1, 1), (1, 2)
    acc = torch.tensor([[[0.9, 0.2, 0.6], [0.1, 0.8, 0.7]],
                        [[0.3, 0.9, 0.4], [0.6, 0.1, 0.9]]], dtype=torch.float64)
    position = torch.tensor([[0, 0, 1], [0, 1, 0]])
    mask = torch.tensor([[True, True, False], [True, False, True]])
    assert inhibitory_fraction(acc, position, mask) == 3 / 4  # of the four selected, (0,0) alone is excitatory
    assert inhibitory_share(acc, position, mask).tolist() == [0.5, 1.0]
    assert inhibitory_fraction(acc, position, torch.zeros(2, 3, dtype=torch.bool)) == 0.0


def test_spearman_p_value_is_exact_for_few_points():
    rho, p = spearman_rho_p(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([5.0, 6.0, 9.0]))
    assert rho == 1.0 and abs(p - 2 / 6) < 1e-12  # 2 of the 3! orderings are as extreme
    rho, p = spearman_rho_p(torch.tensor([1.0, 2, 3, 4]), torch.tensor([2.0, 1, 4, 3]))

    # rho = 0.6; orderings of 4 ranks with |rho| >= 0.6: counted by brute force
    def r(perm):
        d = [a - b for a, b in zip([1, 2, 3, 4], perm, strict=True)]
        return 1 - 6 * sum(v * v for v in d) / (4 * 15)

    extreme = sum(abs(r(perm)) >= 0.6 - 1e-12 for perm in itertools.permutations([1, 2, 3, 4]))
    assert abs(rho - 0.6) < 1e-12 and abs(p - extreme / 24) < 1e-12
    assert all(math.isnan(x) for x in spearman_rho_p(torch.ones(4), torch.arange(4.0)))


def test_the_end_of_a_run_names_each_task_in_one_line():
    from skillneuron_harness.neurons.recorder import summary_line

    clean = {"num_docs": 872, "accuracy": 0.806, "files": ["sn/sst2.safetensors", "sn/sst2.json"]}
    adv = {"num_docs": 148, "accuracy": 0.446, "files": ["sn/adv_sst2.safetensors"],
           "consistency": {"reference": "task:sst2", "accuracy": {"performance_drop_rate": 0.4467},
                           "overlap": [{"fraction": 0.02, "mean": 0.0441}, {"fraction": 0.04, "mean": 0.1}]}}
    assert summary_line("sst2", clean, 0.02) == "Skill neurons of sst2: 872 documents, acc 0.806 -> sn/sst2.safetensors"
    assert summary_line("adv_sst2", adv, 0.02) == ("Skill neurons of adv_sst2: 148 documents, acc 0.446, top-2% "
                                                   "overlap with sst2 0.044, PDR 0.447 -> sn/adv_sst2.safetensors")
    assert summary_line("x", {"num_docs": 3, "files": []}, 0.02) == "Skill neurons of x: 3 documents -> not written"
    adv["null"] = {"fdr": 0.05, "skill_neurons_per_layer": 61, "significant_skill_neurons": 40, "layers": [{}] * 12}
    adv["consistency"]["overlap"][0].update(random=0.0199, p_value=0.0012)
    assert summary_line("adv_sst2", adv, 0.02) == (
        "Skill neurons of adv_sst2: 148 documents, acc 0.446, 40 of 732 skill neurons significant (FDR 0.05), "
        "top-2% overlap with sst2 0.044 (random 0.020, p 0.0012), PDR 0.447 -> sn/adv_sst2.safetensors")
    # a model too narrow for the top-2 % (no neuron selected) has no overlap: JSON null, or NaN before it is written
    for undefined in (None, math.nan):
        tiny = {"num_docs": 4, "files": ["a.json"], "consistency": {"reference": "task:sst2",
                "overlap": [{"fraction": 0.02, "k": 0, "mean": undefined}]}}
        assert summary_line("adv", tiny, 0.02) == ("Skill neurons of adv: 4 documents, top-2% overlap with sst2 "
                                                   "undefined -> a.json")
