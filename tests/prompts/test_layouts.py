"""Published prompt layouts against re-implementations written here from their descriptions.

* Skill-Neuron (RoBERTa): ``[<mask>][P-1 prompt][<s> text </s>]``, positions numbered 2, 3, ...
  over the whole row, the verbalizer's log-probability read at position 0.
* Prompt-Transferability (RoBERTa): ``[P prompt, row 0 = <mask>][<s> text </s>]``, zero position
  embeddings on the prompt, text positions 2, 3, ..., verbalizer at position 0.
* Prompt-Transferability (T5): the prompt in front of the encoder input, first decoding step.

Each RoBERTa reference builds the embedding layer's output by hand (the rows, their position rows, the
token-type row, LayerNorm), as the releasing code's own embedding module does, and runs the plain
transformers encoder and head with every position attending to the whole row (the formatters' all-ones
mask), one document at a time; the T5 reference runs the plain model on the prompt and the text.
"""

from __future__ import annotations

import logging

import pytest
import torch
from lm_requests import loglikelihood_requests
from peft import PromptTuningConfig, TaskType, get_peft_model
from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from skillneuron_harness.core.scoring import score_groups
from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.host.tasks import choice_group
from skillneuron_harness.prompts import PromptError, load_soft_prompt

CONTEXTS = [
    "a gripping , funny film\nQuestion: Is this sentence positive or negative?\nAnswer:",
    "dull",
    "the plot never takes off , and the actors look as bored as we are by the end of it\nAnswer:",
]
# Bare words that are single tokens of the tiny RoBERTa tokenizer ("negative", "entailment").
CHOICES = [" negative", " entailment"]
P = 5  # positions the prompt occupies in the model's input


class Pos(list):
    """Stands for any non-builtin object in a pickle (numpy arrays, a project's own classes)."""


def requests(choices=CHOICES):
    return loglikelihood_requests(CONTEXTS, choices)


@pytest.fixture(scope="module")
def roberta(tiny_models, tmp_path_factory):
    """Tiny RoBERTa whose padding row of the position table is not zero, so that zeroing must be done."""
    out = tmp_path_factory.mktemp("roberta_nonzero_pad")
    model = AutoModelForMaskedLM.from_pretrained(tiny_models["roberta"])
    torch.manual_seed(3)
    with torch.no_grad():
        model.roberta.embeddings.position_embeddings.weight[1].normal_(0, 1)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_models["roberta"]).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def files(roberta, tiny_models, tmp_path_factory):
    tok = AutoTokenizer.from_pretrained(roberta)
    d = tmp_path_factory.mktemp("published")
    torch.manual_seed(5)
    verbalizer = [tok.encode(w.strip(), add_special_tokens=False)[0] for w in CHOICES]
    torch.save({"prompt": torch.randn(1, P - 1, 32), "pos": verbalizer}, d / "best-backbone")
    torch.save(torch.nn.Parameter(torch.randn(P, 32)), d / "task_prompt")
    (d / "t5").mkdir()
    torch.save(torch.randn(P, 32), d / "t5" / "task_prompt")
    return {"skill_neuron": d / "best-backbone", "pt_roberta": d / "task_prompt", "pt_t5": d / "t5" / "task_prompt",
            "verbalizer": verbalizer, "dir": d}


def roberta_reference(model_path, first_rows, zero_prompt_positions, reqs):
    """Per document: the embedding layer by hand, the plain encoder and head, log-softmax at position 0.

    Not ``model(inputs_embeds=..., position_ids=...)``: from transformers 5.25 on, position ids given
    without an attention mask are read as packed-sequence boundaries (``find_packed_sequence_indices``),
    and the prompt's repeated padding position would cut the row into blocks that do not see each other.
    """
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForMaskedLM.from_pretrained(model_path).eval()
    emb = model.roberta.embeddings
    start = model.config.pad_token_id + 1  # RoBERTa numbers positions from padding_idx + 1
    out = []
    with torch.no_grad():
        for req in reqs:
            context, word = req.args
            text = tok.encode(context)  # <s> context </s>
            rows = torch.cat([first_rows, emb.word_embeddings(torch.tensor(text))])  # (P + T, d)
            table = emb.position_embeddings.weight  # (max_positions, d)
            if zero_prompt_positions:  # zero rows on the prompt, the text numbered as if the prompt were absent
                pos = torch.cat([torch.zeros(P, table.shape[1]), table[start:start + len(text)]])  # (P + T, d)
            else:  # RoBERTa's own numbering over the whole row
                pos = table[start:start + P + len(text)]  # (P + T, d)
            x = emb.LayerNorm(rows + pos + emb.token_type_embeddings.weight[0])[None]  # (1, P + T, d)
            hidden = model.roberta.encoder(x).last_hidden_state  # no mask: one unpadded row, full attention
            logits = model.lm_head(hidden)[0, 0]  # (V,)
            token = tok.encode(word.strip(), add_special_tokens=False)
            assert len(token) == 1
            out.append(float(torch.log_softmax(logits, -1)[token[0]]))
    return out


