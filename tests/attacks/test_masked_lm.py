"""The masked-LM substitutes against plain transformers: the top predictions at the mask, filtered as documented."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from skillneuron_harness.attacks import AttackConfig
from skillneuron_harness.attacks.masked_lm import MaskedLMSubstitutes, in_case_of
from skillneuron_harness.attacks.words import STOP_WORDS, document_words

TEXT = "The charming film is a Good journey"


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_substitutes_are_the_filtered_top_predictions(tiny_models, kind):
    tok = AutoTokenizer.from_pretrained(tiny_models[kind])
    model = AutoModelForMaskedLM.from_pretrained(tiny_models[kind]).eval()
    config = AttackConfig(recipe="mlm", candidates_per_word=5, mlm_top_k=400)
    words = document_words({"s": TEXT}, [])
    (got,) = MaskedLMSubstitutes(model, tok, config).candidates([(0, {"s": TEXT}, words)])
    assert set(got) == {w.index for w in words if w.eligible} and all(got.values())
    byte_level = kind == "roberta"
    for w in words:
        if not w.eligible:
            continue
        masked = TEXT[:w.start] + tok.mask_token + TEXT[w.end:]  # the reference: one masked text, plain transformers
        enc = tok(masked, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0, (enc["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0]]
        expected = []
        for i in logits.topk(400).indices.tolist():
            token = tok.convert_ids_to_tokens(i)
            if byte_level:
                if not token.startswith("Ġ"):
                    continue
                token = token[1:]
            if token.startswith("##") or not token.isalpha() or token.lower() in STOP_WORDS \
                    or token.lower() == w.text.lower():
                continue
            new = in_case_of(w.text, token)
            if new not in expected:
                expected.append(new)
            if len(expected) == 5:
                break
        assert got[w.index] == expected, w.text
        assert all(c.isalpha() and c.lower() != w.text.lower() for c in got[w.index])


def test_case_follows_the_word():
    assert in_case_of("Good", "nice") == "Nice" and in_case_of("GOOD", "nice") == "NICE"
    assert in_case_of("good", "Nice") == "Nice" and in_case_of("I", "we") == "We"


def test_a_tokenizer_without_a_mask_is_refused(tiny_models):
    tok = AutoTokenizer.from_pretrained(tiny_models["gpt2"])
    with pytest.raises(ValueError, match="no mask token"):
        MaskedLMSubstitutes(torch.nn.Linear(1, 1), tok, AttackConfig(recipe="mlm"))
