"""The capture-only pass of the skill-neuron baseline against the full scoring pass.

``PromptTunedLM.activation_batches`` runs only the model body (the T5 encoder; no vocabulary head)
and stops after the last hooked layer; its activations must equal those that the full scoring pass
(``scored_batches(capture=...)``, itself checked against plain transformers in test_recorder.py)
captures for the same documents, on every backend, position mode and mask-first layout.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.host.tasks import choice_group
from skillneuron_harness.neurons.capture import run_until

CONTEXTS = [
    "a gripping , funny film\nQuestion: Is this sentence positive or negative?\nAnswer:",
    "dull\nQuestion: Is this sentence positive or negative?\nAnswer:",
    "the plot never takes off , and the actors look as bored as we are by the end of it\nQuestion: Is this "
    "sentence positive or negative?\nAnswer:",
    "What do both questions ask ? the same\nAnswer:",
    "Neither",
]
CHOICES = [[" negative", " positive"], [" yes", " no", " neutral"], [" not_entailment", " entailment"],
           [" True", " False"], [" negative", " positive"]]
P = 3
HEADS = {"t5": ("decoder", "lm_head"), "bert": ("cls",), "roberta": ("lm_head",), "gpt2": ("lm_head",),
         "llama": ("lm_head",)}


def _lm(path, prompt_file):
    return PromptTunedLM(pretrained=str(path), prompt=str(prompt_file), device="cpu", batch_size=2)


def _compare(lm, positions, heads, choices=CHOICES):
    groups = [choice_group(lm, c, ch) for c, ch in zip(CONTEXTS, choices, strict=True)]
    full = {}
    for batch, _, acts in lm.engine.scored_batches(groups, capture=positions, disable_tqdm=True):
        full.update(zip(batch, acts, strict=True))  # group -> (L, P', D)
    calls = []
    handles = [lm.model.get_submodule(name).register_forward_hook(lambda *a: calls.append(1)) for name in heads]
    try:
        only = {}
        for batch, acts in lm.engine.activation_batches(groups, capture=positions, batch_size=2, disable_tqdm=True):
            only.update(zip(batch, acts, strict=True))
    finally:
        for h in handles:
            h.remove()
    assert sorted(only) == sorted(full) == list(range(len(groups)))
    for g in full:
        torch.testing.assert_close(only[g], full[g], rtol=0, atol=1e-6)
    assert not calls  # no decoder, no vocabulary head ran
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in lm.model.modules())


@pytest.mark.parametrize(("family", "positions"), [
    ("t5", "prompt"), ("t5", "last"), ("bert", "prompt"), ("bert", "mask"), ("roberta", "last"),
    ("gpt2", "prompt"), ("gpt2", "last"), ("llama", "last"),
])
def test_capture_only_equals_the_full_pass(family, positions, tiny_models, tmp_path):
    torch.manual_seed(5)
    save_file({"prompt": torch.randn(P, 32)}, tmp_path / "prompt.safetensors")
    lm = _lm(tiny_models[family], tmp_path / "prompt.safetensors")
    _compare(lm, positions, HEADS[family])


@pytest.mark.parametrize("positions", ["prompt", "mask"])
def test_capture_only_in_a_mask_first_layout(positions, tiny_models, tmp_path):
    """Prompt-Transferability's RoBERTa layout: zeroed prompt position embeddings, text numbered from 2."""
    torch.manual_seed(6)
    torch.save(torch.randn(P, 32), tmp_path / "task_prompt")
    lm = _lm(tiny_models["roberta"], tmp_path / "task_prompt")
    assert lm.soft_prompt.format == "prompt_transferability"
    _compare(lm, positions, HEADS["roberta"], [[" negative", " entailment"]] * len(CONTEXTS))  # one-token bare words


def test_run_until_stops_and_cleans_up():
    layers = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    seen = []
    layers[2].register_forward_hook(lambda *a: seen.append("after"))

    class Body(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = layers

        def forward(self, x):
            return self.layers(x)

    body = Body()
    run_until(body, layers[1], x=torch.ones(1, 2))
    assert seen == [] and not layers[1]._forward_pre_hooks
    with pytest.raises(RuntimeError, match="never reached"):
        run_until(layers[0], layers[2], input=torch.ones(1, 2))
    assert not layers[2]._forward_pre_hooks
