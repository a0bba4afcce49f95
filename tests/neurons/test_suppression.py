"""Suppression (``suppress=`` of ``prompt_tuned``) checked with hooks written here.

The independent hook is a plain forward pre-hook on each FFN down-projection, registered after
ours, so it sees exactly what the down-projection receives.
"""

from __future__ import annotations

import lm_eval
import pytest
import torch
from lm_requests import loglikelihood_requests, request, rolling_request
from safetensors.torch import load_file, save_file

from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.neurons.suppression import SuppressionConfig, select_neurons

DOWN_PROJ = {"bert": "bert.encoder.layer.{}.output.dense", "gpt2": "transformer.h.{}.mlp.c_proj",
             "t5": "encoder.block.{}.layer.1.DenseReluDense.wo"}
WIDTH = {"bert": 64, "gpt2": 128, "t5": 64}
LAYERS, P, BASELINE_P = 2, 3, 2
CONTEXTS = ["a gripping , funny film\nQuestion: Is this sentence positive or negative?\nAnswer:",
            "dull\nQuestion: Is this sentence positive or negative?\nAnswer:"]


def requests():
    return loglikelihood_requests(CONTEXTS, [" negative", " positive"])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A soft prompt and a skill-neuron file per model (random scores, a 2-position baseline)."""
    out = tmp_path_factory.mktemp("suppression")
    torch.manual_seed(5)
    save_file({"prompt": torch.randn(P, 32)}, out / "prompt.safetensors")
    for name, width in WIDTH.items():
        save_file({"score": torch.rand(LAYERS, width), "baseline": torch.randn(LAYERS, BASELINE_P, width)},
                  out / f"{name}.safetensors")
    return out


class Spy:
    """Records the down-projection inputs [B, T, D] of every layer."""

    def __init__(self, model, name):
        self.seen = {layer: [] for layer in range(LAYERS)}
        self.handles = [model.get_submodule(DOWN_PROJ[name].format(layer)).register_forward_pre_hook(
            lambda module, args, layer=layer: self.seen[layer].append(args[0].detach().clone()))
            for layer in range(LAYERS)]

    def remove(self):
        for h in self.handles:
            h.remove()


def make(name, tiny_models, files, **suppress):
    args = {f"suppress_{k}" if k != "file" else "suppress": v for k, v in suppress.items()}
    return PromptTunedLM(pretrained=str(tiny_models[name]), prompt=str(files / "prompt.safetensors"), device="cpu",
                         batch_size=4, **args)


def spied_loglikelihood(lm, name):
    spy = Spy(lm.model, name)
    try:
        results = lm.loglikelihood(requests())
    finally:
        spy.remove()
    return results, spy.seen


@pytest.mark.parametrize("name", ["bert", "gpt2", "t5"])
def test_zeroed_neurons_are_zero_in_every_pass(name, tiny_models, files):
    file = files / f"{name}.safetensors"
    lm = make(name, tiny_models, files, file=str(file), top=0.1)
    plain = make(name, tiny_models, files)
    mask = select_neurons(load_file(file)["score"], 0.1)
    assert mask.sum(1).tolist() == [int(0.1 * WIDTH[name])] * LAYERS  # floor, as both papers
    _, seen = spied_loglikelihood(lm, name)
    _, seen_plain = spied_loglikelihood(plain, name)
    for layer in range(LAYERS):
        for x, x_plain in zip(seen[layer], seen_plain[layer], strict=True):  # (B, T, D)
            assert torch.all(x[..., mask[layer]] == 0)
            assert torch.count_nonzero(x[..., ~mask[layer]]) > 0
            if layer == 0:  # nothing upstream changed: the other neurons are untouched
                torch.testing.assert_close(x[..., ~mask[layer]], x_plain[..., ~mask[layer]])
    assert lm.get_model_info()["suppression"]["neurons_per_layer"] == mask.sum(1).tolist()


def test_generation_and_rolling_are_suppressed(tiny_models, files):
    lm = make("gpt2", tiny_models, files, file=str(files / "gpt2.safetensors"), top=0.2)
    mask = lm.suppression.mask
    spy = Spy(lm.model, "gpt2")
    try:
        lm.generate_until([request("generate_until", (CONTEXTS[0], {"until": ["\n\n"], "max_gen_toks": 3}))])
        lm.loglikelihood_rolling([rolling_request(CONTEXTS[1])])
    finally:
        spy.remove()
    assert len(spy.seen[0]) >= 4  # several decoding steps and the rolling window
    for layer in range(LAYERS):
        assert all(torch.all(x[..., mask[layer]] == 0) for x in spy.seen[layer])


def test_random_control_is_reproducible_by_seed(tiny_models, files):
    score = torch.rand(3, 50)
    a, b = select_neurons(score, 0.1, "random", seed=7), select_neurons(score, 0.1, "random", seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, select_neurons(score, 0.1, "random", seed=8))
    assert a.sum(1).tolist() == select_neurons(score, 0.1, "skill").sum(1).tolist() == [5, 5, 5]
    file = str(files / "bert.safetensors")
    one = make("bert", tiny_models, files, file=file, top=0.2, control="random", seed=3)
    two = make("bert", tiny_models, files, file=file, top=0.2, control="random", seed=3)
    assert torch.equal(one.suppression.mask, two.suppression.mask)
    assert one.loglikelihood(requests()) == two.loglikelihood(requests())


@pytest.mark.parametrize("mode", ["zero", "mean", "mean_avg", "noise", "noise_doc"])
def test_top_zero_equals_unsuppressed_run_exactly(mode, tiny_models, files):
    plain = make("bert", tiny_models, files)
    off = make("bert", tiny_models, files, file=str(files / "bert.safetensors"), top=0, mode=mode)
    assert off.loglikelihood(requests()) == plain.loglikelihood(requests())
    assert off.get_model_info()["suppression"]["neurons_per_layer"] == [0, 0]


def test_mean_mode_writes_the_baseline(tiny_models, files):
    file = files / "bert.safetensors"
    baseline = load_file(file)["baseline"]  # (L, 2, D)
    lm = make("bert", tiny_models, files, file=str(file), top=0.25, mode="mean")
    mask = lm.suppression.mask
    _, seen = spied_loglikelihood(lm, "bert")
    for layer in range(LAYERS):
        want = baseline[layer][:, mask[layer]]  # (2, k)
        for x in seen[layer]:  # (B, T, D), T > 2
            got = x[..., mask[layer]]  # (B, T, k)
            torch.testing.assert_close(got[:, :BASELINE_P], want.expand(x.shape[0], -1, -1))
            beyond = want.mean(0).expand(x.shape[0], x.shape[1] - BASELINE_P, -1)  # mean over positions
            torch.testing.assert_close(got[:, BASELINE_P:], beyond)


def test_noise_mode_adds_gaussian_noise(tiny_models, files):
    file = str(files / "bert.safetensors")
    plain = make("bert", tiny_models, files)
    noisy = make("bert", tiny_models, files, file=file, top=0.5, mode="noise", sigma=0.5, seed=1)
    again = make("bert", tiny_models, files, file=file, top=0.5, mode="noise", sigma=0.5, seed=1)
    mask = noisy.suppression.mask[0]
    _, seen = spied_loglikelihood(noisy, "bert")
    _, seen_again = spied_loglikelihood(again, "bert")
    _, seen_plain = spied_loglikelihood(plain, "bert")
    diff = torch.cat([(x - y)[..., mask].flatten() for x, y in zip(seen[0], seen_plain[0], strict=True)])
    assert diff.std().item() == pytest.approx(0.5, rel=0.15)
    assert abs(diff.mean().item()) < 0.1
    torch.testing.assert_close(torch.cat([x[..., ~mask].flatten() for x in seen[0]]),
                               torch.cat([x[..., ~mask].flatten() for x in seen_plain[0]]))
    for x, y in zip(seen[0], seen_again[0], strict=True):
        assert torch.equal(x, y)  # same seed, same noise


def test_bad_arguments_name_the_fix(tmp_path, files):
    with pytest.raises(ValueError, match="suppress_mode=drop"):
        SuppressionConfig(str(files / "bert.safetensors"), mode="drop")
    with pytest.raises(ValueError, match="suppress_top=1.5"):
        SuppressionConfig(str(files / "bert.safetensors"), top=1.5)
    with pytest.raises(ValueError, match="no such file"):
        SuppressionConfig(str(tmp_path / "missing.safetensors"))


def test_wrong_model_file_is_refused(tiny_models, files):
    with pytest.raises(ValueError, match="its layers have 128 neurons, the model.s have 64"):
        make("bert", tiny_models, files, file=str(files / "gpt2.safetensors"))


def test_results_json_records_the_suppression(tiny_models, files, task_manager):
    file = files / "bert.safetensors"
    results = lm_eval.simple_evaluate(
        model="prompt_tuned",
        model_args=f"pretrained={tiny_models['bert']},prompt={files / 'prompt.safetensors'},suppress={file},"
                   "suppress_top=0.1,suppress_control=random,suppress_seed=4",
        tasks=["sst2"], limit=4, device="cpu", task_manager=task_manager,
    )
    recorded = results["config"]["suppression"]
    assert recorded["file"] == str(file) and recorded["control"] == "random" and recorded["seed"] == 4
    assert recorded["top"] == 0.1 and recorded["mode"] == "zero" and recorded["neurons_per_layer"] == [6, 6]


def test_wang_et_al_modes_mean_avg_and_noise_doc(tiny_models, files):
    """Skill-Neuron src/modelzoo.py:63-88: the position-averaged baseline; one noise draw shared over positions."""
    file = files / "bert.safetensors"
    baseline = load_file(file)["baseline"]  # (L, 2, D)
    lm = make("bert", tiny_models, files, file=str(file), top=0.25, mode="mean_avg")
    mask = lm.suppression.mask
    _, seen = spied_loglikelihood(lm, "bert")
    for layer in range(LAYERS):
        want = baseline[layer].mean(0)[mask[layer]]  # (k,)
        for x in seen[layer]:  # (B, T, D)
            torch.testing.assert_close(x[..., mask[layer]], want.expand(*x.shape[:2], -1))
    plain = make("bert", tiny_models, files)
    noisy = make("bert", tiny_models, files, file=str(file), top=0.5, mode="noise_doc", sigma=0.5, seed=1)
    _, seen_plain = spied_loglikelihood(plain, "bert")
    _, seen_noisy = spied_loglikelihood(noisy, "bert")
    row = noisy.suppression.mask[0]
    for x, y in zip(seen_noisy[0], seen_plain[0], strict=True):
        diff = (x - y)[..., row]  # (B, T, k)
        torch.testing.assert_close(diff, diff[:, :1].expand_as(diff))  # the same draw at every position
        assert diff.abs().sum() > 0
        if diff.shape[0] > 1:
            assert not torch.equal(diff[0, 0], diff[1, 0])  # a new draw for every document


def test_a_top_that_selects_no_neuron_says_so(tiny_models, files, caplog):
    # bert's layers have 64 neurons: 0.01 x 64 rounds down to none, so nothing would be suppressed
    with caplog.at_level("WARNING", logger="skillneuron_harness.neurons.suppression"):
        lm = make("bert", tiny_models, files, file=str(files / "bert.safetensors"), top=0.01)
    assert not lm.suppression.active
    assert "suppress_top=0.01 selects no neuron of the 64 per layer" in caplog.text
    assert "suppress_top=0.015625 or more" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="skillneuron_harness.neurons.suppression"):
        lm = make("bert", tiny_models, files, file=str(files / "bert.safetensors"), top=0.02)
    assert lm.suppression.active and "selects no neuron" not in caplog.text
