"""The lm-eval model ``prompt_tuned``: a frozen Hugging Face model plus a trained soft prompt.

Usage (the stock CLI; see the README for every ``model_args``)::

    lm_eval --model prompt_tuned \\
        --model_args pretrained=google-t5/t5-base,prompt=PATH_OR_HUB_ID --tasks adv_sst2

It subclasses lm-eval's ``HFLM`` for model loading, tokenisation, batching conventions and
data parallelism, and replaces the forward passes: the soft prompt is prepended to the input
embeddings (PEFT's layout) in every pass, multiple-choice documents are scored by
:mod:`skillneuron_harness.core.scoring` (one encoder pass per document on T5, one pass per
document on masked LMs, shared-context rows on decoders), and generation feeds the prompt
through ``inputs_embeds`` (correct with the KV cache, unlike PEFT's prompt-tuning ``generate``).

Three backends: ``seq2seq`` (encoder-decoder), ``masked`` (encoder-only masked LMs, which
lm-eval's ``hf`` would load as causal LMs) and ``causal`` (decoder-only); ``backend=auto`` picks
from the config. The soft prompt's virtual tokens count against ``max_length``. ``prompt_format``
reads the published prompts of Skill-Neuron and Prompt-Transferability in their own layouts
(:mod:`skillneuron_harness.prompts.layouts`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import ExitStack, contextmanager, nullcontext

import lm_eval.models  # noqa: F401  (lm-eval's own models first: see lm_eval_bridge)
import torch
import transformers
from lm_eval.api.registry import model_registry
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils_hf import stop_sequences_criteria
from tqdm import tqdm

from skillneuron_harness.core.errors import install_excepthook
from skillneuron_harness.core.observers import ScoredDocuments, ScoringObserver
from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.core.scoring import (
    AUTO_MODEL_CLASSES,
    ChoiceGroup,
    activation_pass,
    choice_batches,
    resolve_backend,
    score_groups,
    special_token_frame,
)
from skillneuron_harness.host import compat
from skillneuron_harness.host.model_args import PromptArgs, parse_model_args
from skillneuron_harness.host.tasks import LmEvalRun
from skillneuron_harness.neurons.capture import HookPoint, capture_ffn, ffn_hook_points, run_until
from skillneuron_harness.neurons.recorder import DEFAULT_BATCH_SIZE, SkillNeuronConfig, SkillNeuronRecorder
from skillneuron_harness.neurons.statistics import is_distributed
from skillneuron_harness.neurons.suppression import Suppression
from skillneuron_harness.prompts import PromptError, SoftPrompt, load_soft_prompt
from skillneuron_harness.prompts.layouts import place_prompt

log = logging.getLogger(__name__)

# Our model is in use: print its errors as one line under any front end (lm_eval, accelerate, scripts).
install_excepthook()

# PEFT task types whose prompts each backend can take (encoder prompt tuning has no MLM type).
COMPATIBLE_TASK_TYPES = {
    "seq2seq": {"SEQ_2_SEQ_LM"},
    "causal": {"CAUSAL_LM"},
    "masked": {None, "FEATURE_EXTRACTION", "SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS"},
}


def _num_classes(task) -> int | None:
    """Choices of a multiple-choice task's first document (None for other tasks)."""
    if task.OUTPUT_TYPE != "multiple_choice":
        return None
    return len(task.doc_to_choice(task.eval_docs[0]))


def check_neuron_files_model(options, pretrained: str | None) -> None:
    """The skill-neuron files given (sn_baseline=, sn_reference=, suppress=) were written for ``pretrained``."""
    from skillneuron_harness.neurons.validate import check_fits

    if pretrained is None:
        return
    infos = [getattr(options.skill_neurons, "baseline_info", None),
             getattr(options.skill_neurons, "reference_info", None), getattr(options.suppression, "file_info", None)]
    for info in infos:
        if info is not None:
            check_fits(info, model=str(pretrained))


def demo_model_args() -> tuple[str, str]:
    """(pretrained, prompt) of the demo model; imported lazily, as the demo needs its extra."""
    from skillneuron_harness.host.demo_model import default_model_args

    return default_model_args()


