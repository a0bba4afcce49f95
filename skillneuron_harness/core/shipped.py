"""Where the data files shipped with the package lie, in a wheel and in an editable install alike.

A wheel installs the repository's top-level ``task_configs/`` inside the package (pyproject.toml's
``force-include``); an editable install or a source checkout reads it where it lies, next to the
package folder (``skillneuron_harness/__init__.py`` registers it as ``skillneuron_harness.task_configs``
there). Only :mod:`pathlib` is imported: the startup bridge (``host/bridge.task_folder``) asks here too.
"""

from __future__ import annotations

from pathlib import Path


def task_folder() -> Path:
    """The folder of task YAMLs (and of the AdvGLUE pairs, ``advglue/pairs/``) shipped with the package."""
    package = Path(__file__).resolve().parents[1]  # skillneuron_harness/
    installed = package / "task_configs"
    return installed if installed.is_dir() else package.parent / "task_configs"
