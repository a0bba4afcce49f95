"""Capture against an independent computation: the FFN recomputed from its own weights.

For each tiny model a separately written pre-hook records the input of the FFN's *first*
projection(s) (the normalised hidden state), and the intermediate activation is recomputed
from the layer's weights with plain torch functions. Captured activations must match it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import transformers as tf
from torch import nn

from skillneuron_harness.neurons.capture import capture_ffn, ffn_hook_points

ACT = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}


def _ffn_inputs(model: nn.Module, names: list[str]):
    """Record the input of each named module (the FFN's first projection), one per layer."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(n).register_forward_pre_hook(
            lambda mod, args, n=n: seen.__setitem__(n, args[0].detach())
        )
        for n in names
    ]
    return seen, handles


def _reference(kind: str, model: nn.Module, run) -> torch.Tensor:
    """Intermediate FFN activation [B, L, T, D] recomputed from weights."""
    if kind == "t5":
        blocks = model.encoder.block
        ffns = [b.layer[-1].DenseReluDense for b in blocks]
        gated = hasattr(ffns[0], "wi_0")
        prefix = "encoder.block.{i}.layer.1.DenseReluDense." + ("wi_0" if gated else "wi")
        act = ACT[model.config.dense_act_fn]
    elif kind in ("bert", "roberta"):
        base = getattr(model, kind)
        ffns = [layer.intermediate.dense for layer in base.encoder.layer]
        prefix = kind + ".encoder.layer.{i}.intermediate.dense"
        act = ACT[model.config.hidden_act]
    elif kind == "gpt2":
        ffns = [block.mlp.c_fc for block in model.transformer.h]
        prefix = "transformer.h.{i}.mlp.c_fc"
        act = ACT[model.config.activation_function]
    elif kind == "llama":
        ffns = [layer.mlp for layer in model.model.layers]
        prefix = "model.layers.{i}.mlp.gate_proj"
        act = ACT[model.config.hidden_act]
    names = [prefix.format(i=i) for i in range(len(ffns))]
    seen, handles = _ffn_inputs(model, names)
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    out = []
    for ffn, name in zip(ffns, names, strict=True):
        x = seen[name]  # (B, T, d_model)
        if kind == "t5" and gated:
            h = act(x @ ffn.wi_0.weight.T) * (x @ ffn.wi_1.weight.T)
        elif kind == "t5":
            h = act(x @ ffn.wi.weight.T)
        elif kind == "gpt2":
            h = act(x @ ffn.weight + ffn.bias)  # Conv1D: weight [in, out]
        elif kind == "llama":
            h = act(x @ ffn.gate_proj.weight.T) * (x @ ffn.up_proj.weight.T)
        else:
            h = act(x @ ffn.weight.T + ffn.bias)
        out.append(h)  # (B, T, D)
    return torch.stack(out, dim=1)  # (B, L, T, D)


LOADERS = {
    "t5": tf.AutoModelForSeq2SeqLM,
    "bert": tf.AutoModelForMaskedLM,
    "roberta": tf.AutoModelForMaskedLM,
    "gpt2": tf.AutoModelForCausalLM,
    "llama": tf.AutoModelForCausalLM,
}
EXPECTED = {
    "t5": ("t5", "encoder.layer.{i}.ffn", "encoder.block.{i}.layer.1.DenseReluDense.wo"),
    "bert": ("bert", "encoder.layer.{i}.ffn", "bert.encoder.layer.{i}.output.dense"),
    "roberta": ("bert", "encoder.layer.{i}.ffn", "roberta.encoder.layer.{i}.output.dense"),
    "gpt2": ("gpt2", "decoder.layer.{i}.ffn", "transformer.h.{i}.mlp.c_proj"),
    "llama": ("llama", "decoder.layer.{i}.ffn", "model.layers.{i}.mlp.down_proj"),
}


@pytest.fixture(scope="module")
def loaded(tiny_models):
    return {k: LOADERS[k].from_pretrained(p).eval() for k, p in tiny_models.items()}


