"""``prompt_tuned`` against independent computations in plain transformers + peft.

Every loglikelihood is recomputed one (context, continuation) pair at a time with PEFT's own
prompt-tuning forward (T5, GPT-2, Llama) or by prepending the prompt to the input embeddings by
hand (masked LMs, which PEFT has no LM task type for); generation is compared with a cache-free
greedy decode written here.
"""

from __future__ import annotations

import pytest
import torch
from lm_requests import request, rolling_request, rolling_value
from peft import PeftModel, PromptTuningConfig, TaskType, get_peft_model
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from skillneuron_harness.host.model import PromptTunedLM

CONTEXTS = [
    "a gripping , funny film\nQuestion: Is this sentence positive or negative?\nAnswer:",
    "dull\nQuestion: Is this sentence positive or negative?\nAnswer:",
    "the plot never takes off , and the actors look as bored as we are by the end of it\nQuestion: Is this "
    "sentence positive or negative?\nAnswer:",
]
# Two-, three- and multi-token choices; unequal token lengths within one document too.
CHOICES = [[" negative", " positive"], [" yes", " no", " neutral"], [" not_entailment", " entailment"]]
TASK_TYPES = {"t5": TaskType.SEQ_2_SEQ_LM, "gpt2": TaskType.CAUSAL_LM, "llama": TaskType.CAUSAL_LM,
              "bert": TaskType.FEATURE_EXTRACTION, "roberta": TaskType.FEATURE_EXTRACTION}
AUTO = {"t5": AutoModelForSeq2SeqLM, "gpt2": AutoModelForCausalLM, "llama": AutoModelForCausalLM,
        "bert": AutoModelForMaskedLM, "roberta": AutoModelForMaskedLM}
P = 4


@pytest.fixture(scope="module")
def adapters(tiny_models, tmp_path_factory):
    """A random PEFT prompt-tuning adapter per tiny model (encoder-only prompt for T5)."""
    out = {}
    for name, path in tiny_models.items():
        torch.manual_seed(1)
        config = PromptTuningConfig(task_type=TASK_TYPES[name], num_virtual_tokens=P,
                                    num_transformer_submodules=1 if name == "t5" else None)
        model = get_peft_model(AUTO[name].from_pretrained(path), config)
        with torch.no_grad():  # PEFT's random init is small: make the prompt matter
            model.prompt_encoder["default"].embedding.weight.normal_(0, 1)
        out[name] = tmp_path_factory.mktemp(f"adapter_{name}")
        model.save_pretrained(out[name])
    return out


def requests(contexts=CONTEXTS, choices=CHOICES):
    return [request("loglikelihood", (ctx, c), i)
            for i, (ctx, options) in enumerate(zip(contexts, choices, strict=True)) for c in options]


def reference_loglikelihood(name, model_path, adapter, context, continuation):
    """One pair, one forward pass, no batching; lm-eval's tokenisation conventions."""
    tok = AutoTokenizer.from_pretrained(model_path)
    base = AUTO[name].from_pretrained(model_path).eval()
    with torch.no_grad():
        if name == "t5":
            model = PeftModel.from_pretrained(base, adapter).eval()
            ctx = torch.tensor([tok.encode(context)])
            cont = torch.tensor([tok.encode(continuation, add_special_tokens=False)])
            logits = model(input_ids=ctx, attention_mask=torch.ones_like(ctx), labels=cont).logits[0]
            targets = cont[0]
        elif name in ("gpt2", "llama"):
            model = PeftModel.from_pretrained(base, adapter).eval()
            whole = tok.encode(context + continuation)
            n_ctx = len(tok.encode(context))
            ids = torch.tensor([whole[:-1]])
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]  # (P + T, V)
            targets = torch.tensor(whole[n_ctx:])
            logits = logits[-len(targets):]
        else:
            prompt = PeftModel.from_pretrained(base, adapter).get_prompt_embedding_to_save("default")  # (P, d)
            cont = tok.encode(continuation, add_special_tokens=False)
            plain = tok.encode(context, add_special_tokens=False)
            framed = tok.encode(context)  # [CLS] ctx [SEP]: insert the masks before the closing token(s)
            n_suffix = len(framed) - len(plain) - framed.index(plain[0])
            ids = framed[: len(framed) - n_suffix] + [tok.mask_token_id] * len(cont) + framed[len(framed) - n_suffix:]
            embeds = torch.cat([prompt, base.get_input_embeddings()(torch.tensor(ids))])[None]  # (1, P + T, d)
            logits = base(inputs_embeds=embeds).logits[0]
            first_mask = P + len(framed) - n_suffix
            logits = logits[first_mask: first_mask + len(cont)]
            targets = torch.tensor(cont)
        logprobs = torch.log_softmax(logits.float(), -1)
        return float(logprobs[torch.arange(len(targets)), targets].sum())