def mask_row(model_path):
    model = AutoModelForMaskedLM.from_pretrained(model_path)
    tok = AutoTokenizer.from_pretrained(model_path)
    return model.get_input_embeddings().weight[tok.mask_token_id].detach()[None]  # (1, d)


def test_skill_neuron_layout_equals_reference(roberta, files):
    lm = PromptTunedLM(pretrained=str(roberta), prompt=str(files["skill_neuron"]), device="cpu", batch_size=4)
    assert lm.soft_prompt.format == "skill_neuron" and lm.engine.num_virtual_tokens == P
    stored = torch.load(files["skill_neuron"], weights_only=True)["prompt"][0]  # (P-1, d)
    want = roberta_reference(roberta, torch.cat([mask_row(roberta), stored]), False, requests())
    got = [ll for ll, _ in lm.loglikelihood(requests())]
    assert got == pytest.approx(want, abs=1e-4)
    assert lm.get_model_info()["prompt_verbalizer"] == files["verbalizer"]


def test_prompt_transferability_roberta_equals_reference(roberta, files):
    lm = PromptTunedLM(pretrained=str(roberta), prompt=str(files["pt_roberta"]), device="cpu", batch_size=4)
    assert lm.soft_prompt.format == "prompt_transferability" and lm.engine.num_virtual_tokens == P
    stored = torch.load(files["pt_roberta"], weights_only=True).detach()  # (P, d)
    first_rows = torch.cat([mask_row(roberta), stored[1:]])  # the first prompt vector replaced by <mask>
    want = roberta_reference(roberta, first_rows, True, requests())
    got = [ll for ll, _ in lm.loglikelihood(requests())]
    assert got == pytest.approx(want, abs=1e-4)
    # The zeroing matters: with the (non-zero) padding row and sequential positions the numbers differ.
    assert got != pytest.approx(roberta_reference(roberta, first_rows, False, requests()), abs=1e-4)


def test_prompt_transferability_t5_equals_first_decoding_step(tiny_models, files):
    path = tiny_models["t5"]
    lm = PromptTunedLM(pretrained=str(path), prompt=str(files["pt_t5"]), device="cpu", batch_size=4)
    assert lm.soft_prompt.format == "prompt_transferability"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
    stored = torch.load(files["pt_t5"], weights_only=True)
    choices = [" negative", " positive"]
    want = []
    with torch.no_grad():
        for context in CONTEXTS:
            enc = torch.cat([stored, model.get_input_embeddings()(torch.tensor(tok.encode(context)))])[None]
            start = torch.tensor([[model.config.decoder_start_token_id]])
            logprobs = torch.log_softmax(model(inputs_embeds=enc, decoder_input_ids=start).logits[0, 0], -1)
            for c in choices:
                (token,) = tok.encode(c, add_special_tokens=False)
                want.append(float(logprobs[token]))
    got = [ll for ll, _ in lm.loglikelihood(requests(choices))]
    assert got == pytest.approx(want, abs=1e-4)


def test_prompt_positions_hold_the_prompt_and_the_mask(roberta, files):
    """Skill-neuron positions 0..P-1 are the <mask> and the P-1 prompt vectors; the verbalizer is at 0."""
    lm = PromptTunedLM(pretrained=str(roberta), prompt=str(files["skill_neuron"]), device="cpu")
    layouts = []
    group = choice_group(lm, CONTEXTS[0], CHOICES)
    with torch.no_grad():
        score_groups(lm.backend, lm.model, lm.engine.prompt, [group], lm.tokenizer,
                     before_forward=layouts.append, layout=lm.engine.layout)
    (layout,) = layouts
    assert layout.num_virtual_tokens == P and layout.first_mask == [0]
    assert layout.last_context == [P + 1 + len(group.context) - 1]  # after [<mask>][prompt][<s>]
    embeds = lm.engine.prompt  # (P, d): row 0 is the model's <mask> embedding
    assert torch.equal(embeds[0], lm.model.get_input_embeddings().weight[lm.tokenizer.mask_token_id])