def _inputs(model, batch=3, seq=7, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, model.config.vocab_size, (batch, seq), generator=gen)
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if model.config.is_encoder_decoder:
        kwargs["decoder_input_ids"] = torch.zeros(batch, 2, dtype=torch.long)
    return kwargs


def _no_hooks(model):
    return all(not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("kind", list(LOADERS))
def test_hook_points_and_capture_match_recomputation(loaded, kind):
    model = loaded[kind]
    points = ffn_hook_points(model)
    family, name, module = EXPECTED[kind]
    assert [p.name for p in points] == [name.format(i=i) for i in range(2)]
    assert [p.module_name for p in points] == [module.format(i=i) for i in range(2)]
    assert {p.family for p in points} == {family}

    batch = _inputs(model)
    with torch.no_grad():
        expected = _reference(kind, model, lambda: model(**batch))  # (B, L, T, D)
        with capture_ffn(model) as cap:
            model(**batch)
        got = cap.take()  # taken after the block
    width = expected.shape[-1]  # D: 64 (d_ff / intermediate size), GPT-2 4 * 32
    assert got.shape == expected.shape == (3, 2, 7, width)
    assert [p.width for p in points] == [width, width]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert _no_hooks(model)

    # Selections: a slice of the first positions, one index per row, several per row.
    last = torch.tensor([6, 2, 4])
    pairs = torch.tensor([[0, 3], [1, 1], [5, 6]])
    with torch.no_grad(), capture_ffn(model, select=slice(0, 4)) as cap:
        model(**batch)
        head = cap.take()
        cap.select = last
        model(**batch)
        per_row = cap.take()
        cap.select = pairs
        model(**batch)
        model(**batch)  # two passes are concatenated along the batch
        two = cap.take()
    torch.testing.assert_close(head, expected[:, :, :4])
    torch.testing.assert_close(per_row, expected[torch.arange(3), :, last].unsqueeze(2))
    gathered = torch.stack([expected[b, :, pairs[b]] for b in range(3)])  # (B, L, 2, D)
    torch.testing.assert_close(two, torch.cat([gathered, gathered]))
    assert _no_hooks(model)


def test_t5_gated_gelu_encoder_only():
    torch.manual_seed(0)
    config = tf.T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=24, num_layers=3,
                         num_decoder_layers=2, num_heads=2, feed_forward_proj="gated-gelu")
    model = tf.T5ForConditionalGeneration(config).eval()
    points = ffn_hook_points(model)
    assert [p.module_name for p in points] == [
        f"encoder.block.{i}.layer.1.DenseReluDense.wo" for i in range(3)
    ]
    batch = _inputs(model, seq=5)
    with torch.no_grad():
        expected = _reference("t5", model, lambda: model(**batch))
        with capture_ffn(model, select=slice(0, 2)) as cap:
            model(**batch)
            assert cap.pending == 1  # the decoder is not hooked: one pass, three layers
            got = cap.take()
    torch.testing.assert_close(got, expected[:, :, :2], rtol=1e-5, atol=1e-5)


def test_hooks_removed_after_exception_and_paused(loaded):
    model = loaded["bert"]
    batch = _inputs(model)
    with pytest.raises(RuntimeError, match="boom"):
        with capture_ffn(model):
            assert not _no_hooks(model)
            raise RuntimeError("boom")
    assert _no_hooks(model)
    with torch.no_grad(), capture_ffn(model, select=slice(0, 50)) as cap:
        with pytest.raises(ValueError, match="only 7 positions"):
            model(**batch)
        cap.clear()
        with cap.paused():
            model(**batch)
        assert cap.pending == 0
        with pytest.raises(RuntimeError, match="no forward pass"):
            cap.take()
    assert _no_hooks(model)
    with pytest.raises(ValueError, match="no module 'bert.encoder.layer.9.output.dense'"):
        with capture_ffn(model, hook_points=["bert.encoder.layer.0.output.dense",
                                             "bert.encoder.layer.9.output.dense"]):
            pass
    assert _no_hooks(model)
    with pytest.raises(ValueError, match=r"shape \[B\]"):
        with torch.no_grad(), capture_ffn(model, select=torch.tensor([0, 1])):
            model(**batch)
    assert _no_hooks(model)


