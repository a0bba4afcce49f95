"""Statistics against a plain NumPy reference written from METHOD.md, document by document."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from skillneuron_harness.neurons import statistics as st

L, P, D = 3, 4, 10


# --- NumPy reference -------------------------------------------------------------------------


def ref_baseline(acts: np.ndarray) -> np.ndarray:
    total = np.zeros(acts.shape[1:], dtype=np.float64)
    for doc in acts:
        total += doc.astype(np.float64)
    return (total / len(acts)).astype(np.float32)


def ref_fire_counts(acts: np.ndarray, labels: np.ndarray, baseline: np.ndarray, num_classes: int):
    fire = np.zeros((num_classes, *acts.shape[1:]), dtype=np.int64)
    counts = np.zeros(num_classes, dtype=np.int64)
    for doc, y in zip(acts, labels, strict=True):
        fire[y] += (doc > baseline).astype(np.int64)
        counts[y] += 1
    return fire, counts


def ref_accuracy(acts, labels, baseline, positive, negative) -> np.ndarray:
    """Acc = (1/N) sum_x 1[1[a > bsl] == y_x] over the documents of the subtask."""
    hits = np.zeros(acts.shape[1:], dtype=np.float64)
    n = 0
    for doc, y in zip(acts, labels, strict=True):
        if y not in positive and y not in negative:
            continue
        hits += ((doc > baseline) == (y in positive)).astype(np.float64)
        n += 1
    return hits / n


def ref_top_mask(score: np.ndarray, k: int, higher_index_first: bool = True) -> np.ndarray:
    mask = np.zeros(score.shape, dtype=bool)
    for layer, row in enumerate(score):
        ranked = sorted(range(len(row)), key=lambda j: (-row[j], -j if higher_index_first else j))
        mask[layer, ranked[:k]] = True
    return mask


def make_data(seed: int = 0, n: int = 37, num_classes: int = 2, integer: bool = False):
    rng = np.random.default_rng(seed)
    if integer:  # small integers: many activations equal the (exact) baseline
        acts = rng.integers(-2, 3, size=(n, L, P, D)).astype(np.float32)
    else:
        acts = rng.normal(size=(n, L, P, D)).astype(np.float32)
    labels = rng.integers(0, num_classes, size=n)
    labels[:num_classes] = np.arange(num_classes)  # every class present
    return acts, labels


def accumulate(acts: np.ndarray, labels: np.ndarray, num_classes: int, batches=(5, 1, 13)):
    """Feed the production accumulators in uneven batches."""
    t_acts, t_labels = torch.from_numpy(acts), torch.from_numpy(labels)
    bounds, start = [], 0
    while start < len(acts):
        size = batches[len(bounds) % len(batches)]
        bounds.append((start, min(start + size, len(acts))))
        start += size
    base = st.BaselineAccumulator()
    for a, b in bounds:
        base.update(t_acts[a:b])
    counter = st.FireCounter(base.mean(), num_classes)
    for a, b in bounds:
        counter.update(t_acts[a:b], t_labels[a:b])
    return base, counter


# --- accumulators ----------------------------------------------------------------------------


@pytest.mark.parametrize("integer", [False, True])
def test_counts_match_reference_exactly(integer):
    acts, labels = make_data(integer=integer)
    base, counter = accumulate(acts, labels, 2)
    baseline = ref_baseline(acts)
    np.testing.assert_allclose(base.mean().numpy(), baseline, rtol=0, atol=1e-6)
    assert base.mean().dtype == torch.float32 and base.count == len(acts)
    fire, counts = ref_fire_counts(acts, labels, base.mean().numpy(), 2)
    assert counter.fire_counts.dtype == torch.int64
    np.testing.assert_array_equal(counter.fire_counts.numpy(), fire)
    np.testing.assert_array_equal(counter.class_counts.numpy(), counts)
    assert counter.num_docs == len(acts)


def test_equal_to_baseline_does_not_fire():
    acts = torch.zeros(4, 1, 1, 2)
    acts[:, 0, 0, 1] = torch.tensor([1.0, 1.0, 1.0, 1.0])  # always equal to its baseline 1.0
    acts[:, 0, 0, 0] = torch.tensor([0.0, 2.0, 0.0, 2.0])  # baseline 1.0: fires for docs 1, 3
    base = st.BaselineAccumulator()
    base.update(acts)
    counter = st.FireCounter(base.mean(), 2)
    counter.update(acts, torch.tensor([0, 1, 0, 1]))
    assert counter.fire_counts[:, 0, 0].tolist() == [[0, 0], [2, 0]]
    assert st.predictivity(counter.fire_counts, counter.class_counts)[0, 0].tolist() == [1.0, 0.5]


def test_accumulator_state_roundtrip_and_guards(tmp_path):
    from safetensors.torch import load_file, save_file

    acts, labels = make_data()
    base, counter = accumulate(acts, labels, 2)
    save_file(base.state(), str(tmp_path / "b.safetensors"))
    again = st.BaselineAccumulator.load(load_file(str(tmp_path / "b.safetensors")))
    assert again.count == base.count and torch.equal(again.mean(), base.mean())
    save_file(counter.state(), str(tmp_path / "c.safetensors"))
    counter2 = st.FireCounter.load(load_file(str(tmp_path / "c.safetensors")))
    assert torch.equal(counter2.fire_counts, counter.fire_counts)
    assert torch.equal(counter2.class_counts, counter.class_counts)

    with pytest.raises(ValueError, match="no documents"):
        st.BaselineAccumulator().mean()
    with pytest.raises(ValueError, match=r"\[B, L, P, D\]"):
        base.update(torch.zeros(2, L, P))
    with pytest.raises(ValueError, match="do not match"):
        base.update(torch.zeros(1, L, P, D + 1))
    with pytest.raises(ValueError, match="labels must lie"):
        counter.update(torch.zeros(2, L, P, D), torch.tensor([0, 2]))
    base.all_reduce()  # no process group: a no-op that still closes the accumulator
    with pytest.raises(RuntimeError, match="already all-reduced"):
        base.update(torch.zeros(1, L, P, D))
    with pytest.raises(RuntimeError, match="twice"):
        base.all_reduce()


def test_all_reduce_rejects_inexact_dtypes():
    with pytest.raises(TypeError, match="float64 or int64"):
        st.all_reduce_([torch.zeros(3, dtype=torch.float32)])
    t = torch.arange(3, dtype=torch.int64)
    st.all_reduce_([t])  # single process: unchanged
    assert t.tolist() == [0, 1, 2]


# --- predictivity and subtasks ---------------------------------------------------------------


def test_predictivity_binary_matches_reference():
    acts, labels = make_data(seed=1)
    _, counter = accumulate(acts, labels, 2)
    baseline = counter.baseline.numpy()
    acc = ref_accuracy(acts, labels, baseline, (1,), (0,))
    got_acc = st.accuracy(counter.fire_counts, counter.class_counts)
    np.testing.assert_allclose(got_acc.numpy(), acc, rtol=0, atol=1e-6)
    pred = st.predictivity(counter.fire_counts, counter.class_counts)
    assert pred.dtype == torch.float64 and pred.shape == (L, P, D)
    np.testing.assert_allclose(pred.numpy(), np.maximum(acc, 1 - acc), rtol=0, atol=1e-6)


def test_predictivity_multiclass_subtasks_match_reference():
    acts, labels = make_data(seed=2, n=60, num_classes=3)
    _, counter = accumulate(acts, labels, 3)
    baseline = counter.baseline.numpy()
    subtasks = st.binary_subtasks(3)
    assert subtasks == [((0,), (2,)), ((1,), (0, 2))]
    plain = st.subtask_predictivity(counter.fire_counts, counter.class_counts, subtasks, balanced=False)
    balanced = st.subtask_predictivity(counter.fire_counts, counter.class_counts, subtasks)  # default: C > 2
    assert plain.shape == balanced.shape == (2, L, P, D)
    for s, (pos, neg) in enumerate(subtasks):
        acc = ref_accuracy(acts, labels, baseline, pos, neg)
        np.testing.assert_allclose(plain[s].numpy(), np.maximum(acc, 1 - acc), rtol=0, atol=1e-6)
        # balanced: the mean of the two sides' accuracies (each side pools its classes)
        side = [np.mean([(doc > baseline) == positive for doc, y in zip(acts, labels, strict=True) if y in cls],
                        axis=0) for cls, positive in ((pos, True), (neg, False))]
        bal = (side[0] + side[1]) / 2
        np.testing.assert_allclose(balanced[s].numpy(), np.maximum(bal, 1 - bal), rtol=0, atol=1e-9)


def test_subtask_decompositions():
    assert st.binary_subtasks(2) == [((1,), (0,))]
    assert st.binary_subtasks(4) == [((1,), (3,)), ((2,), (0, 1, 3))]  # Wang et al.'s binarize.py
    assert len(st.binary_subtasks(5)) == 5
    with pytest.raises(ValueError, match="at least 2"):
        st.binary_subtasks(1)
    assert st.parse_subtasks("0:2;1:0+2", 3) == st.binary_subtasks(3)
    assert st.parse_subtasks("1:rest", 3) == [((1,), (0, 2))]
    assert [s.label for s in st.binary_subtasks(3)] == ["0:2", "1:0+2"]
    for bad, msg in [("0-2", "POSITIVE:NEGATIVE"), ("0:3", "not in"), ("0:0", "twice"),
                     ("a:1", "integers"), ("", "no subtask")]:
        with pytest.raises(ValueError, match=msg):
            st.parse_subtasks(bad, 3)


def test_single_class_present_is_undefined():
    fire = torch.tensor([0, 3]).view(2, 1, 1, 1)  # (C, L, P, D)
    counts = torch.tensor([0, 5])
    assert not st.has_both_sides(counts)
    with pytest.raises(ValueError, match="undefined"):
        st.predictivity(fire, counts)
    # A subtask that does not involve the missing class is still defined.
    fire3 = torch.tensor([2, 0, 1]).view(3, 1, 1, 1)
    counts3 = torch.tensor([4, 0, 2])
    assert st.predictivity(fire3, counts3, (0,), (2,)).item() == pytest.approx(
        max((2 + 1) / 6, 1 - (2 + 1) / 6)
    )


def test_inhibitory_share():
    acc = torch.tensor([[[0.2, 0.7, 0.5], [0.6, 0.1, 0.5]]])  # (L=1, P=2, D=3)
    score, position = st.neuron_scores(torch.maximum(acc, 1 - acc))
    assert position.tolist() == [[0, 1, 0]]  # neuron 2: tie at 0.5 -> first position
    share = st.inhibitory_share(acc, position)
    assert share.tolist() == pytest.approx([2 / 3])  # neuron 0 (0.2) and neuron 1 (0.1)
    mask = torch.tensor([[True, False, True]])
    assert st.inhibitory_share(acc, position, mask).tolist() == pytest.approx([0.5])


# --- scores and skill neurons ----------------------------------------------------------------


def test_neuron_scores_and_prompt_average():
    rng = np.random.default_rng(3)
    preds = [rng.uniform(0.5, 1, size=(L, P, D)).astype(np.float32) for _ in range(3)]
    scores = []
    for pred in preds:
        score, position = st.neuron_scores(torch.from_numpy(pred))
        np.testing.assert_array_equal(score.numpy(), pred.max(axis=1))
        np.testing.assert_array_equal(position.numpy(), pred.argmax(axis=1))
        scores.append(score)
    avg = st.average_over_prompts(scores)
    np.testing.assert_allclose(avg.numpy(), np.mean([p.max(axis=1) for p in preds], axis=0),
                               rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        st.average_over_prompts([scores[0], scores[0][:, :3]])
    with pytest.raises(ValueError, match="at least one"):
        st.average_over_prompts([])


@pytest.mark.parametrize(
    ("num_neurons", "fraction", "k"),
    [(64, 0.0, 0), (64, 0.001, 0), (64, 0.02, 1), (64, 0.1, 6), (10, 0.05, 0), (10, 0.15, 1),
     (10, 0.25, 2), (100, 0.07, 7), (3072, 0.01, 30), (3072, 0.02, 61), (3072, 0.2, 614), (7, 1.0, 7)],
)
def test_top_k_rounding(num_neurons, fraction, k):
    assert st.top_k(num_neurons, fraction) == k


def test_top_fraction_mask_matches_reference_with_ties():
    rng = np.random.default_rng(4)
    score = rng.integers(0, 4, size=(L, 20)).astype(np.float32)  # many ties
    for fraction in (0.0, 0.05, 0.1, 0.33, 1.0):
        k = st.top_k(20, fraction)
        got = st.top_fraction_mask(torch.from_numpy(score), fraction)
        assert got.dtype == torch.bool and got.sum(1).tolist() == [k] * L
        np.testing.assert_array_equal(got.numpy(), ref_top_mask(score, k))
        low = st.top_fraction_mask(torch.from_numpy(score), fraction, ties="low")
        np.testing.assert_array_equal(low.numpy(), ref_top_mask(score, k, higher_index_first=False))
    tie = torch.tensor([[1.0, 2.0, 2.0, 2.0]])
    assert st.top_fraction_indices(tie, 0.5).tolist() == [[3, 2]]  # higher index wins (reversed argsort)
    assert st.top_fraction_indices(tie, 0.5, ties="low").tolist() == [[1, 2]]  # Wang et al.'s stable sort
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        st.top_fraction_mask(tie, 2.0)
    with pytest.raises(ValueError, match="NaN"):
        st.top_fraction_mask(torch.tensor([[math.nan, 1.0]]), 0.5)
    # Wang et al.: floor(p D) of subtask 0 (p = 0.5 / 2), then subtask 1 fills the layer to floor(0.5 D)
    union = st.union_mask([torch.tensor([[3.0, 2.0, 1.0, 0.0]]), torch.tensor([[0.0, 1.0, 2.0, 3.0]])], 0.5)
    assert union.tolist() == [[True, False, False, True]]


# --- consistency -----------------------------------------------------------------------------


def test_consistency_matches_reference():
    rng = np.random.default_rng(5)
    clean = rng.uniform(0.5, 1, size=(6, 50)).astype(np.float32)
    adv = (clean + rng.normal(scale=0.1, size=clean.shape)).astype(np.float32)
    curve = st.consistency_curve(torch.from_numpy(clean), torch.from_numpy(adv))
    assert [p.fraction for p in curve] == list(st.DEFAULT_FRACTIONS)
    for point in curve:
        k = st.top_k(50, point.fraction)
        per_layer = []
        for layer in range(6):
            s_clean = set(np.flatnonzero(ref_top_mask(clean[layer:layer + 1], k)[0]))
            s_adv = set(np.flatnonzero(ref_top_mask(adv[layer:layer + 1], k)[0]))
            per_layer.append(len(s_clean & s_adv) / len(s_adv))
        assert point.k == k
        np.testing.assert_allclose(point.per_layer, per_layer, rtol=0, atol=1e-6)
        assert point.mean == pytest.approx(np.mean(per_layer), abs=1e-6)
        assert point.sem == pytest.approx(np.std(per_layer, ddof=1) / np.sqrt(6), abs=1e-6)
    with pytest.raises(ValueError, match="undefined for fraction 0"):
        st.overlap_per_layer(torch.from_numpy(clean), torch.from_numpy(adv), 0.0)
    one_layer = st.consistency_curve(torch.from_numpy(clean[:1]), torch.from_numpy(adv[:1]), [0.1])
    assert math.isnan(one_layer[0].sem)


def test_skill_vs_random_is_seeded_and_matches_reference():
    rng = np.random.default_rng(6)
    clean = torch.from_numpy(rng.uniform(0.5, 1, size=(4, 30)).astype(np.float32))
    adv = torch.from_numpy(rng.uniform(0.5, 1, size=(4, 30)).astype(np.float32))
    res = st.adversarial_predictivity_of_clean_skill_neurons(clean, adv, 0.1, seed=7, num_draws=2)
    k = 3
    skill = [adv[layer, ref_top_mask(clean.numpy()[layer:layer + 1], k)[0]].double().mean().item()
             for layer in range(4)]
    np.testing.assert_allclose(res.skill_per_layer, skill, rtol=0, atol=1e-6)
    gen = torch.Generator().manual_seed(7)
    draws = np.zeros(4)
    for _ in range(2):
        for layer in range(4):
            draws[layer] += adv[layer, torch.randperm(30, generator=gen)[:k]].double().mean().item()
    np.testing.assert_allclose(res.random_per_layer, draws / 2, rtol=0, atol=1e-6)
    assert res.skill_mean == pytest.approx(np.mean(skill))
    again = st.adversarial_predictivity_of_clean_skill_neurons(clean, adv, 0.1, seed=7, num_draws=2)
    assert again == res
    other = st.adversarial_predictivity_of_clean_skill_neurons(clean, adv, 0.1, seed=8, num_draws=2)
    assert other.random_per_layer != res.random_per_layer


def test_spearman_pdr_and_report():
    rng = np.random.default_rng(8)
    clean = rng.permutation(40).reshape(2, 20).astype(np.float32)  # no ties
    adv = (clean + rng.normal(scale=5, size=clean.shape)).astype(np.float32)

    def rank_corr(a, b):
        ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
        return np.corrcoef(ra, rb)[0, 1]

    res = st.spearman_correlation(torch.from_numpy(clean), torch.from_numpy(adv))
    assert res.overall == pytest.approx(rank_corr(clean.ravel(), adv.ravel()), abs=1e-9)
    assert res.per_layer == pytest.approx([rank_corr(clean[i], adv[i]) for i in range(2)], abs=1e-9)
    const = st.spearman_correlation(torch.ones(2, 5), torch.rand(2, 5))
    assert math.isnan(const.overall)

    assert st.performance_drop_rate(0.8, 0.6) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="clean accuracy of 0"):
        st.performance_drop_rate(0.0, 0.5)

    report = st.consistency_report(torch.from_numpy(clean[:1]), torch.from_numpy(adv[:1]),
                                   acc_clean=0.8, acc_adv=0.6)
    assert report["overlap"][0]["sem"] is None  # one layer: SEM undefined -> JSON null
    assert report["accuracy"]["performance_drop_rate"] == pytest.approx(0.25)
    assert set(report) == {"overlap", "skill_vs_random", "spearman", "accuracy"}