@pytest.mark.parametrize("name", ["t5", "bert", "roberta", "gpt2", "llama"])
def test_loglikelihood_matches_independent_computation(name, tiny_models, adapters):
    lm = PromptTunedLM(pretrained=str(tiny_models[name]), prompt=str(adapters[name]), device="cpu", batch_size=4)
    got = [ll for ll, _ in lm.loglikelihood(requests())]
    want = [reference_loglikelihood(name, tiny_models[name], adapters[name], *r.args) for r in requests()]
    assert got == pytest.approx(want, abs=1e-4)
    # The batch size changes the grouping, never the numbers.
    lm_one = PromptTunedLM(pretrained=str(tiny_models[name]), prompt=str(adapters[name]), device="cpu", batch_size=1)
    assert [ll for ll, _ in lm_one.loglikelihood(requests())] == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize("name", ["t5", "gpt2"])
def test_without_prompt_equals_lm_eval_hf(name, tiny_models):
    from lm_eval.models.huggingface import HFLM

    ours = PromptTunedLM(pretrained=str(tiny_models[name]), device="cpu", batch_size=3)
    theirs = HFLM(pretrained=str(tiny_models[name]), device="cpu", batch_size=3)
    got = ours.loglikelihood(requests())
    want = theirs.loglikelihood(requests())
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-4)
    assert [g[1] for g in got] == [w[1] for w in want]


def test_masked_backend_is_chosen_for_encoders(tiny_models):
    # lm-eval's `hf` would load RoBERTa as a causal LM; we must not.
    lm = PromptTunedLM(pretrained=str(tiny_models["roberta"]), device="cpu")
    assert lm.backend == "masked"
    assert lm.model.__class__.__name__ == "RobertaForMaskedLM"


def greedy_reference(name, model_path, adapter, context, max_new_tokens):
    """Cache-free greedy decoding: the whole sequence is re-run for every new token."""
    tok = AutoTokenizer.from_pretrained(model_path)
    base = AUTO[name].from_pretrained(model_path).eval()
    prompt = PeftModel.from_pretrained(base, adapter).get_prompt_embedding_to_save("default")[:P]
    embed = base.get_input_embeddings()
    generated = []
    with torch.no_grad():
        if name == "t5":
            ctx = torch.tensor(tok.encode(context))
            enc = torch.cat([prompt, embed(ctx)])[None]
            for _ in range(max_new_tokens):
                dec = torch.tensor([[base.config.decoder_start_token_id, *generated]])
                nxt = int(base(inputs_embeds=enc, decoder_input_ids=dec, use_cache=False).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    break
                generated.append(nxt)
        else:
            ids = tok.encode(context)
            for _ in range(max_new_tokens):
                x = torch.cat([prompt, embed(torch.tensor(ids + generated))])[None]
                nxt = int(base(inputs_embeds=x, use_cache=False).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    break
                generated.append(nxt)
    return tok.decode(generated, skip_special_tokens=True)


@pytest.mark.parametrize("name", ["t5", "gpt2", "llama"])
def test_generation_equals_cache_free_greedy_decode(name, tiny_models, adapters):
    lm = PromptTunedLM(pretrained=str(tiny_models[name]), prompt=str(adapters[name]), device="cpu", batch_size=3)
    contexts = ["the movie was", "a gripping , funny film about the", "no"]  # unequal lengths: padding
    reqs = [request("generate_until", (c, {"until": ["\n\n"], "max_gen_toks": 6}), i)
            for i, c in enumerate(contexts)]
    got = lm.generate_until(reqs)
    want = [greedy_reference(name, tiny_models[name], adapters[name], c, 6) for c in contexts]
    assert got == want


def test_generation_refused_for_masked_lm(tiny_models, adapters):
    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), prompt=str(adapters["bert"]), device="cpu")
    req = request("generate_until", ("x", {"until": ["\n"]}), task="gsm8k")
    with pytest.raises(NotImplementedError, match="gsm8k"):
        lm.generate_until([req])


