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


# The layers, bottom first: a module may import its own unit and any unit of a lower rank, never a unit of
# its own rank or above. The root package (``skillneuron_harness/__init__.py``) is rank 0 with the core.
RANKS = {
    "core": 0,          # scoring, observers, options, constants, errors, atomic
    "neurons": 1,       # statistics on tensors, capture hooks, files
    "perturbations": 1,  # seeded text perturbations (standard library only)
    "attacks": 2,       # adversarial search over a scorer (perturbations' streams and tables, no lm-eval)
    "prompts": 2,       # soft-prompt files, published layouts, convert
    "engine": 3,        # the model plus a prompt, driven in batches, with observers
    "host": 4,          # everything that imports lm-eval
    "report": 5,        # reads files only
    "experiments": 6,   # training, demo, transfer, suppression curves, replicate
    "leaderboard": 7,
    "cli": 8,
}


def unit_of(module: str) -> str | None:
    """The layer of a module of the package (``skillneuron_harness.host.model`` -> ``host``), '' for the root."""
    if module == NAME:
        return ""
    if not module.startswith(NAME + "."):
        return None
    return module.split(".")[1]


def graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (lazy and relative imports included)."""
    modules = {f"{NAME}.{module_name(f)}".rstrip("."): f for f in PACKAGE.rglob("*.py")}
    edges = {}
    for module, path in modules.items():
        names = imports(path, module)
        edges[module] = {n for n in names if n in modules and n != module}
    return edges


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(edges.items()):
        unit = unit_of(module)
        assert unit == "" or unit in RANKS, f"{module}: add its folder to RANKS (and to docs/architecture.md)"
        for target in sorted(targets):
            other = unit_of(target)
            if other in ("", unit):
                continue
            if unit == "" or RANKS[other] >= RANKS[unit]:
                bad.append(f"{module} ({unit or 'root'}) imports {target} ({other})")
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_imports_point_only_down_the_layers():
    assert upward_imports(graph()) == []


def test_no_module_imports_itself_round_a_cycle():
    assert cycles(graph()) == []


def test_only_the_host_layer_imports_lm_eval():
    bad = [f"{module} imports {name}" for module, path in
           ((f"{NAME}.{module_name(f)}".rstrip("."), f) for f in PACKAGE.rglob("*.py"))
           for name in sorted(imports(path, module))
           if (name == "lm_eval" or name.startswith("lm_eval.")) and unit_of(module) != "host"]
    assert bad == []


def test_escape_is_pure():
    # Every renderer (report, leaderboard, experiments) escapes through core/escape.py: it imports nothing of ours.
    assert [n for n in imports(PACKAGE / "core" / "escape.py", f"{NAME}.core.escape") if n.startswith(NAME)] == []


def test_the_host_package_imports_nothing_at_start():
    # The .pth line imports host/bridge.py at every interpreter start: host/__init__ must stay empty of imports.
    assert imports(PACKAGE / "host" / "__init__.py", f"{NAME}.host") == set()


def test_the_layer_rules_see_an_upward_import_and_a_cycle():
    edges = {f"{NAME}.core.a": {f"{NAME}.host.b"}, f"{NAME}.host.b": {f"{NAME}.core.a"}}
    assert upward_imports(edges) == [f"{NAME}.core.a (core) imports {NAME}.host.b (host)"]
    assert cycles(edges) == [[f"{NAME}.core.a", f"{NAME}.host.b"]]
    assert upward_imports({f"{NAME}.neurons.x": {f"{NAME}.neurons.y", NAME, f"{NAME}.core.z"}}) == []


def test_the_scan_sees_lazy_and_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import torch\n\ndef f():\n    from ..host import model\n    import lm_eval.api\n")
    found = imports(probe, f"{NAME}.neurons.probe")
    assert {"torch", "lm_eval.api", f"{NAME}.host", f"{NAME}.host.model"} <= found


def repository_readme() -> Path | None:
    """The README of the checkout these tests run from: at its root (above tests/, wherever the imported
    package lies: an installed wheel, a src/ layout), else beside the package; None where there is none."""
    for folder in (Path(__file__).resolve().parents[1], PACKAGE.parent):
        if (folder / "README.md").is_file():
            return folder / "README.md"
    return None


def test_the_readme_layout_table_names_every_module_and_subpackage():
    found = repository_readme()
    if found is None:
        pytest.skip(f"no README.md at the repository root {Path(__file__).resolve().parents[1]} or beside {PACKAGE}")
    root = found.parent  # the table's paths are relative to the repository root
    readme = found.read_text(encoding="utf-8")
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
        assert (root / item).exists(), f"the README's Layout table names {item}, which is not in the tree at {root}"


def _methods_of(path: Path, name: str) -> list[str]:
    (cls,) = [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.ClassDef)
              and n.name == name]
    return [n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_the_prompt_tuned_model_stays_thin():
    # What it does beyond being an lm-eval model lives in engine.py (the scoring engine) and the observers.
    methods = _methods_of(PACKAGE / "host" / "model.py", "PromptTunedLM")
    assert len(methods) <= 15, methods


OBSERVERS = ("recorder", "suppression", "observers")  # the model's and its engine's


def observer_assignments(source: str) -> list[int]:
    """Lines of ``source`` that assign an observer attribute of something other than ``self``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        if any(isinstance(t, ast.Attribute) and t.attr in OBSERVERS
               and not (isinstance(t.value, ast.Name) and t.value.id == "self")
               for target in targets for t in ast.walk(target)):
            lines.append(node.lineno)
    return lines


def test_only_the_model_assigns_its_observers():
    # Observers are built from model_args and checked in host/model.py; lm.suppressed() swaps one in for a block.
    bad = [f"{path.relative_to(PACKAGE)}:{line}" for path in sorted(PACKAGE.rglob("*.py"))
           if path != PACKAGE / "host" / "model.py"
           for line in observer_assignments(path.read_text(encoding="utf-8"))]
    assert bad == []
    probe = "lm.suppression = s\nself.recorder = r\nlm.engine.observers, x = [], 1\nlm.other = 2\n"
    assert observer_assignments(probe) == [1, 3]