def test_peft_wrapped_model(loaded):
    peft = pytest.importorskip("peft")
    base = loaded["t5"]
    wrapped = peft.get_peft_model(
        base, peft.LoraConfig(target_modules=["q", "v"], r=2, task_type="SEQ_2_SEQ_LM")
    )
    try:
        points = ffn_hook_points(wrapped)
        assert [p.name for p in points] == ["encoder.layer.0.ffn", "encoder.layer.1.ffn"]
        assert points[0].module_name == "base_model.model.encoder.block.0.layer.1.DenseReluDense.wo"
        batch = _inputs(base)
        with torch.no_grad(), capture_ffn(wrapped, select=slice(0, 3)) as cap:
            wrapped(**batch)
            assert cap.take().shape == (3, 2, 3, 64)
    finally:
        wrapped.unload()  # restore the shared module-scoped model
    assert _no_hooks(base)


def test_peft_prompt_tuning_prompt_positions():
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    config = tf.T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=24, num_layers=2, num_heads=2)
    base = tf.T5ForConditionalGeneration(config).eval()
    wrapped = peft.get_peft_model(
        base, peft.PromptTuningConfig(task_type="SEQ_2_SEQ_LM", num_virtual_tokens=4)
    )
    points = ffn_hook_points(wrapped)
    assert points[1].module_name == "base_model.encoder.block.1.layer.1.DenseReluDense.wo"
    batch = _inputs(base, batch=2, seq=6)
    with torch.no_grad():
        expected = _reference("t5", base, lambda: wrapped(**batch))  # (B, L, 4 + 6, D)
        with capture_ffn(wrapped, select=slice(0, 4)) as cap:  # the soft-prompt positions
            wrapped(**batch)
    assert expected.shape[2] == 10
    torch.testing.assert_close(cap.take(), expected[:, :, :4], rtol=1e-5, atol=1e-5)


def test_other_architectures_and_generic_fallback():
    small = dict(hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=2,
                 vocab_size=50)
    deberta = tf.DebertaV2ForMaskedLM(tf.DebertaV2Config(**small))
    assert [p.module_name for p in ffn_hook_points(deberta)] == [
        f"deberta.encoder.layer.{i}.output.dense" for i in range(2)
    ]
    qwen = tf.Qwen2ForCausalLM(tf.Qwen2Config(num_key_value_heads=2, **small))
    assert [(p.family, p.width) for p in ffn_hook_points(qwen)] == [("llama", 24)] * 2

    distil = tf.DistilBertForMaskedLM(
        tf.DistilBertConfig(dim=16, hidden_dim=24, n_layers=2, n_heads=2, vocab_size=50)
    )
    points = ffn_hook_points(distil)
    assert [(p.name, p.module_name, p.family) for p in points] == [
        (f"layer.{i}.ffn", f"distilbert.transformer.layer.{i}.ffn.lin2", "generic")
        for i in range(2)
    ]
    bart = tf.BartModel(tf.BartConfig(
        d_model=16, encoder_ffn_dim=24, decoder_ffn_dim=24, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, vocab_size=50,
    ))
    assert [(p.name, p.module_name) for p in ffn_hook_points(bart)] == [
        (f"encoder.layer.{i}.ffn", f"encoder.layers.{i}.fc2") for i in range(2)
    ]

    class Block(nn.Module):
        def __init__(self, experts: int):
            super().__init__()
            self.experts = nn.ModuleList(nn.Linear(8, 4) for _ in range(experts))

    class MoE(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(Block(2) for _ in range(2))
            for block in self.layers:
                for e in block.experts:
                    e.w2 = nn.Linear(8, 4)

    with pytest.raises(ValueError, match="more than one FFN down-projection per layer"):
        ffn_hook_points(MoE())
    with pytest.raises(ValueError, match="No FFN down-projection found in Sequential"):
        ffn_hook_points(nn.Sequential(nn.Linear(4, 4)))