@pytest.mark.parametrize("name", ["t5", "gpt2"])
def test_rolling_loglikelihood_leaves_room_for_virtual_tokens(name, tiny_models, adapters):
    # A window of 24 text tokens + 4 virtual tokens = max_length 28: several windows per string.
    lm = PromptTunedLM(pretrained=str(tiny_models[name]), prompt=str(adapters[name]), device="cpu",
                       max_length=P + 24)
    text = " ".join(CONTEXTS * 2)
    got = rolling_value(*lm.loglikelihood_rolling([rolling_request(text)]))
    assert lm.max_length == 24
    assert got < 0 and got == got  # finite, and every window fitted (no exception)
    if name == "gpt2":  # single-window strings: the sum of next-token log-probs after the prefix token
        short = "a gripping , funny film"
        ll = rolling_value(*lm.loglikelihood_rolling([rolling_request(short)]))
        tok = AutoTokenizer.from_pretrained(tiny_models[name])
        ids = tok.encode(short)
        base = AutoModelForCausalLM.from_pretrained(tiny_models[name]).eval()
        model = PeftModel.from_pretrained(base, adapters[name]).eval()
        with torch.no_grad():
            x = torch.tensor([[tok.eos_token_id, *ids[:-1]]])
            logits = model(input_ids=x).logits[0, P:]
        want = float(torch.log_softmax(logits, -1)[torch.arange(len(ids)), torch.tensor(ids)].sum())
        assert ll == pytest.approx(want, abs=1e-4)


def test_long_context_is_truncated_from_the_left_and_keeps_the_masks(tiny_models, adapters):
    lm = PromptTunedLM(pretrained=str(tiny_models["bert"]), prompt=str(adapters["bert"]), device="cpu",
                       max_length=P + 12)
    context = " ".join(["dull"] * 40) + " Answer:"
    (short, _), = lm.loglikelihood(requests([context], [[" positive"]]))
    tok = AutoTokenizer.from_pretrained(tiny_models["bert"])
    kept = tok.encode(context, add_special_tokens=False)[-(12 - 3):]  # room for [CLS], [MASK], [SEP]
    target = tok.encode(" positive", add_special_tokens=False)
    ids = [tok.cls_token_id, *kept, tok.mask_token_id, tok.sep_token_id]
    base = AutoModelForMaskedLM.from_pretrained(tiny_models["bert"]).eval()
    prompt = PeftModel.from_pretrained(base, adapters["bert"]).get_prompt_embedding_to_save("default")
    with torch.no_grad():
        logits = base(inputs_embeds=torch.cat([prompt, base.get_input_embeddings()(torch.tensor(ids))])[None]).logits
    want = float(torch.log_softmax(logits[0, P + len(kept) + 1], -1)[target[0]])
    assert short == pytest.approx(want, abs=1e-4)


def test_model_info_names_the_prompt(tiny_models, adapters):
    lm = PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt=str(adapters["t5"]), device="cpu")
    info = lm.get_model_info()
    assert info["backend"] == "seq2seq"
    assert info["prompt_format"] == "peft"
    assert info["prompt_num_virtual_tokens"] == P
    assert len(info["prompt_sha256"]) == 64


def test_lm_eval_default_batch_size_is_named_once(tiny_models, caplog):
    # lm-eval's default of 1 runs one choice per pass: said once, with the flag; a real batch size says nothing.
    with caplog.at_level("WARNING", logger="skillneuron_harness.host.model"):
        PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu", batch_size=1)
    slow = [r.getMessage() for r in caplog.records if "batch size 1" in r.getMessage()]
    assert len(slow) == 1 and "--batch_size 32" in slow[0] and str(tiny_models["bert"]) in slow[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="skillneuron_harness.host.model"):
        PromptTunedLM(pretrained=str(tiny_models["bert"]), device="cpu", batch_size=8)
    assert not [r for r in caplog.records if "batch size 1" in r.getMessage()]
