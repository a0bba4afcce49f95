"""Our statistics against small NumPy ports of the papers' own code, on fixed synthetic activations.

Each ``port_*`` function is written from the original routine named in its docstring
(THU-KEG/Skill-Neuron for Wang et al. 2022, LeonAckermann/Robust-Neurons for Ackermann & Ohmer
2024), keeping their loops, dtypes and cut-offs, and never calls our code. Activations are
multiples of 1/4 and evaluation sets have a power-of-two size, so that every accuracy is exact
in binary floating point and ties are real ties: the originals and we then agree exactly on
sets, and to the last bit on numbers. One deliberate change to the ports: ``np.argsort`` with
``kind="stable"`` (NumPy's default sort is not stable, so the originals' order among ties
depends on their NumPy build; see docs/statistics.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from skillneuron_harness.neurons import consistency as cons
from skillneuron_harness.neurons import predictivity as pr
from skillneuron_harness.neurons import selection as sel
from skillneuron_harness.neurons.statistics import BaselineAccumulator, FireCounter

L, P, D = 3, 4, 200
SEEDS = 3


def activations(rng, n):
    """Captured FFN activations [N, L, P, D], multiples of 1/4 with many equal values."""
    return (rng.integers(-6, 7, size=(n, L, P, D)) / 4).astype(np.float32)


# --- ports of the original code ----------------------------------------------------------------


def port_ao24_baseline(acts):
    """Robust-Neurons src/find.py:45-101 (a_bsl): float64 sums over batches, / num_samples."""
    stacked = np.zeros(acts.shape[1:])
    for batch in np.array_split(acts, 4):
        stacked += np.sum(np.array(batch), axis=0)
    return stacked / len(acts)


def port_ao24_predictivity(baseline, acts, labels):
    """src/find.py:151-198 (compute_accuracy) summed per batch, then src/utils.py:571-573."""
    neuron_accuracy = np.zeros(acts.shape[1:])
    for i in range(len(acts)):
        for layer in range(acts.shape[1]):
            outer_condition = (acts[i, layer] > baseline[layer]) == labels[i]
            accuracy = np.zeros(acts.shape[2:])
            accuracy[outer_condition] = 1
            neuron_accuracy[layer] += accuracy
    acc = neuron_accuracy / len(acts)
    return np.where(acc > 1 - acc, acc, 1 - acc)


def port_ao24_max_mean(per_seed_pred):
    """src/find.py:229-230 (get_max_mean): max over prompt tokens, then mean over seeds."""
    predictivities = np.array(per_seed_pred)  # (seeds, L, P, D)
    return np.mean(np.max(predictivities, axis=2), axis=0)


def port_ao24_layer_top(score, topn):
    """src/find.py:475 (sorted per layer) cut by src/utils.py:348 (int(number_neurons/100*topn))."""
    neuron_indices = np.array([np.argsort(score[i], kind="stable")[::-1] for i in range(len(score))])
    percent = int(neuron_indices.shape[1] / 100 * topn)
    return [set(row[:percent].tolist()) for row in neuron_indices]


def port_ao24_overlap(clean_mean, adv_mean, topn, released=False):
    """src/analysis.py:49-63 (get_adv_overlap), with the neuron axis reversed as the paper says.

    ``released=True`` keeps lines 52-53 as released: ``[::-1]`` reverses the layer axis.
    """
    p = np.argsort(clean_mean, axis=1, kind="stable")
    p_adv = np.argsort(adv_mean, axis=1, kind="stable")
    p, p_adv = (p[::-1], p_adv[::-1]) if released else (p[:, ::-1], p_adv[:, ::-1])
    percent = int(p.shape[1] / 100 * topn)
    p, p_adv = p[:, :percent], p_adv[:, :percent]
    overlap = np.zeros(len(p))
    for i in range(len(p)):
        overlap[i] = len(set(p[i].tolist()).intersection(set(p_adv[i]))) / p_adv.shape[1]
    return overlap


def port_ao24_sem(data):
    """src/analysis.py:183-195 (get_sem)."""
    return np.std(data, ddof=1) / np.sqrt(len(data))


def port_ao24_histogram(clean_mean, adv_mean, topn):
    """src/find.py:369-374 (model-wide ranking), src/analysis.py:820-830, 871, 804-818, 995-1003."""
    flat = clean_mean.flatten()
    order = np.argsort(flat, kind="stable")[::-1]
    layers, neurons = np.unravel_index(order, clean_mean.shape)
    skill_neurons = np.array(list(zip(layers, neurons, strict=True)))
    percent = int(skill_neurons.shape[0] / 100 * topn)
    values = np.array([adv_mean[layer, neuron] for layer, neuron in skill_neurons[:percent]])
    values = np.sort(values.flatten())[::-1]
    low, high = np.floor(np.min(values) / 0.05) * 0.05, np.ceil(np.max(values) / 0.05) * 0.05
    edges = np.arange(low, high + 0.05, 0.05)
    return values, edges, np.histogram(values, bins=edges)[0]


def port_ao24_spearman(scores, topn):
    """src/analysis.py:378-407 (correlation_matrix_across_seed with topn) / 441-479 (across tasks)."""
    scores = [np.asarray(s) for s in scores]
    num_layers, num_neurons = scores[0].shape
    skill_neurons = np.array([[np.argsort(s[i], kind="stable")[::-1] for i in range(num_layers)] for s in scores])
    percent = int(num_neurons / 100 * topn)
    top = np.zeros((len(scores), num_layers, percent))
    for i in range(len(scores)):
        for j in range(num_layers):
            temp = skill_neurons[i, j, :percent].tolist()
            m = 0
            for k in range(num_neurons):
                if k in temp:
                    top[i, j, m] = scores[i][j][k]
                    m += 1
    n = len(scores)
    matrix, p_matrix = np.zeros((num_layers, n, n)), np.zeros((num_layers, n, n))
    for k in range(num_layers):
        for i in range(n):
            for j in range(n):
                matrix[k][i][j], p_matrix[k][i][j] = spearmanr(top[i][k], top[j][k])
    return np.mean(matrix, axis=0), np.mean(p_matrix, axis=0)


def port_w22_balance(labels):
    """Skill-Neuron src/helper/binarize.py:13-25: keep a sample while its label's running count < min."""
    pos = sum(labels)
    ths = min(pos, len(labels) - pos)
    cnt = [0, 0]
    keep = []
    for index, label in enumerate(labels):
        cnt[label] += 1
        if cnt[label] < ths:
            keep.append(index)
    return keep


