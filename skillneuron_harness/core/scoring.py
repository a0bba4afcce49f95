"""Score the choices of multiple-choice documents under a soft prompt, for every backend.

One code path serves evaluation (``prompt_tuned``, under ``torch.no_grad``) and prompt training
(gradients flow into the prompt). The input to every scorer is a list of :class:`ChoiceGroup`:
a document's context tokens and the continuation tokens of its choices, already truncated to
fit. The soft prompt (P, d) is prepended to the input embeddings, as PEFT prompt tuning does:

* ``seq2seq`` (T5, BART): the encoder sees ``[prompt][context]`` once per document; every
  choice is decoded from that one encoder output (teacher forcing, decoder starts from
  ``decoder_start_token_id``). Only the encoder gets the prompt.
* ``masked`` (BERT, RoBERTa, ...): the input is ``[prompt][CLS] context [MASK] x k [SEP]`` with
  one mask per continuation token; a choice's score is the sum of the log-probabilities of its
  tokens at the mask positions. Choices of equal token length share one forward pass.
* ``causal`` (decoder-only): ``[prompt] context continuation[:-1]``, the continuation scored at
  the positions that predict it. Choices whose ``context + continuation[:-1]`` coincide (all
  one-token verbalizers) share one row, as HFLM's logits cache does.

Each scorer returns, per group, the log-likelihood of every choice (a differentiable tensor) and
whether greedy decoding reproduces it, plus the row of the forward batch that holds the group's
document (used by activation capture, so that each document counts once). The helpers that the
scorers share (``prompt_embeds``, ``pad_right``, ``with_prompt_mask``, ``mlm_head``,
``split_by_group``) are public: the published layouts' scorer
(:mod:`skillneuron_harness.prompts.layouts`) is built from them.
:func:`activation_pass` is the capture-only counterpart (the skill-neuron baseline): the one forward
pass whose FFN activations the statistics read, one row per document, the very row the scorer
gives that document, run through the model body only (the T5 encoder; the base model of a masked
or causal LM, without its vocabulary head), to be stopped after the last hooked layer
(:func:`skillneuron_harness.neurons.capture.run_until`).
"""

from __future__ import annotations

import weakref
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import transformers
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from skillneuron_harness.core.constants import BACKENDS, PEFT_TASK_TYPES  # noqa: F401  (re-exported)

# Each backend's transformers Auto class.
AUTO_MODEL_CLASSES = {
    "seq2seq": transformers.AutoModelForSeq2SeqLM,
    "masked": transformers.AutoModelForMaskedLM,
    "causal": transformers.AutoModelForCausalLM,
}


def resolve_backend(config, requested: str = "auto") -> str:
    """The backend for a model config: encoder-decoder, masked LM or decoder-only."""
    if requested != "auto":
        return str(requested)
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "masked"
    return "causal"


@dataclass
class ChoiceGroup:
    """A document's context and the continuations to score against it (token ids)."""

    context: list[int]
    continuations: list[list[int]]


@dataclass
class ScoredBatch:
    """Scores of a batch of groups and where each group sits in the forward batch."""

    logprobs: list[torch.Tensor]  # per group: (n_choices,) float32
    is_greedy: list[list[bool]]  # per group: one flag per choice
    group_rows: torch.Tensor  # (G,) row of the (first) forward batch holding each document


@dataclass
class RowLayout:
    """Where things sit in the rows of a forward pass, announced just before it runs.

    ``group_rows[g]``: the row holding document g; ``last_context[r]``: index of row r's last
    context token; ``first_mask[r]``: index of row r's first mask (masked backend). Indices
    count the virtual tokens. For seq2seq the rows are the encoder's.
    """

    num_virtual_tokens: int
    group_rows: list[int]
    last_context: list[int]
    first_mask: list[int] | None = None

    def select(self, positions: str):
        """What activation capture keeps of each row: ``prompt`` (a slice), ``mask`` or ``last`` ((R,) indices)."""
        if positions == "prompt":
            return slice(0, self.num_virtual_tokens)
        if positions == "mask":
            return torch.tensor(self.first_mask)
        return torch.tensor(self.last_context)


def prompt_embeds(model, prompt: torch.Tensor | None, ids: torch.Tensor) -> torch.Tensor:
    """Embed ``ids`` (B, T) and prepend the prompt: (B, P + T, d)."""
    embeds = model.get_input_embeddings()(ids)  # (B, T, d)
    if prompt is None:
        return embeds
    prompt = prompt.to(device=embeds.device, dtype=embeds.dtype)
    return torch.cat([prompt.unsqueeze(0).expand(ids.shape[0], -1, -1), embeds], dim=1)  # (B, P+T, d)


