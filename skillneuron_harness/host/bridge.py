"""Make the stock ``lm_eval`` command find our model and tasks after a plain ``pip install``.

lm-eval 0.4.13 resolves ``--model`` names only from its own registry and tasks only from its own
folder or ``--include_path``. The package declares the ``lm_eval.models`` / ``lm_eval.tasks`` entry
points that upstream's plugin discovery reads (EleutherAI/lm-evaluation-harness PRs #4013, #4015);
until the installed lm-eval reads them, :func:`activate` does their job, and it is the one set-up
used everywhere: by ``skillneuron_harness.pth`` at interpreter start, by ``skillneuron eval`` and by
our commands that build a ``TaskManager`` themselves.

* At interpreter start the ``.pth`` line reads ``SKILLNEURON_HARNESS_NO_BRIDGE`` itself and only then
  imports this module (``os`` and ``sys`` only, both already loaded) and calls :func:`activate`,
  which appends a finder to ``sys.meta_path``. Nothing of lm_eval, torch or transformers is imported.
* After ``lm_eval.models`` is executed (lm-eval's own lazy model table), ``prompt_tuned`` is added
  as a lazy ``"module:Class"`` placeholder, unless lm-eval already has it or its ``get_model`` reads
  the ``lm_eval.models`` entry points (upstream #4013). Registering any earlier would make lm-eval
  skip loading its own models (``get_model`` imports ``lm_eval.models`` only while the registry is empty).
* After ``lm_eval.tasks.manager`` is executed, the ``TaskIndex`` that ``TaskManager`` builds its index
  with indexes our task folder right after lm-eval's own one, when that one is indexed: a
  ``TaskManager(include_defaults=False)`` stays "only custom tasks", ``TaskManager().include_path``
  stays what the caller gave, and the caller's folders still override ours (upstream #4015's order).
  If lm-eval already passes our folder (it read our entry point), nothing is added.
* After ``lm_eval.evaluator`` is executed, ``simple_evaluate`` is wrapped to move the
  ``skill_neurons`` block that ``prompt_tuned`` reports with its model info from
  ``results["config"]`` to a top-level ``results["skill_neurons"]`` section, and to apply the run
  options set with :func:`evaluate_overrides` (``skillneuron eval --bootstrap_iters``); it and
  ``evaluate`` note the evaluation in progress (its task dict and ``TaskManager``, see
  :func:`running_evaluation`), so that the statistics read the very tasks being evaluated; and
  ``evaluate`` adds the paired metrics of adversarial tasks whose clean twin runs too
  (:mod:`skillneuron_harness.host.paired`), and first calls a model's
  ``preflight(task_dict, cached)`` (``prompt_tuned`` refuses
  there, before any work, a run whose tasks or ``--use_cache`` its options cannot serve).

Once the three modules are patched the finder removes itself. ``LM_EVAL_PLUGINS``-style entry points
are the forward path: with an lm-eval that reads them every step above steps aside.
"""

# No ``from __future__ import annotations`` here: it imports ``__future__`` at run time, and this
# module is imported at every interpreter start (it needs no postponed annotations on Python 3.10+).
import os
import sys

DISABLE_ENV = "SKILLNEURON_HARNESS_NO_BRIDGE"
MODEL_NAME = "prompt_tuned"
MODEL_TARGET = "skillneuron_harness.host.model:PromptTunedLM"
MODEL_GROUP = "lm_eval.models"  # the entry-point group upstream's get_model reads (#4013)

# Keyword arguments that simple_evaluate gets on top of the caller's (see evaluate_overrides).
_OVERRIDES: dict[str, object] = {}
# The evaluations in progress, innermost last: {"task_dict": ..., "task_manager": ...}.
_RUNNING: list = []


def running_evaluation() -> dict:
    """``{"task_dict", "task_manager"}`` of the innermost ``evaluate`` call in progress, or ``{}``.

    ``task_dict`` is what lm-eval's ``evaluate`` received (the tasks it is evaluating);
    ``task_manager`` is the ``TaskManager`` given to ``simple_evaluate`` (the ``lm_eval`` CLI passes
    one built with its ``--include_path``), or None.
    """
    return _RUNNING[-1] if _RUNNING else {}


