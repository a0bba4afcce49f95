"""The released-format tasks (``sn_pt_*``) resolve as recorded: index, YAML, config and rendered documents.

``tests/tasks/data/released_tasks.json`` was written by ``scripts/dump_tasks.py`` from the full,
one-file-per-task YAMLs, before they were rewritten as templates and ``include:`` files; the
digests cover, per task, the YAML as lm-eval's loader merges it (``metadata.released_format``
included), ``task.config.to_dict()`` and the context, choices, target and requests of the first 20
evaluated documents. A change made on purpose renews the file (see the script's docstring).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).resolve().parent / "data" / "released_tasks.json"


def _script():
    spec = importlib.util.spec_from_file_location("dump_tasks", ROOT / "scripts" / "dump_tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_released_tasks_resolve_as_recorded(task_manager):
    script = _script()
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    now = script.digests(script.dump("sn_pt_*", manager=task_manager, sources=False))
    assert now["index"] == recorded["index"]  # the same names from the same files; no template is a task
    changed = {section: sorted(n for n in recorded["digests"][section]
                               if now["digests"][section].get(n) != recorded["digests"][section][n])
               for section in recorded["digests"]}
    assert changed == {section: [] for section in recorded["digests"]}, (
        "run scripts/dump_tasks.py --out before and after the change and diff the two files")
    assert len(recorded["digests"]["docs"]) == 32
