"""Every lm-eval touchpoint beyond its documented API, in one place, with what each relies on.

``prompt_tuned`` subclasses lm-eval's ``HFLM``, and the statistics and prompt training render
documents with lm-eval's ``Task`` objects. Whatever of that is private, or differs between lm-eval
0.4.13 and the ``next0.5`` branch, goes through a function here, so that an upgrade is checked
against one list. Checklist (0.4.13 / next0.5):

1. ``HFLM.__init__`` and ``HFLM._create_model`` keyword names, plus the ``from_pretrained`` keys
   HFLM reads out of its ``**kwargs`` (:func:`hflm_keywords`): the ``model_args`` we let through.
   lm-eval's ``simple_evaluate`` adds ``batch_size``, ``max_batch_size`` and ``device`` itself.
2. ``HFLM._rank`` / ``HFLM._world_size``, the fields behind ``rank`` / ``world_size``
   (:func:`set_data_parallel`): HFLM shards only over several GPUs; we set them for CPU processes.
3. ``HFLM.batch_sizes`` (dict, key 0 for a fixed batch size) and ``HFLM._detect_batch_size()``
   (:func:`resolved_batch_size`): ``batch_size=auto`` resolved once, as HFLM does.
4. ``LM.cache_hook.dbdict`` (:func:`request_cache_active`): set by ``CachingLM`` under
   ``--use_cache``; cached requests never reach our forward passes.
5. Methods ``prompt_tuned`` overrides, with 0.4.13's signatures: ``_get_backend(config, backend,
   trust_remote_code)``, ``_model_call(inps, attn_mask, labels)``, ``_model_generate(context,
   max_length, stop, **generation_kwargs)``, ``_loglikelihood_tokens(requests, disable_tqdm,
   override_bs)``, ``_encode_pair(context, continuation)``; attributes it reads: ``_max_length``,
   ``prefix_token_id``, ``mixed_precision_dtype``, ``softmax_dtype``, ``AUTO_MODEL_CLASS``, and
   ``lm_eval.models.utils_hf.stop_sequences_criteria``.
6. The empty-context rule of ``HFLM.loglikelihood`` (:func:`encode_empty_context`), copied: with
   no context, the prefix token (BOS/EOS) stands in, unless the continuation starts with it.
7. ``Task.doc_to_prefix(doc)`` (0.4.13) / ``Task._resolve_field(doc, config.gen_prefix)``
   (next0.5, where ``doc_to_prefix`` is gone) for ``fewshot_context``'s ``gen_prefix``
   (:func:`render_context`).
8. ``Task.construct_requests(doc=, ctx=, metadata=(task, doc_id, repeats))`` (0.4.13) /
   ``construct_requests(doc=, ctx=, *, doc_id=)`` (next0.5, ``doc_id`` keyword-only, ``metadata``
   a dict; may return None for a skipped document) (:func:`document_requests`).
9. ``Instance`` fields ``task_name``, ``doc_id``, ``doc``, ``idx``, ``args`` (both versions; 0.4.13
   fills the first two from the ``metadata`` tuple) (:func:`instance_key`).
10. ``TaskManager(include_path=, include_defaults=)``, ``.all_tasks`` and ``.load([...])``
    returning ``{"tasks": {...}}`` or a flat dict (:func:`load_tasks`).
11. ``Task`` attributes: ``OUTPUT_TYPE``, ``config.metadata`` (our ``clean_twin``),
    ``config.{training,validation,test}_split``, ``config.target_delimiter``, ``doc_to_target``,
    ``doc_to_choice``, ``has_training_docs``/``training_docs``, ``eval_docs``, ``multiple_input``.
12. ``model_registry.register(name, target=)`` (``prompt_tuned`` registers itself on import).
13. ``custom_dataset`` callables receive the task YAML's path as ``config_source``
    (``task_configs/templates/utils.py``).
14. ``lm_eval.evaluator.evaluate(lm, task_dict, ...)``, called by ``simple_evaluate`` through the
    module global (the bridge wraps both to note the evaluation in progress), with ``task_dict``
    ``{"tasks": {name: Task}, "groups": ...}`` or the older nested ``{name or group: Task or dict}``
    (:func:`evaluated_tasks`).
15. ``CachingLM`` keeps the wrapped model as ``.lm`` (:func:`unwrap_cache`): with a warm cache it
    never calls the model at all, so a run is checked before ``evaluate`` starts.
16. ``lm_eval.loggers.utils.get_git_commit_hash``, also imported by name into ``lm_eval.evaluator``
    (:func:`quiet_git_probe`): it runs ``git describe`` with git's stderr on ours, so outside a git
    checkout every evaluation prints "fatal: not a git repository"; our own commands discard that.
17. ``lm_eval.config.evaluate_config.EvaluatorConfig.process_tasks`` raises ``ValueError("Tasks not
    found: a, b")`` for unknown ``--tasks`` (0.4.13's CLI); the bridge (``_suggest_task_names``)
    re-raises it with close matches. Where the class or method is missing nothing is patched.
    next0.5's ``TaskManager.match_tasks`` keeps a name it cannot match, so ``process_tasks``
    returns it in ``self.tasks`` and the run fails only after the model has loaded; the bridge
    checks the returned names against the manager's index (:func:`unmatched_task_names`).
18. The wording of two notes that ``lm_eval.api.task`` logs as warnings (:func:`quiet_task_notes`):
    "metric M is defined, but aggregation / higher_is_better is not" while a task is built, and
    "Custom kwargs can be passed to `--metadata`" from ``Task.download`` for every ``custom_dataset``
    task. Where the wording changes the notes are simply shown again. The logger is
    ``lm_eval.api.task`` (0.4.13) or ``lm_eval.api.task._task`` (next0.5, which logs no
    "aggregation is not" note at all) (:data:`TASK_LOGGERS`).
19. ``TaskManager.task_index`` (0.4.13) / ``TaskManager._task_index`` (next0.5), ``{name: Entry(name,
    kind, yaml_path, cfg, tags)}`` (:func:`task_index`): the suite of ``skillneuron leaderboard`` and
    the YAML behind a task name, read without building any task.
20. Metric aggregations named in our task YAMLs: 0.4.13 registers an ``f1`` aggregation, next0.5
    does not (its ``f1`` metric aggregates itself). ``templates/qqp.yaml`` names none for ``f1``,
    as lm-eval's own ``glue/qqp`` does, and both versions use f1's own corpus F1; ``mean`` is kept
    for ``acc``, which both register.
21. ``Instance.target`` (next0.5: the document's ``doc_to_target``, set by ``construct_requests``;
    0.4.13 has no such field) (:func:`instance_target`): the gold label read from the request where
    lm-eval put it, from the task otherwise. ``Instance.metadata``: the ``(task, doc_id, repeats)``
    tuple in 0.4.13 (unpacked into the fields), a dict of request tags in next0.5
    (:func:`instance_tags`). next0.5's ``Instance`` has ``task_name`` fourth and ``doc_id``
    keyword-only, so requests are built with keywords only (``tests/lm_requests.py``).
22. ``acc_mutual_info``'s unconditional ``("", choice)`` requests (:func:`unconditional_request`):
    next0.5 tags them ``metadata={"acc_mutual_info": True}``; 0.4.13 appends them untagged after the
    document's choices (``idx`` from the number of choices on) when the task's ``metric_list`` has
    ``acc_mutual_info``. They are scored but are no document of the skill-neuron statistics.
23. When a task's dataset is read: 0.4.13 downloads it while building the task, next0.5 when
    ``task.dataset`` is first read (a missing dataset fails there, and a ``datasets`` cache patched
    around ``TaskManager.load`` alone is not the one used). Nothing here depends on when; the tests
    read ``task.dataset`` where they mean the cache of that moment.
24. The samples of ``simple_evaluate(log_samples=True)``: a request's ``filtered_resps`` is one
    ``(ll, is_greedy)`` pair in 0.4.13 and the request's list ``[(ll, is_greedy)]`` in next0.5
    (:func:`sample_loglikelihoods`: the paired metrics' predictions; the tests'
    ``tests/lm_requests.logged_loglikelihoods``).
25. ``bootstrap_stderr`` is defined in, and read by ``stderr_for_metric`` from,
    ``lm_eval.api.metrics`` (0.4.13) or ``lm_eval.api.metrics.stderr`` (next0.5; the package
    re-exports it). ``skillneuron eval --bootstrap_iters`` passes ``simple_evaluate``'s
    ``bootstrap_iters`` (both versions) and patches nothing; the tests' shortened bootstrap
    replaces it in its defining module (``tests/tasks/test_lm_eval_cli.py``).
26. ``HFLM.loglikelihood_rolling`` (not overridden; suppression is armed around its forward
    passes): requests ``(text,)`` and results as floats in 0.4.13, ``("", text)`` and
    ``(sum, False)`` pairs in next0.5 (tests only: ``tests/lm_requests.rolling_request``).
27. Results JSON keys: next0.5 keys a group's member by its path in the group
    (``advglue::adv_sst2``) in ``results``, ``configs``, ``n-samples`` and ``versions``; its config's
    ``task`` is the name. :func:`skillneuron_harness.core.results.task_results` names rows by it;
    the paired metrics find a task's rows and samples by :func:`result_keys`.
28. The class a config-driven task of ours subclasses (:func:`multiple_choice_task_class`: twins and
    attack sets): 0.4.13's ``ConfigurableTask`` builds the requests of every output type; in next0.5
    ``ConfigurableTask`` is the base ``Task``, which builds none, and ``Task._registry`` maps an
    output type to the class that does (``MultipleChoiceTask``, not 0.4.13's class of that name).

What ``ConfigurableTask.process_results`` does with a target is reproduced, stricter, in
:func:`skillneuron_harness.host.tasks.gold_label`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import re
import sys
from pathlib import Path

#: ``from_pretrained`` keys HFLM reads from, or forwards with, its ``**kwargs`` (item 1).
MODEL_LOADING_KEYS = (
    "device_map", "load_in_4bit", "load_in_8bit", "bnb_4bit_compute_dtype", "bnb_4bit_quant_type",
    "bnb_4bit_use_double_quant", "attn_implementation", "low_cpu_mem_usage", "use_safetensors", "cache_dir",
    "local_files_only", "token", "gpus", "torch_dtype",
)
#: Keys lm-eval's own entry points add to ``model_args`` (item 1).
INJECTED_KEYS = ("batch_size", "max_batch_size", "device")


@functools.cache
def hflm_keywords() -> frozenset[str]:
    """Every keyword lm-eval's ``hf`` model takes (item 1)."""
    from lm_eval.models.huggingface import HFLM

    names = set(MODEL_LOADING_KEYS) | set(INJECTED_KEYS)
    for method in (HFLM.__init__, getattr(HFLM, "_create_model", None)):
        if method is None:
            continue
        for name, param in inspect.signature(method).parameters.items():
            if name != "self" and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                names.add(name)
    return frozenset(names)