def disabled() -> bool:
    """Whether ``SKILLNEURON_HARNESS_NO_BRIDGE`` switches the bridge off."""
    return os.environ.get(DISABLE_ENV, "") not in ("", "0")


def task_folder():
    """The folder of task YAMLs shipped with the package (a :class:`pathlib.Path`).

    A wheel installs the top-level ``task_configs/`` inside the package; an editable install or a
    source checkout reads it where it lies, next to the package folder (``core/shipped.py``).
    """
    from skillneuron_harness.core.shipped import task_folder as shipped_task_folder

    return shipped_task_folder()


def task_manager(include_path=None):
    """A fresh lm-eval ``TaskManager`` indexing lm-eval's tasks, ours and ``include_path``.

    Our folder is named explicitly, so that the index is the same with the startup bridge off.
    """
    activate()
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[str(task_folder()), *(str(p) for p in include_path or ())])


# ------------------------------------------------------------------------------------------- models
def _reads_model_entry_points(registry_module) -> bool:
    # Capability, not a name: upstream's get_model loads the group's entry points by its string.
    get_model = getattr(registry_module, "get_model", None)
    return MODEL_GROUP in getattr(getattr(get_model, "__code__", None), "co_consts", ())


def register_model(models_module=None) -> None:
    """Add ``prompt_tuned`` to lm-eval's model registry (lazily) unless lm-eval knows it already."""
    import lm_eval.api.registry as registry
    import lm_eval.models  # noqa: F401  (lm-eval's own table first, see the module docstring)

    if MODEL_NAME not in registry.model_registry and not _reads_model_entry_points(registry):
        registry.model_registry.register(MODEL_NAME, target=MODEL_TARGET)


# -------------------------------------------------------------------------------------------- tasks
def _index_with_our_folder(manager_module) -> None:
    """Give ``TaskManager`` a ``TaskIndex`` that indexes our folder right after lm-eval's own."""
    base = manager_module.TaskIndex
    if getattr(base, "_skillneuron_bridge", False):
        return
    from pathlib import Path

    defaults = Path(manager_module.__file__).resolve().parent  # what include_defaults=True indexes

    class TaskIndex(base):
        _skillneuron_bridge = True

        @staticmethod
        def build(paths, *args, **kwargs):
            paths = list(paths)
            resolved = [Path(p).resolve() for p in paths]
            ours = task_folder().resolve()
            if not disabled() and defaults in resolved and ours not in resolved:
                paths.insert(resolved.index(defaults) + 1, ours)
            return base.build(paths, *args, **kwargs)

    TaskIndex.__doc__ = base.__doc__
    TaskIndex.__qualname__ = base.__qualname__
    manager_module.TaskIndex = TaskIndex


def _refused(model_args) -> bool:
    """Whether prompt_tuned will refuse these model_args (a misspelled key): then no demo is announced."""
    from lm_eval.utils import simple_parse_args_string

    from skillneuron_harness.core.options import ModelArgsError
    from skillneuron_harness.host.model_args import parse_model_args

    args = dict(model_args) if isinstance(model_args, dict) else simple_parse_args_string(model_args or "")
    try:
        parse_model_args(None, args)
    except ModelArgsError:
        return True
    return False


_RAISED_BATCH_SIZE: list = []  # the demo model's batch size when it replaced the one asked (for the summary line)


