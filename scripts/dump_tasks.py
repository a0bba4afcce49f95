#!/usr/bin/env python3
"""Dump our tasks as lm-eval resolves them, to show that a rewrite of their YAMLs changes nothing.

For every task (and group) of ``task_configs/`` whose name matches ``--tasks`` (default ``sn_pt_*``),
loaded through lm-eval's ``TaskManager`` with the package's bridge (as ``lm_eval --tasks`` loads it),
the dump holds:

* ``index``: the name's kind and YAML file in the task index (a template that registered itself as
  a task would show up here);
* ``yaml``: the file as lm-eval's loader reads it (``include:`` resolved, functions unresolved);
  ``metadata.released_format``, which ``prompt_tuned`` reads from it, is there;
* ``config``: ``task.config.to_dict()`` of the built task, at the keys its YAML sets (functions as
  file, name and, unless ``--no-sources``, source; empty mappings and lists left out): what the YAML
  decides, and not the defaults an lm-eval version adds (next0.5 writes ``tag: []``,
  ``dataset_kwargs: {}``, the default filter, ...), so that one record holds for both;
* ``docs``: for the first ``--docs`` documents of the evaluated split, the rendered context, the
  choices, the target and the (context, continuation) pairs of lm-eval's requests; and the number of
  documents of each split.

Absolute paths are written relative to the repository (``<repo>/...``) or to lm-eval's folder
(``<lm_eval>/...``). Datasets come from the offline cache the tests build (../shared/data)::

    python scripts/dump_tasks.py --out before.json      # before editing the YAMLs
    python scripts/dump_tasks.py --out after.json && cmp before.json after.json

``tests/tasks/test_released_yamls.py`` compares a fresh dump (without function sources, so that
a docstring edit in a ``utils.py`` is no change) with the index and the per-task digests recorded in
``tests/tasks/data/released_tasks.json``; after a change made on purpose, renew that file with
``python scripts/dump_tasks.py --no-sources --digests tests/tasks/data/released_tasks.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "offline_hf_cache.py"
DOCS = 20


def offline_datasets(cache: Path) -> None:
    """Build the tests' offline datasets cache under ``cache`` and point ``datasets`` at it."""
    subprocess.run([sys.executable, str(TOOL), str(cache)], check=True, stdout=subprocess.DEVNULL)
    os.environ.update(HF_DATASETS_CACHE=str(cache), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
                      TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def _portable(value, roots: dict[str, str], sources: bool = True):
    """``value`` with callables as (file, name, source) and absolute paths made relative (JSON-ready)."""
    if isinstance(value, dict):
        return {str(k): _portable(v, roots, sources) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v, roots, sources) for v in value]
    if callable(value):
        try:
            source, where = inspect.getsource(value), inspect.getfile(value)
        except (TypeError, OSError):
            source, where = None, None
        return {"callable": getattr(value, "__qualname__", type(value).__qualname__),
                "file": _portable(where, roots), **({"source": source} if sources else {})}
    if isinstance(value, str):
        for root, name in roots.items():
            value = value.replace(root, name)
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise TypeError(f"cannot dump a {type(value).__name__} ({value!r}): add a rule for it to _portable")


def _docs(task, limit: int) -> dict:
    from lm_eval.api.instance import Instance

    from skillneuron_harness.host.compat import document_requests

    docs = list(task.eval_docs)
    rendered = []
    for doc_id, doc in enumerate(docs[:limit]):
        context = task.fewshot_context(doc, num_fewshot=0)
        requests = document_requests(task, doc, doc_id, context)
        rendered.append({"context": context, "choices": task.doc_to_choice(doc), "target": task.doc_to_target(doc),
                         "requests": [list(r.args) for r in requests if isinstance(r, Instance)]})
    sizes = {"eval": len(docs), "train": len(task.training_docs()) if task.has_training_docs() else None}
    return {"sizes": sizes, "docs": rendered}