class PromptTunedLM(HFLM):
    """HFLM with a soft prompt in every forward pass and fast multiple-choice scoring.

    Keyword arguments: the option groups of :mod:`skillneuron_harness.host.model_args` (the
    prompt, ``skill_neurons`` + ``sn_*``, ``suppress`` + ``suppress_*``) and lm-eval's ``hf``
    keywords; any other key is refused before anything is loaded.
    """

    def __init__(self, pretrained: str | None = None, **kwargs) -> None:
        options = parse_model_args(pretrained, kwargs)
        self.args = options.prompt
        self.soft_prompt: SoftPrompt | None = None
        # Load the prompt before the model: a bad path fails in a second, not after a download.
        if self.args.prompt is not None:
            self.soft_prompt = load_soft_prompt(self.args.prompt, arg=self.args.prompt_arg,
                                                format=str(self.args.prompt_format))
        pretrained = options.pretrained
        if pretrained is None and self.args.prompt is not None:
            raise ModelArgsError(f"pretrained= is required with a prompt ({self.args.prompt_arg}={self.args.prompt}): "
                                 "the Hub id or local path of the frozen base model the prompt was trained for.")
        if pretrained is None:  # no model_args: the demo (raises DemoModelMissing with the install command)
            pretrained, prompt = demo_model_args()
            self.args = PromptArgs(prompt=prompt, backend=self.args.backend)
            self.soft_prompt = load_soft_prompt(prompt)
            from skillneuron_harness.host.demo_model import DEMO_NOTE, demo_batch_size

            options.hf_kwargs["batch_size"] = demo_batch_size(options.hf_kwargs.get("batch_size"))
            log.warning(DEMO_NOTE, pretrained, prompt, options.hf_kwargs["batch_size"])
        check_neuron_files_model(options, pretrained)  # a file of another model is refused before loading this one
        if options.hf_kwargs.get("tp_plan") is not None:
            raise ModelArgsError("tp_plan= (tensor parallelism) is not supported by prompt_tuned; use "
                                 "`accelerate launch -m lm_eval ...` data parallelism instead.")
        self._prompt_tensor: torch.Tensor | None = None
        self._layout = None  # a published layout's scorer (prompts/layouts.py); None: the backend's own
        self._instances = None  # the Instances behind the current loglikelihood call
        self._run = None  # its EvaluationRun, for the labels of scored documents
        # Observers (observers.py): the suppression is armed around every forward pass, the recorder
        # counts the scored documents; further ones may be appended to `observers`.
        self.suppression = None
        self.recorder = None
        self.observers: list[ScoringObserver] = []
        self._task_include_path: tuple[str, ...] = ()
        self._hook_points = None
        if self.soft_prompt is not None:  # the width against the config, before the weights load
            self._check_base_model(pretrained, options.hf_kwargs)
        super().__init__(pretrained=pretrained, **options.hf_kwargs)
        self._check_prompt_fits()
        if self.soft_prompt is not None:
            self._prompt_tensor, self._layout = place_prompt(self.soft_prompt, self.backend, self.model,
                                                             self.tokenizer)  # (P, d), scorer or None
        self._enable_cpu_data_parallel()
        if options.suppression is not None:
            self.suppression = Suppression.from_config(self.model, options.suppression, self.hook_points,
                                                       model_name=str(self.pretrained), backend=self.backend)
        if options.skill_neurons is not None:
            self.recorder = self._skill_neuron_recorder(options.skill_neurons)
        log.info("prompt_tuned: backend %s, %s", self.backend,
                 f"{self.num_virtual_tokens} virtual tokens from {self.args.prompt}"
                 if self.soft_prompt else "no soft prompt (base model alone)")

    # ------------------------------------------------------------------ set-up
    def _get_backend(self, config, backend="default", trust_remote_code=False) -> None:
        self.backend = resolve_backend(config, self.args.backend)
        self.AUTO_MODEL_CLASS = AUTO_MODEL_CLASSES[self.backend]

    def _check_base_model(self, pretrained, kwargs) -> None:
        from skillneuron_harness.prompts.release import check_base_model

        if not isinstance(pretrained, str):
            return
        config = transformers.AutoConfig.from_pretrained(pretrained, revision=kwargs.get("revision") or "main",
                                                         trust_remote_code=bool(kwargs.get("trust_remote_code")))
        warning = check_base_model(self.soft_prompt, config, pretrained)
        if warning:
            log.warning("prompt_tuned: %s", warning)

    def _check_prompt_fits(self) -> None:
        if self.backend == "masked" and self.tokenizer.mask_token_id is None:
            raise ValueError(f"pretrained={self.pretrained}: the tokenizer has no mask token, so it cannot "
                             "be scored as a masked LM; pass backend=causal or backend=seq2seq.")
        if self.soft_prompt is None:
            return
        width = self.model.get_input_embeddings().embedding_dim
        source = self.args.prompt
        if self.soft_prompt.width != width:
            raise PromptError(
                f"prompt={source}: the prompt is {self.soft_prompt.width} wide but pretrained="
                f"{self.pretrained} has hidden size {width}; use the prompt trained for this model."
            )
        if self.soft_prompt.task_type not in COMPATIBLE_TASK_TYPES[self.backend] and self.soft_prompt.format == "peft":
            raise PromptError(
                f"prompt={source}: the adapter was made for task_type {self.soft_prompt.task_type} "
                f"(base model {self.soft_prompt.base_model}), which does not fit the {self.backend} backend "
                f"of pretrained={self.pretrained}; evaluate it with the base model it was trained on."
            )
        if self.num_virtual_tokens >= self._total_max_length:
            raise PromptError(
                f"prompt={source}: {self.num_virtual_tokens} virtual tokens leave no room in "
                f"max_length={self._total_max_length}; pass a larger max_length= if the model allows."
            )

    def _enable_cpu_data_parallel(self) -> None:
        # HFLM shards requests across processes only when it sees several GPUs; under
        # `accelerate launch` on CPUs (gloo) every process would evaluate everything.
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1 and self.world_size == 1:
            compat.set_data_parallel(self, accelerator.process_index, accelerator.num_processes)

    def _skill_neuron_recorder(self, config: SkillNeuronConfig) -> SkillNeuronRecorder:
        if getattr(self.model, "hf_device_map", None):
            raise ModelArgsError("skill_neurons= needs the whole model in each process: use "
                                 "`accelerate launch -m lm_eval ...` data parallelism, not parallelize=.")
        if is_distributed() and torch.distributed.get_world_size() != self.world_size:
            raise ModelArgsError(
                f"skill_neurons: {torch.distributed.get_world_size()} processes are running but lm-eval shards the "
                f"documents over {self.world_size}, so counts would be summed over copies. Launch with "
                "`accelerate launch -m lm_eval ...` (on CPUs: `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m "
                "lm_eval ...`)."
            )
        self._task_include_path = (config.include_path,) if config.include_path else ()
        lm_batch = int(self.batch_size) if str(self.batch_size).isdigit() else 0  # "auto": not probed for this
        return SkillNeuronRecorder(config, hook_points=self.hook_points, num_virtual_tokens=self.num_virtual_tokens,
                                   backend=self.backend, rank=self.rank, device=self.device,
                                   provenance=self.provenance(), batch_size=max(DEFAULT_BATCH_SIZE, lm_batch))

    @property
    def hook_points(self) -> list[HookPoint]:
        """The FFN hook points of the model, one per layer (raises, naming the model, if none found)."""
        if self._hook_points is None:
            self._hook_points = ffn_hook_points(self.model)
        return self._hook_points

    def all_observers(self) -> list[ScoringObserver]:
        """The suppression, the recorder and any further observers, in the order they are armed."""
        return [o for o in (self.suppression, self.recorder) if o is not None] + list(self.observers)

    # --------------------------------------------------------------- properties
    @property
    def num_virtual_tokens(self) -> int:
        return 0 if self.soft_prompt is None else self.soft_prompt.num_virtual_tokens

    @property
    def _total_max_length(self) -> int:
        if self._max_length:
            return self._max_length
        # RoBERTa-style position tables start after the padding index: fewer usable positions
        # than max_position_embeddings, which lm-eval would take at face value.
        positions = getattr(getattr(self.model, "base_model", self.model), "embeddings", None)
        table = getattr(positions, "position_embeddings", None)
        if isinstance(table, torch.nn.Embedding) and table.padding_idx is not None:
            return min(super().max_length, table.num_embeddings - table.padding_idx - 1)
        return super().max_length

    @property
    def max_length(self) -> int:
        """Tokens of text per sequence: the model's window minus the virtual tokens."""
        return self._total_max_length - self.num_virtual_tokens

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        info["pretrained"] = str(self.pretrained)  # the model loaded, also when model_args named none (the demo)
        info["backend"] = self.backend
        if self.soft_prompt is None:
            info.update(prompt_source=None, prompt_num_virtual_tokens=0)
        else:
            info.update(self.soft_prompt.info())
        for observer in self.all_observers():
            info.update(observer.model_info())
        return info

    def provenance(self) -> dict:
        """What the statistics were computed on (for the skill-neuron files)."""
        import lm_eval
        import transformers as tf

        return {"model": str(self.pretrained), "backend": self.backend, "prompt": self.args.prompt,
                "prompt_sha256": self.soft_prompt.sha256 if self.soft_prompt else None,
                "num_virtual_tokens": self.num_virtual_tokens, "lm_eval_version": lm_eval.__version__,
                "transformers_version": tf.__version__}

    # ------------------------------------------------------------ forward passes
    @contextmanager
    def _interventions(self):
        """The observers' hooks that change activations (suppression), armed around each forward pass."""
        with ExitStack() as stack:
            for observer in self.all_observers():
                stack.enter_context(observer.interventions(self.model))
            yield

    def _prompt_embeds(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, P + T, d) input embeddings with the soft prompt in front."""
        embeds = self.model.get_input_embeddings()(ids)  # (B, T, d)
        if self._prompt_tensor is None:
            return embeds
        prompt = self._prompt_tensor.unsqueeze(0).expand(ids.shape[0], -1, -1)  # (B, P, d)
        return torch.cat([prompt, embeds], dim=1)

    def _prompt_mask(self, mask: torch.Tensor) -> torch.Tensor:
        ones = mask.new_ones(mask.shape[0], self.num_virtual_tokens)  # (B, P)
        return torch.cat([ones, mask], dim=1)  # (B, P + T)

    def _model_call(self, inps, attn_mask=None, labels=None):
        # Used by lm-eval's batch-size probing: the same shapes as a real pass, prompt included.
        with torch.no_grad(), self._interventions():
            mask = torch.ones_like(inps) if attn_mask is None else attn_mask
            kwargs = {"labels": labels} if labels is not None else {}
            return self.model(inputs_embeds=self._prompt_embeds(inps),
                              attention_mask=self._prompt_mask(mask), **kwargs).logits

    # ------------------------------------------------------------ loglikelihood
    def _encode_pair(self, context: str, continuation: str):
        if self.backend != "masked":
            return super()._encode_pair(context, continuation)
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        return (self.tok_encode(context, add_special_tokens=False),
                self.tok_encode(continuation, add_special_tokens=False))

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        observers = self.all_observers()
        if any(o.capture_positions for o in observers) and compat.request_cache_active(self):
            raise ModelArgsError("skill_neurons= cannot be combined with --use_cache: cached requests skip the "
                                 "forward passes the statistics come from. Drop --use_cache for this run.")
        self._run = LmEvalRun(self, requests, self._task_include_path)
        for observer in observers:
            observer.begin(self._run)
        self._instances = requests
        try:
            results = self._loglikelihood_tokens(self.encode_requests(requests), disable_tqdm=disable_tqdm)
        finally:
            self._instances = self._run = None
        for observer in observers:
            observer.end()
        return results

    def encode_requests(self, requests) -> list[tuple[tuple[str, str], list[int], list[int]]]:
        """lm-eval's ((context, continuation), context tokens, continuation tokens) per request.

        Prompt training and the baseline pass read their tokens here (through
        :func:`skillneuron_harness.host.tasks.document_groups`), so that they see what is evaluated.
        """
        self._warn_on_format(requests)
        names = [getattr(req, "task_name", None) for req in requests]
        return self.encode_pairs((req.args for req in requests), task_names=names)

    def encode_pairs(self, pairs, task_names=None) -> list[tuple[tuple[str, str], list[int], list[int]]]:
        """:meth:`encode_requests` for bare (context, continuation) pairs.

        ``task_names`` (one per pair) apply a task's ``metadata.released_format`` (prompts/task_format.py).
        """
        from skillneuron_harness.host.task_format import task_format

        encoded = []
        for i, (context, continuation) in enumerate(pairs):
            if context:
                context_enc, continuation_enc = self._encode_pair(context, continuation)
                fmt = task_format(task_names[i]) if task_names else None
                if fmt is not None:
                    context_enc, continuation_enc = fmt.apply(context_enc, continuation_enc, self.tokenizer,
                                                              self.backend)
                encoded.append(((context, continuation), context_enc, continuation_enc))
            elif self.backend == "masked":  # the masks follow [CLS]: no stand-in token needed
                encoded.append(((context, continuation), [], self.tok_encode(continuation, add_special_tokens=False)))
            else:
                encoded.append(((context, continuation), *compat.encode_empty_context(self, continuation)))
        return encoded

    def choice_groups(self, requests, instances=None) -> tuple[list[ChoiceGroup], list[list[int]]]:
        """Encoded requests -> one truncated group per document and context, in the requests' order.

        Returns the groups and, per group, the indices of its requests. With ``instances`` (the
        Instances behind ``requests``) requests of different documents never share a group.
        """
        by_document: dict[tuple, list[int]] = defaultdict(list)
        for i, (_, context_enc, _) in enumerate(requests):
            doc = compat.instance_key(instances[i]) if instances else None
            by_document[doc, tuple(context_enc)].append(i)
        groups, members = [], []
        for (_, context), idx in by_document.items():
            conts = [list(requests[i][2]) for i in idx]
            if any(len(c) == 0 for c in conts):
                raise ValueError("An empty continuation cannot be scored.")
            groups.append(ChoiceGroup(self._truncate(list(context), conts), conts))
            members.append(idx)
        return groups, members

    def _warn_on_format(self, requests) -> None:
        """Once per task: a released prompt on a task not rendered as it was trained (prompts/release.py)."""
        release = self.soft_prompt.release if self.soft_prompt is not None else None
        if release is None:
            return
        from skillneuron_harness.prompts.release import format_mismatch

        warned = self.__dict__.setdefault("_format_warned", set())
        by_task: dict[str, tuple] = {}  # task -> (first doc id, its choices)
        for req in requests:
            name = getattr(req, "task_name", None)
            if name is None or name in warned:
                continue
            doc = by_task.setdefault(name, (req.doc_id, []))
            if req.doc_id == doc[0]:
                doc[1].append(req.args[1])
        for name, (_, words) in by_task.items():
            warned.add(name)
            message = format_mismatch(release, name, words)
            if message:
                log.warning("prompt=%s: %s", self.args.prompt, message)

    def choice_group(self, context: str, continuations: list[str]) -> ChoiceGroup:
        """One document's group from its context and choice strings (as lm-eval's requests would be)."""
        groups, _ = self.choice_groups(self.encode_pairs((context, c) for c in continuations))
        return groups[0]

    def _truncate(self, context: list[int], continuations: list[list[int]]) -> list[int]:
        """Left-truncate a context so that it and its longest continuation fit the text window."""
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
                    f"tokens exceed max_length={self._total_max_length}; shorten the verbalizer or "
                    "raise max_length."
                )
        if longest > window:
            raise ValueError(f"A continuation of {longest} tokens does not fit max_length="
                             f"{self._total_max_length} with {self.num_virtual_tokens} virtual tokens.")
        if keep < len(context):
            log.warning("Context of %d tokens truncated from the left to %d to fit max_length=%d "
                        "(%d virtual tokens).", len(context), max(keep, 0), self._total_max_length,
                        self.num_virtual_tokens)
            return context[len(context) - max(keep, 0):]
        return context

    def _capture_positions(self) -> str | None:
        wanted = {o.capture_positions for o in self.all_observers() if o.capture_positions}
        if len(wanted) > 1:
            raise ValueError(f"observers ask for activations at different positions {sorted(wanted)}; "
                             "prompt_tuned captures one set per pass.")
        return wanted.pop() if wanted else None

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        # One group per document (its context), keeping the requests' original order.
        instances = self._instances if self._instances is not None and len(self._instances) == len(requests) else None
        groups, members = self.choice_groups(requests, instances)
        positions = self._capture_positions() if instances is not None and self._run is not None else None
        watchers = [o for o in self.all_observers() if o.capture_positions] if positions else []
        results: list = [None] * len(requests)
        batches = self.scored_batches(groups, capture=positions, batch_size=override_bs,
                                      disable_tqdm=disable_tqdm, desc="Running loglikelihood requests")
        for batch, scored, acts in batches:
            for g, logprobs, greedy in zip(batch, scored.logprobs, scored.is_greedy, strict=True):
                for i, lp, gr in zip(members[g], logprobs.tolist(), greedy, strict=True):
                    results[i] = (float(lp), bool(gr))
                    if requests[i][0] is not None:
                        self.cache_hook.add_partial("loglikelihood", requests[i][0], results[i])
            if watchers:
                first = [instances[members[g][0]] for g in batch]
                keys = [compat.instance_key(inst) for inst in first]
                documents = ScoredDocuments(
                    tasks=[name for name, _ in keys], doc_ids=[doc_id for _, doc_id in keys],
                    labels=[self._run.label(inst) for inst in first],
                    predictions=[int(lp.argmax()) for lp in scored.logprobs],  # lm-eval's `acc` choice
                    activations=acts)
                for observer in watchers:
                    observer.scored(documents)
        return results

    def scored_batches(self, groups: list[ChoiceGroup], capture: str | None = None, batch_size=None,
                       disable_tqdm: bool = False, desc: str = "Scoring"):
        """Score ``groups`` in batches of about ``batch_size`` choices, longest documents first.

        Yields (group indices, ScoredBatch, activations (G, L, P', D) or None). With ``capture``
        (``"prompt"``, ``"last"`` or ``"mask"``) the FFN hooks are armed around these passes only
        and keep those positions of each document.
        """
        batch_size = batch_size or compat.resolved_batch_size(self)
        capturing = capture_ffn(self.model, hook_points=self.hook_points) if capture else nullcontext()
        pbar = tqdm(total=sum(len(g.continuations) for g in groups), disable=disable_tqdm or self.rank != 0,
                    desc=desc)
        with capturing as capture_ffn_:
            for batch in choice_batches(groups, batch_size):

                def before_forward(layout, capture_ffn_=capture_ffn_):
                    if capture_ffn_ is not None:
                        capture_ffn_.select = layout.select(capture)

                with torch.no_grad(), self._autocast(), self._interventions():
                    scored = score_groups(self.backend, self.model, self._prompt_tensor,
                                          [groups[g] for g in batch], self.tokenizer, self.softmax_dtype,
                                          before_forward=before_forward, layout=self._layout)
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
        batch_size = batch_size or compat.resolved_batch_size(self)
        last = self.model.get_submodule(self.hook_points[-1].module_name)
        one_each = [ChoiceGroup(g.context, g.continuations[:1]) for g in groups]  # batches of documents
        pbar = tqdm(total=len(groups), disable=disable_tqdm or self.rank != 0, desc=desc, unit="doc")
        with capture_ffn(self.model, hook_points=self.hook_points) as capture_ffn_:
            for batch in choice_batches(one_each, batch_size):
                step = activation_pass(self.backend, self.model, self._prompt_tensor,
                                       [groups[g] for g in batch], self.tokenizer, layout=self._layout)
                capture_ffn_.select = step.layout.select(capture)
                with torch.no_grad(), self._autocast(), self._interventions(), step.context:
                    run_until(step.body, last, **step.inputs)
                yield batch, capture_ffn_.take()  # (G, L, P', D): row g is document g
                pbar.update(len(batch))
        pbar.close()

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                              enabled=self.mixed_precision_dtype is not None)

    # ------------------------------------------------------------ checks of a run
    def preflight(self, task_dict, cached: bool = False) -> None:
        """Refuse, before ``evaluate`` does any work, a run these options cannot serve (lm_eval_bridge calls it).

        ``--use_cache`` with ``skill_neurons=`` or ``suppress=`` (cached answers skip, or predate, our
        forward passes: a warm cache would report an empty ``skill_neurons`` section or unsuppressed
        scores), tasks the recorder cannot use, and generation tasks on a masked LM.
        """
        tasks = compat.evaluated_tasks(task_dict)
        for option, observer in (("skill_neurons", self.recorder), ("suppress", self.suppression)):
            if observer is not None and cached:
                raise ModelArgsError(f"{option}= cannot be combined with --use_cache: cached answers skip the forward "
                                     f"passes {option}= works on (a warm cache would report numbers that do not "
                                     "come from them). Drop --use_cache for this run.")
        generating = sorted(n for n, t in tasks.items() if t.OUTPUT_TYPE == "generate_until")
        if generating and self.backend == "masked":
            raise ModelArgsError(f"Task(s) {', '.join(generating)} ask for text generation (generate_until), which a "
                                 f"masked LM (pretrained={self.pretrained}) cannot do; evaluate multiple-choice "
                                 "tasks with it.")
        if self.recorder is not None:
            self.recorder.check_tasks({name: (task.OUTPUT_TYPE, _num_classes(task)) for name, task in tasks.items()})

    # --------------------------------------------------------------- generation
    def generate_until(self, requests, disable_tqdm: bool = False):
        if self.recorder is not None:  # reached without the bridge's preflight
            tasks = sorted({req.task_name for req in requests if getattr(req, "task_name", None)})
            raise ModelArgsError(f"skill_neurons=: task(s) {', '.join(tasks) or '(unnamed)'} ask for text "
                                 "generation; skill neurons need multiple-choice tasks. Evaluate them in a run "
                                 "without skill_neurons=.")
        if self.backend == "masked":
            tasks = sorted({req.task_name for req in requests if getattr(req, "task_name", None)})
            raise NotImplementedError(
                f"Task(s) {', '.join(tasks) or '(unnamed)'} ask for text generation (generate_until), which a "
                f"masked LM (pretrained={self.pretrained}) cannot do; evaluate multiple-choice tasks with it."
            )
        return super().generate_until(requests, disable_tqdm=disable_tqdm)

    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        attention_mask = generation_kwargs.pop("attention_mask", None)
        if attention_mask is None:
            attention_mask = torch.ones_like(context)
        generation_kwargs["temperature"] = generation_kwargs.get("temperature", 0.0)
        do_sample = generation_kwargs.get("do_sample")
        if generation_kwargs["temperature"] == 0.0 and do_sample is None:
            generation_kwargs["do_sample"] = do_sample = False
        if do_sample is False and generation_kwargs["temperature"] == 0.0:
            generation_kwargs.pop("temperature")
        embeds, mask = self._generation_inputs(context, attention_mask)
        decoded_start = 1 if self.backend == "seq2seq" else 0  # generate returns new tokens only
        criteria = stop_sequences_criteria(self.tokenizer, stop, decoded_start, context.shape[0])
        with torch.no_grad(), self._autocast(), self._interventions():
            out = self.model.generate(
                inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_length - context.shape[1],
                stopping_criteria=criteria, pad_token_id=self.tokenizer.pad_token_id, use_cache=True,
                **generation_kwargs,
            )
        # HFLM strips the context from causal outputs: give it back what `generate(input_ids)` gives.
        return torch.cat([context, out], dim=1) if self.backend == "causal" else out

    def _generation_inputs(self, context: torch.Tensor, attention_mask: torch.Tensor):
        """Left-padded (B, T) ids -> embeddings with the prompt next to the text.

        Decoders keep the padding on the left, ``[pad][prompt][text]``; encoders get it on the
        right, ``[prompt][text][pad]``, so that T5's relative positions between prompt and text
        do not depend on the other rows of the batch.
        """
        lengths = attention_mask.sum(dim=1).tolist()
        width = context.shape[1]
        rows, masks = [], []
        for ids, n in zip(context, lengths, strict=True):
            text = ids[width - n:].unsqueeze(0)  # (1, n)
            row = self._prompt_embeds(text)[0]  # (P + n, d)
            pad = self._prompt_embeds(ids[: width - n].unsqueeze(0))[0, self.num_virtual_tokens:]  # (T - n, d)
            ones = attention_mask.new_ones(row.shape[0])
            zeros = attention_mask.new_zeros(pad.shape[0])
            if self.backend == "causal":
                rows.append(torch.cat([pad, row])), masks.append(torch.cat([zeros, ones]))
            else:
                rows.append(torch.cat([row, pad])), masks.append(torch.cat([ones, zeros]))
        return torch.stack(rows), torch.stack(masks)  # (B, P + T, d), (B, P + T)


# Replaces the bridge's lazy placeholder (or stands in for it when imported directly).
model_registry.register("prompt_tuned", target=PromptTunedLM)