def set_data_parallel(lm, rank: int, world_size: int) -> None:
    """Make ``lm.rank`` / ``lm.world_size`` report this process's shard (item 2)."""
    lm._rank = rank
    lm._world_size = world_size


def enable_cpu_data_parallel(lm) -> None:
    """Shard requests over ``accelerate launch`` processes on CPUs too (item 2).

    HFLM shards requests across processes only when it sees several GPUs; under
    ``accelerate launch`` on CPUs (gloo) every process would evaluate everything.
    """
    accelerator = getattr(lm, "accelerator", None)
    if accelerator is not None and accelerator.num_processes > 1 and lm.world_size == 1:
        set_data_parallel(lm, accelerator.process_index, accelerator.num_processes)


def resolved_batch_size(lm) -> int:
    """``lm.batch_size`` as a number, detecting ``auto`` once as HFLM does (item 3)."""
    if lm.batch_size != "auto":
        return int(lm.batch_size)
    if not lm.batch_sizes:
        lm.batch_sizes[0] = lm._detect_batch_size()
    return lm.batch_sizes[0]


def request_cache_active(lm) -> bool:
    """Whether lm-eval's ``--use_cache`` answers requests before they reach the model (item 4)."""
    return getattr(getattr(lm, "cache_hook", None), "dbdict", None) is not None


