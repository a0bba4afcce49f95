"""The null model of the counts against independent computations: label permutations and scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import false_discovery_control, hypergeom

from skillneuron_harness.neurons import statistics as st
from skillneuron_harness.neurons.predictivity import BinarySubtask

PERMUTATIONS = 10_000


def firing_data(seed: int, n: int, num_classes: int, shape=(2, 3, 4), signal: float = 1.2):
    """Per-document firing bits [N, L, P, D] (some cells follow the label) and labels [N]."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=n)
    acts = rng.normal(size=(n, *shape)).astype(np.float32)
    acts[:, 0, :, :2] += signal * ((labels == 1).astype(np.float32) - (labels == 0))[:, None, None]  # predictive
    acts[:, -1, 0, -1] += 3.0  # a cell that nearly always fires
    fires = acts > 0
    counter = st.FireCounter(torch.zeros(shape), num_classes)  # the code path: counts against baseline 0
    counter.update(torch.from_numpy(acts), torch.from_numpy(labels))
    return fires, labels, counter


def permutation_p(fires: np.ndarray, labels: np.ndarray, positive, negative, balanced: bool, seed: int = 1):
    """Share of label permutations whose predictivity (as METHOD.md defines it) is at least the observed one."""
    keep = np.isin(labels, list(positive) + list(negative))
    bits, y = fires[keep].reshape(keep.sum(), -1).astype(np.float64), np.isin(labels[keep], list(positive))

    def pred(is_pos: np.ndarray) -> np.ndarray:  # is_pos (R, N) -> predictivity (R, cells)
        pos = is_pos.astype(np.float64)
        tp, tn = pos @ bits, (1 - pos) @ (1 - bits)
        if balanced:
            acc = (tp / pos.sum(1, keepdims=True) + tn / (1 - pos).sum(1, keepdims=True)) / 2
        else:
            acc = (tp + tn) / bits.shape[0]
        return np.maximum(acc, 1 - acc)

    observed = pred(y[None, :])[0]
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(y) for _ in range(PERMUTATIONS)])  # (R, N)
    return np.mean(pred(shuffled) >= observed - 1e-12, axis=0), observed


def assert_within_monte_carlo(exact: np.ndarray, estimate: np.ndarray):
    se = np.sqrt(np.maximum(exact * (1 - exact), 1 / PERMUTATIONS) / PERMUTATIONS)
    assert np.all(np.abs(exact - estimate) <= 4.5 * se + 1 / PERMUTATIONS), np.c_[exact, estimate]


@pytest.mark.parametrize("n, classes, subtask, balanced", [
    (60, 2, ((1,), (0,)), False),
    (45, 3, ((1,), (0, 2)), True),  # Wang et al.'s class 1 vs rest, balanced
    (45, 3, ((0,), (2,)), True),  # class 0 vs class 2: class 1's documents are not in the subtask
])
def test_cell_p_values_equal_a_permutation_test(n, classes, subtask, balanced):
    fires, labels, counter = firing_data(seed=n + classes, n=n, num_classes=classes)
    exact = st.cell_p_values(counter.fire_counts, counter.class_counts, *subtask, balanced=balanced)  # (L, P, D)
    estimate, observed = permutation_p(fires, labels, *subtask, balanced)
    pred = st.predictivity(counter.fire_counts, counter.class_counts, *subtask, balanced=balanced)
    assert np.allclose(pred.reshape(-1).numpy(), observed)  # the same statistic as the code's predictivity
    assert_within_monte_carlo(exact.reshape(-1).numpy(), estimate)
    assert exact.min() < 0.01 < exact.max()  # both significant and null cells were tested


