"""Skill-neuron statistics of an lm-eval run against activations captured independently.

The reference renders the documents by hand from ../shared/data, runs the plain transformers
model one document at a time with its own forward pre-hooks on the FFN down-projections, and
computes the baseline and the per-class counts in NumPy.
"""

from __future__ import annotations

import json
from pathlib import Path

import lm_eval
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TEMPLATE = "{}\nQuestion: Is this sentence positive or negative?\nAnswer:"
P, LIMIT, BASELINE_LIMIT = 3, 10, 14
DOWN_PROJ = {"t5": "encoder.block.{}.layer.1.DenseReluDense.wo", "bert": "bert.encoder.layer.{}.output.dense",
             "gpt2": "transformer.h.{}.mlp.c_proj"}
W22_SUBTASKS = (([0], [2]), ([1], [0, 2]))  # (positive, negative) classes: 0 vs 2, 1 vs the rest
AUTO = {"t5": AutoModelForSeq2SeqLM, "bert": AutoModelForMaskedLM, "gpt2": AutoModelForCausalLM}


def rows(name: str, split: str, n: int) -> list[dict]:
    with (DATA / name / f"{split}.jsonl").open() as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


def mnli_text(doc: dict) -> str:
    """lm-eval's MNLI prompt (lm_eval/tasks/glue/mnli/utils.py), written out here."""
    hypothesis = doc["hypothesis"].strip()
    hypothesis += "" if hypothesis.endswith(".") else "."
    return f"{doc['premise']}\nQuestion: {hypothesis} True, False or Neither?\nAnswer:"


def reference_activations(family, model_path, prompt, sentences, render=TEMPLATE.format) -> np.ndarray:
    """(N, L, P', D): one document per forward pass, hooks written here."""
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AUTO[family].from_pretrained(model_path).eval()
    layers = model.config.num_hidden_layers if family != "t5" else model.config.num_layers
    seen: list = []
    handles = [model.get_submodule(DOWN_PROJ[family].format(i)).register_forward_pre_hook(
        lambda module, args: seen.append(args[0][0])) for i in range(layers)]
    out = []
    with torch.no_grad():
        for sentence in sentences:
            text = render(sentence)
            if family == "bert":  # [CLS] text [MASK] [SEP]: one mask for the one-token verbalizers
                ids = [tok.cls_token_id, *tok.encode(text, add_special_tokens=False), tok.mask_token_id,
                       tok.sep_token_id]
            else:
                ids = tok.encode(text)
            embeds = torch.cat([prompt, model.get_input_embeddings()(torch.tensor(ids))])[None]
            seen.clear()
            if family == "t5":
                model.encoder(inputs_embeds=embeds)
            else:
                model(inputs_embeds=embeds)
            positions = slice(0, P) if family != "gpt2" else slice(P + len(ids) - 1, P + len(ids))
            out.append(torch.stack([a[positions] for a in seen]).numpy())  # (L, P', D)
    for h in handles:
        h.remove()
    return np.stack(out)


def bonferroni_permutation_p(cells: np.ndarray, labels: np.ndarray) -> float:
    """min(1, P x min over positions of P(max(acc, 1 - acc) >= observed)) over label permutations, by scipy."""
    from scipy.stats import hypergeom

    n, n_pos = len(labels), int(labels.sum())
    smallest = 1.0
    for bits in cells.T:  # (N,) one position
        fired = int(bits.sum())
        xs = np.arange(max(0, fired - (n - n_pos)), min(fired, n_pos) + 1)  # positives that fire
        agree = xs + (n - n_pos) - (fired - xs)  # correct documents for each
        x_obs = int(bits[labels == 1].sum())
        observed = max(agree[xs == x_obs][0], n - agree[xs == x_obs][0])
        extreme = xs[np.maximum(agree, n - agree) >= observed]
        smallest = min(smallest, float(hypergeom.pmf(extreme, n, n_pos, fired).sum()))
    return min(1.0, cells.shape[1] * smallest)