def test_auto_detection(files, tmp_path, tiny_models):
    assert load_soft_prompt(str(files["skill_neuron"])).format == "skill_neuron"
    assert load_soft_prompt(str(files["pt_roberta"])).format == "prompt_transferability"
    torch.save(torch.randn(P, 32), tmp_path / "18_task_prompt.pkl")  # Robust-Neurons' epoch checkpoints
    assert load_soft_prompt(str(tmp_path / "18_task_prompt.pkl")).format == "prompt_transferability"
    torch.save(torch.randn(P, 32), tmp_path / "prompt.pt")  # any other raw tensor: a plain prompt
    assert load_soft_prompt(str(tmp_path / "prompt.pt")).format == "tensor"
    forced = load_soft_prompt(str(tmp_path / "prompt.pt"), format="prompt_transferability")
    assert forced.format == "prompt_transferability"
    sn = load_soft_prompt(str(files["skill_neuron"]))
    assert sn.embeddings.shape == (P - 1, 32) and sn.num_virtual_tokens == P
    assert sn.verbalizer == files["verbalizer"]


def test_verbalizer_disagreement_warns(roberta, files, tmp_path, caplog):
    data = torch.load(files["skill_neuron"], weights_only=True)
    torch.save({"prompt": data["prompt"], "pos": data["pos"][::-1]}, tmp_path / "swapped-backbone")
    lm = PromptTunedLM(pretrained=str(roberta), prompt=str(tmp_path / "swapped-backbone"), device="cpu")
    with caplog.at_level(logging.WARNING):
        lm.loglikelihood(requests())
    warnings = [r.getMessage() for r in caplog.records if "trained with verbalizer" in r.getMessage()]
    assert len(warnings) == 1 and "another order" in warnings[0]  # once, naming both


def test_multi_token_choice_is_refused(roberta, files):
    lm = PromptTunedLM(pretrained=str(roberta), prompt=str(files["skill_neuron"]), device="cpu")
    with pytest.raises(ValueError, match="one verbalizer token at position 0.*'positive' is 3 tokens"):
        lm.loglikelihood(requests([" negative", " positive"]))


def test_clear_errors(tiny_models, files, tmp_path):
    with pytest.raises(PromptError, match="RoBERTa-style masked LMs, not for the seq2seq backend"):
        PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt=str(files["skill_neuron"]), device="cpu")
    with pytest.raises(PromptError, match="RoBERTa, BERT and T5, not for the causal backend"):
        PromptTunedLM(pretrained=str(tiny_models["gpt2"]), prompt=str(files["pt_roberta"]), device="cpu")
    with pytest.raises(PromptError, match=r"expects a pickled dict \{'prompt'"):
        load_soft_prompt(str(files["pt_roberta"]), format="skill_neuron")
    with pytest.raises(ValueError, match="prompt_format=bogus: unknown format"):
        PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt=str(files["pt_t5"]), prompt_format="bogus")

    # A pickled object other than tensors and builtins: refused, with the way out.
    torch.save({"prompt": torch.randn(1, 4, 32), "pos": Pos([1, 2])}, tmp_path / "odd-backbone")
    with pytest.raises(PromptError, match=r"weights_only=False\); torch.save\(\{'prompt'") as err:
        load_soft_prompt(str(tmp_path / "odd-backbone"), format="skill_neuron")
    assert "\n" not in str(err.value)


def test_peft_adapter_still_detected(tiny_models, tmp_path):
    model = get_peft_model(AutoModelForSeq2SeqLM.from_pretrained(tiny_models["t5"]),
                           PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=3,
                                              num_transformer_submodules=1))
    model.save_pretrained(tmp_path)
    assert load_soft_prompt(str(tmp_path)).format == "peft"
    with pytest.raises(PromptError, match="pass prompt_format=peft or auto"):
        load_soft_prompt(str(tmp_path), format="tensor")
