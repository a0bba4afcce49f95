"""skillneuron-harness: prompt-tuned models and skill-neuron statistics for lm-evaluation-harness.

Importing this package is cheap on purpose (no torch, transformers or lm_eval): the startup
bridge imports it in every interpreter. The heavy parts live in submodules.

The task YAMLs are the package's ``task_configs`` folder: a wheel installs the repository's top-level
``task_configs/`` inside the package; in an editable install or a source checkout they stay next to
it, and ``skillneuron_harness.task_configs`` (the ``lm_eval.tasks`` entry point, which lm-eval's
plugin discovery resolves with ``importlib.util.find_spec``) is registered here as a namespace module
on that folder, so that both layouts resolve to the same YAMLs.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

_here = _os.path.dirname(_os.path.abspath(__file__))
_beside = _os.path.join(_os.path.dirname(_here), "task_configs")
if not _os.path.isdir(_os.path.join(_here, "task_configs")) and _os.path.isdir(_beside):
    # ``type(__spec__)`` is importlib's ModuleSpec, taken from our own spec so that nothing is imported.
    _spec = type(__spec__)(f"{__name__}.task_configs", None, is_package=True)
    _spec.submodule_search_locations = [_beside]
    _task_configs = type(_os)(_spec.name, "Task YAMLs (the repository's top-level task_configs/).")
    _task_configs.__spec__, _task_configs.__path__ = _spec, [_beside]
    _sys.modules.setdefault(_spec.name, _task_configs)
    task_configs = _sys.modules[_spec.name]
