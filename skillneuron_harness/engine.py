"""The scoring engine: a frozen model plus a soft prompt, driven in batches, with observers watching.

What ``prompt_tuned`` does beyond being an lm-eval model lives here, with nothing of lm-eval in it:
left-truncating a document's context to the text window (:meth:`PromptEngine.truncate`), one
:class:`~skillneuron_harness.core.scoring.ChoiceGroup` per document (:meth:`~PromptEngine.choice_groups`),
scored batches longest first with the FFN hooks armed only inside them
(:meth:`~PromptEngine.scored_batches`), the capture-only pass of the skill-neuron baseline
(:meth:`~PromptEngine.activation_batches`), the embeddings of a generation batch with the prompt in
place (:meth:`~PromptEngine.generation_inputs`), and the observers' interventions (suppression)
around every forward pass (:meth:`~PromptEngine.interventions`). The host's model
(:mod:`skillneuron_harness.host.model`) tokenises lm-eval's requests and hands the token ids here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from skillneuron_harness.core.observers import ScoringObserver
from skillneuron_harness.core.scoring import (
    ChoiceGroup,
    activation_pass,
    choice_batches,
    score_groups,
    special_token_frame,
)
from skillneuron_harness.neurons.capture import HookPoint, capture_ffn, ffn_hook_points, run_until

EncodedRequest = tuple  # ((context, continuation), context token ids, continuation token ids), as lm-eval's


@dataclass
class PromptEngine:
    """A model, its tokenizer and backend, the soft prompt's rows (P, d) and how batches are run."""

    model: torch.nn.Module
    tokenizer: object
    backend: str  # seq2seq, masked or causal (core.scoring.BACKENDS)
    prompt: torch.Tensor | None  # (P, d) rows prepended to the input embeddings; None: the base model alone
    layout: object | None  # a published layout's scorer (prompts/layouts.py); None: the backend's own
    window: int  # tokens per sequence, the virtual tokens included (the model's max_length)
    num_virtual_tokens: int = 0  # P: counted against the window even while training passes its own prompt
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    mixed_precision_dtype: torch.dtype | None = None
    softmax_dtype: torch.dtype | None = None
    rank: int = 0  # progress bars on rank 0 only
    default_batch_size: Callable[[], int] = lambda: 1  # choices per forward batch when none is given
    # Watching the passes (core/observers.py), in the order they are armed: suppression, recorder, others.
    observers: list[ScoringObserver] = field(default_factory=list)
    _hook_points: list[HookPoint] | None = None

    # ----------------------------------------------------------------------------- documents
    @property
    def max_length(self) -> int:
        """Tokens of text per sequence: the window minus the virtual tokens."""
        return self.window - self.num_virtual_tokens

    def truncate(self, context: list[int], continuations: list[list[int]]) -> list[int]:
        """Left-truncate a context so that it and its longest continuation fit the text window."""
        import logging

        window = self.max_length
        longest = max(len(c) for c in continuations)
        if self.backend == "causal":
            keep = window + 1 - longest  # the last continuation token is never fed
        elif self.backend == "seq2seq":
            keep = window
        else:
            prefix, suffix = special_token_frame(self.tokenizer)
            keep = window - longest - len(prefix) - len(suffix)
            if keep < 0:
                raise ValueError(
                    f"A continuation of {longest} tokens needs {longest} masks, which with "
                    f"{len(prefix) + len(suffix)} special tokens and {self.num_virtual_tokens} virtual "
                    f"tokens exceed max_length={self.window}; shorten the verbalizer or raise max_length."
                )
        if longest > window:
            raise ValueError(f"A continuation of {longest} tokens does not fit max_length="
                             f"{self.window} with {self.num_virtual_tokens} virtual tokens.")
        if keep < len(context):
            logging.getLogger("skillneuron_harness.host.model").warning(
                "Context of %d tokens truncated from the left to %d to fit max_length=%d (%d virtual tokens).",
                len(context), max(keep, 0), self.window, self.num_virtual_tokens)
            return context[len(context) - max(keep, 0):]
        return context

    def choice_groups(self, requests: Sequence[EncodedRequest], documents: Sequence[Hashable] | None = None
                      ) -> tuple[list[ChoiceGroup], list[list[int]]]:
        """Encoded requests -> one truncated group per document and context, in the requests' order.

        Returns the groups and, per group, the indices of its requests. With ``documents`` (a key per
        request naming its document) requests of different documents never share a group.
        """
        by_document: dict[tuple, list[int]] = defaultdict(list)
        for i, (_, context_enc, _) in enumerate(requests):
            doc = documents[i] if documents else None
            by_document[doc, tuple(context_enc)].append(i)
        groups, members = [], []
        for (_, context), idx in by_document.items():
            conts = [list(requests[i][2]) for i in idx]
            if any(len(c) == 0 for c in conts):
                raise ValueError("An empty continuation cannot be scored.")
            groups.append(ChoiceGroup(self.truncate(list(context), conts), conts))
            members.append(idx)
        return groups, members

    # ------------------------------------------------------------------------- forward passes
    @property
    def hook_points(self) -> list[HookPoint]:
        """The FFN hook points of the model, one per layer (raises, naming the model, if none found)."""
        if self._hook_points is None:
            self._hook_points = ffn_hook_points(self.model)
        return self._hook_points

    @contextmanager
    def interventions(self):
        """The observers' hooks that change activations (suppression), armed around one forward pass."""
        with ExitStack() as stack:
            for observer in self.observers:
                stack.enter_context(observer.interventions(self.model))
            yield

    def autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                              enabled=self.mixed_precision_dtype is not None)

    def capture_positions(self) -> str | None:
        """The positions the observers want activations at (one set per pass), or None."""
        wanted = {o.capture_positions for o in self.observers if o.capture_positions}
        if len(wanted) > 1:
            raise ValueError(f"observers ask for activations at different positions {sorted(wanted)}; "
                             "prompt_tuned captures one set per pass.")
        return wanted.pop() if wanted else None

    def prompt_embeds(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, P + T, d) input embeddings with the soft prompt in front."""
        embeds = self.model.get_input_embeddings()(ids)  # (B, T, d)
        if self.prompt is None:
            return embeds
        prompt = self.prompt.unsqueeze(0).expand(ids.shape[0], -1, -1)  # (B, P, d)
        return torch.cat([prompt, embeds], dim=1)

    def prompt_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """(B, T) attention mask -> (B, P + T), the virtual tokens attended."""
        ones = mask.new_ones(mask.shape[0], self.num_virtual_tokens if self.prompt is not None else 0)  # (B, P)
        return torch.cat([ones, mask], dim=1)

    def scored_batches(self, groups: list[ChoiceGroup], capture: str | None = None, batch_size: int | None = None,
                       disable_tqdm: bool = False, desc: str = "Scoring"):
        """Score ``groups`` in batches of about ``batch_size`` choices, longest documents first.

        Yields (group indices, ScoredBatch, activations (G, L, P', D) or None). With ``capture``
        (``"prompt"``, ``"last"`` or ``"mask"``) the FFN hooks are armed around these passes only
        and keep those positions of each document.
        """
        batch_size = batch_size or self.default_batch_size()
        capturing = capture_ffn(self.model, hook_points=self.hook_points) if capture else nullcontext()
        pbar = tqdm(total=sum(len(g.continuations) for g in groups), disable=disable_tqdm or self.rank != 0,
                    desc=desc)
        with capturing as capture_ffn_:
            for batch in choice_batches(groups, batch_size):

                def before_forward(layout, capture_ffn_=capture_ffn_):
                    if capture_ffn_ is not None:
                        capture_ffn_.select = layout.select(capture)

                with torch.no_grad(), self.autocast(), self.interventions():
                    scored = score_groups(self.backend, self.model, self.prompt, [groups[g] for g in batch],
                                          self.tokenizer, self.softmax_dtype, before_forward=before_forward,
                                          layout=self.layout)
                acts = capture_ffn_.take()[scored.group_rows] if capture_ffn_ is not None else None  # (G, L, P', D)
                yield batch, scored, acts
                pbar.update(sum(len(groups[g].continuations) for g in batch))
        pbar.close()

    def activation_batches(self, groups: list[ChoiceGroup], capture: str, batch_size: int | None = None,
                           disable_tqdm: bool = False, desc: str = "Capturing"):
        """FFN activations of ``groups`` at ``capture`` positions, without scoring them (the baseline pass).

        Yields (group indices, activations (G, L, P', D)) per batch of at most ``batch_size``
        documents, longest first. Each document gets the row its scorer would give it, but only the
        model body runs (the T5 encoder; no vocabulary head) and the pass stops at the last hooked
        layer (:func:`~skillneuron_harness.neurons.capture.run_until`), so the activations equal
        :meth:`scored_batches`' at a fraction of the cost.
        """
        batch_size = batch_size or self.default_batch_size()
        last = self.model.get_submodule(self.hook_points[-1].module_name)
        one_each = [ChoiceGroup(g.context, g.continuations[:1]) for g in groups]  # batches of documents
        pbar = tqdm(total=len(groups), disable=disable_tqdm or self.rank != 0, desc=desc, unit="doc")
        with capture_ffn(self.model, hook_points=self.hook_points) as capture_ffn_:
            for batch in choice_batches(one_each, batch_size):
                step = activation_pass(self.backend, self.model, self.prompt, [groups[g] for g in batch],
                                       self.tokenizer, layout=self.layout)
                capture_ffn_.select = step.layout.select(capture)
                with torch.no_grad(), self.autocast(), self.interventions(), step.context:
                    run_until(step.body, last, **step.inputs)
                yield batch, capture_ffn_.take()  # (G, L, P', D): row g is document g
                pbar.update(len(batch))
        pbar.close()

    def generation_inputs(self, context: torch.Tensor, attention_mask: torch.Tensor):
        """Left-padded (B, T) ids -> embeddings with the prompt next to the text.

        Decoders keep the padding on the left, ``[pad][prompt][text]``; encoders get it on the
        right, ``[prompt][text][pad]``, so that T5's relative positions between prompt and text
        do not depend on the other rows of the batch.
        """
        lengths = attention_mask.sum(dim=1).tolist()
        width = context.shape[1]
        skip = self.num_virtual_tokens if self.prompt is not None else 0
        rows, masks = [], []
        for ids, n in zip(context, lengths, strict=True):
            text = ids[width - n:].unsqueeze(0)  # (1, n)
            row = self.prompt_embeds(text)[0]  # (P + n, d)
            pad = self.prompt_embeds(ids[: width - n].unsqueeze(0))[0, skip:]  # (T - n, d)
            ones = attention_mask.new_ones(row.shape[0])
            zeros = attention_mask.new_zeros(pad.shape[0])
            if self.backend == "causal":
                rows.append(torch.cat([pad, row])), masks.append(torch.cat([zeros, ones]))
            else:
                rows.append(torch.cat([row, pad])), masks.append(torch.cat([ones, zeros]))
        return torch.stack(rows), torch.stack(masks)  # (B, P + T, d), (B, P + T)
