"""Where a soft prompt sits in the model's input, for each published layout.

``prompt_tuned`` asks :func:`place_prompt` for the (P, d) rows to put in front of the text and,
for layouts that are not plain prepending, for a scorer that replaces the backend's own:

* ``peft``, ``tensor``: the P vectors are prepended to the input embeddings (PEFT's layout);
  the backend's scorer is used unchanged (see :mod:`skillneuron_harness.core.scoring`).
* ``prompt_transferability`` on an encoder-decoder (T5): the same, the prompt in front of the
  encoder input; the seq2seq scorer's first decoding step is what the project scored.
* ``skill_neuron`` (THU-KEG/Skill-Neuron, masked LMs): the row is
  ``[<mask>][P-1 prompt vectors][<s> context </s>]`` with the model's own sequential position ids
  (RoBERTa: ``padding_idx + 1`` onwards, over the prompt too), and the verbalizer is read at
  position 0. The <mask> embedding is the model's; the file holds the P-1 trained vectors.
* ``prompt_transferability`` on RoBERTa: ``[P prompt vectors][<s> context </s>]`` where the first
  prompt vector is replaced by the <mask> embedding, the prompt positions get zero position
  embeddings, the text positions are numbered from ``padding_idx + 1`` (2 for RoBERTa) as if the
  prompt were absent, and the verbalizer is read at position 0 (Robust-Neurons
  ``src/models/modelling_roberta.py:200-217,1622``, ``PromptRoberta.py:149``).
* ``prompt_transferability`` on BERT: the same with ``[CLS] context [SEP]``, and the prompt
  positions get zero token-type embeddings too; the text is numbered from ``pad_token_id + 1``
  (1 for bert-base-uncased: ``modelling_bert.py:2146-2160``, ``:311-331``), not from 0 as BERT
  numbers positions.

In both mask-first layouts each choice is **one** token read at position 0: the choice text
without lm-eval's leading space (the target delimiter), tokenised alone, must be a single token;
those projects' verbalizers are the bare words (``tokenizer.encode("positive")`` without a prefix
space). A choice's score is the log-softmax over the whole vocabulary at position 0, so lm-eval's
``acc`` is the projects' argmax over their verbalizer logits. Skill-Neuron files store the
verbalizer ids they were trained with (``pos``); when a task's choices map to other tokens (another
task, another order), the task's choices are scored and a warning names both.

Skill-neuron positions keep their meaning: the prompt positions are ``0 .. P-1`` of every row in
all layouts (for the mask-first ones this includes position 0, the <mask>, as both projects
counted it), ``sn_positions=mask`` is the verbalizer position (0 for mask-first layouts), and
``last`` the last context token.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from skillneuron_harness.core.scoring import (
    ActivationPass,
    ChoiceGroup,
    RowLayout,
    ScoredBatch,
    mlm_head,
    model_body,
    pad_right,
    prompt_embeds,
    special_token_frame,
    split_by_group,
    with_prompt_mask,
)
from skillneuron_harness.prompts.loading import PromptError, SoftPrompt

log = logging.getLogger(__name__)

#: Formats whose layout cannot be written as a PEFT prompt-tuning adapter, per backend, and why.
NOT_PEFT = {
    ("skill_neuron", "masked"): (
        "the Skill-Neuron layout reads the verbalizer at position 0, the <mask> placed in front of the prompt; "
        "a PEFT prompt-tuning adapter only prepends vectors, and prompt_tuned reads PEFT prompts on masked LMs "
        "at masks after the text, so the converted adapter would score other positions"
    ),
    ("prompt_transferability", "masked"): (
        "the Prompt-Transferability RoBERTa layout gives the prompt positions zero position embeddings, numbers "
        "the text from padding_idx+1 as if the prompt were absent and reads the verbalizer at position 0 (its "
        "first prompt vector replaced by <mask>); a PEFT prompt-tuning adapter can express none of these"
    ),
}


def position_table(model) -> torch.nn.Embedding | None:
    """The absolute position-embedding table of a BERT/RoBERTa-style encoder, if it has one."""
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    return table if isinstance(table, torch.nn.Embedding) else None


def token_type_table(model) -> torch.nn.Embedding | None:
    """The token-type embedding table of a BERT-style encoder, if it has one."""
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    table = getattr(embeddings, "token_type_embeddings", None)
    return table if isinstance(table, torch.nn.Embedding) else None


@contextmanager
def zeroed_prompt_positions(model, num_virtual_tokens: int, token_types: bool = False):
    """Zero the position (and, with ``token_types``, token-type) embeddings of the first positions of every row.

    Forward hooks on the embedding tables, armed only inside this block.
    """
    tables = [position_table(model)] + ([token_type_table(model)] if token_types else [])
    if any(t is None for t in tables):
        raise ValueError(f"{type(model).__name__} has no position/token-type embedding table to zero.")

    def hook(module, inputs, output):  # output (B, T, d)
        output = output.clone()
        output[:, :num_virtual_tokens] = 0
        return output

    handles = [t.register_forward_hook(hook) for t in tables]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class MaskFirstLayout:
    """``[P prompt rows, row 0 = <mask>][<s> context </s>]``, one verbalizer token read at position 0."""

    format: str
    source: str
    zero_prompt_positions: bool  # Prompt-Transferability: zero position embeddings, text from padding_idx+1
    verbalizer: list[int] | None = None  # ids the prompt was trained with (Skill-Neuron "pos")
    padding_idx: int | None = None  # text positions start at padding_idx + 1 (None: the position table's)
    zero_token_types: bool = False  # BERT prompts: zero token-type embeddings on the prompt too
    _warned: set = field(default_factory=set)

    def choice_token(self, tokenizer, continuation: list[int]) -> int:
        """The single token of a choice's bare word (lm-eval's leading space removed)."""
        word = tokenizer.decode(continuation).lstrip()
        ids = tokenizer.encode(word, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(
                f"prompt_format={self.format} reads one verbalizer token at position 0, but the choice "
                f"{word!r} is {len(ids)} tokens ({tokenizer.convert_ids_to_tokens(ids)}); use a task whose "
                "choices are single-token words for this tokenizer."
            )
        return ids[0]

    def _check_verbalizer(self, tokenizer, tokens: list[int]) -> None:
        if self.verbalizer is None or tokens == list(self.verbalizer) or tuple(tokens) in self._warned:
            return
        self._warned.add(tuple(tokens))
        same_words = sorted(tokens) == sorted(self.verbalizer)
        log.warning(
            "prompt=%s (%s) was trained with verbalizer %s (pos=%s) but the task's choices are %s (%s)%s; "
            "scoring the task's choices.", self.source, self.format,
            tokenizer.convert_ids_to_tokens(list(self.verbalizer)), list(self.verbalizer),
            tokenizer.convert_ids_to_tokens(tokens), tokens,
            ": the same words in another order, so the label order differs" if same_words else "",
        )

    def _inputs(self, model, prompt, groups: list[ChoiceGroup], tokenizer):
        """Inputs of the one pass per document, its RowLayout, and the position hooks around it."""
        device = model.get_input_embeddings().weight.device
        P = prompt.shape[0]
        prefix, suffix = special_token_frame(tokenizer)
        rows = [[*prefix, *g.context, *suffix] for g in groups]
        ids, attn = pad_right(rows, tokenizer.pad_token_id, device)  # (G, T)
        last_context = [P + len(prefix) + len(g.context) - 1 for g in groups]
        layout = RowLayout(P, list(range(len(groups))), last_context, [0] * len(groups))
        inputs = {"inputs_embeds": prompt_embeds(model, prompt, ids),  # (G, P+T, d)
                  "attention_mask": with_prompt_mask(attn, P)}  # (G, P+T)
        positions = nullcontext()
        if self.zero_prompt_positions:
            padding_idx = self.padding_idx if self.padding_idx is not None else position_table(model).padding_idx
            text = torch.cumsum(attn, dim=1) * attn  # (G, T): 1..n on the text, 0 on the padding
            inputs["position_ids"] = torch.cat([torch.zeros_like(attn[:, :1]).expand(-1, P), text], 1) + padding_idx
            positions = zeroed_prompt_positions(model, P, token_types=self.zero_token_types)
        return inputs, layout, positions

    def activation_pass(self, model, prompt, groups: list[ChoiceGroup], tokenizer) -> ActivationPass:
        """The scorer's rows without the head (see :func:`skillneuron_harness.core.scoring.activation_pass`)."""
        inputs, layout, positions = self._inputs(model, prompt, groups, tokenizer)
        return ActivationPass(model_body(model), inputs, layout, positions)

    def score(self, model, prompt, groups: list[ChoiceGroup], tokenizer, softmax_dtype=None,
              before_forward=None) -> ScoredBatch:
        """One pass per document; every choice is its token's log-probability at position 0."""
        device = model.get_input_embeddings().weight.device
        targets = []
        for g in groups:
            tokens = [self.choice_token(tokenizer, c) for c in g.continuations]
            self._check_verbalizer(tokenizer, tokens)
            targets.append(tokens)
        inputs, layout, positions = self._inputs(model, prompt, groups, tokenizer)
        if before_forward is not None:
            before_forward(layout)
        head = mlm_head(model)
        with positions:
            if head is not None:  # the vocabulary projection only at position 0
                logits = head(model.base_model(**inputs).last_hidden_state[:, :1])[:, 0]  # (G, V)
            else:
                logits = model(**inputs).logits[:, 0]  # (G, V)
        log_probs = F.log_softmax(logits, dim=-1, dtype=softmax_dtype or torch.float32)  # (G, V)
        row = torch.tensor([gi for gi, t in enumerate(targets) for _ in t], device=device)  # (N,)
        tgt = torch.tensor([tok for t in targets for tok in t], device=device)  # (N,)
        total = log_probs[row, tgt]  # (N,)
        greedy = log_probs[row].argmax(-1) == tgt  # (N,)
        return split_by_group(groups, total, greedy, row_group=layout.group_rows)