def dump(pattern: str = "sn_pt_*", limit: int = DOCS, manager=None, sources: bool = True) -> dict:
    """The dump described in the module docstring, of the names of our task folder matching ``pattern``.

    ``manager``: a ``TaskManager`` to load through (default: a new ``TaskManager()``, which takes seconds).
    """
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._index import Kind, TaskIndex
    from lm_eval.tasks._yaml_loader import load_yaml

    from skillneuron_harness.host.compat import task_index

    folder = ROOT / "task_configs"
    roots = {str(folder.resolve().parent): "<repo>",
             str(Path(lm_eval.tasks.__file__).resolve().parents[1]): "<lm_eval>"}
    ours = TaskIndex.build([folder])
    names = sorted(n for n in ours if fnmatch.fnmatchcase(n, pattern))
    if not names:
        raise SystemExit(f"no task or group of {folder} matches {pattern!r}")
    manager = manager if manager is not None else TaskManager()
    out: dict = {"index": {}, "yaml": {}, "config": {}, "docs": {}, "groups": {}}
    for name in names:
        entry = task_index(manager)[name]
        out["index"][name] = {"kind": entry.kind.name, "yaml": _portable(str(entry.yaml_path), roots)}
        out["yaml"][name] = _portable(load_yaml(entry.yaml_path, resolve_func=False), roots)
    tasks = [n for n in names if ours[n].kind in (Kind.TASK, Kind.PY_TASK)]
    loaded = manager.load(tasks)
    for name in tasks:
        task = loaded["tasks"][name]
        config = task.config.to_dict(keep_callable=True)
        own = {k: _without_empty(config[k]) for k in out["yaml"][name] if k in config}
        out["config"][name] = _portable(own, roots, sources)
        out["docs"][name] = _portable(_docs(task, limit), roots)
    for name in (n for n in names if ours[n].kind is Kind.GROUP):
        group = manager.load([name])
        out["groups"][name] = _portable({"tasks": sorted(group["tasks"]), "group_map": group["group_map"],
                                         "config": group["groups"][name].to_dict()}, roots, sources)
    return out


def _without_empty(value):
    """``value`` with the empty mappings and lists inside it left out (an lm-eval may add them as defaults)."""
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if not (isinstance(v, (dict, list)) and not v)}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def digests(data: dict) -> dict:
    """``{"index": ..., "digests": {section: {name: sha256}}}``: a dump small enough to keep in the tests."""
    def sha(value) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    sections = ("yaml", "config", "docs", "groups")
    return {"index": data["index"], "digests": {s: {n: sha(v) for n, v in data[s].items()} for s in sections}}


def _group_config(loaded: dict, name: str):
    for group in loaded.get("groups", {}).values() if isinstance(loaded.get("groups"), dict) else ():
        config = getattr(group, "config", None)
        if getattr(config, "group", None) == name:
            return config.to_dict(keep_callable=True)
    return None


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    written = parser.add_mutually_exclusive_group(required=True)
    written.add_argument("--out", type=Path, help="write the whole dump to this JSON file")
    written.add_argument("--digests", type=Path, help="write the index and per-task digests to this JSON file")
    parser.add_argument("--tasks", default="sn_pt_*", help="fnmatch pattern of task and group names (sn_pt_*)")
    parser.add_argument("--docs", type=int, default=DOCS, help=f"documents per task ({DOCS})")
    parser.add_argument("--no-sources", action="store_true", help="leave the functions' source out")
    parser.add_argument("--hf-cache", type=Path, default=Path(tempfile.gettempdir()) / "skillneuron-test-hf-cache",
                        help="the offline datasets cache to build and use (the tests' default)")
    args = parser.parse_args(argv)
    offline_datasets(args.hf_cache)
    data = dump(args.tasks, args.docs, sources=not args.no_sources)
    path = args.out or args.digests
    written = data if args.out else digests(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(written, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{path}: {len(data['config'])} tasks, {len(data['groups'])} groups")


if __name__ == "__main__":
    main()