def encode_empty_context(lm, continuation: str) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens) for an empty context, by HFLM's rule (item 6)."""
    tokens = lm.tok_encode(continuation, add_special_tokens=False)
    if lm.prefix_token_id != tokens[0]:
        return [lm.prefix_token_id], tokens
    return tokens[:1], tokens[1:]


def render_context(task, doc, num_fewshot: int = 0) -> str:
    """The context lm-eval builds for ``doc`` (``fewshot_context`` with the task's ``gen_prefix``; item 7)."""
    if hasattr(task, "doc_to_prefix"):
        gen_prefix = task.doc_to_prefix(doc)
    else:
        resolve = getattr(task, "_resolve_field", None)
        gen_prefix = resolve(doc, task.config.gen_prefix) if resolve is not None else None
    return task.fewshot_context(doc, num_fewshot=num_fewshot, gen_prefix=gen_prefix)


@functools.cache
def _takes_doc_id(construct_requests) -> bool:
    return "doc_id" in inspect.signature(construct_requests).parameters


def document_requests(task, doc, doc_id: int, context: str) -> list:
    """lm-eval's request Instances for one document (item 8); [] when the task skips it."""
    construct = task.construct_requests
    if _takes_doc_id(getattr(construct, "__func__", construct)):
        requests = construct(doc=doc, ctx=context, doc_id=doc_id)
    else:
        requests = construct(doc=doc, ctx=context, metadata=(task.config.task, doc_id, 1))
    if requests is None:
        return []
    return requests if isinstance(requests, list) else [requests]