def _demo_defaults(kwargs: dict) -> None:
    """``prompt_tuned`` without a model: the demo model, its prompt and its batch size written in.

    Written into model_args, the model names lm-eval's output folder (a stable name, not a random one).
    """
    import logging

    from skillneuron_harness.host.demo_model import DEMO_NOTE, demo_batch_size, fill_demo_model_args

    model_args = kwargs.get("model_args")
    filled = fill_demo_model_args(model_args)
    if filled is not None and not _refused(model_args):
        kwargs["model_args"] = filled
        asked = kwargs.get("batch_size")
        kwargs["batch_size"] = demo_batch_size(asked)
        _RAISED_BATCH_SIZE[:] = [kwargs["batch_size"]] if kwargs["batch_size"] != asked else []
        from skillneuron_harness.core.results import parse_model_args

        named = parse_model_args(filled)
        logging.getLogger("skillneuron_harness.host.model").warning(
            DEMO_NOTE, named["pretrained"], named["prompt"], kwargs["batch_size"])


# --------------------------------------------------------------------------------------- evaluator
def _wrap_simple_evaluate(evaluator_module) -> None:
    """Lift the skill-neuron summary to a top-level results section; apply :data:`_OVERRIDES`."""
    original = evaluator_module.simple_evaluate
    if getattr(original, "_skillneuron_bridge", False):
        return
    import functools

    @functools.wraps(original)
    def simple_evaluate(*args, **kwargs):
        _RAISED_BATCH_SIZE.clear()
        if (args[0] if args else kwargs.get("model")) == "prompt_tuned" and len(args) < 2:
            _demo_defaults(kwargs)
        running = {"task_dict": None, "task_manager": kwargs.get("task_manager")}
        _RUNNING.append(running)
        try:
            results = original(*args, **{**kwargs, **_OVERRIDES})
        finally:
            _RUNNING.pop()
        config = results.get("config") if isinstance(results, dict) else None
        if isinstance(config, dict) and "skill_neurons" in config:
            results["skill_neurons"] = config.pop("skill_neurons")
        if isinstance(config, dict):
            _record_execution(config, running.get("lm"))
        return results

    original_evaluate = evaluator_module.evaluate

    @functools.wraps(original_evaluate)
    def evaluate(lm, task_dict, *args, **kwargs):
        outer = _RUNNING[-1] if _RUNNING else {}
        if outer:
            outer["lm"] = lm  # for _record_execution
        _preflight(lm, task_dict)
        from skillneuron_harness.host import paired

        # evaluate takes keywords (lm-eval's @positional_deprecated); with positional ones nothing is forced
        pairings = paired.plan(task_dict) if not args else []
        keep_samples = kwargs.get("log_samples", True)
        if pairings:
            kwargs["log_samples"] = True  # the paired metrics join the per-document samples
        _RUNNING.append({"task_dict": task_dict, "task_manager": outer.get("task_manager")})
        try:
            results = original_evaluate(lm, task_dict, *args, **kwargs)
        finally:
            _RUNNING.pop()
        if pairings and isinstance(results, dict):  # rank 0 (the others get None)
            paired.add_paired_metrics(results, pairings)
            if not keep_samples:
                results.pop("samples", None)
        return results

    simple_evaluate._skillneuron_bridge = True  # type: ignore[attr-defined]
    evaluator_module.simple_evaluate = simple_evaluate
    evaluator_module.evaluate = evaluate


def _record_execution(config: dict, lm) -> None:
    """``config.device`` / ``config.batch_size`` as ``prompt_tuned`` ran, not as asked.

    lm-eval records the ``device`` and ``batch_size`` arguments of ``simple_evaluate``: ``cuda:0`` for
    a CPU run without ``--device`` (HFLM falls back to the CPU), None for a model passed loaded.
    A batch size that is not the one asked (the demo model's, raised from lm-eval's default of 1)
    also goes into ``batch_sizes``, which lm-eval's summary line prints after its ``--batch_size``.
    Other models' records are left as lm-eval writes them.
    """
    from skillneuron_harness.host.compat import unwrap_cache

    model, _ = unwrap_cache(lm)
    if model is None or getattr(model, "engine", None) is None or not hasattr(model, "batch_size"):
        return
    config["device"] = str(model.device)
    raised = _RAISED_BATCH_SIZE or str(config.get("batch_size")) != str(model.batch_size)
    if raised and not config.get("batch_sizes"):
        # not the size asked (the demo model's): lm-eval's summary line prints its own --batch_size, then these
        config["batch_sizes"] = [model.batch_size]
    config["batch_size"] = model.batch_size


