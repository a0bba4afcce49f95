"""One model, one label: results JSONs and skill-neuron files of the same model are named alike."""

from __future__ import annotations

import json

import torch

from skillneuron_harness.neurons.io import write_task_stats
from skillneuron_harness.report.collect import collect
from skillneuron_harness.report.labels import model_label, model_name, prompt_label
from skillneuron_harness.report.render import compute


def _results(folder, config):
    folder.mkdir(parents=True)
    data = {"results": {"sst2": {"acc,none": 0.8, "acc_stderr,none": 0.1}},
            "configs": {"sst2": {"task": "sst2", "doc_to_choice": ["negative", "positive"]}},
            "n-samples": {"sst2": {"effective": 10}}, "config": config}
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(data))


def _neurons(folder, model):
    gen = torch.Generator().manual_seed(0)
    write_task_stats(folder, "sst2", baseline=torch.zeros(2, 1, 50),
                     fire_counts=torch.randint(0, 6, (2, 2, 1, 50), generator=gen), class_counts=torch.tensor([5, 5]),
                     provenance={"model": model, "prompt": "/p/sst2.safetensors", "prompt_sha256": "sha"})


def test_a_run_without_pretrained_and_its_neuron_files_share_one_label(tmp_path):
    # `lm_eval --model prompt_tuned --model_args skill_neurons=sn` evaluates the demo model: lm-eval writes
    # config.model = "prompt_tuned" and no pretrained= in model_args; prompt_tuned records the loaded folder.
    demo = "/cache/skillneuron_harness/minilm-mlm-0123456789abcdef"
    _results(tmp_path / "a", {"model": "prompt_tuned", "model_args": "skill_neurons=sn", "pretrained": demo,
                              "prompt_source": "/p/sst2.safetensors", "prompt_sha256": "sha"})
    _neurons(tmp_path / "b", demo)
    data = compute(collect([tmp_path / "a", tmp_path / "b"]))
    assert [r["model"] for r in data["accuracy"]] == ["minilm-mlm-0123456789abcdef"]
    assert [r["model"] for r in data["skill_neurons"]] == ["minilm-mlm-0123456789abcdef"]


def test_model_name_sources(monkeypatch, tmp_path):
    assert model_name({"model": "hf", "model_args": "pretrained=org/bert-base,dtype=float32"}) == "org/bert-base"
    assert model_name({"model": "hf", "model_args": {"pretrained": "/m/gpt2"}}) == "/m/gpt2"
    assert model_name({"model": "openai-completions", "model_args": "model=davinci-002"}) == "davinci-002"
    assert model_name({"model": "/m/t5", "model_args": None}) == "/m/t5"  # a loaded model passed to lm-eval
    # Results written before prompt_tuned recorded `pretrained`: the demo folder prompt_tuned loads by default.
    # Its name is stable, so it is known without the demo extra too.
    monkeypatch.setenv("SKILLNEURON_HARNESS_CACHE", str(tmp_path))
    name = model_name({"model": "prompt_tuned", "model_args": ""})
    assert name == str(tmp_path / "all-MiniLM-L6-v2-mlm") and model_label(name) == "all-MiniLM-L6-v2-mlm"
    assert not any(tmp_path.iterdir())  # naming the folder builds nothing


def test_prompt_labels():
    assert prompt_label("/runs/seed33/adapter") == "seed33/adapter"
    assert prompt_label("/p/sst2-33.safetensors") == "sst2-33"
    assert prompt_label(None) == "no prompt"