def sample_loglikelihoods(sample: dict) -> list[float]:
    """The per-request log-likelihoods of one logged sample (item 24), in the order of its choices."""
    out = []
    for resp in sample["filtered_resps"]:
        while isinstance(resp, (list, tuple)):  # (ll, is_greedy), or next0.5's [(ll, is_greedy)]
            resp = resp[0]
        out.append(float(resp))
    return out


def result_keys(section: dict, name: str) -> list[str]:
    """The keys of a results section (``results``, ``samples``, ...) that hold task ``name`` (item 27)."""
    return [key for key in section if key == name or key.endswith("::" + name)]


def multiple_choice_task_class():
    """The config-driven task class that builds multiple-choice requests (item 28)."""
    from lm_eval.api.task import ConfigurableTask

    registry = getattr(ConfigurableTask, "_registry", None)
    return registry["multiple_choice"] if isinstance(registry, dict) else ConfigurableTask


def instance_key(instance) -> tuple[str | None, int | None]:
    """(task name, document id) of a request Instance (item 9)."""
    return getattr(instance, "task_name", None), getattr(instance, "doc_id", None)


def instance_target(instance):
    """The target lm-eval stored on a request Instance (item 21), or None (0.4.13 stores none)."""
    return getattr(instance, "target", None)


def instance_tags(instance) -> dict:
    """The request tags of an Instance (item 21): next0.5's ``metadata`` dict, ``{}`` for 0.4.13's tuple."""
    metadata = getattr(instance, "metadata", None)
    return metadata if isinstance(metadata, dict) else {}


def unconditional_request(instance, task) -> bool:
    """Whether ``instance`` is one of ``acc_mutual_info``'s unconditional requests of ``task`` (item 22)."""
    if isinstance(getattr(instance, "metadata", None), dict):
        return bool(instance.metadata.get("acc_mutual_info"))
    metrics = [m.get("metric") for m in (getattr(task.config, "metric_list", None) or []) if isinstance(m, dict)]
    return "acc_mutual_info" in metrics and instance.idx >= len(task.doc_to_choice(instance.doc))


def evaluated_tasks(task_dict) -> dict:
    """``{task name: Task}`` of the leaf tasks in a ``task_dict`` given to ``evaluate`` (item 14)."""
    if not isinstance(task_dict, dict):
        return {}
    if isinstance(task_dict.get("tasks"), dict):
        task_dict = task_dict["tasks"]
    found = {}
    for value in task_dict.values():
        if isinstance(value, dict):
            found.update(evaluated_tasks(value))
        elif hasattr(value, "OUTPUT_TYPE") and getattr(getattr(value, "config", None), "task", None):
            found[value.config.task] = value
    return found


def unwrap_cache(lm) -> tuple[object, bool]:
    """(the model, whether ``--use_cache``'s ``CachingLM`` wraps it) (item 15)."""
    from lm_eval.api.model import CachingLM

    if isinstance(lm, CachingLM):
        return lm.lm, True
    return lm, request_cache_active(lm)


