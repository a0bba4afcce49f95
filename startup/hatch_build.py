"""Build hook: an editable install gets the startup files only, not a copy of ``task_configs/``.

The wheel force-includes the top-level ``task_configs/`` inside the package (pyproject.toml).
hatchling copies force-included files into editable wheels too, where a copy of the YAMLs in
site-packages would go stale as soon as one is edited: an editable install reads them in the
checkout instead (see ``skillneuron_harness/__init__.py``).
"""

from __future__ import annotations

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if version == "editable":
            forced = self.build_config.target_config.get("force-include", {})
            build_data["force_include_editable"] = {
                source: target for source, target in forced.items() if not source.startswith("task_configs")
            }