def pad_right(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists: ids (B, T) and attention mask (B, T)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def with_prompt_mask(mask: torch.Tensor, num_virtual_tokens: int) -> torch.Tensor:
    """Prepend ones for the virtual tokens: (B, T) -> (B, P + T)."""
    if num_virtual_tokens == 0:
        return mask
    ones = torch.ones(mask.shape[0], num_virtual_tokens, dtype=mask.dtype, device=mask.device)
    return torch.cat([ones, mask], dim=1)


def _gather_scores(log_probs: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor):
    """Sum target log-probs over valid positions; greedy = argmax hits every valid target.

    log_probs (R, K, V), targets (R, K), valid (R, K) bool -> (R,), (R,) bool
    """
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (R, K)
    total = (picked * valid).sum(-1)  # (R,)
    greedy = ((log_probs.argmax(-1) == targets) | ~valid).all(-1)  # (R,)
    return total, greedy


def score_seq2seq(model, prompt, groups: list[ChoiceGroup], pad_id: int, softmax_dtype=None,
                  before_forward=None) -> ScoredBatch:
    """Encoder once per document, every choice decoded from that encoder output."""
    device = model.get_input_embeddings().weight.device
    P = 0 if prompt is None else prompt.shape[0]
    if before_forward is not None:
        before_forward(RowLayout(P, list(range(len(groups))), [P + len(g.context) - 1 for g in groups]))
    enc_ids, enc_mask = pad_right([g.context for g in groups], pad_id, device)  # (G, Tc)
    enc_mask = with_prompt_mask(enc_mask, P)  # (G, P+Tc)
    encoder_out = model.get_encoder()(
        inputs_embeds=prompt_embeds(model, prompt, enc_ids), attention_mask=enc_mask
    ).last_hidden_state  # (G, P+Tc, d)

    # Decoder rows: choices with the same decoder input (all one-token verbalizers) share one.
    start = model.config.decoder_start_token_id
    start = pad_id if start is None else start
    rows, row_of, row_group = [], {}, []
    choice_rows, targets = [], []
    for gi, g in enumerate(groups):
        for c in g.continuations:
            key = (gi, start, *c[:-1])
            if key not in row_of:
                row_of[key] = len(rows)
                rows.append(list(key[1:]))
                row_group.append(gi)
            choice_rows.append(row_of[key])
            targets.append(c)
    decoder_in, _ = pad_right(rows, pad_id, device)  # (R, K)
    index = torch.tensor(row_group, device=device)
    logits = model(
        encoder_outputs=BaseModelOutput(last_hidden_state=encoder_out[index]),
        attention_mask=enc_mask[index],
        decoder_input_ids=decoder_in,
    ).logits  # (R, K, V)
    pos, valid = pad_right([list(range(len(c))) for c in targets], 0, device)  # (N, K)
    tgt, _ = pad_right(targets, 0, device)  # (N, K)
    picked = logits[torch.tensor(choice_rows, device=device).unsqueeze(-1), pos]  # (N, K, V)
    log_probs = F.log_softmax(picked, dim=-1, dtype=softmax_dtype or torch.float32)
    total, greedy = _gather_scores(log_probs, tgt, valid.bool())
    return split_by_group(groups, total, greedy, row_group=list(range(len(groups))))


_FRAMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def special_token_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after a single text, e.g. ([CLS], [SEP])."""
    if tokenizer not in _FRAMES:
        plain = tokenizer.encode("a", add_special_tokens=False)
        framed = tokenizer.encode("a", add_special_tokens=True)
        for i in range(len(framed) - len(plain) + 1):
            if framed[i : i + len(plain)] == plain:
                _FRAMES[tokenizer] = (framed[:i], framed[i + len(plain) :])
                break
        else:
            raise ValueError(f"Cannot locate the text between the special tokens of {type(tokenizer).__name__}.")
    return _FRAMES[tokenizer]


def masked_input(frame, mask_id: int, context: list[int], k: int) -> tuple[list[int], int]:
    """``[CLS] context [MASK] x k [SEP]`` (``frame`` = the special tokens) and its first mask's index."""
    prefix, suffix = frame
    return [*prefix, *context, *[mask_id] * k, *suffix], len(prefix) + len(context)


def mlm_head(model):
    """The prediction head of a BERT- or RoBERTa-style masked LM (``cls`` / ``lm_head``), if it has one."""
    base = getattr(model, "base_model", model)
    if base is model:
        return None
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    return None


def score_masked(model, prompt, groups: list[ChoiceGroup], tokenizer, softmax_dtype=None,
                 before_forward=None) -> ScoredBatch:
    """One forward pass per (document, continuation length), masks standing in for the choice."""
    device = model.get_input_embeddings().weight.device
    P = 0 if prompt is None else prompt.shape[0]
    frame = special_token_frame(tokenizer)
    rows, row_of, first_row, mask_at = [], {}, [], {}
    for gi, g in enumerate(groups):
        for k in sorted({len(c) for c in g.continuations}):
            row_of[gi, k] = len(rows)
            ids, mask_at[len(rows)] = masked_input(frame, tokenizer.mask_token_id, g.context, k)
            rows.append(ids)
        first_row.append(row_of[gi, len(g.continuations[0])])
    ids, attn = pad_right(rows, tokenizer.pad_token_id, device)  # (R, T)
    if before_forward is not None:
        first_mask = [P + mask_at[r] for r in range(len(rows))]
        before_forward(RowLayout(P, first_row, [m - 1 for m in first_mask], first_mask))
    inputs = {"inputs_embeds": prompt_embeds(model, prompt, ids), "attention_mask": with_prompt_mask(attn, P)}
    head = mlm_head(model)
    if head is not None:  # the vocabulary projection only where the masks are
        hidden = model.base_model(**inputs).last_hidden_state  # (R, P+T, d)
    else:
        logits = model(**inputs).logits  # (R, P+T, V)

    # One scored row per choice: the mask positions of its (document, length) row.
    choice_rows, positions, targets = [], [], []
    for gi, g in enumerate(groups):
        for c in g.continuations:
            r = row_of[gi, len(c)]
            choice_rows.append(r)
            positions.append([P + mask_at[r] + i for i in range(len(c))])
            targets.append(c)
    pos, valid = pad_right(positions, 0, device)  # (N, K)
    tgt, _ = pad_right(targets, 0, device)  # (N, K)
    index = (torch.tensor(choice_rows, device=device).unsqueeze(-1), pos)
    picked = head(hidden[index]) if head is not None else logits[index]  # (N, K, V)
    log_probs = F.log_softmax(picked, dim=-1, dtype=softmax_dtype or torch.float32)
    total, greedy = _gather_scores(log_probs, tgt, valid.bool())
    return split_by_group(groups, total, greedy, row_group=first_row)


def score_causal(model, prompt, groups: list[ChoiceGroup], pad_id: int, softmax_dtype=None,
                 before_forward=None) -> ScoredBatch:
    """``[prompt] context continuation[:-1]``; choices with the same such input share a row."""
    device = model.get_input_embeddings().weight.device
    P = 0 if prompt is None else prompt.shape[0]
    rows, row_of, first_row, row_context_end = [], {}, [], []
    choice_rows, positions, targets = [], [], []
    for g in groups:
        for j, c in enumerate(g.continuations):
            key = tuple(g.context + c[:-1])
            if key not in row_of:
                row_of[key] = len(rows)
                rows.append(list(key))
                row_context_end.append(P + len(g.context) - 1)
            r = row_of[key]
            if j == 0:
                first_row.append(r)
            end = P + len(g.context) + len(c) - 1  # one past the last input position
            choice_rows.append(r)
            positions.append(list(range(end - len(c), end)))
            targets.append(c)
    ids, attn = pad_right(rows, pad_id, device)  # (R, T)
    if before_forward is not None:
        before_forward(RowLayout(P, first_row, row_context_end))
    logits = model(
        inputs_embeds=prompt_embeds(model, prompt, ids), attention_mask=with_prompt_mask(attn, P)
    ).logits  # (R, P+T, V)
    pos, valid = pad_right(positions, 0, device)  # (N, K)
    tgt, _ = pad_right(targets, 0, device)  # (N, K)
    picked = logits[torch.tensor(choice_rows, device=device).unsqueeze(-1), pos]  # (N, K, V)
    log_probs = F.log_softmax(picked, dim=-1, dtype=softmax_dtype or torch.float32)
    total, greedy = _gather_scores(log_probs, tgt, valid.bool())
    return split_by_group(groups, total, greedy, row_group=first_row)


@dataclass
class ActivationPass:
    """The forward pass whose FFN activations the statistics read: row g holds document g."""

    body: torch.nn.Module  # what to run: the T5 encoder, else the base model (no vocabulary head)
    inputs: dict  # body's keyword arguments: inputs_embeds (G, P+T, d), attention_mask (G, P+T), ...
    layout: RowLayout  # group_rows = 0..G-1
    context: AbstractContextManager = field(default_factory=nullcontext)  # hooks the layout needs around it


def model_body(model) -> torch.nn.Module:
    """A masked or causal LM without its head (``BertForMaskedLM.bert``, ``GPT2LMHeadModel.transformer``)."""
    base = getattr(model, "base_model", model)
    return base if isinstance(base, torch.nn.Module) else model


def activation_pass(backend: str, model, prompt, groups: list[ChoiceGroup], tokenizer, layout=None) -> ActivationPass:
    """The rows the scorer of ``backend`` (or ``layout``) gives each document's activations, one per group.

    seq2seq: the encoder input ``[prompt][context]``; masked: ``[prompt][CLS] context [MASK] x k [SEP]``
    with k the first choice's length (the row :func:`score_masked` reads the document from); causal:
    ``[prompt] context`` (positions up to the last context token see nothing after it, so the
    continuation the scorer appends changes none of them).
    """
    if layout is not None:
        return layout.activation_pass(model, prompt, groups, tokenizer)
    device = model.get_input_embeddings().weight.device
    P = 0 if prompt is None else prompt.shape[0]
    G = list(range(len(groups)))
    if backend == "masked":
        frame = special_token_frame(tokenizer)
        rows, first_mask = [], []
        for g in groups:
            ids, mask_at = masked_input(frame, tokenizer.mask_token_id, g.context, len(g.continuations[0]))
            rows.append(ids)
            first_mask.append(P + mask_at)
        ids, attn = pad_right(rows, tokenizer.pad_token_id, device)  # (G, T)
        layout_ = RowLayout(P, G, [m - 1 for m in first_mask], first_mask)
        body = model_body(model)
    elif backend in ("seq2seq", "causal"):
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        ids, attn = pad_right([g.context for g in groups], pad, device)  # (G, T)
        layout_ = RowLayout(P, G, [P + len(g.context) - 1 for g in groups])
        body = model.get_encoder() if backend == "seq2seq" else model_body(model)
    else:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}.")
    inputs = {"inputs_embeds": prompt_embeds(model, prompt, ids),  # (G, P+T, d)
              "attention_mask": with_prompt_mask(attn, P)}  # (G, P+T)
    if backend == "causal":
        inputs["use_cache"] = False
    return ActivationPass(body, inputs, layout_)