def test_hypergeom_tails_equal_scipy():
    rng = np.random.default_rng(0)
    for total, successes in ((50, 20), (7, 7), (300, 1), (1000, 480)):
        draws = rng.integers(0, total + 1, 500)
        at_most, at_least = rng.integers(-2, successes + 3, 500), rng.integers(-2, successes + 3, 500)
        lower, upper = st.hypergeom_tails(total, successes, draws, at_most, at_least)
        np.testing.assert_allclose(lower, hypergeom.cdf(at_most, total, successes, draws), rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(upper, hypergeom.sf(at_least - 1, total, successes, draws), rtol=1e-9,
                                   atol=1e-300)


def test_tiny_p_values_keep_their_precision():
    """A neuron that fires for exactly the 400 positive documents of 800: p = 2 / C(800, 400)."""
    fire = torch.tensor([[[[0]]], [[[400]]]])  # (C=2, L=1, P=1, D=1)
    p = st.cell_p_values(fire, torch.tensor([400, 400]))
    expected = 2 * hypergeom.pmf(400, 800, 400, 400)
    assert expected > 0 and float(p) == pytest.approx(expected, rel=1e-9)


def test_neuron_p_value_is_bonferroni_over_subtasks_and_positions():
    cell = torch.tensor([[[[0.2, 0.5], [0.01, 0.9], [0.3, 0.4]]],
                         [[[0.004, 0.6], [0.5, 0.7], [0.8, 0.9]]]], dtype=torch.float64)  # (S=2, L=1, P=3, D=2)
    p = st.neuron_p_values(cell)  # K = 2 subtasks x 3 positions
    assert p.tolist() == [[min(1.0, 6 * 0.004), 1.0]]
    assert st.neuron_p_values(cell[0]).tolist() == [[3 * 0.01, 1.0]]  # one subtask: K = 3


def test_benjamini_hochberg_per_layer_equals_scipy():
    p = torch.rand(3, 50, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 3
    q = st.benjamini_hochberg(p)
    for layer in range(3):
        np.testing.assert_allclose(q[layer].numpy(), false_discovery_control(p[layer].numpy(), method="bh"),
                                   rtol=1e-12)


def brute_force_quantiles(fire_counts, class_counts, subtasks, quantiles, balanced):
    """Each cell's null law with scipy's pmf, the law of the max of independent cells, mixed over a layer."""
    num_layers, num_positions, num_neurons = fire_counts.shape[1:]
    laws = []  # per subtask: (values, cdf per cell [L, P, D, V])
    for s in subtasks:
        n = class_counts.numpy()
        n_pos, n_neg = int(n[list(s.positive)].sum()), int(n[list(s.negative)].sum())
        f = fire_counts[list(s.positive) + list(s.negative)].sum(0).numpy()  # (L, P, D)
        x = np.arange(n_pos + 1)
        values = set()
        per_cell = {}
        for cell in itertools.product(range(num_layers), range(num_positions), range(num_neurons)):
            pmf = hypergeom.pmf(x, n_pos + n_neg, n_pos, f[cell])
            fx = f[cell] - x
            if balanced:
                acc = (x / n_pos + (n_neg - fx) / n_neg) / 2
            else:
                acc = (x + n_neg - fx) / (n_pos + n_neg)
            pred = np.round(np.maximum(acc, 1 - acc), 12)
            per_cell[cell] = (pred, pmf)
            values |= set(pred[pmf > 0].tolist())
        laws.append(per_cell)
        del values
    grid = sorted({v for per_cell in laws for pred, pmf in per_cell.values() for v in pred[pmf > 0].tolist()})
    out = np.zeros((len(quantiles), num_layers))
    for layer in range(num_layers):
        mixture = np.zeros(len(grid))
        for j in range(num_neurons):
            cdf = np.ones(len(grid))
            for per_cell in laws:
                for t in range(num_positions):
                    pred, pmf = per_cell[layer, t, j]
                    cdf *= np.array([pmf[pred <= g + 1e-13].sum() for g in grid])
            mixture += cdf / num_neurons
        for qi, q in enumerate(quantiles):
            out[qi, layer] = grid[int(np.argmax(mixture >= q - 1e-12))]
    return out


@pytest.mark.parametrize("classes, n", [(2, 31), (3, 40)])
def test_null_quantiles_equal_a_brute_force_computation(classes, n):
    _, _, counter = firing_data(seed=classes, n=n, num_classes=classes, shape=(2, 3, 5))
    subtasks = st.binary_subtasks(classes)
    balanced = st.balanced_by_default(subtasks)
    quantiles = (0.5, 0.9, 0.95)
    got = st.null_score_quantiles(counter.fire_counts, counter.class_counts, subtasks, quantiles)
    expected = brute_force_quantiles(counter.fire_counts, counter.class_counts, subtasks, quantiles, balanced)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-11)
    assert (got > 0.5).all() and (got[0] <= got[-1]).all()


def test_null_quantiles_match_simulated_noise():
    """Pure noise, independent positions: the simulated neuron scores' median and 95% sit on the chance line."""
    rng = np.random.default_rng(5)
    n, shape = 80, (1, 20, 400)
    labels = np.arange(n) % 2
    acts = rng.normal(size=(n, *shape)).astype(np.float32)
    counter = st.FireCounter(torch.zeros(shape), 2)
    counter.update(torch.from_numpy(acts), torch.from_numpy(labels))
    score, _ = st.neuron_scores(st.predictivity(counter.fire_counts, counter.class_counts))  # (1, D)
    line = st.null_score_quantiles(counter.fire_counts, counter.class_counts, st.binary_subtasks(2))  # (2, 1)
    median, q95 = float(line[0, 0]), float(line[1, 0])
    assert 0.55 < median < 0.7
    assert abs(float((score <= median).double().mean()) - 0.5) < 0.1
    assert abs(float((score <= q95).double().mean()) - 0.95) < 0.04
    p = st.neuron_p_values(st.cell_p_values(counter.fire_counts, counter.class_counts))
    assert int((st.benjamini_hochberg(p) <= 0.05).sum()) == 0  # noise has no significant neuron


def test_undefined_null_names_the_subtask():
    with pytest.raises(ValueError, match="subtask 1:0 is undefined"):
        st.cell_p_values(torch.zeros(2, 1, 1, 1, dtype=torch.int64), torch.tensor([5, 0]))
    assert math.isfinite(float(st.cell_p_values(torch.zeros(2, 1, 1, 1, dtype=torch.int64),
                                                torch.tensor([5, 4]))))
    assert BinarySubtask((1,), (0,)).label == "1:0"