def place_prompt(soft_prompt: SoftPrompt, backend: str, model, tokenizer, arg: str = "prompt"):
    """The (P, d) rows to put in front of the text, and the scorer of the layout (None: the backend's).

    Raises :class:`PromptError` where the format has no layout for this model.
    """
    embedding = model.get_input_embeddings()
    rows = soft_prompt.embeddings.to(embedding.weight.device, embedding.weight.dtype)  # (P_stored, d)
    fmt, source = soft_prompt.format, soft_prompt.source
    if fmt in ("peft", "tensor") or (fmt == "prompt_transferability" and backend == "seq2seq"):
        return rows, None
    if backend != "masked":
        models = "RoBERTa-style masked LMs" if fmt == "skill_neuron" else "RoBERTa, BERT and T5"
        raise PromptError(
            f"{arg}={source}: prompt_format={fmt} is defined for {models}, not for the {backend} backend of "
            f"{type(model).__name__}; evaluate it with the base model it was trained on."
        )
    if tokenizer.mask_token_id is None:
        raise PromptError(f"{arg}={source}: prompt_format={fmt} puts <mask> at position 0, but the tokenizer has none.")
    mask = embedding(torch.tensor([tokenizer.mask_token_id], device=embedding.weight.device)).detach()  # (1, d)
    if fmt == "skill_neuron":
        return torch.cat([mask, rows], dim=0), MaskFirstLayout(fmt, source, False, soft_prompt.verbalizer)
    table = position_table(model)
    rows = torch.cat([mask, rows[1:]], dim=0)  # (P, d): the first prompt vector replaced by <mask>
    if table is not None and table.padding_idx is not None:  # RoBERTa
        return rows, MaskFirstLayout(fmt, source, True)
    if table is not None and model.config.model_type == "bert" and token_type_table(model) is not None:
        return rows, MaskFirstLayout(fmt, source, True, padding_idx=model.config.pad_token_id or 0,
                                     zero_token_types=True)
    needs = soft_prompt.release.base_model if soft_prompt.release else "a RoBERTa or BERT base model"
    raise PromptError(
        f"{arg}={source}: prompt_format=prompt_transferability on a masked LM is defined for RoBERTa and BERT "
        f"(positions numbered from padding_idx+1, zeroed on the prompt); {type(model).__name__} has no such "
        f"position table. Use the base model the file was trained on: {needs}."
    )