def task_index(manager) -> dict:
    """A ``TaskManager``'s ``{name: Entry}`` index (item 19), under either version's name."""
    index = getattr(manager, "task_index", None)
    return index if index is not None else manager._task_index


def unmatched_task_names(names, manager) -> list[str]:
    """The names of ``names`` (the CLI's resolved ``--tasks``) that ``manager`` does not index (item 17).

    YAML configs (dicts) are not names; ``task@format`` and ``group::task`` (next0.5) count by their first part.
    """
    known = set(getattr(manager, "all_tasks", None) or ())
    if not known or not isinstance(names, (list, tuple)):
        return []
    return [n for n in names if isinstance(n, str) and n.split("@", 1)[0].split("::", 1)[0] not in known]


def load_tasks(manager, names: list[str]) -> dict:
    """``{name: Task}`` for task names (item 10); groups expand to their tasks."""
    loaded = manager.load(names)
    return loaded["tasks"] if isinstance(loaded, dict) and "tasks" in loaded else loaded


@contextlib.contextmanager
def quiet_git_probe():
    """lm-eval's git-hash probe (item 16), unchanged except that git's stderr is discarded."""
    import lm_eval.evaluator as evaluator
    import lm_eval.loggers.utils as logger_utils

    probe = getattr(logger_utils, "get_git_commit_hash", None)
    if probe is None:  # gone upstream: nothing to quiet
        yield
        return

    @functools.wraps(probe)
    def quiet():
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)  # the git child inherits file descriptor 2
            return probe()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)

    patched = [m for m in (evaluator, logger_utils) if getattr(m, "get_git_commit_hash", None) is probe]
    for module in patched:
        module.get_git_commit_hash = quiet
    try:
        yield
    finally:
        for module in patched:
            module.get_git_commit_hash = probe


# The notes lm-eval logs that say nothing to a user of our tasks (item 18), and the loggers of the
# module that logs them: lm_eval/api/task.py (0.4.13), lm_eval/api/task/_task.py (next0.5). A filter
# acts only on the logger a record is logged on, not on the records its children pass up.
TASK_LOGGERS = ("lm_eval.api.task", "lm_eval.api.task._task")
_DEFAULTS_NOTE = re.compile(r"metric \S+ is defined, but (aggregation|higher_is_better) is not")
_CUSTOM_KWARGS_NOTE = "Custom kwargs can be passed to `--metadata`"


class _OurTasksNotes(logging.Filter):
    """Drops lm-eval's ``custom_dataset`` note for tasks whose loader is one of our templates'.

    Every task built on ``task_configs/templates/*_jsonl.yaml`` reads its file through our loader,
    which takes no ``--metadata``; the note is kept for anybody else's ``custom_dataset``.
    """

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def filter(self, record: logging.LogRecord) -> bool:
        if _CUSTOM_KWARGS_NOTE not in str(record.msg):
            return True
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "download":  # Task.download logs the note
            frame = frame.f_back
        loader = getattr(getattr(frame and frame.f_locals.get("self"), "config", None), "custom_dataset", None)
        source = getattr(getattr(loader, "__code__", None), "co_filename", "")
        return not (source and Path(source).resolve().is_relative_to(self.folder))


def quiet_our_task_notes(folder: Path) -> None:
    """Install :class:`_OurTasksNotes` on lm-eval's task logger once per process."""
    for logger in map(logging.getLogger, TASK_LOGGERS):
        if not any(isinstance(f, _OurTasksNotes) for f in logger.filters):
            logger.addFilter(_OurTasksNotes(folder.resolve()))


class _DefaultsNotes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _DEFAULTS_NOTE.search(str(record.msg))


@contextlib.contextmanager
def quiet_task_notes():
    """Inside: lm-eval's "metric is defined, but aggregation is not" notes are dropped (item 18).

    Used where we build a task the user did not ask to evaluate (a clean twin read for its
    training documents): lm-eval already printed them for the tasks of the run, if at all.
    """
    loggers, notes = [logging.getLogger(name) for name in TASK_LOGGERS], _DefaultsNotes()
    for logger in loggers:
        logger.addFilter(notes)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(notes)

