"""Make the stock ``lm_eval`` command find our model and tasks after a plain ``pip install``.

lm-eval 0.4.13 resolves ``--model`` names only from its own registry and tasks only from its own
folder or ``--include_path``. Until it reads the ``lm_eval.models`` / ``lm_eval.tasks`` entry
points this package declares, this module does their job:

* ``skillneuron_harness.pth`` (and ``.start`` on Python 3.15+) calls :func:`install` at
  interpreter start. That only appends a finder to ``sys.meta_path``: nothing of lm_eval, torch
  or transformers is imported.
* When ``lm_eval.models`` is imported (lm-eval's own lazy model table), ``prompt_tuned`` is added
  to the registry as a lazy ``"module:Class"`` placeholder, next to lm-eval's own entries.
  Registering any earlier would make lm-eval skip loading its own models (``get_model`` imports
  ``lm_eval.models`` only while the registry is empty).
* When ``lm_eval.tasks.manager`` is imported, ``TaskManager`` gets our task folder as an extra
  ``include_path`` placed before the user's, so that the user's own folders still override ours.

* When ``lm_eval.evaluator`` is imported, ``simple_evaluate`` is wrapped to move the
  ``skill_neurons`` block that ``prompt_tuned`` reports with its model info from
  ``results["config"]`` to a top-level ``results["skill_neurons"]`` section.

It steps aside wherever lm-eval already knows our names (an lm-eval that reads entry points
registers them itself), and ``SKILLNEURON_HARNESS_NO_BRIDGE=1`` switches it off entirely.
:func:`register_model` and :func:`task_folder` are also called directly by ``skillneuron eval``,
for interpreters that skip startup files (``python -S``).
"""

from __future__ import annotations

import functools
import importlib.abc
import inspect
import os
import sys
import weakref
from pathlib import Path

DISABLE_ENV = "SKILLNEURON_HARNESS_NO_BRIDGE"
MODEL_NAME = "prompt_tuned"
MODEL_TARGET = "skillneuron_harness.models.prompt_tuned:PromptTunedLM"


def task_folder() -> Path:
    """The folder of task YAMLs shipped with the package.

    A wheel installs the top-level ``task_configs/`` inside the package; an editable install or a
    source checkout reads it where it lies, next to the package folder.
    """
    package = Path(__file__).resolve().parent
    installed = package / "task_configs"
    return installed if installed.is_dir() else package.parent / "task_configs"


def register_model() -> None:
    """Add ``prompt_tuned`` to lm-eval's model registry (lazily) unless it is already there."""
    import lm_eval.models  # noqa: F401  (lm-eval's own table first, see the module docstring)
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)


def add_task_folder(manager_module) -> None:
    """Make ``TaskManager`` index our task folder too (before any user ``include_path``)."""
    if "entry_points" in vars(manager_module):  # an lm-eval that loads task plugins itself
        return
    task_manager = manager_module.TaskManager
    if getattr(task_manager.__init__, "_skillneuron_bridge", False):
        return
    original_init = task_manager.__init__
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        paths = bound.arguments.get("include_path") or []
        if not isinstance(paths, (list, tuple)):
            paths = [paths]
        ours = task_folder()
        if all(Path(p).resolve() != ours for p in paths):
            paths = [ours, *paths]
        bound.arguments["include_path"] = list(paths)
        original_init(*bound.args, **bound.kwargs)
        # The run's own task index, for prompt_tuned's skill-neuron pass (building one takes seconds).
        task_manager.last_built = weakref.ref(self)

    __init__._skillneuron_bridge = True  # type: ignore[attr-defined]
    task_manager.__init__ = __init__


def lift_skill_neurons(evaluator_module) -> None:
    """Wrap ``simple_evaluate`` so that the skill-neuron summary is a top-level results section."""
    original = evaluator_module.simple_evaluate
    if getattr(original, "_skillneuron_bridge", False):
        return

    @functools.wraps(original)
    def simple_evaluate(*args, **kwargs):
        results = original(*args, **kwargs)
        config = results.get("config") if isinstance(results, dict) else None
        if isinstance(config, dict) and "skill_neurons" in config:
            results["skill_neurons"] = config.pop("skill_neurons")
        return results

    simple_evaluate._skillneuron_bridge = True  # type: ignore[attr-defined]
    evaluator_module.simple_evaluate = simple_evaluate


_AFTER_IMPORT = {
    "lm_eval.models": lambda module: register_model(),
    "lm_eval.tasks.manager": add_task_folder,
    "lm_eval.evaluator": lift_skill_neurons,
}


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Runs a callback right after one of the modules in ``_AFTER_IMPORT`` is executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _AFTER_IMPORT:
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
            if os.environ.get(DISABLE_ENV, "") in ("", "0"):
                _AFTER_IMPORT[fullname](module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Arm the post-import hooks; cheap and idempotent (called from the ``.pth`` file)."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return
    if any(isinstance(finder, _PostImportFinder) for finder in sys.meta_path):
        return
    if "lm_eval" in sys.modules:  # imported before us (unusual): act directly
        if "lm_eval.models" in sys.modules:
            register_model()
        if "lm_eval.tasks.manager" in sys.modules:
            add_task_folder(sys.modules["lm_eval.tasks.manager"])
        if "lm_eval.evaluator" in sys.modules:
            lift_skill_neurons(sys.modules["lm_eval.evaluator"])
    sys.meta_path.insert(0, _PostImportFinder())