def split_by_group(groups, total, greedy, *, row_group) -> ScoredBatch:
    """Per-choice scores (N,) and greedy flags (N,) -> a :class:`ScoredBatch` with one entry per group."""
    logprobs, flags, i = [], [], 0
    greedy = greedy.tolist()
    for g in groups:
        n = len(g.continuations)
        logprobs.append(total[i : i + n])
        flags.append(greedy[i : i + n])
        i += n
    device = total.device
    return ScoredBatch(
        logprobs=logprobs,
        is_greedy=flags,
        group_rows=torch.tensor(row_group, device=device),
    )


def choice_batches(groups: list[ChoiceGroup], batch_size: int):
    """Group indices in batches of at most ``batch_size`` choices (at least one group each), longest first.

    Longest first keeps padding small and shows memory errors at once.
    """
    order = sorted(range(len(groups)), key=lambda g: -(len(groups[g].context) + max(map(len, groups[g].continuations))))
    batch, rows = [], 0
    for g in order:
        n = len(groups[g].continuations)
        if batch and rows + n > batch_size:
            yield batch
            batch, rows = [], 0
        batch.append(g)
        rows += n
    if batch:
        yield batch


def score_groups(backend: str, model, prompt, groups: list[ChoiceGroup], tokenizer, softmax_dtype=None,
                 before_forward=None, layout=None):
    """Dispatch to the scorer of ``backend`` (one of :data:`BACKENDS`).

    ``before_forward(RowLayout)``, if given, is called right before the forward pass whose
    activations matter (the encoder's for seq2seq): activation capture picks positions there.
    ``layout``, if given, is a published prompt layout's scorer that replaces the backend's
    (see :mod:`skillneuron_harness.prompts.layouts`).
    """
    if layout is not None:
        return layout.score(model, prompt, groups, tokenizer, softmax_dtype, before_forward)
    if backend == "seq2seq":
        return score_seq2seq(model, prompt, groups, tokenizer.pad_token_id, softmax_dtype, before_forward)
    if backend == "masked":
        return score_masked(model, prompt, groups, tokenizer, softmax_dtype, before_forward)
    if backend == "causal":
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return score_causal(model, prompt, groups, pad, softmax_dtype, before_forward)
    raise ValueError(f"Unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}.")
