"""Per-example consistency of a run with a clean task and a paired adversarial user task.

The adversarial documents name their originals in SST-2's validation split (``clean_doc_id``):
half are verbatim copies, half are edited. The expected flip fractions come from activations
captured here with plain transformers (``test_recorder.reference_activations``) against the run's
saved baseline and the clean task's saved selection; the predictions from lm-eval's own samples.
"""

from __future__ import annotations

import json
import math

import lm_eval
import numpy as np
import pytest
import torch
from lm_requests import logged_loglikelihoods
from safetensors.torch import load_file, save_file
from test_recorder import BASELINE_LIMIT, P, reference_activations, rows

from skillneuron_harness.host.bridge import task_folder

LIMIT = 8


def paired_task(tmp_path, docs: list[dict]):
    folder = tmp_path / "tasks"
    folder.mkdir()
    with (folder / "my_pairs.jsonl").open("w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    (folder / "my_pairs.yaml").write_text(
        f"include: {task_folder() / 'templates' / 'sst2_jsonl.yaml'}\ntask: my_pairs\n"
        "dataset_kwargs:\n  data_files: my_pairs.jsonl\nmetadata: {clean_twin: sst2, perturbation: mixed}\n")
    return folder


def prediction(sample: dict) -> int:
    scores = logged_loglikelihoods(sample)
    return scores.index(max(scores))


@pytest.mark.parametrize("reference", [False, True])
def test_pairs_flip_fractions_equal_independent_capture(reference, tiny_models, tmp_path):
    from lm_eval.tasks import TaskManager

    clean = rows("sst2", "validation", LIMIT)
    docs = []
    for i, d in enumerate(clean):  # even: a copy; odd: the words reversed
        edited = d["sentence"] if i % 2 == 0 else " ".join(reversed(d["sentence"].split()))
        docs.append({"sentence": edited, "label": d["label"], "clean_doc_id": (i * 3) % LIMIT,
                     "perturbation": "copy" if i % 2 == 0 else "reverse"})
    docs = [{**d, "sentence": clean[d["clean_doc_id"]]["sentence"]} if d["perturbation"] == "copy" else d
            for d in docs]
    manager = TaskManager(include_path=str(paired_task(tmp_path, docs)))
    torch.manual_seed(5)
    prompt = torch.randn(P, 32)
    save_file({"prompt": prompt}, tmp_path / "prompt.safetensors")
    args = f"pretrained={tiny_models['t5']},prompt={tmp_path / 'prompt.safetensors'},sn_baseline_limit={BASELINE_LIMIT}"
    top = 0.25
    if reference:  # a clean run first: its file selects the neurons up front
        lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"{args},skill_neurons={tmp_path / 'ref'}",
                                tasks=["sst2"], limit=LIMIT, device="cpu", task_manager=manager, batch_size=4)
        args += f",sn_reference={tmp_path / 'ref' / 'sst2.safetensors'}"
    out = tmp_path / "sn"
    results = lm_eval.simple_evaluate(
        model="prompt_tuned", model_args=f"{args},skill_neurons={out},sn_top={top}", tasks=["sst2", "my_pairs"],
        limit=LIMIT, device="cpu", task_manager=manager, batch_size=4, log_samples=True)
    saved = load_file(out / "sst2.safetensors")
    selection = load_file(tmp_path / "ref" / "sst2.safetensors") if reference else saved
    k = math.floor(top * saved["score"].shape[1] + 1e-9)
    index = np.argsort(selection["score"].numpy(), axis=1, kind="stable")[:, ::-1][:, :k]  # (L, k)
    position = np.take_along_axis(selection["position"].numpy(), index, 1)  # (L, k)
    acts_clean = reference_activations("t5", tiny_models["t5"], prompt, [d["sentence"] for d in clean])
    acts_adv = reference_activations("t5", tiny_models["t5"], prompt, [d["sentence"] for d in docs])
    baseline = saved["baseline"].numpy()  # (L, P, D): sst2's, the threshold of both sides
    layers = np.arange(index.shape[0])[:, None]

    def bits(acts):  # (N, L, P, D) -> (N, L, k)
        return (acts > baseline)[:, layers, position, index]

    want = (bits(acts_clean)[[d["clean_doc_id"] for d in docs]] != bits(acts_adv)).mean(-1)  # (N, L)
    got = [json.loads(line) for line in (out / "my_pairs.pairs.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in got] == list(range(LIMIT))
    np.testing.assert_allclose([r["layer_flip"] for r in got], want)
    clean_pred = {s["doc_id"]: prediction(s) for s in results["samples"]["sst2"]}
    adv_pred = {s["doc_id"]: prediction(s) for s in results["samples"]["my_pairs"]}
    for r, d in zip(got, docs, strict=True):
        assert r["clean_doc_id"] == d["clean_doc_id"] and r["kind"] == d["perturbation"]
        assert (r["clean_pred"], r["adv_pred"]) == (clean_pred[d["clean_doc_id"]], adv_pred[r["doc_id"]])
        if d["perturbation"] == "copy":  # the same text: the same bits and the same prediction
            assert r["flip_fraction"] == 0 and not r["prediction_flipped"]
    block = results["skill_neurons"]["my_pairs"]["per_example"]
    assert block["pairs"] == LIMIT and block["neurons_per_layer"] == k and block["unscored_pairs"] == 0
    assert block["selection"] == ("file:" if reference else "task:") + (
        str(tmp_path / "ref" / "sst2.safetensors") if reference else "sst2")
    assert block["mean_flip_fraction"] == pytest.approx(want.mean())
    assert set(block["by_kind"]) == {"copy", "reverse"} and block["by_kind"]["copy"]["mean_flip_fraction"] == 0
    assert block["by_kind"]["reverse"]["mean_flip_fraction"] > 0  # the edits do change firing states
    assert "per_example" not in results["skill_neurons"]["sst2"]
