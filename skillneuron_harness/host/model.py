"""The lm-eval model ``prompt_tuned``: a frozen Hugging Face model plus a trained soft prompt.

Usage (the stock CLI; see the README for every ``model_args``)::

    lm_eval --model prompt_tuned \\
        --model_args pretrained=google-t5/t5-base,prompt=PATH_OR_HUB_ID --tasks adv_sst2

It subclasses lm-eval's ``HFLM`` for model loading, tokenisation, batching conventions and
data parallelism, and hands the forward passes to a :class:`~skillneuron_harness.engine.PromptEngine`:
the soft prompt is prepended to the input embeddings (PEFT's layout) in every pass,
multiple-choice documents are scored by :mod:`skillneuron_harness.core.scoring` (one encoder pass
per document on T5, one pass per document on masked LMs, shared-context rows on decoders), and
generation feeds the prompt through ``inputs_embeds`` (correct with the KV cache, unlike PEFT's
prompt-tuning ``generate``). Like lm-eval's ``hf_steered`` it overrides little: tokenising a
request (``_encode_pair``), the log-likelihood and generation entry points, and the model calls;
the observers (statistics, suppression) are built here from ``model_args`` and armed by the
engine, and :meth:`PromptTunedLM.suppressed` swaps a suppression in for a block of evaluations.

Three backends: ``seq2seq`` (encoder-decoder), ``masked`` (encoder-only masked LMs, which
lm-eval's ``hf`` would load as causal LMs) and ``causal`` (decoder-only); ``backend=auto`` picks
from the config. The soft prompt's virtual tokens count against ``max_length``. ``prompt_format``
reads the published prompts of Skill-Neuron and Prompt-Transferability in their own layouts
(:mod:`skillneuron_harness.prompts.layouts`).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from types import SimpleNamespace

import lm_eval.models  # noqa: F401  (lm-eval's own models first: see host/bridge.py)
import torch
import transformers
from lm_eval.api.registry import model_registry
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils_hf import stop_sequences_criteria

from skillneuron_harness.core.constants import PEFT_TASK_TYPES
from skillneuron_harness.core.errors import install_excepthook
from skillneuron_harness.core.model_source import check_model_source
from skillneuron_harness.core.observers import ScoredDocuments
from skillneuron_harness.core.options import ModelArgsError
from skillneuron_harness.core.scoring import AUTO_MODEL_CLASSES, resolve_backend
from skillneuron_harness.engine import PromptEngine
from skillneuron_harness.host import compat
from skillneuron_harness.host.bridge import task_folder
from skillneuron_harness.host.model_args import PromptArgs, parse_model_args
from skillneuron_harness.host.task_format import task_format, warn_on_format
from skillneuron_harness.host.tasks import LmEvalRun
from skillneuron_harness.neurons.ownership import OutputFolder, launch_rank
from skillneuron_harness.neurons.recorder import DEFAULT_BATCH_SIZE, SkillNeuronConfig, SkillNeuronRecorder
from skillneuron_harness.neurons.statistics import is_distributed
from skillneuron_harness.neurons.suppression import Suppression, SuppressionConfig
from skillneuron_harness.prompts import PromptError, SoftPrompt, load_soft_prompt
from skillneuron_harness.prompts.layouts import place_prompt

log = logging.getLogger(__name__)

# Our model is in use: print its errors as one line under any front end (lm_eval, accelerate, scripts).
install_excepthook()

# lm-eval's default batch size is 1: one choice per forward pass. Not raised here (a large model on a GPU
# could run out of memory), but said once, with the flag.
SLOW_BATCH_NOTE = ("prompt_tuned: batch size 1 (lm-eval's default) scores one choice per forward pass, several times "
                   "slower than batches; pass --batch_size 32 (or --batch_size auto on a GPU) for pretrained=%s.")

# PEFT task types whose prompts each backend can take (encoder prompt tuning has no MLM type).
COMPATIBLE_TASK_TYPES = {
    "seq2seq": {PEFT_TASK_TYPES["seq2seq"]},
    "causal": {PEFT_TASK_TYPES["causal"]},
    "masked": {None, PEFT_TASK_TYPES["masked"], "SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS"},
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
    """(pretrained, prompt) of the demo model (raises DemoModelMissing with the install command)."""
    from skillneuron_harness.host.demo_model import default_model_args

    return default_model_args()


def check_base_model(soft_prompt: SoftPrompt, pretrained, kwargs) -> None:
    """The prompt's width against the model's config, before the weights load (prompts.loading.check_base_model)."""
    from skillneuron_harness.prompts.loading import check_base_model as check

    if not isinstance(pretrained, str):
        return
    config = transformers.AutoConfig.from_pretrained(pretrained, revision=kwargs.get("revision") or "main",
                                                     trust_remote_code=bool(kwargs.get("trust_remote_code")))
    warning = check(soft_prompt, config, pretrained)
    if warning:
        log.warning("prompt_tuned: %s", warning)


def text_window(lm: HFLM) -> int:
    """Tokens per sequence, the virtual tokens included: ``max_length=`` or what the model allows."""
    if lm._max_length:
        return lm._max_length
    hf_max = HFLM.max_length.fget(lm)
    # RoBERTa-style position tables start after the padding index: fewer usable positions
    # than max_position_embeddings, which lm-eval would take at face value.
    positions = getattr(getattr(lm.model, "base_model", lm.model), "embeddings", None)
    table = getattr(positions, "position_embeddings", None)
    if isinstance(table, torch.nn.Embedding) and table.padding_idx is not None:
        return min(hf_max, table.num_embeddings - table.padding_idx - 1)
    return hf_max


def check_prompt_fits(lm: PromptTunedLM, window: int) -> None:
    """The tokenizer suits the backend, and the prompt the model (width, adapter type, room left)."""
    if lm.backend == "masked" and lm.tokenizer.mask_token_id is None:
        raise ValueError(f"pretrained={lm.pretrained}: the tokenizer has no mask token, so it cannot "
                         "be scored as a masked LM; pass backend=causal or backend=seq2seq.")
    prompt, source = lm.soft_prompt, lm.args.prompt
    if prompt is None:
        return
    width = lm.model.get_input_embeddings().embedding_dim
    if prompt.width != width:
        raise PromptError(f"prompt={source}: the prompt is {prompt.width} wide but pretrained={lm.pretrained} has "
                          f"hidden size {width}; use the prompt trained for this model.")
    if prompt.task_type not in COMPATIBLE_TASK_TYPES[lm.backend] and prompt.format == "peft":
        raise PromptError(
            f"prompt={source}: the adapter was made for task_type {prompt.task_type} (base model "
            f"{prompt.base_model}), which does not fit the {lm.backend} backend of pretrained={lm.pretrained}; "
            "evaluate it with the base model it was trained on.")
    if prompt.num_virtual_tokens >= window:
        raise PromptError(f"prompt={source}: {prompt.num_virtual_tokens} virtual tokens leave no room in "
                          f"max_length={window}; pass a larger max_length= if the model allows.")


def provenance(lm: PromptTunedLM) -> dict:
    """What the statistics were computed on (for the skill-neuron files)."""
    import lm_eval

    return {"model": str(lm.pretrained), "backend": lm.backend, "prompt": lm.args.prompt,
            "prompt_sha256": lm.soft_prompt.sha256 if lm.soft_prompt else None,
            "num_virtual_tokens": lm.engine.num_virtual_tokens, "lm_eval_version": lm_eval.__version__,
            "transformers_version": transformers.__version__}


def skill_neuron_recorder(lm: PromptTunedLM, config: SkillNeuronConfig) -> SkillNeuronRecorder:
    """The recorder of ``skill_neurons=``, refused where its counts would be wrong."""
    if getattr(lm.model, "hf_device_map", None):
        raise ModelArgsError("skill_neurons= needs the whole model in each process: use "
                             "`accelerate launch -m lm_eval ...` data parallelism, not parallelize=.")
    if is_distributed() and torch.distributed.get_world_size() != lm.world_size:
        raise ModelArgsError(
            f"skill_neurons: {torch.distributed.get_world_size()} processes are running but lm-eval shards the "
            f"documents over {lm.world_size}, so counts would be summed over copies. Launch with "
            "`accelerate launch -m lm_eval ...` (on CPUs: `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m "
            "lm_eval ...`)."
        )
    lm_batch = int(lm.batch_size) if str(lm.batch_size).isdigit() else 0  # "auto": not probed for this
    return SkillNeuronRecorder(config, hook_points=lm.engine.hook_points,
                               num_virtual_tokens=lm.engine.num_virtual_tokens, backend=lm.backend, rank=lm.rank,
                               device=lm.device, provenance=provenance(lm),
                               batch_size=max(DEFAULT_BATCH_SIZE, lm_batch), folder=lm.sn_folder)


class PromptTunedLM(HFLM):
    """HFLM with a soft prompt in every forward pass and fast multiple-choice scoring.

    Keyword arguments: the option groups of :mod:`skillneuron_harness.host.model_args` (the
    prompt, ``skill_neurons`` + ``sn_*``, ``suppress`` + ``suppress_*``) and lm-eval's ``hf``
    keywords; any other key is refused before anything is loaded.
    """

    def __init__(self, pretrained: str | None = None, **kwargs) -> None:
        options = parse_model_args(pretrained, kwargs)
        self.sn_folder: OutputFolder | None = None  # the skill_neurons= folder, ours before the model loads
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
        self.engine: PromptEngine | None = None  # built once HFLM has loaded model and tokenizer
        self.suppression: Suppression | None = None
        self.recorder: SkillNeuronRecorder | None = None
        self._task_include_path: tuple[str, ...] = ()
        self._instances = None  # the Instances behind the current loglikelihood call
        self._run = None  # its EvaluationRun, for the labels of scored documents
        if isinstance(pretrained, str):  # a missing folder or a malformed Hub id, in one line
            check_model_source(pretrained, "pretrained", options.hf_kwargs.get("revision"))
        if self.soft_prompt is not None:  # the width against the config, before the weights load
            check_base_model(self.soft_prompt, pretrained, options.hf_kwargs)
        if options.skill_neurons is not None:  # checks passed: the folder is ours before the model loads
            self.sn_folder = OutputFolder(options.skill_neurons.output_dir, launch_rank())
            self.sn_folder.take()
        try:
            self._load(pretrained, options)
        except BaseException:
            if self.sn_folder is not None:
                self.sn_folder.give_back()
            raise

    def _load(self, pretrained: str, options) -> None:
        """Load the model (HFLM) and build the engine and observers around it."""
        super().__init__(pretrained=pretrained, **options.hf_kwargs)
        window = text_window(self)
        check_prompt_fits(self, window)
        rows, layout = (place_prompt(self.soft_prompt, self.backend, self.model, self.tokenizer)
                        if self.soft_prompt is not None else (None, None))  # (P, d), scorer or None
        self.engine = PromptEngine(
            self.model, self.tokenizer, self.backend, rows, layout, window,
            num_virtual_tokens=self.soft_prompt.num_virtual_tokens if self.soft_prompt else 0, device=self.device,
            mixed_precision_dtype=self.mixed_precision_dtype, softmax_dtype=self.softmax_dtype, rank=self.rank,
            default_batch_size=lambda: compat.resolved_batch_size(self))
        compat.enable_cpu_data_parallel(self)
        if str(self.batch_size) == "1":
            log.warning(SLOW_BATCH_NOTE, self.pretrained)
        if options.suppression is not None:
            self.suppression = Suppression.from_config(self.model, options.suppression, self.engine.hook_points,
                                                       model_name=str(self.pretrained), backend=self.backend)
        if options.skill_neurons is not None:
            self._task_include_path = (options.skill_neurons.include_path,) if options.skill_neurons.include_path \
                else ()
            self.recorder = skill_neuron_recorder(self, options.skill_neurons)
        self.engine.observers = [o for o in (self.suppression, self.recorder) if o is not None]
        log.info("prompt_tuned: backend %s, %s", self.backend,
                 f"{self.engine.num_virtual_tokens} virtual tokens from {self.args.prompt}"
                 if self.soft_prompt else "no soft prompt (base model alone)")

    def _get_backend(self, config, backend="default", trust_remote_code=False) -> None:
        self.backend = resolve_backend(config, self.args.backend)
        self.AUTO_MODEL_CLASS = AUTO_MODEL_CLASSES[self.backend]

    @property
    def max_length(self) -> int:
        """Tokens of text per sequence: the model's window minus the virtual tokens."""
        if self.engine is not None:
            return self.engine.max_length
        return text_window(self) - (self.soft_prompt.num_virtual_tokens if self.soft_prompt else 0)

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        info["pretrained"] = str(self.pretrained)  # the model loaded, also when model_args named none (the demo)
        info["backend"] = self.backend
        if self.soft_prompt is None:
            info.update(prompt_source=None, prompt_num_virtual_tokens=0)
        else:
            info.update(self.soft_prompt.info())
        for observer in self.engine.observers:
            info.update(observer.model_info())
        return info

    @contextmanager
    def suppressed(self, config: SuppressionConfig):
        """``with lm.suppressed(SuppressionConfig(...)):`` evaluations in the block run with these neurons suppressed.

        The file is checked against this model as ``suppress=`` would check it; the suppression
        given in ``model_args`` (if any) stands aside for the block and comes back after it.
        """
        check_neuron_files_model(SimpleNamespace(skill_neurons=None, suppression=config), self.pretrained)
        suppression = Suppression.from_config(self.model, config, self.engine.hook_points,
                                              model_name=str(self.pretrained), backend=self.backend)
        saved, observers = self.suppression, list(self.engine.observers)
        self.suppression = suppression
        self.engine.observers = [suppression] + [o for o in observers if o is not saved]
        try:
            yield suppression
        finally:
            self.suppression, self.engine.observers = saved, observers

    # ------------------------------------------------------------ loglikelihood
    def _model_call(self, inps, attn_mask=None, labels=None):
        # Used by lm-eval's batch-size probing: the same shapes as a real pass, prompt included.
        with torch.no_grad(), self.engine.interventions():
            mask = torch.ones_like(inps) if attn_mask is None else attn_mask
            kwargs = {"labels": labels} if labels is not None else {}
            return self.model(inputs_embeds=self.engine.prompt_embeds(inps),
                              attention_mask=self.engine.prompt_mask(mask), **kwargs).logits

    def _encode_pair(self, context: str, continuation: str):
        if self.backend != "masked":
            return super()._encode_pair(context, continuation)
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        return (self.tok_encode(context, add_special_tokens=False),
                self.tok_encode(continuation, add_special_tokens=False))

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        observers = self.engine.observers
        if any(o.capture_positions for o in observers) and compat.request_cache_active(self):
            if self.sn_folder is not None:
                self.sn_folder.give_back()
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
        warn_on_format(self, requests)
        names = [getattr(req, "task_name", None) for req in requests]
        return self.encode_pairs((req.args for req in requests), task_names=names)

    def encode_pairs(self, pairs, task_names=None) -> list[tuple[tuple[str, str], list[int], list[int]]]:
        """:meth:`encode_requests` for bare (context, continuation) pairs.

        ``task_names`` (one per pair) apply a task's ``metadata.released_format`` (host/task_format.py).
        """
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

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
        # One group per document (its context), keeping the requests' original order.
        instances = self._instances if self._instances is not None and len(self._instances) == len(requests) else None
        keys = [compat.instance_key(inst) for inst in instances] if instances is not None else None
        groups, members = self.engine.choice_groups(requests, keys)
        positions = self.engine.capture_positions() if instances is not None and self._run is not None else None
        watchers = [o for o in self.engine.observers if o.capture_positions] if positions else []
        results: list = [None] * len(requests)
        batches = self.engine.scored_batches(groups, capture=positions, batch_size=override_bs,
                                             disable_tqdm=disable_tqdm, desc="Running loglikelihood requests")
        for batch, scored, acts in batches:
            for g, logprobs, greedy in zip(batch, scored.logprobs, scored.is_greedy, strict=True):
                for i, lp, gr in zip(members[g], logprobs.tolist(), greedy, strict=True):
                    results[i] = (float(lp), bool(gr))
                    if requests[i][0] is not None:
                        self.cache_hook.add_partial("loglikelihood", requests[i][0], results[i])
            # acc_mutual_info's unconditional ("", choice) groups are scored but are no documents
            rows = [r for r, g in enumerate(batch) if not self._run.unconditional(instances[members[g][0]])
                    ] if watchers else []
            if rows:
                first = [instances[members[batch[r]][0]] for r in rows]
                documents = ScoredDocuments(
                    tasks=[compat.instance_key(inst)[0] for inst in first],
                    doc_ids=[compat.instance_key(inst)[1] for inst in first],
                    labels=[self._run.label(inst) for inst in first],
                    predictions=[int(scored.logprobs[r].argmax()) for r in rows],  # lm-eval's `acc` choice
                    activations=acts if len(rows) == len(batch) else acts[rows])  # (G', L, P', D)
                for observer in watchers:
                    observer.scored(documents)
        return results

    # ------------------------------------------------------------ checks of a run
    def preflight(self, task_dict, cached: bool = False) -> None:
        """Refuse, before ``evaluate`` does any work, a run these options cannot serve (host/bridge.py calls it).

        ``--use_cache`` with ``skill_neurons=`` or ``suppress=`` (cached answers skip, or predate, our
        forward passes: a warm cache would report an empty ``skill_neurons`` section or unsuppressed
        scores), tasks the recorder cannot use, and generation tasks on a masked LM.
        """
        try:
            tasks = compat.evaluated_tasks(task_dict)
            for option, observer in (("skill_neurons", self.recorder), ("suppress", self.suppression)):
                if observer is not None and cached:
                    raise ModelArgsError(f"{option}= cannot be combined with --use_cache: cached answers skip the "
                                         f"forward passes {option}= works on (a warm cache would report numbers that "
                                         "do not come from them). Drop --use_cache for this run.")
            generating = sorted(n for n, t in tasks.items() if t.OUTPUT_TYPE == "generate_until")
            if generating and self.backend == "masked":
                raise ModelArgsError(f"Task(s) {', '.join(generating)} ask for text generation (generate_until), "
                                     f"which a masked LM (pretrained={self.pretrained}) cannot do; evaluate "
                                     "multiple-choice tasks with it.")
            if self.recorder is not None:
                self.recorder.check_tasks({name: (task.OUTPUT_TYPE, _num_classes(task))
                                           for name, task in tasks.items()})
        except BaseException:
            if self.sn_folder is not None:  # refused before any work: the folder is free again
                self.sn_folder.give_back()
            raise

    # --------------------------------------------------------------- generation
    def generate_until(self, requests, disable_tqdm: bool = False):
        if self.recorder is not None:  # reached without the bridge's preflight
            self.sn_folder.give_back()
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
        embeds, mask = self.engine.generation_inputs(context, attention_mask)
        decoded_start = 1 if self.backend == "seq2seq" else 0  # generate returns new tokens only
        criteria = stop_sequences_criteria(self.tokenizer, stop, decoded_start, context.shape[0])
        with torch.no_grad(), self.engine.autocast(), self.engine.interventions():
            out = self.model.generate(
                inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_length - context.shape[1],
                stopping_criteria=criteria, pad_token_id=self.tokenizer.pad_token_id, use_cache=True,
                **generation_kwargs,
            )
        # HFLM strips the context from causal outputs: give it back what `generate(input_ids)` gives.
        return torch.cat([context, out], dim=1) if self.backend == "causal" else out


# Replaces the bridge's lazy placeholder (or stands in for it when imported directly).
model_registry.register("prompt_tuned", target=PromptTunedLM)
compat.quiet_our_task_notes(task_folder())  # our JSONL templates take no --metadata: lm-eval's note misleads
