"""Word substitutes from a masked language model (BERT-Attack, Li et al. 2020, without its subword combinations).

Each eligible word is replaced by one mask token in its field's clean text; one forward pass per
batch of masked texts gives the model's distribution at the mask, and the ``mlm_top_k`` most likely
tokens are read in order. A token is kept if it is a whole word (not a WordPiece ``##`` piece, and
for tokenizers that mark word starts, ``Ġ`` or ``▁``, one that starts a word), made of letters only,
not the word itself (case-insensitive) and not a stop word; the first ``candidates_per_word`` kept
are the word's candidates, most likely first, in the word's case (``Good`` -> ``Nice``). The model is
the victim's own body when the victim is a masked LM, else ``--mlm PATH``; it runs without any soft
prompt, in evaluation mode, without gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from skillneuron_harness.attacks.config import AttackConfig
from skillneuron_harness.attacks.words import STOP_WORDS

WORD_START = ("Ġ", "▁")  # byte-level BPE (RoBERTa, GPT-2) and SentencePiece word-start markers


def in_case_of(word: str, new: str) -> str:
    """``new`` in the case of ``word``: UPPER, Title or as predicted."""
    if word.isupper() and len(word) > 1:
        return new.upper()
    if word[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class MaskedLMSubstitutes:
    """The masked-LM transformation (module docstring): ``model`` is a ``*ForMaskedLM``, ``tokenizer`` its own."""

    def __init__(self, model, tokenizer, config: AttackConfig, *, batch_size: int = 32, max_length: int = 256):
        if tokenizer.mask_token is None:
            raise ValueError(f"{type(tokenizer).__name__} has no mask token; the mlm recipe needs a masked LM "
                             "(pass --mlm PATH to one).")
        self.model, self.tokenizer, self.config = model.eval(), tokenizer, config
        self.batch_size, self.max_length = batch_size, max_length
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        marks = any(t.startswith(WORD_START) for t in vocab[:5000] if t)
        self._allowed = [self._whole_word(t, marks) for t in vocab]  # token id -> its word, or None
        self.passes = 0  # forward passes of the masked LM (not victim queries)

    @staticmethod
    def _whole_word(token: str | None, marks: bool) -> str | None:
        if not token or token.startswith("##"):
            return None
        if marks:
            if not token.startswith(WORD_START):
                return None
            token = token[1:]
        return token if token.isalpha() and token.lower() not in STOP_WORDS else None

    def candidates(self, documents):
        masked, where = [], []
        for d, (_, fields, words) in enumerate(documents):
            for w in words:
                if w.eligible:
                    text = fields[w.field]
                    masked.append(text[:w.start] + self.tokenizer.mask_token + text[w.end:])
                    where.append((d, w))
        out: list[dict[int, list[str]]] = [{} for _ in documents]
        device = next(self.model.parameters()).device
        for start in range(0, len(masked), self.batch_size):
            batch = self.tokenizer(masked[start:start + self.batch_size], return_tensors="pt", padding=True,
                                   truncation=True, max_length=self.max_length).to(device)
            with torch.no_grad():
                logits = self.model(**batch).logits  # (B, T, V)
            self.passes += 1
            is_mask = batch["input_ids"] == self.tokenizer.mask_token_id  # (B, T)
            for row, (d, w) in enumerate(where[start:start + self.batch_size]):
                spots = is_mask[row].nonzero()
                if len(spots) == 0:  # truncated away: no candidates for this word
                    continue
                top = logits[row, spots[0, 0]].float().topk(min(self.config.mlm_top_k, logits.shape[-1])).indices
                out[d][w.index] = self._keep(w.text, top.tolist())
        return out

    def _keep(self, word: str, ids: Sequence[int]) -> list[str]:
        kept: list[str] = []
        for i in ids:
            new = self._allowed[i] if i < len(self._allowed) else None
            if new is None or new.lower() == word.lower():
                continue
            new = in_case_of(word, new)
            if new not in kept:
                kept.append(new)
            if len(kept) == self.config.candidates_per_word:
                break
        return kept