@pytest.mark.parametrize("family", ["t5", "bert", "gpt2"])
def test_run_statistics_equal_independent_capture(family, tiny_models, tmp_path, task_manager):
    torch.manual_seed(3)
    prompt = torch.randn(P, 32)
    save_file({"prompt": prompt}, tmp_path / "prompt.safetensors")
    out = tmp_path / "sn"
    results = lm_eval.simple_evaluate(
        model="prompt_tuned",
        model_args=f"pretrained={tiny_models[family]},prompt={tmp_path / 'prompt.safetensors'},"
                   f"skill_neurons={out},sn_baseline_limit={BASELINE_LIMIT},sn_fdr=0.1",
        tasks=["sst2", "adv_sst2"], limit=LIMIT, device="cpu", task_manager=task_manager, batch_size=4,
    )
    train = [r["sentence"] for r in rows("sst2", "train", BASELINE_LIMIT)]
    baseline = reference_activations(family, tiny_models[family], prompt, train).astype(np.float64).mean(0)
    for task, data in (("sst2", "sst2"), ("adv_sst2", "adv_sst2")):
        docs = rows(data, "validation", LIMIT)
        acts = reference_activations(family, tiny_models[family], prompt, [d["sentence"] for d in docs])
        labels = np.array([d["label"] for d in docs])
        saved = load_file(out / f"{task}.safetensors")
        np.testing.assert_allclose(saved["baseline"].numpy(), baseline, atol=1e-6)
        fires = acts > saved["baseline"].numpy()  # (N, L, P', D)
        want = np.stack([fires[labels == c].sum(0) for c in (0, 1)])  # (C, L, P', D)
        np.testing.assert_array_equal(saved["fire_counts"].numpy(), want)
        np.testing.assert_array_equal(saved["class_counts"].numpy(), np.bincount(labels, minlength=2))
        acc = (want[1] + (labels == 0).sum() - want[0]) / len(labels)  # "fires => positive"
        np.testing.assert_allclose(saved["predictivity"].numpy(), np.maximum(acc, 1 - acc), atol=1e-6)
        section = results["skill_neurons"][task]
        assert section["num_docs"] == LIMIT
        assert section["positions"] == ("last" if family == "gpt2" else "prompt")
        assert section["accuracy"] == pytest.approx(results["results"][task]["acc,none"])
        assert section["null"]["fdr"] == 0.1 and len(section["null"]["layers"]) == fires.shape[1]
        for neuron in section["top_neurons"][:5]:  # each neuron's null p-value from the bits captured here
            cells = fires[:, neuron["layer"], :, neuron["neuron"]]  # (N, P')
            assert neuron["p_value"] == pytest.approx(bonferroni_permutation_p(cells, labels), rel=1e-9, abs=1e-15)
    consistency = results["skill_neurons"]["adv_sst2"]["consistency"]
    assert consistency["reference"] == "task:sst2"
    assert [p["fraction"] for p in consistency["overlap"]] == pytest.approx([0.02 * i for i in range(1, 11)])


def test_three_choice_documents_count_once(tiny_models, tmp_path, task_manager):
    # MNLI has no training split offline: reuse a baseline of the same model and positions.
    args = f"pretrained={tiny_models['bert']},sn_baseline_limit=4"
    lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{args},skill_neurons={tmp_path / 'a'}",
                            tasks=["sst2"], limit=2, device="cpu", task_manager=task_manager)
    results = lm_eval.simple_evaluate(
        model="prompt_tuned",
        model_args=f"{args},skill_neurons={tmp_path / 'b'},sn_baseline={tmp_path / 'a' / 'sst2.safetensors'}",
        tasks=["adv_mnli"], limit=12, device="cpu", task_manager=task_manager, batch_size=5,
    )
    saved = load_file(tmp_path / "b" / "adv_mnli.safetensors")
    labels = [r["label"] for r in rows("adv_mnli", "validation", 12)]  # all three classes
    np.testing.assert_array_equal(saved["class_counts"].numpy(), np.bincount(labels, minlength=3))
    assert int(saved["fire_counts"].sum(0).max()) <= 12
    assert saved["subtask_predictivity"].shape[0] == 2  # Wang et al.: 0 vs 2, and 1 vs rest
    assert "subtask_baseline" not in saved  # a binary task's baseline: the subtasks share it
    assert results["skill_neurons"]["adv_mnli"]["num_docs"] == 12