def _preflight(lm, task_dict) -> None:
    """Let the model check the whole run (its tasks, ``--use_cache``) before ``evaluate`` does any work.

    A model with a ``preflight(task_dict, cached)`` method (``prompt_tuned``) gets it called; others
    are untouched. ``CachingLM`` (``--use_cache``) keeps the model as ``.lm`` (host/compat.py item 15).
    """
    from skillneuron_harness.host.compat import unwrap_cache

    model, cached = unwrap_cache(lm)
    preflight = getattr(model, "preflight", None)
    if callable(preflight):
        preflight(task_dict, cached=cached)


class evaluate_overrides:  # noqa: N801  (used as a context manager, like contextlib's)
    """``with evaluate_overrides(bootstrap_iters=1000): ...``: extra ``simple_evaluate`` keywords."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def __enter__(self):
        self.saved = dict(_OVERRIDES)
        _OVERRIDES.update(self.kwargs)
        return self

    def __exit__(self, *exc):
        _OVERRIDES.clear()
        _OVERRIDES.update(self.saved)


# ----------------------------------------------------------------------------------- task names
def _suggest_task_names(config_module) -> None:
    """``Tasks not found: adv_sst`` gets the close names lm-eval and we know, as one line, before any model loads.

    ``prompt_tuned``'s own ``model_args`` checks run first, before lm-eval indexes its tasks.

    lm-eval's CLI resolves ``--tasks`` in ``EvaluatorConfig.process_tasks`` (host/compat.py item 17) and
    raises ``ValueError("Tasks not found: ...")`` with a 15-line traceback; the same message with
    ``difflib``'s close matches, as a :class:`~skillneuron_harness.core.errors.SkillNeuronError` (still a
    ``ValueError``), replaces it. Where the method returns names its task manager does not index
    (next0.5 keeps an unmatched name), the same error is raised for them. Anything else the method
    does or raises is untouched.
    """
    cls = getattr(config_module, "EvaluatorConfig", None)
    original = getattr(cls, "process_tasks", None)
    if original is None or getattr(original, "_skillneuron_bridge", False):
        return
    import functools

    @functools.wraps(original)
    def process_tasks(self, *args, **kwargs):
        if getattr(self, "model", None) == MODEL_NAME:  # our checks first: indexing lm-eval's tasks takes seconds
            _check_model_args(getattr(self, "model_args", None))
        try:
            manager = original(self, *args, **kwargs)
        except ValueError as err:
            message = str(err)
            if not message.startswith("Tasks not found: "):
                raise
            raise _unknown_tasks(message, getattr(self, "include_path", None)) from err
        from skillneuron_harness.host.compat import unmatched_task_names

        missing = unmatched_task_names(getattr(self, "tasks", None), manager)  # next0.5 returns them unmatched
        if missing:
            raise _unknown_tasks(f"Tasks not found: {', '.join(missing)}", getattr(self, "include_path", None))
        return manager

    process_tasks._skillneuron_bridge = True  # type: ignore[attr-defined]
    cls.process_tasks = process_tasks


def _check_model_args(model_args) -> None:
    """``prompt_tuned``'s refusal of misspelled or malformed ``model_args`` (nothing is loaded).

    The ``skill_neurons=`` folder is taken here already, before lm-eval indexes its tasks, so that a
    second run started meanwhile is refused at once; the model takes the lock over when it is built.
    """
    from lm_eval.utils import simple_parse_args_string

    from skillneuron_harness.core.errors import install_excepthook
    from skillneuron_harness.host.model_args import parse_model_args
    from skillneuron_harness.neurons.ownership import OutputFolder, launch_rank

    install_excepthook()
    args = dict(model_args) if isinstance(model_args, dict) else simple_parse_args_string(model_args or "")
    options = parse_model_args(args.pop("pretrained", None), args)
    if options.skill_neurons is not None:
        OutputFolder(options.skill_neurons.output_dir, launch_rank()).take()


def _unknown_tasks(message: str, include_path):
    import difflib

    from skillneuron_harness.core.errors import SkillNeuronError, install_excepthook

    install_excepthook()  # before any model: our one-line report is not armed yet
    missing = [name.strip() for name in message.removeprefix("Tasks not found: ").split(",") if name.strip()]
    paths = [include_path] if isinstance(include_path, str) else list(include_path or ())
    known = list(task_manager(paths).all_tasks)  # the index the CLI searched (lm-eval's, ours, include_path)
    hints = []
    for name in missing:
        broken = _broken_include(name, paths)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        if broken:
            hints.append(f"{name}: {broken}")
        else:
            hints.append(f"{name}: did you mean {' or '.join(close)}?" if close else f"{name}: no task of that name")
    return SkillNeuronError(f"Tasks not found: {', '.join(missing)} ({'; '.join(hints)}). `lm_eval ls tasks` lists "
                            "every name; a task of your own needs --include_path DIR.")


# ------------------------------------------------------------------------------------ the finder
_AFTER_IMPORT = {
    "lm_eval.models": register_model,
    "lm_eval.tasks.manager": _index_with_our_folder,
    "lm_eval.evaluator": _wrap_simple_evaluate,
    "lm_eval.config.evaluate_config": _suggest_task_names,
}


class _PostImportFinder:
    """Runs a callback of ``_AFTER_IMPORT`` right after its module is executed (a meta path finder)."""

    def __init__(self):
        self.pending = set(_AFTER_IMPORT)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original_exec = loader.exec_module

        def exec_module(module):
            original_exec(module)
            self.done(fullname)
            if not disabled():
                _AFTER_IMPORT[fullname](module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    def done(self, fullname: str) -> None:
        self.pending.discard(fullname)
        if not self.pending and self in sys.meta_path:  # nothing left to watch: leave the import path
            sys.meta_path.remove(self)


def activate() -> None:
    """Register ``prompt_tuned`` and our task folder with lm-eval, now or when lm-eval is imported.

    Cheap and idempotent: patches the lm-eval modules already imported and arms a finder for the
    others. Does nothing when ``SKILLNEURON_HARNESS_NO_BRIDGE`` is set.
    """
    if disabled():
        return
    finder = next((f for f in sys.meta_path if isinstance(f, _PostImportFinder)), None)
    for name, patch in _AFTER_IMPORT.items():
        module = sys.modules.get(name)
        if module is not None:  # imported before us (``python -S``, or imported first): act directly
            patch(module)
            if finder is not None:
                finder.done(name)
    if finder is None and any(name not in sys.modules for name in _AFTER_IMPORT):
        finder = _PostImportFinder()
        for name in _AFTER_IMPORT:
            if name in sys.modules:
                finder.pending.discard(name)
        sys.meta_path.insert(0, finder)


def install() -> None:
    """Former name of :func:`activate` (the ``.pth`` of an install made before the rename calls it)."""
    activate()


def _broken_include(name: str, paths) -> str | None:
    """Why a YAML of ``--include_path`` that defines task ``name`` was not indexed, if we can tell.

    An ``include:`` that does not resolve (lm-eval reads it relative to the YAML's own folder, or
    takes an absolute path) makes lm-eval skip the whole YAML without a word.
    """
    import re
    from pathlib import Path

    for folder in paths:
        for yaml_path in sorted(Path(folder).rglob("*.yaml")) if Path(folder).is_dir() else ():
            try:
                text = yaml_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if not re.search(rf"^task:\s*['\"]?{re.escape(name)}['\"]?\s*$", text, re.MULTILINE):
                continue
            for include in re.findall(r"^include:\s*(\S+)\s*$", text, re.MULTILINE):
                include = include.strip("'\"")
                target = Path(include) if Path(include).is_absolute() else yaml_path.parent / include
                if not target.is_file():
                    return (f"{yaml_path} includes {include}, which is no file ({target}); an include is read "
                            "relative to the YAML's own folder")
    return None

