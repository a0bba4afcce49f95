"""The package's layering, read from the source: every import (lazy ones too) of each module, by ast.

docs/architecture.md draws the layers; these are the rules that keep its import graph top-down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import skillneuron_harness

PACKAGE = Path(skillneuron_harness.__file__).parent
NAME = "skillneuron_harness"
# The scoring core: the bottom layer, which the statistics, the prompt layouts and the model build on.
SCORING_CORE = ("scoring", "observers", "options")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` (the module ``module``) imports, relative imports resolved."""
    module = module or f"{NAME}.{module_name(path)}".rstrip(".")
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def sources(*units: str) -> list[Path]:
    """The files of each unit: a subpackage (``neurons``) or a module (``scoring``)."""
    files = []
    for unit in units:
        folder = PACKAGE / unit.replace(".", "/")
        files += sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
    assert files and all(f.exists() for f in files), f"no sources for {units}: update this test with the tree"
    return files


def offending(files: list[Path], forbidden: tuple[str, ...], module: str | None = None) -> list[str]:
    bad = []
    for f in files:
        for name in sorted(imports(f, module)):
            if any(name == x or name.startswith(x + ".") for x in forbidden):
                where = f.relative_to(PACKAGE.parent) if f.is_relative_to(PACKAGE.parent) else f
                bad.append(f"{where} imports {name}")
    return bad


def inside(*units: str) -> tuple[str, ...]:
    return tuple(f"{NAME}.{u}" for u in units)


RULES = {
    "neurons/ takes tensors and writes files: no lm-eval, nothing above the statistics": (
        ("neurons",),
        ("lm_eval", *inside("models", "prompts", "report", "training", "demo", "leaderboard", "cli",
                            "lm_eval_tasks", "lm_eval_compat", "lm_eval_bridge"))),
    "the scoring core imports nothing above it": (
        SCORING_CORE,
        ("lm_eval", *inside("models", "prompts", "neurons", "report", "training", "demo", "leaderboard", "cli",
                            "lm_eval_tasks", "lm_eval_compat", "lm_eval_bridge"))),
    "prompts/ does not import models/": (("prompts",), inside("models")),
    "report/ does not import the cli": (("report",), inside("cli")),
    "escape.py is pure: it imports nothing of the package, so that any renderer can use it": (("escape",), (NAME,)),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_layering(rule):
    units, forbidden = RULES[rule]
    assert offending(sources(*units), forbidden) == [], rule


def test_the_scan_sees_lazy_and_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import torch\n\ndef f():\n    from ..models import prompt_tuned\n    import lm_eval.api\n")
    found = imports(probe, f"{NAME}.neurons.probe")
    assert {"torch", "lm_eval.api", f"{NAME}.models", f"{NAME}.models.prompt_tuned"} <= found
    assert offending([probe], ("lm_eval", f"{NAME}.models"), f"{NAME}.neurons.probe") == [
        f"{probe} imports lm_eval.api", f"{probe} imports {NAME}.models", f"{probe} imports {NAME}.models.prompt_tuned"]


def test_the_readme_layout_table_names_every_module_and_subpackage():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Layout"):]
    table = table[: table.index("\n## ")] if "\n## " in table else table
    listed = {cell.strip("`/") for line in table.splitlines() if line.startswith("| `")
              for cell in [line.split("|")[1].strip()]}
    missing = []
    for entry in sorted(PACKAGE.iterdir()):
        if entry.name.startswith(("_", ".")) or not (entry.suffix == ".py" or (entry / "__init__.py").exists()):
            continue
        path = f"{NAME}/{entry.name}"
        if path not in listed and not any(item.startswith(path + "/") for item in listed):
            missing.append(path)
    assert missing == [], "add a row to the README's Layout table for each"
    for item in listed:
        assert (PACKAGE.parent / item).exists(), f"the README's Layout table names {item}, which is not in the tree"


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (module -> modules it imports), [] when it has none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


@pytest.mark.parametrize("unit", ["leaderboard", "report"])
def test_no_import_cycle_between_modules(unit):
    """Modules import each other one way only (a package's ``__init__`` re-exporting its modules aside)."""
    files = {f"{NAME}.{module_name(f)}": f for f in sources(unit) if f.name != "__init__.py"}
    graph = {m: {n for n in imports(f, m) if n in files and n != m} for m, f in files.items()}
    assert _cycle(graph) == [], " -> ".join(_cycle(graph))


def test_the_cycle_search_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