def test_three_class_subtasks_have_their_own_baselines(tiny_models, tmp_path, task_manager):
    """Wang et al.: each binary subtask (0 vs 2, 1 vs 0+2) has the balanced baseline of its two sides."""
    torch.manual_seed(7)
    prompt = torch.randn(P, 32)
    save_file({"prompt": prompt}, tmp_path / "prompt.safetensors")
    args = f"pretrained={tiny_models['bert']},prompt={tmp_path / 'prompt.safetensors'}"
    lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{args},skill_neurons={tmp_path / 'sn'},"
                            "sn_baseline_limit=16", tasks=["mnli", "adv_mnli"], limit=12, device="cpu",
                            task_manager=task_manager, batch_size=4)
    train = rows("mnli", "train_sample9k", 16)
    acts = reference_activations("bert", tiny_models["bert"], prompt, train, render=mnli_text)
    y = np.array([d["label"] for d in train])
    acts = acts.astype(np.float64)
    baselines = np.stack([(acts[np.isin(y, pos)].mean(0) + acts[np.isin(y, neg)].mean(0)) / 2
                          for pos, neg in W22_SUBTASKS])  # (S, L, P, D)
    for task, data, split in (("mnli", "mnli", "validation_matched_sample1k"), ("adv_mnli", "adv_mnli", "validation")):
        docs = rows(data, split, 12)
        acts = reference_activations("bert", tiny_models["bert"], prompt, docs, render=mnli_text)
        labels = np.array([d["label"] for d in docs])
        saved = load_file(tmp_path / "sn" / f"{task}.safetensors")
        np.testing.assert_allclose(saved["subtask_baseline"].numpy(), baselines, atol=1e-6)
        np.testing.assert_array_equal(saved["baseline_class_counts"].numpy(), np.bincount(y, minlength=3))
        preds = []
        for s, (pos, neg) in enumerate(W22_SUBTASKS):
            fires = acts > saved["subtask_baseline"][s].numpy()  # (N, L, P, D)
            want = np.stack([fires[labels == c].sum(0) for c in range(3)])  # (C, L, P, D)
            np.testing.assert_array_equal(saved["subtask_fire_counts"][s].numpy(), want)
            # balanced: each side weighs one half
            acc = (fires[np.isin(labels, pos)].mean(0) + 1 - fires[np.isin(labels, neg)].mean(0)) / 2
            preds.append(np.maximum(acc, 1 - acc))
        np.testing.assert_allclose(saved["subtask_predictivity"].numpy(), np.stack(preds), atol=1e-12)
        np.testing.assert_allclose(saved["predictivity"].numpy(), np.maximum(*preds), atol=1e-12)
        np.testing.assert_allclose(saved["score"].numpy(), np.maximum(*preds).max(1), atol=1e-12)
        np.testing.assert_allclose(saved["subtask_score"].numpy(), np.stack(preds).max(2), atol=1e-12)
        assert json.loads((tmp_path / "sn" / f"{task}.json").read_text())["provenance"]["subtask_baselines"] == "own"
    # sn_baseline=FILE of a multi-class run reuses its per-subtask baselines
    lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{args},skill_neurons={tmp_path / 'again'},"
                            f"sn_baseline={tmp_path / 'sn' / 'mnli.safetensors'}", tasks=["adv_mnli"], limit=4,
                            device="cpu", task_manager=task_manager)
    again = load_file(tmp_path / "again" / "adv_mnli.safetensors")
    torch.testing.assert_close(again["subtask_baseline"], saved["subtask_baseline"], rtol=0, atol=0)


def test_use_cache_is_refused(tiny_models, tmp_path, task_manager):
    with pytest.raises(ValueError, match="use_cache"):
        lm_eval.simple_evaluate(
            model="prompt_tuned", model_args=f"pretrained={tiny_models['bert']},skill_neurons={tmp_path}",
            tasks=["sst2"], limit=2, device="cpu", task_manager=task_manager, use_cache=str(tmp_path / "cache"),
        )


def test_baseline_from_file_and_reference_from_file(tiny_models, tmp_path, task_manager):
    args = f"pretrained={tiny_models['bert']},sn_baseline_limit=6"
    first = lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{args},skill_neurons={tmp_path / 'a'}",
                                    tasks=["sst2"], limit=6, device="cpu", task_manager=task_manager)
    assert first["skill_neurons"]["sst2"]["num_docs"] == 6
    clean = tmp_path / "a" / "sst2.safetensors"
    second = lm_eval.simple_evaluate(
        model="prompt_tuned",
        model_args=f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'b'},sn_baseline={clean},"
                   f"sn_reference={clean}",
        tasks=["adv_sst2"], limit=6, device="cpu", task_manager=task_manager,
    )
    torch.testing.assert_close(load_file(tmp_path / "b" / "adv_sst2.safetensors")["baseline"],
                               load_file(clean)["baseline"])
    assert second["skill_neurons"]["adv_sst2"]["consistency"]["reference"] == f"file:{clean}"


def test_baseline_source_self_is_the_adversarial_set(tiny_models, tmp_path, task_manager):
    """sn_baseline_source=self: Ackermann & Ohmer's --adversarial True baseline, over the adversarial documents."""
    torch.manual_seed(5)
    prompt = torch.randn(P, 32)
    save_file({"prompt": prompt}, tmp_path / "prompt.safetensors")
    results = lm_eval.simple_evaluate(
        model="prompt_tuned",
        model_args=f"pretrained={tiny_models['bert']},prompt={tmp_path / 'prompt.safetensors'},"
                   f"skill_neurons={tmp_path / 'sn'},sn_baseline_limit=8,sn_baseline_source=self",
        tasks=["adv_sst2"], limit=4, device="cpu", task_manager=task_manager,
    )
    own = [r["sentence"] for r in rows("adv_sst2", "validation", 8)]
    want = reference_activations("bert", tiny_models["bert"], prompt, own).astype(np.float64).mean(0)
    saved = load_file(tmp_path / "sn" / "adv_sst2.safetensors")
    np.testing.assert_allclose(saved["baseline"].numpy(), want, atol=1e-6)
    assert json.loads((tmp_path / "sn" / "adv_sst2.json").read_text())["provenance"]["baseline_source"] == \
        "adv_sst2:self"
    assert results["skill_neurons"]["adv_sst2"]["num_docs"] == 4
    with pytest.raises(ValueError, match="sn_baseline_source=clean"):
        lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"pretrained={tiny_models['bert']},"
                                f"skill_neurons={tmp_path / 'x'},sn_baseline_source=clean",
                                tasks=["sst2"], limit=2, device="cpu", task_manager=task_manager)