def port_w22_binarize(labels, n=3):
    """src/helper/binarize.py:56-77: the 'pn' (0 vs 2, label // 2) and 'neu' (1 vs rest) datasets."""
    pn, neu = ([0, 2], 1) if n == 3 else ([1, 3], 2)
    pn_index = [i for i, y in enumerate(labels) if y in pn]
    pn_labels = [labels[i] // 2 for i in pn_index]
    neu_labels = [int(y == neu) for y in labels]
    pn_keep = [pn_index[i] for i in port_w22_balance(pn_labels)]
    neu_keep = port_w22_balance(neu_labels)
    return (pn_keep, [labels[i] // 2 for i in pn_keep]), (neu_keep, [int(labels[i] == neu) for i in neu_keep])


def port_w22_probe(train_acts, eval_acts, eval_labels):
    """src/trainer.py:251-293 (probe_avg over the train split, then probe_acc on an evaluation split)."""
    ths = np.zeros(train_acts.shape[1:])
    for batch in np.array_split(train_acts, 3):
        for k in range(train_acts.shape[1]):
            ths[k] += batch[:, k].sum(axis=0)
    ths = ths / len(train_acts)
    acctable = np.zeros(eval_acts.shape[1:])
    label = np.array(eval_labels)[:, None, None]
    for k in range(eval_acts.shape[1]):
        pred = eval_acts[:, k] > ths[k]
        acctable[k] = acctable[k] + (pred == label).sum(axis=0)
    return acctable / len(eval_acts)


def port_w22_finfo(accs, p):
    """src/skillneuron.py:26-42 (finfo, type mean): |acc - 0.5|, max over positions, mean over seeds."""
    acc = torch.tensor(np.array(accs))
    acc = abs(acc - 0.5)
    h = acc.max(axis=2).values.mean(axis=0)
    info = []
    for layer in range(h.shape[0]):
        idx = sorted(range(h.shape[1]), key=lambda i: -h[layer][i])
        info.append(torch.zeros(h.shape[1]))
        for j in range(int(p * h.shape[1])):
            info[-1][idx[j]] = 1
    return torch.stack(info).bool()


def port_w22_union(accs, accs_aux, p):
    """src/skillneuron.py:76-97: top p of the first subtask, filled from the second to int(D*2*p)."""
    info = port_w22_finfo(accs, p)
    acc = abs(torch.tensor(np.array(accs_aux)) - 0.5)
    h = acc.max(axis=2).values.mean(axis=0)
    for layer in range(h.shape[0]):
        order = sorted(range(h.shape[1]), key=lambda k: -h[layer][k])
        j = 0
        while info[layer].sum() != int(h.shape[1] * 2 * p):
            info[layer][order[j]] = 1
            j += 1
    return info


# --- ours ---------------------------------------------------------------------------------------


def our_predictivity(train_acts, eval_acts, labels):
    base = BaselineAccumulator()
    base.update(torch.from_numpy(train_acts))
    counter = FireCounter(base.mean(), 2)
    counter.update(torch.from_numpy(eval_acts), torch.tensor(labels))
    return pr.predictivity(counter.fire_counts, counter.class_counts)


@pytest.fixture(scope="module")
def binary_runs():
    """Clean and adversarial predictivity of SEEDS prompts; AO24 takes each baseline on the split itself."""
    rng = np.random.default_rng(11)
    runs = []
    for _ in range(SEEDS):
        clean, adv = activations(rng, 64), activations(rng, 32)
        runs.append(((clean, rng.integers(0, 2, 64)), (adv, rng.integers(0, 2, 32))))
    return runs


def test_top_k_is_the_originals_floor():
    for num_neurons in (3072, 1536, 384, 200, 64, 50):
        for n in range(0, 21):
            assert sel.top_k(num_neurons, n / 100) == int(num_neurons / 100 * n)  # Robust-Neurons utils.py:348
        for step in range(21):
            p = 0.01 * step  # Skill-Neuron skillneuron.py:71
            assert sel.top_k(num_neurons, p) == int(p * num_neurons)


def test_baseline_predictivity_scores_and_layer_selection_equal_ao24(binary_runs):
    clean_pred, ours = [], []
    for (acts, labels), _ in binary_runs:
        baseline = port_ao24_baseline(acts)
        want = port_ao24_predictivity(baseline, acts, labels)
        got = our_predictivity(acts, acts, labels)
        np.testing.assert_array_equal(got.numpy(), want)  # bit for bit
        clean_pred.append(want)
        ours.append(pr.neuron_scores(got)[0])
    mean = port_ao24_max_mean(clean_pred)
    got_mean = pr.average_over_prompts(ours)
    np.testing.assert_array_equal(got_mean.numpy(), mean)
    ties = sum(int((row == np.sort(row)[::-1][int(D / 100 * 5) - 1]).sum()) for row in mean)
    assert ties > 3 * L  # the k-th score is shared: the tie order decides
    for topn in range(1, 21):
        want = port_ao24_layer_top(mean, topn)
        got = sel.top_fraction_indices(got_mean, topn / 100)
        assert [set(row.tolist()) for row in got] == want


def test_w22_binary_selection(binary_runs):
    accs, scores = [], []
    for (acts, labels), _ in binary_runs:
        acc = port_w22_probe(acts, acts, labels)
        np.testing.assert_array_equal(
            pr.accuracy(*_counts(acts, acts, labels)).numpy(), acc)
        accs.append(acc)
        scores.append(pr.neuron_scores(our_predictivity(acts, acts, labels))[0])
    mean = pr.average_over_prompts(scores)
    for step in range(1, 21):
        want = port_w22_finfo(accs, 0.01 * step)
        got = sel.top_fraction_mask(mean, 0.01 * step, ties="low")
        assert torch.equal(got, want)


def _counts(train_acts, eval_acts, labels, num_classes=2):
    base = BaselineAccumulator()
    base.update(torch.from_numpy(train_acts))
    counter = FireCounter(base.mean(), num_classes)
    counter.update(torch.from_numpy(eval_acts), torch.tensor(labels))
    return counter.fire_counts, counter.class_counts


def test_w22_three_classes_balanced_subtasks_own_baselines_and_union():
    """Per subtask: W22 balances by truncation and takes the baseline on the subtask's training docs."""
    rng = np.random.default_rng(12)
    subtasks = pr.binary_subtasks(3)  # 0:2 (pn) and 1:0+2 (neu)
    accs = {0: [], 1: []}
    ours = {0: [], 1: []}
    for _ in range(SEEDS):
        # class sizes chosen so that every balanced evaluation split has 2 x 8 documents
        train_labels = rng.permutation([0] * 12 + [1] * 9 + [2] * 9)  # balanced: 8 per side
        eval_labels = rng.permutation([0] * 5 + [1] * 9 + [2] * 9 + [0] * 7)
        train_acts, eval_acts = activations(rng, len(train_labels)), activations(rng, len(eval_labels))
        train_split, eval_split = port_w22_binarize(list(train_labels)), port_w22_binarize(list(eval_labels))
        for s, subtask in enumerate(subtasks):
            (t_idx, _), (e_idx, e_y) = train_split[s], eval_split[s]
            assert len(e_idx) == 16
            acc = port_w22_probe(train_acts[t_idx], eval_acts[e_idx], e_y)
            accs[s].append(acc)
            # ours: per-class baseline sums over the same training docs, the subtask's balanced baseline,
            # counts against it, balanced accuracy over the 3 original classes
            base = BaselineAccumulator(num_classes=3)
            base.update(torch.from_numpy(train_acts[t_idx]), torch.tensor(train_labels[t_idx]))
            bsl = pr.subtask_baseline(base.class_sums, base.class_counts, subtask)
            counter = FireCounter(bsl.float(), 3)
            counter.update(torch.from_numpy(eval_acts[e_idx]), torch.tensor(eval_labels[e_idx]))
            got = pr.accuracy(counter.fire_counts, counter.class_counts, subtask.positive, subtask.negative,
                              balanced=True)
            # W22's positive side: class 2 in pn (label // 2), class 1 in neu
            want = acc if s == 1 else 1 - acc
            np.testing.assert_array_equal(got.numpy(), want)
            ours[s].append(pr.neuron_scores(torch.maximum(got, 1 - got))[0])
    subtask_mean = torch.stack([pr.average_over_prompts(ours[s]) for s in (0, 1)])  # (S, L, D)
    for step in range(1, 21):
        p = 0.005 * step  # skillneuron.py:59 (multi-class step), saved as the file for 2p
        want = port_w22_union(accs[0], accs[1], p)
        got = sel.union_mask(subtask_mean, 2 * p, ties="low")
        assert torch.equal(got, want), step


def test_balanced_accuracy_from_one_pass_equals_side_means():
    """On unbalanced data (one pass, all documents) balanced = mean of the two sides' accuracies."""
    rng = np.random.default_rng(13)
    labels = rng.permutation([0] * 10 + [1] * 20 + [2] * 34)
    acts = activations(rng, len(labels))
    fire, counts = _counts(acts, acts, labels, 3)
    base = acts.astype(np.float64).mean(0).astype(np.float32)
    for positive, negative in ((0,), (2,)), ((1,), (0, 2)):
        side_pos = np.mean([a > base for a, y in zip(acts, labels, strict=True) if y in positive], axis=0)
        side_neg = np.mean([a <= base for a, y in zip(acts, labels, strict=True) if y in negative], axis=0)
        got = pr.accuracy(fire, counts, positive, negative, balanced=True)
        np.testing.assert_allclose(got.numpy(), (side_pos + side_neg) / 2, rtol=0, atol=1e-12)


def test_ao24_consistency_histogram_and_spearman(binary_runs):
    clean, adv = [], []
    clean_pred, adv_pred = [], []
    for (c_acts, c_y), (a_acts, a_y) in binary_runs:
        c = port_ao24_predictivity(port_ao24_baseline(c_acts), c_acts, c_y)
        a = port_ao24_predictivity(port_ao24_baseline(a_acts), a_acts, a_y)  # --adversarial True
        clean_pred.append(c)
        adv_pred.append(a)
        clean.append(pr.neuron_scores(our_predictivity(c_acts, c_acts, c_y))[0])
        adv.append(pr.neuron_scores(our_predictivity(a_acts, a_acts, a_y))[0])
    clean_mean, adv_mean = port_ao24_max_mean(clean_pred), port_ao24_max_mean(adv_pred)

    curve = cons.ao24_consistency_curve(clean, adv, [n / 100 for n in range(2, 21, 2)])
    for point, n in zip(curve, range(2, 21, 2), strict=True):
        overlap = port_ao24_overlap(clean_mean, adv_mean, n)
        assert point.per_layer == pytest.approx(overlap.tolist(), abs=1e-12)
        assert point.mean == pytest.approx(np.mean(overlap), abs=1e-12)
        assert point.sem == pytest.approx(port_ao24_sem(overlap), abs=1e-12)
    # The released analysis.py:52-53 measures the bottom-n % overlap in reversed layer order.
    c_t, a_t = torch.from_numpy(clean_mean), torch.from_numpy(adv_mean)
    released = [cons.released_overlap_per_layer(c_t, a_t, n / 100).numpy() for n in (2, 10, 20)]
    for got, n in zip(released, (2, 10, 20), strict=True):
        np.testing.assert_allclose(got, port_ao24_overlap(clean_mean, adv_mean, n, released=True), atol=1e-12)
    assert any(not np.allclose(r, port_ao24_overlap(clean_mean, adv_mean, n))
               for r, n in zip(released, (2, 10, 20), strict=True))

    for topn in (1, 5, 10):
        values, edges, counts = port_ao24_histogram(clean_mean, adv_mean, topn)
        hist = cons.adversarial_histogram(c_t, a_t, topn / 100)
        assert hist.k == len(values)
        np.testing.assert_array_equal(hist.values, values)
        np.testing.assert_allclose(hist.edges, edges, atol=1e-12)
        assert hist.counts == counts.tolist()

    for topn in (5, 10, 20):
        rho, p = port_ao24_spearman(clean, topn)  # seeds of one task
        got = cons.top_predictivity_spearman(clean, ["a", "b", "c"], topn / 100)
        np.testing.assert_allclose(got.rho, rho, atol=1e-12)
        np.testing.assert_allclose(got.p, p, atol=1e-12)
        rho, p = port_ao24_spearman([clean_mean, adv_mean], topn)  # seed means of two tasks
        got = cons.top_predictivity_spearman([c_t, a_t], ["clean", "adv"], topn / 100)
        np.testing.assert_allclose(got.rho, rho, atol=1e-12)
